"""Create every resource the system uses, for the local runtime and the functional tests (against moto).

In AWS the CDK stack (``infra/``) owns these resources; both build them from :mod:`driftline.layout` (tables and
keys, indexes, TTL, bucket lifecycle, Timestream tables, queues, the schedule group, the names), and
``tests/infra/test_provisioning.py`` compares what this module creates with the synthesized template. Idempotent:
existing resources are left as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from driftline import layout
from driftline.aws.clients import Clients
from driftline.config import Settings
from driftline.errors import StorageError

if TYPE_CHECKING:
    from types_boto3_dynamodb.client import DynamoDBClient
    from types_boto3_sqs.client import SQSClient

ALERTS_QUEUE = "driftline-alerts-inbox"  # local only: SNS fan-out target so alerts can be read back


def _ignore(codes: tuple[str, ...], what: str, call: Callable[..., Any], **kwargs: Any) -> Any:
    """``call(**kwargs)``; an error whose code is in ``codes`` means it exists already (None), any other one is a
    :class:`StorageError` saying ``what`` was being created."""
    try:
        return call(**kwargs)
    except ClientError as exc:
        if exc.response["Error"]["Code"] in codes:
            return None
        raise StorageError(f"provisioning {what} failed: {exc}") from exc
    except BotoCoreError as exc:
        raise StorageError(f"provisioning {what} failed: {exc}") from exc


def table_definition(name: str, table: layout.TableLayout) -> dict[str, Any]:
    """The CreateTable request of one table of the layout."""
    attrs = {table.partition_key, table.sort_key}
    kwargs: dict[str, Any] = {
        "TableName": name,
        "KeySchema": _key_schema(table.partition_key, table.sort_key),
        "BillingMode": "PAY_PER_REQUEST",
    }
    if table.indexes:
        kwargs["GlobalSecondaryIndexes"] = []
        for index in table.indexes:
            attrs |= {index.partition_key, index.sort_key}
            kwargs["GlobalSecondaryIndexes"].append(
                {
                    "IndexName": index.name,
                    "KeySchema": _key_schema(index.partition_key, index.sort_key),
                    "Projection": {"ProjectionType": "ALL"},
                }
            )
    kwargs["AttributeDefinitions"] = [{"AttributeName": a, "AttributeType": "S"} for a in sorted(attrs)]
    return kwargs


def _key_schema(partition_key: str, sort_key: str) -> list[dict[str, str]]:
    return [{"AttributeName": partition_key, "KeyType": "HASH"}, {"AttributeName": sort_key, "KeyType": "RANGE"}]


def _table(db: DynamoDBClient, name: str, table: layout.TableLayout) -> None:
    _ignore(("ResourceInUseException",), f"table {name}", db.create_table, **table_definition(name, table))
    if table.ttl:
        _ignore(
            ("ValidationException",),  # TTL already enabled
            f"the time to live of table {name}",
            db.update_time_to_live,
            TableName=name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl},
        )


def lifecycle_configuration(rules: tuple[layout.LifecycleRule, ...]) -> dict[str, Any]:
    """The PutBucketLifecycleConfiguration body of the layout's rules."""
    out = []
    for rule in rules:
        item: dict[str, Any] = {"ID": rule.id, "Filter": {"Prefix": rule.prefix}, "Status": "Enabled"}
        if rule.expiration_days is not None:
            item["Expiration"] = {"Days": rule.expiration_days}
        if rule.transition_days is not None:
            item["Transitions"] = [{"Days": rule.transition_days, "StorageClass": rule.transition_storage_class}]
        if rule.noncurrent_days is not None:
            item["NoncurrentVersionExpiration"] = {"NoncurrentDays": rule.noncurrent_days}
        if rule.abort_multipart_days is not None:
            item["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": rule.abort_multipart_days}
        out.append(item)
    return {"Rules": out}


def _queue_url(sqs: SQSClient, name: str, retention_days: int | None = None) -> str:
    attributes = {} if retention_days is None else {"MessageRetentionPeriod": str(retention_days * 86_400)}
    created = _ignore((), f"queue {name}", sqs.create_queue, QueueName=name, Attributes=attributes)
    return str(created["QueueUrl"])


def queue_arn(sqs: SQSClient, url: str) -> str:
    return str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])


