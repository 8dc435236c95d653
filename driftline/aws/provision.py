"""Create every resource the system uses, for the local runtime and the functional tests (against moto).

In AWS the CDK stack (``infra/``) owns these resources; both build them from :mod:`driftline.layout` (tables and
keys, indexes, TTL, Timestream tables, queues), and a test compares what this module creates with the
synthesized template. Idempotent: existing resources are left as they are.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from driftline import layout
from driftline.aws.clients import Clients
from driftline.config import Settings

ALERTS_QUEUE = "driftline-alerts-inbox"  # local only: SNS fan-out target so alerts can be read back
DEFAULT_PREFIX = "driftline"  # the default stack name, which Settings' default resource names start with


def _ignore(codes: tuple[str, ...], call: Any, **kwargs: Any) -> Any:
    try:
        return call(**kwargs)
    except ClientError as exc:
        if exc.response["Error"]["Code"] in codes:
            return None
        raise


def _table(db: Any, name: str, table: layout.TableLayout) -> None:
    attrs = {table.partition_key, table.sort_key}
    kwargs: dict[str, Any] = {
        "TableName": name,
        "KeySchema": [
            {"AttributeName": table.partition_key, "KeyType": "HASH"},
            {"AttributeName": table.sort_key, "KeyType": "RANGE"},
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }
    if table.indexes:
        kwargs["GlobalSecondaryIndexes"] = []
        for index in table.indexes:
            attrs |= {index.partition_key, index.sort_key}
            kwargs["GlobalSecondaryIndexes"].append(
                {
                    "IndexName": index.name,
                    "KeySchema": [
                        {"AttributeName": index.partition_key, "KeyType": "HASH"},
                        {"AttributeName": index.sort_key, "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            )
    kwargs["AttributeDefinitions"] = [{"AttributeName": a, "AttributeType": "S"} for a in sorted(attrs)]
    _ignore(("ResourceInUseException",), db.create_table, **kwargs)
    if table.ttl:
        _ignore(
            ("ValidationException",),
            db.update_time_to_live,
            TableName=name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl},
        )


def _queue_url(sqs: Any, name: str) -> str:
    return str(sqs.create_queue(QueueName=name)["QueueUrl"])


def queue_arn(sqs: Any, url: str) -> str:
    return str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])


def provision(
    settings: Settings, clients: Clients | None = None, shard_count: int = 2, prefix: str = DEFAULT_PREFIX
) -> Settings:
    """Create the resources named by ``settings``; returns settings completed with the ARNs/URLs created.
    ``prefix`` names what Settings does not (the queues, the topic's key alias), as the stack name does."""
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
    for table in layout.TABLES.values():
        _table(db, getattr(settings, table.settings_key), table)

    if settings.timestream_enabled:
        ts = clients.timestream_write
        _ignore(("ConflictException",), ts.create_database, DatabaseName=settings.timestream_database)
        for name in layout.TIMESTREAM_TABLES:
            _ignore(
                ("ConflictException",),
                ts.create_table,
                DatabaseName=settings.timestream_database,
                TableName=name,
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
    topic_arn = settings.alerts_topic_arn
    if not topic_arn:
        # as in the stack: a customer-managed key (CloudWatch alarms cannot publish under alias/aws/sns), so
        # every publisher needs kms:GenerateDataKey* and kms:Decrypt on it
        key_id = clients.client("kms").create_key(Description="driftline alerts topic")["KeyMetadata"]["Arn"]
        topic_arn = sns.create_topic(Name=f"{prefix}-alerts", Attributes={"KmsMasterKeyId": key_id})["TopicArn"]
    sqs = clients.client("sqs")
    urls = {
        q.settings_key: getattr(settings, q.settings_key) or _queue_url(sqs, f"{prefix}-{q.role}")
        for q in layout.QUEUES.values()
    }
    inbox_url = _queue_url(sqs, ALERTS_QUEUE)
    sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=queue_arn(sqs, inbox_url),
        Attributes={"RawMessageDelivery": "true"},
    )
    return settings.replace(alerts_topic_arn=topic_arn, **urls)


def topic_key_arn(clients: Clients, topic_arn: str) -> str | None:
    """The ARN of the KMS key the topic is encrypted with (None: not encrypted)."""
    attributes = clients.sns.get_topic_attributes(TopicArn=topic_arn)["Attributes"]
    key = attributes.get("KmsMasterKeyId")
    if not key:
        return None
    return str(clients.client("kms").describe_key(KeyId=key)["KeyMetadata"]["Arn"])
