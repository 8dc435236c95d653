"""cdk-nag (AwsSolutions) findings this design accepts, each with the reason a reviewer would want.

Acknowledgements are attached to the narrowest construct that produces the finding (one policy, one queue, one
function), never to the whole app, so a new resource with the same problem still fails synth. The IAM test in
tests/infra/test_iam.py checks independently that the wildcards acknowledged here are the only ones.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import Acknowledgment, CfnElement, Validations
from constructs import IConstruct

from driftline.layout import (
    ARTIFACTS_PREFIX,
    EVENTS_PREFIX,
    GROUND_TRUTH_PREFIX,
    INGEST_RECEIPTS_PREFIX,
    PROJECT_INDEX,
    RECENT_REQUESTS_PREFIX,
)
from infra.components.cfn import default_child

if TYPE_CHECKING:
    from infra.stack import DriftlineStack

PACK = "AwsSolutions::AwsSolutions-"

XRAY = (
    "X-Ray active tracing needs xray:PutTraceSegments and xray:PutTelemetryRecords, which have no resource-level "
    "permissions; every other statement of this role names its resources"
)
TIMESTREAM_DISCOVERY = (
    "timestream:DescribeEndpoints (the SDK's endpoint discovery) has no resource-level permissions; "
    "timestream:WriteRecords is limited to the two tables"
)
PREFIX = (
    "object-level access limited to the key prefix this principal owns in the data layout of "
    "docs/architecture.md (object keys are created at run time, so the prefix is the narrowest ARN)"
)
RUNTIME = (
    "pinned to python3.12 on purpose: the container images' base (public.ecr.aws/lambda/python:3.12) is the same "
    "Python, so all five functions run one interpreter version; the code also runs on newer Python, and the zip "
    "runtime moves together with the images' base"
)
DLQ = (
    "this queue is itself a dead-letter destination (asynchronous invocation / Kinesis mapping / Scheduler "
    "failures); a dead-letter queue of a dead-letter queue only moves the problem, and an alarm fires as soon as "
    "it is not empty"
)


def acknowledge(construct: IConstruct, rule: str, reason: str) -> None:
    Validations.of(construct).acknowledge(Acknowledgment(id=PACK + rule, reason=reason))


def _policy(function_construct: IConstruct) -> IConstruct:
    return function_construct.node.find_child("Role").node.find_child("DefaultPolicy")


def acknowledge_findings(stack: DriftlineStack) -> None:
    """Attach every acknowledgement (called once by the stack, after all components exist)."""
    storage_arn = f"<{stack.get_logical_id(default_child(stack.storage.bucket, CfnElement))}.Arn>"
    endpoints = stack.storage.tables["endpoints"]
    endpoints_arn = f"<{stack.get_logical_id(default_child(endpoints, CfnElement))}.Arn>"
    names = stack.config.names
    arn_prefix = "arn:<AWS::Partition>:{service}:<AWS::Region>:<AWS::AccountId>:"

    def object_prefix(prefix: str) -> str:
        return f"IAM5[Resource::{storage_arn}/{prefix}*]"

    for key, function in stack.functions.items():
        policy = _policy(function)
        if key != "stream":  # the stream function is not traced (Kinesis batches carry no trace context)
            acknowledge(policy, "IAM5[Resource::*]", XRAY)
        if key in {"controller", "writer"}:  # the zip functions; images carry their own runtime
            acknowledge(function.function, "L1", RUNTIME)
    acknowledge(_policy(stack.api.serving), object_prefix(ARTIFACTS_PREFIX), PREFIX + ": model files")
    acknowledge(_policy(stack.api.serving), object_prefix(GROUND_TRUTH_PREFIX), PREFIX + ": labels posted to its route")
    acknowledge(
        _policy(stack.api.serving),
        object_prefix(INGEST_RECEIPTS_PREFIX),
        PREFIX + ": one receipt per accepted ingest, named by its digest",
    )
    acknowledge(_policy(stack.stream_processor.function), object_prefix(EVENTS_PREFIX), PREFIX + ": its parquet files")
    acknowledge(
        _policy(stack.stream_processor.function),
        object_prefix(RECENT_REQUESTS_PREFIX),
        PREFIX + ": its memory of recently stored requests, one object per shard",
    )
    for app in stack.monitoring.apps.values():
        policy = _policy(app)
        acknowledge(policy, object_prefix(EVENTS_PREFIX), PREFIX + ": reads the window's inference rows")
        acknowledge(policy, object_prefix(ARTIFACTS_PREFIX), PREFIX + ": reads user application sources")
        acknowledge(policy, object_prefix(GROUND_TRUTH_PREFIX), PREFIX + ": reads labels for performance apps")
    if stack.monitoring.writer_timestream is not None:
        acknowledge(stack.monitoring.writer_timestream, "IAM5[Resource::*]", TIMESTREAM_DISCOVERY)
    controller = _policy(stack.monitoring.controller)
    acknowledge(
        controller,
        f"IAM5[Resource::{endpoints_arn}/index/*]",
        f"queries the {PROJECT_INDEX.name} index of the endpoints table; the ARN names the table, the wildcard its "
        "indexes",
    )
    acknowledge(
        controller,
        f"IAM5[Resource::{arn_prefix.format(service='lambda')}function:{names.app_function_prefix}-*]",
        "the controller invokes per-app functions named <stack>-app-<name>, which the SDK may add after "
        "deploy; the wildcard is limited to that name prefix",
    )

    acknowledge(
        _policy(stack.monitoring.writer),
        f"IAM5[Resource::{arn_prefix.format(service='ssm')}parameter{names.webhook_secrets_prefix}*]",
        "reads the secret headers of alert webhooks: SecureStrings the user puts under this stack's "
        f"{names.webhook_secrets_prefix} prefix, named in alert configurations",
    )

    sdk = stack.discovery.sdk_policy.node.default_child
    assert sdk is not None
    acknowledge(sdk, "IAM5[Resource::*]", "scheduler:ListSchedules has no resource-level permissions")
    for prefix in (ARTIFACTS_PREFIX, EVENTS_PREFIX, GROUND_TRUTH_PREFIX):
        acknowledge(sdk, object_prefix(prefix), PREFIX + ": the SDK logs models and labels and reads the datasets")
    acknowledge(
        sdk,
        f"IAM5[Resource::{endpoints_arn}/index/*]",
        f"lists a project's endpoints through the {PROJECT_INDEX.name} index",
    )
    acknowledge(
        sdk,
        f"IAM5[Resource::{arn_prefix.format(service='scheduler')}schedule/{names.schedule_group}/*]",
        "enable/disable_model_monitoring manage one schedule per project, all in the schedule group of this stack",
    )
    api_logical_id = stack.get_logical_id(default_child(stack.api.api, CfnElement))
    acknowledge(
        sdk,
        f"IAM5[Resource::{arn_prefix.format(service='execute-api')}<{api_logical_id}>/*/*/*]",
        "invoke any route of this one inference API (its routes are those of the Open Inference Protocol)",
    )

    for queue in stack.messaging.queues.values():
        acknowledge(queue, "SQS3", DLQ)

    if stack.preflight is not None:
        acknowledge(
            _policy(stack.preflight),
            "IAM5[Resource::*]",
            "timestream:DescribeEndpoints and timestream:ListDatabases have no resource-level permissions; this "
            "role only asks whether the account may use Timestream",
        )
        acknowledge(stack.preflight.function, "L1", RUNTIME)
    if stack.storage.timestream_database is not None:
        acknowledge(
            stack.storage.timestream_database,
            "TS3",
            "encrypted at rest with the AWS managed key of Timestream; the tables hold monitoring results (no "
            "personal data), and a customer managed key would add cost and key administration for no requirement",
        )
        reason = (
            "Timestream for LiveAnalytics is in maintenance mode but supported for existing customers; it is "
            "optional (context flag timestream=false) and the preflight check fails a deploy early where it is "
            "not available"
        )
        for construct in [stack.storage.timestream_database, *stack.storage.timestream_tables.values()]:
            Validations.of(construct).acknowledge(Acknowledgment(id="CloudFormation-Validate::W3697", reason=reason))
    if stack.config.api_auth == "none":
        for route in stack.api.routes:
            acknowledge(
                route,
                "APIG4",
                "the operator asked for an open API explicitly (context api_auth=none); IAM is the default",
            )