def provision(
    settings: Settings,
    clients: Clients | None = None,
    shard_count: int = 2,
    names: layout.Names | None = None,
) -> Settings:
    """Create the resources named by ``settings``; returns settings completed with the ARNs/URLs created.
    ``names`` names what the settings do not (the queues, the topic), as the stack's name does."""
    names = names or layout.Names()
    clients = clients or Clients(settings)
    s3 = clients.s3
    bucket = f"bucket {settings.bucket}"
    exists = ("BucketAlreadyOwnedByYou", "BucketAlreadyExists")
    if settings.region == "us-east-1":
        _ignore(exists, bucket, s3.create_bucket, Bucket=settings.bucket)
    else:
        _ignore(
            exists,
            bucket,
            s3.create_bucket,
            Bucket=settings.bucket,
            CreateBucketConfiguration={"LocationConstraint": settings.region},
        )
    _ignore(
        (),
        f"the lifecycle of {bucket}",
        s3.put_bucket_lifecycle_configuration,
        Bucket=settings.bucket,
        LifecycleConfiguration=lifecycle_configuration(layout.lifecycle_rules()),
    )

    kinesis = clients.kinesis
    stream = f"stream {settings.stream_name}"
    _ignore(
        ("ResourceInUseException",),
        stream,
        kinesis.create_stream,
        StreamName=settings.stream_name,
        ShardCount=shard_count,
    )
    _ignore(
        (),
        stream,
        kinesis.get_waiter("stream_exists").wait,
        StreamName=settings.stream_name,
        WaiterConfig={"Delay": 0.2},
    )

    db = clients.dynamodb
    for role, table in layout.TABLES.items():
        _table(db, settings.table(role), table)

    if settings.timestream_enabled:
        ts = clients.timestream_write
        database = settings.timestream_database
        _ignore(("ConflictException",), f"Timestream database {database}", ts.create_database, DatabaseName=database)
        for name in layout.TIMESTREAM_TABLES:
            _ignore(
                ("ConflictException",),
                f"Timestream table {database}.{name}",
                ts.create_table,
                DatabaseName=database,
                TableName=name,
                RetentionProperties={
                    "MemoryStoreRetentionPeriodInHours": layout.TIMESTREAM_MEMORY_RETENTION_HOURS,
                    "MagneticStoreRetentionPeriodInDays": layout.TIMESTREAM_MAGNETIC_RETENTION_DAYS,
                },
                # windows older than the memory store's 24 h (a backfill, a late retry) must still be accepted
                MagneticStoreWriteProperties={"EnableMagneticStoreWrites": True},
            )

    _ignore(
        ("ConflictException",),
        f"schedule group {settings.schedule_group}",
        clients.scheduler.create_schedule_group,
        Name=settings.schedule_group,
    )

    _ignore(
        ("ResourceAlreadyExistsException",),
        f"event bus {settings.event_bus_name}",
        clients.events.create_event_bus,
        Name=settings.event_bus_name,
    )

    sns = clients.sns
    topic_arn = settings.alerts_topic_arn
    if not topic_arn:
        # as in the stack: a customer-managed key (CloudWatch alarms cannot publish under alias/aws/sns), so
        # every publisher needs kms:GenerateDataKey* and kms:Decrypt on it
        key = _ignore((), "the alerts topic's key", clients.kms.create_key, Description="driftline alerts")
        topic = _ignore(
            (),
            f"topic {names.topic}",
            sns.create_topic,
            Name=names.topic,
            Attributes={"KmsMasterKeyId": key["KeyMetadata"]["Arn"]},
        )
        topic_arn = topic["TopicArn"]
    sqs = clients.sqs
    urls = {
        role: settings.queue_url(role) or _queue_url(sqs, names.queue(role), q.retention_days)
        for role, q in layout.QUEUES.items()
    }
    inbox_url = _queue_url(sqs, ALERTS_QUEUE)
    _ignore(
        (),
        f"the subscription of {ALERTS_QUEUE} to {topic_arn}",
        sns.subscribe,
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=queue_arn(sqs, inbox_url),
        Attributes={"RawMessageDelivery": "true"},
    )
    return settings.replace(alerts_topic_arn=topic_arn, queue_urls=urls)


def topic_key_arn(clients: Clients, topic_arn: str) -> str | None:
    """The ARN of the KMS key the topic is encrypted with (None: not encrypted)."""
    attributes = clients.sns.get_topic_attributes(TopicArn=topic_arn)["Attributes"]
    key = attributes.get("KmsMasterKeyId")
    if not key:
        return None
    return str(clients.kms.describe_key(KeyId=key)["KeyMetadata"]["Arn"])
