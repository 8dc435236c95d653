"""The functions of one installation and the principals around them, defined once.

Each :class:`FunctionDefinition` says where a function's code is, the handler string Lambda resolves, how it is
packaged, its memory and timeout, and every IAM statement its role holds. The CDK stack builds the functions and
their roles from this table (``infra/``); the local runtime runs each function as Lambda would from the same
table (``driftline/local/``): the same staged code, the same handler string resolved by the Lambda runtime
interface client, the same environment, and credentials bound to the same statements. ``PRINCIPALS`` adds the
two non-function principals: the scheduler's role and the SDK's managed policy.

Statements whose ``origin`` is ``service`` are used by AWS on the function's behalf and are granted by CDK
constructs (the event source mapping, on-failure destinations, logs, X-Ray); they are listed so the local
runtime can play those parts with the function's credentials, and the template test can compare both ways.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from driftline import layout
from driftline.deploy.access import (
    Statement,
    allow,
    anything,
    api,
    bucket,
    bus,
    default_bus,
    function,
    log_group,
    objects,
    parameters,
    queue,
    role,
    schedules,
    stream,
    table,
    timestream_table,
    topic,
    topic_key,
    webhook_secrets,
)

HANDLER = "handler.handler"  # every function's module is handler.py at the package root, its function handler()
# Shipped inside the zip functions rather than as the managed Powertools layer, whose ARN comes from one public
# SSM parameter per version and region: such parameters have gone missing in a region before
# (powertools-lambda-python issue 7689), which fails the deploy. Powertools and its requirements outside extras
# (tests/infra/test_packages.py checks that this is the whole set); boto3 is the runtime's.
POWERTOOLS = ("aws-lambda-powertools", "jmespath", "typing-extensions")
METRICS_NAMESPACE = "driftline"

# ----------------------------------------------------------------------------------------- shared statements
XRAY = allow(
    ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
    [anything()],
    origin="service",
    why="active tracing; X-Ray has no resource-level permissions",
    granted_by="tracing",
)
LOGS = allow(["logs:CreateLogStream", "logs:PutLogEvents"], [log_group()], origin="service", why="its own log group")
ASYNC_FAILURES = allow(
    ["sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"],
    [queue("async-failures")],
    origin="service",
    why="Lambda sends an asynchronous event that failed its retries to the on-failure destination",
    granted_by="on-failure destination",
)
# What SNS asks KMS for when a principal publishes to a topic under a customer-managed key (a data key to encrypt
# the message, and Decrypt of the data key it reuses for a while); the topic key's policy grants the same to
# CloudWatch alarms.
TOPIC_KEY_ACTIONS = ("kms:GenerateDataKey", "kms:Decrypt")
PUBLISH_ALERTS = (
    allow(["events:PutEvents"], [bus()], why="alerts on the EventBridge bus"),
    allow(["sns:Publish"], [topic()], why="alerts on the SNS topic"),
    allow(
        TOPIC_KEY_ACTIONS,
        [topic_key()],
        why="publishing to a topic under a customer-managed key needs the key",
    ),
)


def _list_prefixes(*prefixes: str) -> dict[str, dict[str, tuple[str, ...]]]:
    return {"StringLike": {"s3:prefix": tuple(f"{p}*" for p in prefixes)}}


# ------------------------------------------------------------------------------------------------ definitions
@dataclass(frozen=True)
class FunctionDefinition:
    """One Lambda function kind (the app kind also covers every per-app function, which share its code)."""

    key: str  # serving | stream | controller | writer | app
    description: str
    source: str  # repo-relative path of the handler module
    package: Literal["zip", "image"]
    service: str  # Powertools' service name (metrics dimension, log key)
    statements: tuple[Statement, ...]
    memory_mb: int = 512
    timeout_seconds: int = 60
    tracing: bool = True
    async_failures: bool = False  # asynchronous invocations: 2 retries, then the async-failures queue
    extra_dirs: tuple[str, ...] = ()  # repo-relative folders shipped beside handler.py
    handler: str = HANDLER
    # installed distributions copied into a zip package (an image installs its own from its Dockerfile)
    vendored: tuple[str, ...] = ()

    @property
    def code_statements(self) -> tuple[Statement, ...]:
        return tuple(s for s in self.statements if s.origin == "code")

    def environment(self) -> dict[str, str]:
        """The variables of this function beyond the installation's ``DRIFTLINE_*`` settings."""
        return {"POWERTOOLS_SERVICE_NAME": self.service, "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE}


SERVING = FunctionDefinition(
    key="serving",
    description="driftline serving: Open Inference Protocol predictions, one tracking event per request",
    source="lambdas/serving/handler.py",
    package="image",
    service="serving",
    memory_mb=1024,
    timeout_seconds=29,  # an HTTP API integration gives up after 30 s
    # X-Ray per request is $5 per million traces, more than monitoring costs (docs/cost.md): off by default, the
    # stack's serving_tracing switch turns it on (and statements_for adds its statement)
    tracing=False,
    statements=(
        LOGS,
        allow(["s3:GetObject"], [objects(layout.ARTIFACTS_PREFIX)], why="model files"),
        allow(["dynamodb:GetItem", "dynamodb:Query"], [table("registry")], why="its function spec and models"),
        allow(["dynamodb:GetItem"], [table("endpoints")], why="the ground-truth route checks label names"),
        allow(["s3:PutObject"], [objects(layout.GROUND_TRUTH_PREFIX)], why="labels posted to its route"),
        allow(
            ["kinesis:PutRecord", "kinesis:PutRecords"],
            [stream()],
            why="one tracking event per request; ingested rows (PutRecords)",
        ),
        allow(
            ["s3:GetObject", "s3:PutObject"],
            [objects(layout.INGEST_RECEIPTS_PREFIX)],
            why="the receipts of ingests, so one sent again is not stored twice",
        ),
        allow(
            ["s3:ListBucket"],
            [bucket()],
            conditions=_list_prefixes(layout.INGEST_RECEIPTS_PREFIX),
            why="without ListBucket S3 answers 403 instead of 404 for a receipt not written yet",
        ),
    ),
)

STREAM = FunctionDefinition(
    key="stream",
    description="driftline stream: Kinesis batches to parquet on S3 and live figures in DynamoDB",
    source="lambdas/stream/handler.py",
    package="image",
    service="driftline-stream",
    memory_mb=1024,
    timeout_seconds=120,
    tracing=False,  # Kinesis batches carry no trace context: tracing would not pay
    statements=(
        LOGS,
        allow(["s3:PutObject"], [objects(layout.EVENTS_PREFIX)], why="its parquet files"),
        allow(
            ["s3:GetObject", "s3:PutObject"],
            [objects(layout.RECENT_REQUESTS_PREFIX)],
            why="its memory of recently stored requests (a request put twice is stored once)",
        ),
        allow(
            ["s3:ListBucket"],
            [bucket()],
            conditions=_list_prefixes(layout.RECENT_REQUESTS_PREFIX),
            why="without ListBucket S3 answers 403 instead of 404 for a memory not written yet",
        ),
        allow(
            ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:UpdateItem", "dynamodb:ConditionCheckItem"],
            [table("endpoints")],
            why="live figures: the batch's meta items read 100 a call, then one conditional transaction per endpoint"
            " and batch with the shard's sequence guard",
        ),
        allow(
            ["sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"],
            [queue("stream-failures")],
            origin="service",
            why="the event source mapping's on-failure destination; the code sends poison records there too",
            granted_by="event source",
        ),
        allow(
            [
                "kinesis:DescribeStreamSummary",
                "kinesis:GetRecords",
                "kinesis:GetShardIterator",
                "kinesis:ListShards",
                "kinesis:SubscribeToShard",
                "kinesis:DescribeStream",
                "kinesis:ListStreams",
                "kinesis:DescribeStreamConsumer",
            ],
            [stream()],
            origin="service",
            why="the event source mapping reads the stream with the function's role",
            granted_by="event source",
        ),
    ),
)

CONTROLLER = FunctionDefinition(
    key="controller",
    description="driftline controller: cuts complete windows per endpoint and app, invokes the apps",
    source="lambdas/controller/handler.py",
    package="zip",
    vendored=POWERTOOLS,
    service="driftline-controller",
    memory_mb=512,
    timeout_seconds=300,
    async_failures=True,
    statements=(
        LOGS,
        XRAY,
        ASYNC_FAILURES,
        allow(
            ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan"],
            [table("registry")],
            why="projects, apps and models; the Scheduled Event path lists every project (a scan)",
        ),
        allow(
            ["dynamodb:UpdateItem"],
            [table("registry")],
            why="an app's last failure on its record (drained from the async-failures queue)",
        ),
        allow(
            ["sqs:ReceiveMessage", "sqs:DeleteMessage"],
            [queue("async-failures")],
            why="app failures after Lambda's retries become mm-app-failed and the app's last error",
        ),
        allow(
            ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan"],
            [table("endpoints"), table("endpoints", "*")],
            why="endpoints of a project (index), their minute buckets",
        ),
        allow(
            ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"],
            [table("checkpoints")],
            why="claim-before-invoke checkpoints; a shard reads its pairs' checkpoints in batches",
        ),
        allow(
            ["lambda:InvokeFunction"],
            [function("app"), function("app-*")],
            why="the generic app function and every per-app function, nothing else",
        ),
        allow(
            ["lambda:InvokeFunction"],
            [function("controller")],
            why="a tick fans out: one asynchronous invocation of itself per shard of the endpoints",
        ),
        *PUBLISH_ALERTS,
    ),
)

APP = FunctionDefinition(
    key="app",
    description="driftline monitoring applications: the built-in apps and apps registered by the SDK",
    source="apps/handler.py",  # the built-in apps are in the driftline package; apps/ holds only user examples
    package="image",
    service="driftline-app",
    memory_mb=2048,
    timeout_seconds=300,
    async_failures=True,
    statements=(
        LOGS,
        XRAY,
        ASYNC_FAILURES,
        allow(
            ["s3:GetObject"],
            [
                objects(layout.EVENTS_PREFIX),
                objects(layout.ARTIFACTS_PREFIX),
                objects(layout.GROUND_TRUTH_PREFIX),
            ],
            why="the window's rows, the app's source, ground truth",
        ),
        allow(
            ["s3:ListBucket"],
            [bucket()],
            conditions=_list_prefixes(layout.EVENTS_PREFIX, layout.GROUND_TRUTH_PREFIX),
            why="listing the window's parquet files and labels",
        ),
        allow(
            ["dynamodb:GetItem", "dynamodb:Query"],
            [table("registry"), table("endpoints")],
            why="the app record, the model's reference profile, the endpoint",
        ),
        allow(["lambda:InvokeFunction"], [function("writer")], why="hands its outputs to the writer"),
    ),
)

WRITER = FunctionDefinition(
    key="writer",
    description="driftline writer: app results to Timestream and DynamoDB, alerts to EventBridge and SNS",
    source="lambdas/writer/handler.py",
    package="zip",
    vendored=POWERTOOLS,
    service="driftline-writer",
    memory_mb=512,
    timeout_seconds=60,
    async_failures=True,
    statements=(
        LOGS,
        XRAY,
        ASYNC_FAILURES,
        allow(
            ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"],
            [table("results")],
            why="results and metrics: history and latest; alert decisions beside them",
        ),
        allow(["dynamodb:Query"], [table("registry")], why="the project's alert configurations"),
        *PUBLISH_ALERTS,
        allow(["events:PutEvents"], [default_bus()], why="alert configurations may target the account's default bus"),
        allow(
            ["ssm:GetParameter"],
            [webhook_secrets()],
            why="secret headers of alert webhooks (SecureStrings, never stored in DynamoDB)",
        ),
    ),
)

# Only with Timestream: the writer's statements on it.
WRITER_TIMESTREAM = (
    allow(
        ["timestream:WriteRecords"],
        [timestream_table(name) for name in layout.TIMESTREAM_TABLES],
        why="results and metrics as time series",
    ),
    allow(
        ["timestream:DescribeEndpoints"],
        [anything()],
        why="the SDK's endpoint discovery; no resource-level permissions",
    ),
)

FUNCTIONS: dict[str, FunctionDefinition] = {f.key: f for f in (SERVING, STREAM, CONTROLLER, APP, WRITER)}
# The Powertools `service` dimension each function's metrics carry (namespace METRICS_NAMESPACE): the names the
# handlers pass to driftline.observability.get_metrics (tests/infra checks them against the code); the stack's
# alarms and the Grafana dashboards chart them.
SERVICES = {key: definition.service for key, definition in FUNCTIONS.items()}


def statements_for(key: str, *, timestream: bool, tracing: bool | None = None) -> tuple[Statement, ...]:
    """Every statement of the function ``key``'s role in an installation with or without Timestream, traced
    or not (``None``: as its definition says; the serving function's tracing is a stack switch)."""
    definition = FUNCTIONS[key]
    extra = WRITER_TIMESTREAM if key == "writer" and timestream else ()
    statements = tuple(s for s in definition.statements if s.granted_by != "tracing")
    traced = definition.tracing if tracing is None else tracing
    return statements + ((XRAY,) if traced else ()) + extra


# ------------------------------------------------------------------------------------------ other principals
SCHEDULER_STATEMENTS = (
    allow(["lambda:InvokeFunction"], [function("controller")], why="the schedule's target"),
    allow(
        ["sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"],
        [queue("async-failures")],
        why="the schedule's dead-letter queue",
    ),
)

SDK_STATEMENTS = (
    allow(["ssm:GetParameter", "ssm:GetParameters"], [parameters()], why="finding the stack's settings"),
    allow(
        ["s3:GetObject", "s3:PutObject"],
        [objects(layout.ARTIFACTS_PREFIX), objects(layout.GROUND_TRUTH_PREFIX)],
        why="log_model, set_model_monitoring_function, log_ground_truth",
    ),
    allow(["s3:GetObject"], [objects(layout.EVENTS_PREFIX)], why="reading the inference dataset"),
    allow(["s3:ListBucket"], [bucket()], why="listing artifacts and the dataset"),
    allow(
        ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Query"],
        [table("registry")],
        why="projects, models, functions, apps",
    ),
    allow(
        ["dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:Query", "dynamodb:Scan"],
        [table("endpoints"), table("endpoints", "*")],
        why="endpoint records and live figures",
    ),
    allow(
        ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:DeleteItem"],
        [table("checkpoints"), table("results")],
        why="results, and checkpoints removed with an app",
    ),
    allow(
        ["scheduler:GetSchedule", "scheduler:CreateSchedule", "scheduler:UpdateSchedule", "scheduler:DeleteSchedule"],
        [schedules()],
        why="enable/disable_model_monitoring",
    ),
    allow(["scheduler:ListSchedules"], [anything()], why="no resource-level permissions"),
    allow(
        ["iam:PassRole"],
        [role("scheduler")],
        conditions={"StringEquals": {"iam:PassedToService": ("scheduler.amazonaws.com",)}},
        why="a schedule's target role, to the scheduler only",
    ),
    allow(["execute-api:Invoke"], [api()], why="the inference API under IAM authorisation"),
)

PRINCIPALS: dict[str, tuple[Statement, ...]] = {"scheduler": SCHEDULER_STATEMENTS, "sdk": SDK_STATEMENTS}
