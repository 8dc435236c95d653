"""Durable state: the data bucket (artifacts, events parquet, results), the four DynamoDB tables and, when
enabled, the Timestream database. Keys and layouts are docs/architecture.md's."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Aws, CfnCondition, Duration, Fn, ICfnConditionExpression, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_timestream as timestream
from constructs import Construct

from infra.config import StackConfig
from infra.regions import TIMESTREAM_REGIONS

TIMESTREAM_TABLES = ("app_results", "metrics")  # MLRun's two time-series tables
ENDPOINTS_INDEX = "by-project"  # driftline.aws.endpoints.PROJECT_INDEX
ENDPOINTS_TTL_ATTRIBUTE = "expires_at"
# (table role, partition key, sort key): all string keys
TABLES = (
    ("registry", "pk", "sk"),
    ("endpoints", "endpoint_id", "sk"),
    ("checkpoints", "pk", "sk"),
    ("results", "pk", "sk"),
)
EVENTS_PREFIX = "events/"
RESULTS_PREFIX = "results/"
ARTIFACTS_PREFIX = "artifacts/"
GROUND_TRUTH_PREFIX = "ground-truth/"  # labels keyed by request id (serving route, SDK)
RECENT_REQUESTS_PREFIX = "state/recent-requests/"  # the stream's memory of stored request ids (rewritten per batch)


def timestream_condition(scope: Construct) -> CfnCondition:
    """True where CloudFormation offers Timestream for LiveAnalytics (:data:`infra.regions.TIMESTREAM_REGIONS`).

    The template is the same in every region: elsewhere it creates no Timestream resource and tells the
    functions and the SDK ``timestream_enabled=false`` (results stay in DynamoDB), instead of failing the whole
    deploy on an unknown resource type before anything could explain it.
    """
    regions = [Fn.condition_equals(Aws.REGION, region) for region in TIMESTREAM_REGIONS]
    return CfnCondition(Stack.of(scope), "TimestreamInThisRegion", expression=_any_of(regions))


def _any_of(conditions: Sequence[ICfnConditionExpression]) -> ICfnConditionExpression:
    if len(conditions) == 1:
        return conditions[0]
    if len(conditions) <= 10:  # Fn::Or takes 2 to 10 conditions
        return Fn.condition_or(*conditions)
    return Fn.condition_or(_any_of(conditions[:10]), _any_of(conditions[10:]))


def data_removal_policy(config: StackConfig) -> RemovalPolicy:
    """What becomes of the data of record (bucket, tables, Timestream) on ``cdk destroy`` or a replacement.

    With ``retain_data``, kept on delete and on replacement, but removed when the stack's first create fails
    and rolls back: what a failed first deploy made is empty, and its fixed names would make the next attempt
    fail with "already exists". Without it, removed with the stack.
    """
    return RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE if config.retain_data else RemovalPolicy.DESTROY


class Storage(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: StackConfig) -> None:
        super().__init__(scope, construct_id)
        names = config.names
        removal = data_removal_policy(config)

        # The data bucket's access record goes where the data goes (it has no name of its own to collide with).
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            lifecycle_rules=[s3.LifecycleRule(id="expire-access-logs", expiration=Duration.days(90))],
            removal_policy=removal,
        )
        self.bucket = s3.Bucket(
            self,
            "Data",
            bucket_name=f"{names.stack}-data-{Aws.ACCOUNT_ID}-{Aws.REGION}",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            versioned=True,  # model files and app sources are referenced by key: keep what was overwritten
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="data/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-inference-events",
                    prefix=EVENTS_PREFIX,
                    expiration=Duration.days(config.events_retention_days),
                ),
                s3.LifecycleRule(
                    id="expire-results",
                    prefix=RESULTS_PREFIX,
                    expiration=Duration.days(config.events_retention_days),
                ),
                s3.LifecycleRule(
                    # rewritten after every batch and read only by the next one: an idle endpoint's memory and
                    # every overwritten version go after a day (the memory spans a minute)
                    id="expire-stream-memory",
                    prefix=RECENT_REQUESTS_PREFIX,
                    expiration=Duration.days(1),
                    noncurrent_version_expiration=Duration.days(1),
                ),
                s3.LifecycleRule(
                    # a redelivered stream batch overwrites its parquet file: the old version is not data
                    id="expire-noncurrent-versions",
                    noncurrent_version_expiration=Duration.days(config.noncurrent_version_days),
                    abort_incomplete_multipart_upload_after=Duration.days(7),
                ),
            ],
            removal_policy=removal,
        )

        self.tables: dict[str, dynamodb.Table] = {}
        for role, pk, sk in TABLES:
            table = dynamodb.Table(
                self,
                role.capitalize(),
                table_name=names.table(role),
                partition_key=dynamodb.Attribute(name=pk, type=dynamodb.AttributeType.STRING),
                sort_key=dynamodb.Attribute(name=sk, type=dynamodb.AttributeType.STRING),
                billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
                point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                    point_in_time_recovery_enabled=True
                ),
                encryption=dynamodb.TableEncryption.AWS_MANAGED,
                # No deletion protection: the rollback of a failed first create deletes the new (empty) tables,
                # and DynamoDB refuses to delete a protected one, which would leave the rollback failed and the
                # names taken. The removal policy keeps them on `cdk destroy`; a table deleted by hand leaves
                # its point-in-time recovery backup for 35 days.
                time_to_live_attribute=ENDPOINTS_TTL_ATTRIBUTE if role == "endpoints" else None,
                removal_policy=removal,
            )
            if role == "endpoints":
                table.add_global_secondary_index(
                    index_name=ENDPOINTS_INDEX,
                    partition_key=dynamodb.Attribute(name="project", type=dynamodb.AttributeType.STRING),
                    sort_key=dynamodb.Attribute(name="endpoint_id", type=dynamodb.AttributeType.STRING),
                    projection_type=dynamodb.ProjectionType.ALL,
                )
            self.tables[role] = table

        self.timestream_condition: CfnCondition | None = None
        self.timestream_database: timestream.CfnDatabase | None = None
        self.timestream_tables: dict[str, timestream.CfnTable] = {}
        if config.timestream:
            self.timestream_condition = timestream_condition(self)
            database = timestream.CfnDatabase(self, "Timestream", database_name=names.timestream_database)
            database.cfn_options.condition = self.timestream_condition
            database.apply_removal_policy(removal)
            self.timestream_database = database
            for name in TIMESTREAM_TABLES:
                table = timestream.CfnTable(
                    self,
                    f"Timestream{name.title().replace('_', '')}",
                    database_name=names.timestream_database,
                    table_name=name,
                    retention_properties={
                        "MemoryStoreRetentionPeriodInHours": str(config.timestream_memory_retention_hours),
                        "MagneticStoreRetentionPeriodInDays": str(config.timestream_magnetic_retention_days),
                    },
                    # windows older than the memory store (a backfill, a late retry) must still be accepted
                    magnetic_store_write_properties={"EnableMagneticStoreWrites": True},
                )
                table.node.add_dependency(database)
                table.cfn_options.condition = self.timestream_condition
                table.apply_removal_policy(removal)
                self.timestream_tables[name] = table

    @property
    def timestream_enabled(self) -> bool | str:
        """``timestream_enabled`` of the settings: False when switched off, else "true" exactly in the regions
        where the template creates the tables (a CloudFormation ``Fn::If`` on :attr:`timestream_condition`)."""
        if self.timestream_condition is None:
            return False
        return Fn.condition_if(self.timestream_condition.logical_id, "true", "false").to_string()

    def timestream_table_arns(self) -> list[str]:
        return [t.attr_arn for t in self.timestream_tables.values()]

    def object_arn(self, prefix: str) -> str:
        return self.bucket.arn_for_objects(f"{prefix}*")
