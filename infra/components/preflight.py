"""Fail a deploy early, with a message naming the flag, when the account cannot use Amazon Timestream for
LiveAnalytics (closed to new customers since 2025-06-20).

A custom resource asks Timestream whether this account may use it before anything durable is created: the stack
makes every other component depend on it, so a refused account gets a rollback of this check only (no retained
bucket or table left behind to collide with the next attempt), and CloudFormation shows the reason below.

In a region that does not offer Timestream at all, the template creates no Timestream resource (a condition on
the region, see infra/components/storage.py) and the check passes without asking: the deploy goes on with
results in DynamoDB. The check stays in the template in every region because durable resources depend on it,
and CloudFormation refuses a DependsOn on a resource its condition may leave out.
"""

from __future__ import annotations

from aws_cdk import CustomResource, Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.components.function import RUNTIME, function_log_group

FLAG_HINT = (
    'Deploy with the context flag timestream=false (cdk deploy -c timestream=false, or "timestream": false in '
    "cdk.json): the writer then keeps results in DynamoDB and S3 and nothing else changes."
)

# Inline (ZipFile) code: CloudFormation provides the cfnresponse module to it.
CHECK_SOURCE = f"""
import boto3
import cfnresponse

HINT = {FLAG_HINT!r}


def handler(event, context):
    if event["RequestType"] == "Delete" or event["ResourceProperties"].get("TimestreamInThisRegion") == "false":
        cfnresponse.send(event, context, cfnresponse.SUCCESS, {{}}, "timestream-preflight")
        return
    try:
        client = boto3.client("timestream-write")
        client.describe_endpoints()
        client.list_databases(MaxResults=1)
    except Exception as exc:  # any refusal means the same thing to the user
        reason = (
            "Amazon Timestream for LiveAnalytics is not available to this account or region ("
            + type(exc).__name__ + ": " + str(exc)[:300] + "). " + HINT
        )
        cfnresponse.send(event, context, cfnresponse.FAILED, {{}}, "timestream-preflight", reason=reason)
        return
    cfnresponse.send(event, context, cfnresponse.SUCCESS, {{}}, "timestream-preflight")
"""


class TimestreamPreflight(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function_name: str,
        log_retention: logs.RetentionDays,
        timestream_in_region: str,
    ) -> None:
        super().__init__(scope, construct_id)
        log_group = function_log_group(self, function_name, log_retention)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="driftline deploy check: may this account use Timestream for LiveAnalytics?",
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[log_group.log_group_arn]
            )
        )
        self.role.add_to_policy(
            # neither action has resource-level permissions (both are account-wide by nature)
            iam.PolicyStatement(actions=["timestream:DescribeEndpoints", "timestream:ListDatabases"], resources=["*"])
        )
        self.function = lambda_.Function(
            self,
            "Function",
            function_name=function_name,
            description="driftline: fails the deploy early when Timestream for LiveAnalytics is not available",
            runtime=RUNTIME,
            handler="index.handler",
            code=lambda_.Code.from_inline(CHECK_SOURCE),
            role=self.role,
            timeout=Duration.seconds(30),
            log_group=log_group,
        )
        self.function.node.add_dependency(self.role)
        self.resource = CustomResource(
            self,
            "Check",
            service_token=self.function.function_arn,
            resource_type="Custom::TimestreamPreflight",
            # "true" or "false" by the region's condition: whether the template creates Timestream here
            properties={"TimestreamInThisRegion": timestream_in_region},
        )
