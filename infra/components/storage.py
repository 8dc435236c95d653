"""Durable state: the data bucket (artifacts, the inference dataset, ground truth, the stream's memory), the
DynamoDB tables and, when enabled, the Timestream database, all as :mod:`driftline.layout` defines them (the
local provisioning builds the same from it). Key layouts are docs/architecture.md's."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Aws, CfnCondition, Duration, Fn, ICfnConditionExpression, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_timestream as timestream
from constructs import Construct

from driftline import layout
from infra.config import StackConfig
from infra.regions import TIMESTREAM_REGIONS


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
            bucket_name=names.data_bucket(Aws.ACCOUNT_ID, Aws.REGION),
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            versioned=True,  # model files and app sources are referenced by key: keep what was overwritten
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="data/",
            lifecycle_rules=[
                _lifecycle_rule(rule)
                for rule in layout.lifecycle_rules(
                    config.events_retention_days, config.noncurrent_version_days, config.events_cold_after_days
                )
            ],
            removal_policy=removal,
        )

        self.tables: dict[str, dynamodb.Table] = {}
        for role, spec in layout.TABLES.items():
            table = dynamodb.Table(
                self,
                role.capitalize(),
                table_name=names.table(role),
                partition_key=_string(spec.partition_key),
                sort_key=_string(spec.sort_key),
                billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
                point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                    point_in_time_recovery_enabled=True
                ),
                encryption=dynamodb.TableEncryption.AWS_MANAGED,
                # No deletion protection: the rollback of a failed first create deletes the new (empty) tables,
                # and DynamoDB refuses to delete a protected one, which would leave the rollback failed and the
                # names taken. The removal policy keeps them on `cdk destroy`; a table deleted by hand leaves
                # its point-in-time recovery backup for 35 days.
                time_to_live_attribute=spec.ttl,
                removal_policy=removal,
            )
            for index in spec.indexes:
                table.add_global_secondary_index(
                    index_name=index.name,
                    partition_key=_string(index.partition_key),
                    sort_key=_string(index.sort_key),
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
            for name in layout.TIMESTREAM_TABLES:
                ts_table = timestream.CfnTable(
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
                ts_table.node.add_dependency(database)
                ts_table.cfn_options.condition = self.timestream_condition
                ts_table.apply_removal_policy(removal)
                self.timestream_tables[name] = ts_table

    @property
    def timestream_enabled(self) -> bool | str:
        """``timestream_enabled`` of the settings: False when switched off, else "true" exactly in the regions
        where the template creates the tables (a CloudFormation ``Fn::If`` on :attr:`timestream_condition`)."""
        if self.timestream_condition is None:
            return False
        return self.timestream_in_region

    @property
    def timestream_in_region(self) -> str:
        """ "true" in the regions where the template creates the Timestream tables, else "false" (a token)."""
        if self.timestream_condition is None:
            raise ValueError("Timestream is switched off in this stack's configuration")
        return Fn.condition_if(self.timestream_condition.logical_id, "true", "false").to_string()

    def timestream_table_arns(self) -> list[str]:
        return [t.attr_arn for t in self.timestream_tables.values()]

    def object_arn(self, prefix: str) -> str:
        return self.bucket.arn_for_objects(f"{prefix}*")


def _string(name: str) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=name, type=dynamodb.AttributeType.STRING)


def _lifecycle_rule(rule: layout.LifecycleRule) -> s3.LifecycleRule:
    def days(value: int | None) -> Duration | None:
        return None if value is None else Duration.days(value)

    return s3.LifecycleRule(
        id=rule.id,
        prefix=rule.prefix or None,
        expiration=days(rule.expiration_days),
        noncurrent_version_expiration=days(rule.noncurrent_days),
        abort_incomplete_multipart_upload_after=days(rule.abort_multipart_days),
        transitions=None
        if rule.transition_days is None
        else [
            s3.Transition(
                storage_class=s3.StorageClass(rule.transition_storage_class),
                transition_after=Duration.days(rule.transition_days),
            )
        ],
    )
