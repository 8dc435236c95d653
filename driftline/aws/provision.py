"""Create every resource the system uses, for the local runtime and the functional tests (against moto).

In AWS the CDK stack (``infra/``) owns these resources; this module mirrors its names and keys so the same
handler code runs on both. Idempotent: existing resources are left as they are.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from driftline.aws.clients import Clients
from driftline.aws.endpoints import PROJECT_INDEX
from driftline.config import Settings

TIMESTREAM_TABLES = ("app_results", "metrics")
ALERTS_QUEUE = "driftline-alerts-inbox"  # local only: SNS fan-out target so alerts can be read back


def _ignore(codes: tuple[str, ...], call: Any, **kwargs: Any) -> Any:
    try:
        return call(**kwargs)
    except ClientError as exc:
        if exc.response["Error"]["Code"] in codes:
            return None
        raise


def _table(db: Any, name: str, keys: tuple[str, str], gsi: dict[str, Any] | None = None) -> None:
    pk, sk = keys
    attrs = {pk, sk}
    kwargs: dict[str, Any] = {
        "TableName": name,
        "KeySchema": [{"AttributeName": pk, "KeyType": "HASH"}, {"AttributeName": sk, "KeyType": "RANGE"}],
        "BillingMode": "PAY_PER_REQUEST",
    }
    if gsi:
        attrs |= {gsi["pk"], gsi["sk"]}
        kwargs["GlobalSecondaryIndexes"] = [
            {
                "IndexName": gsi["name"],
                "KeySchema": [
                    {"AttributeName": gsi["pk"], "KeyType": "HASH"},
                    {"AttributeName": gsi["sk"], "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ]
    kwargs["AttributeDefinitions"] = [{"AttributeName": a, "AttributeType": "S"} for a in sorted(attrs)]
    _ignore(("ResourceInUseException",), db.create_table, **kwargs)


def provision(settings: Settings, clients: Clients | None = None, shard_count: int = 2) -> Settings:
    """Create the resources named by ``settings``; returns settings completed with the ARNs/URLs created."""
    clients = clients or Clients(settings)
    s3 = clients.s3
    if settings.region == "us-east-1":
        _ignore(("BucketAlreadyOwnedByYou", "BucketAlreadyExists"), s3.create_bucket, Bucket=settings.bucket)
    else:
        _ignore(
            ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"),
            s3.create_bucket,
            Bucket=settings.bucket,
            CreateBucketConfiguration={"LocationConstraint": settings.region},
        )

    kinesis = clients.kinesis
    _ignore(("ResourceInUseException",), kinesis.create_stream, StreamName=settings.stream_name, ShardCount=shard_count)
    kinesis.get_waiter("stream_exists").wait(StreamName=settings.stream_name, WaiterConfig={"Delay": 0.2})

    db = clients.dynamodb
    _table(db, settings.registry_table, ("pk", "sk"))
    _table(
        db,
        settings.endpoints_table,
        ("endpoint_id", "sk"),
        gsi={"name": PROJECT_INDEX, "pk": "project", "sk": "endpoint_id"},
    )
    _table(db, settings.checkpoints_table, ("pk", "sk"))
    _table(db, settings.results_table, ("pk", "sk"))
    _ignore(
        ("ValidationException",),
        db.update_time_to_live,
        TableName=settings.endpoints_table,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"},
    )

    if settings.timestream_enabled:
        ts = clients.timestream_write
        _ignore(("ConflictException",), ts.create_database, DatabaseName=settings.timestream_database)
        for table in TIMESTREAM_TABLES:
            _ignore(
                ("ConflictException",),
                ts.create_table,
                DatabaseName=settings.timestream_database,
                TableName=table,
                RetentionProperties={
                    "MemoryStoreRetentionPeriodInHours": 24,
                    "MagneticStoreRetentionPeriodInDays": 365,
                },
                # windows older than the memory store's 24 h (a backfill, a late retry) must still be accepted
                MagneticStoreWriteProperties={"EnableMagneticStoreWrites": True},
            )

    events = clients.events
    _ignore(("ResourceAlreadyExistsException",), events.create_event_bus, Name=settings.event_bus_name)

    sns = clients.sns
    topic_arn = settings.alerts_topic_arn or sns.create_topic(Name="driftline-alerts")["TopicArn"]
    sqs = clients.client("sqs")
    dlq_url = settings.dead_letter_queue_url or sqs.create_queue(QueueName="driftline-dead-letters")["QueueUrl"]
    inbox_url = sqs.create_queue(QueueName=ALERTS_QUEUE)["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=inbox_arn, Attributes={"RawMessageDelivery": "true"})

    return settings.replace(alerts_topic_arn=topic_arn, dead_letter_queue_url=dlq_url)
