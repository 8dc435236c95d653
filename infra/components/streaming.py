"""The inference event stream: an encrypted Kinesis stream and the stream function that turns its batches into
parquet (S3 ``events/``) and live figures (endpoints table). The event source mapping follows
docs/architecture.md's delivery semantics: partial batch responses, bisect on error, bounded retries, and an
on-failure destination so a batch that can never succeed is recorded instead of blocking its shard."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from driftline.deploy.functions import FUNCTIONS
from infra.components.access import StackArns
from infra.components.assets import Packager
from infra.components.function import DriftlineFunction
from infra.config import StackConfig


class EventStream(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: StackConfig) -> None:
        super().__init__(scope, construct_id)
        self.stream = kinesis.Stream(
            self,
            "Stream",
            stream_name=config.names.stream,
            encryption=kinesis.StreamEncryption.MANAGED,
            stream_mode=kinesis.StreamMode.ON_DEMAND if config.kinesis_on_demand else kinesis.StreamMode.PROVISIONED,
            shard_count=None if config.kinesis_on_demand else config.kinesis_shards,
            retention_period=Duration.hours(config.kinesis_retention_hours),
            # Transport, not data of record: every event it carries is in the parquet dataset on S3 within a
            # batching window, and the destroy removes the functions that write and read it. Kept, it would
            # bill by the hour (on demand) for nothing and its fixed name would stop the next deploy.
            removal_policy=RemovalPolicy.DESTROY,
        )


class StreamProcessor(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
        stream: kinesis.Stream,
        failures: sqs.IQueue,
        packager: Packager,
        environment: Mapping[str, str],
        log_retention: logs.RetentionDays,
        arns: StackArns,
    ) -> None:
        super().__init__(scope, construct_id)
        self.function = DriftlineFunction(
            self,
            "Stream",
            definition=FUNCTIONS["stream"],
            function_name=config.names.function("stream"),
            code=packager.image_code("stream"),
            environment=environment,
            log_retention=log_retention,
            arns=arns,
            memory_mb=config.stream_memory_mb,
        )
        self.event_source = sources.KinesisEventSource(
            stream,
            starting_position=lambda_.StartingPosition.TRIM_HORIZON,  # never skip what was written before deploy
            batch_size=config.stream_batch_size,
            max_batching_window=Duration.seconds(config.stream_batching_window_seconds),
            bisect_batch_on_error=True,
            report_batch_item_failures=True,
            retry_attempts=config.stream_retry_attempts,
            max_record_age=Duration.hours(min(config.kinesis_retention_hours, 168)),  # the mapping allows 7 days
            parallelization_factor=1,  # per-shard order: the sequence guard on live figures relies on it
            on_failure=sources.SqsDlq(failures),
        )
        self.function.function.add_event_source(self.event_source)
