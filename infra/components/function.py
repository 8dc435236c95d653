"""The one function-building helper: every driftline Lambda gets its own role (no managed policies, only the
statements its capability grants it), its own log group with retention, the runtime settings as ``DRIFTLINE_*``
variables, and the same architecture and runtime."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

RUNTIME = lambda_.Runtime.PYTHON_3_12  # the managed Powertools layer is published per Python version
ARCHITECTURE = lambda_.Architecture.X86_64
POWERTOOLS_PARAMETER = "/aws/service/powertools/python/x86_64/python3.12/{version}"


def powertools_layer(scope: Construct, version: str) -> lambda_.ILayerVersion:
    """The managed Powertools layer of exactly ``version``, resolved from its public SSM parameter at deploy
    time (a CloudFormation parameter: synth needs no network and no account)."""
    stack = Stack.of(scope)
    existing = stack.node.try_find_child("PowertoolsLayer")
    if existing is not None:
        return existing  # type: ignore[return-value]
    arn = ssm.StringParameter.value_for_string_parameter(stack, POWERTOOLS_PARAMETER.format(version=version))
    return lambda_.LayerVersion.from_layer_version_arn(stack, "PowertoolsLayer", arn)


class DriftlineFunction(Construct):
    """One Lambda function with its role and log group.

    ``code`` is either a zip :class:`aws_lambda.Code` (with ``handler``) or a :class:`aws_lambda.DockerImageCode`.
    ``async_failures`` configures asynchronous invocations: Lambda's two retries, then the event and its error
    go to that queue (an on-failure destination, which records the error unlike a plain dead-letter queue).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function_name: str,
        description: str,
        code: lambda_.Code | lambda_.DockerImageCode,
        environment: Mapping[str, str],
        log_retention: logs.RetentionDays,
        memory_mb: int = 512,
        timeout: Duration | None = None,
        layers: Sequence[lambda_.ILayerVersion] = (),
        tracing: lambda_.Tracing = lambda_.Tracing.ACTIVE,
        async_failures: sqs.IQueue | None = None,
        reserved_concurrency: int | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.function_name = function_name
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=f"/aws/lambda/{function_name}",
            retention=log_retention,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"driftline {function_name}: only what this function does",
        )
        # The log group exists (created above), so no logs:CreateLogGroup and no account-wide log permissions.
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            )
        )
        common = {
            "function_name": function_name,
            "description": description,
            "role": self.role,
            "environment": dict(environment),
            "memory_size": memory_mb,
            "timeout": timeout or Duration.seconds(60),
            "architecture": ARCHITECTURE,
            "tracing": tracing,
            "log_group": self.log_group,
            "reserved_concurrent_executions": reserved_concurrency,
        }
        if async_failures is not None:
            common |= {
                "retry_attempts": 2,
                "max_event_age": Duration.hours(6),
                "on_failure": destinations.SqsDestination(async_failures),
            }
        if isinstance(code, lambda_.DockerImageCode):
            self.function: lambda_.Function = lambda_.DockerImageFunction(self, "Function", code=code, **common)
        else:
            self.function = lambda_.Function(
                self,
                "Function",
                code=code,
                handler="handler.handler",
                runtime=RUNTIME,
                layers=list(layers),
                **common,
            )
        self.function.node.add_dependency(self.role)

    def add_to_policy(self, *statements: iam.PolicyStatement) -> None:
        for statement in statements:
            self.role.add_to_policy(statement)

    @property
    def arn(self) -> str:
        return self.function.function_arn
