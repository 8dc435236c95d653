"""The local provisioning and the CDK stack create the same resources: both build them from driftline.layout, and
this holds them to it. The stack is read from the synthesized template (cdk.json's defaults, stack
``driftline``); the local side is provisioned into moto and read back through the AWS APIs, as a user of the
local stack would see it. What only one side has on purpose (the stack's encryption, point-in-time recovery,
versioning and access logs; the local alerts inbox queue) is outside the comparison."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from driftline import layout
from driftline.aws.clients import Clients
from driftline.aws.provision import ALERTS_QUEUE, lifecycle_configuration, provision, table_definition
from driftline.config import Settings

pytestmark = pytest.mark.xdist_group("infra-synth")

ACCOUNT, REGION = "123456789012", "us-east-1"


# ----------------------------------------------------------------------------------------------- the template
def _resources(template: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [r for r in template["Resources"].values() if r["Type"] == kind]


def _key_schema(schema: list[dict[str, str]]) -> tuple[tuple[str, str], ...]:
    return tuple((k["AttributeName"], k["KeyType"]) for k in schema)


def _table(props: dict[str, Any], ttl: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "keys": _key_schema(props["KeySchema"]),
        "attributes": sorted((a["AttributeName"], a["AttributeType"]) for a in props["AttributeDefinitions"]),
        "billing": props.get("BillingMode") or props.get("BillingModeSummary", {}).get("BillingMode"),
        "indexes": {
            i["IndexName"]: (_key_schema(i["KeySchema"]), i["Projection"]["ProjectionType"])
            for i in props.get("GlobalSecondaryIndexes", [])
        },
        "ttl": ttl["AttributeName"] if ttl and ttl.get("Enabled", ttl.get("TimeToLiveStatus") == "ENABLED") else None,
    }


def _rule(rule: dict[str, Any]) -> tuple[Any, ...]:
    """One lifecycle rule, from the template's shape or S3's."""
    if "Id" in rule:  # CloudFormation
        return (
            rule["Id"],
            rule.get("Prefix", ""),
            rule.get("ExpirationInDays"),
            rule.get("NoncurrentVersionExpiration", {}).get("NoncurrentDays"),
            rule.get("AbortIncompleteMultipartUpload", {}).get("DaysAfterInitiation"),
            tuple((t["StorageClass"], t["TransitionInDays"]) for t in rule.get("Transitions", [])),
            rule["Status"],
        )
    return (
        rule["ID"],
        rule.get("Filter", {}).get("Prefix", rule.get("Prefix", "")),
        rule.get("Expiration", {}).get("Days"),
        rule.get("NoncurrentVersionExpiration", {}).get("NoncurrentDays"),
        rule.get("AbortIncompleteMultipartUpload", {}).get("DaysAfterInitiation"),
        tuple((t["StorageClass"], t["Days"]) for t in rule.get("Transitions", [])),
        rule["Status"],
    )


def template_resources(template: dict[str, Any]) -> dict[str, Any]:
    tables = {
        r["Properties"]["TableName"]: _table(r["Properties"], r["Properties"].get("TimeToLiveSpecification"))
        for r in _resources(template, "AWS::DynamoDB::Table")
    }
    (data_bucket,) = [
        r["Properties"]
        for r in _resources(template, "AWS::S3::Bucket")
        if r["Properties"].get("VersioningConfiguration") == {"Status": "Enabled"}
    ]
    keys = {logical_id for logical_id, r in template["Resources"].items() if r["Type"] == "AWS::KMS::Key"}
    topics = {}
    for topic in _resources(template, "AWS::SNS::Topic"):
        key = topic["Properties"].get("KmsMasterKeyId", {})
        reference = key.get("Fn::GetAtt", [None])[0] if isinstance(key, dict) else None
        topics[topic["Properties"]["TopicName"]] = reference in keys  # under a key of the stack's own
    return {
        "tables": tables,
        "queues": {
            r["Properties"]["QueueName"]: r["Properties"]["MessageRetentionPeriod"]
            for r in _resources(template, "AWS::SQS::Queue")
        },
        "timestream": {
            (r["Properties"]["DatabaseName"], r["Properties"]["TableName"]): (
                int(r["Properties"]["RetentionProperties"]["MemoryStoreRetentionPeriodInHours"]),
                int(r["Properties"]["RetentionProperties"]["MagneticStoreRetentionPeriodInDays"]),
                r["Properties"]["MagneticStoreWriteProperties"]["EnableMagneticStoreWrites"],
            )
            for r in _resources(template, "AWS::Timestream::Table")
        },
        "lifecycle": [_rule(rule) for rule in data_bucket["LifecycleConfiguration"]["Rules"]],
        "streams": sorted(r["Properties"]["Name"] for r in _resources(template, "AWS::Kinesis::Stream")),
        "topics": topics,
        "buses": sorted(r["Properties"]["Name"] for r in _resources(template, "AWS::Events::EventBus")),
        "schedule_groups": sorted(
            r["Properties"]["Name"] for r in _resources(template, "AWS::Scheduler::ScheduleGroup")
        ),
    }


# ------------------------------------------------------------------------------------------- the local side
def local_resources(clients: Clients, settings: Settings) -> dict[str, Any]:
    db = clients.dynamodb
    tables = {}
    for name in db.list_tables()["TableNames"]:
        description = db.describe_table(TableName=name)["Table"]
        ttl = db.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        tables[name] = _table(description, ttl)
    sqs = clients.client("sqs")
    queues = {}
    for url in sqs.list_queues().get("QueueUrls", []):
        name = url.rsplit("/", 1)[-1]
        if name != ALERTS_QUEUE:  # local only: where the tests read the alerts back
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["MessageRetentionPeriod"])
            queues[name] = int(attributes["Attributes"]["MessageRetentionPeriod"])
    ts = clients.timestream_write
    timestream = {}
    for database in ts.list_databases()["Databases"]:
        for table in ts.list_tables(DatabaseName=database["DatabaseName"])["Tables"]:
            described = ts.describe_table(DatabaseName=table["DatabaseName"], TableName=table["TableName"])["Table"]
            timestream[(table["DatabaseName"], table["TableName"])] = (
                described["RetentionProperties"]["MemoryStoreRetentionPeriodInHours"],
                described["RetentionProperties"]["MagneticStoreRetentionPeriodInDays"],
                described["MagneticStoreWriteProperties"]["EnableMagneticStoreWrites"],
            )
    lifecycle = clients.s3.get_bucket_lifecycle_configuration(Bucket=settings.bucket)["Rules"]
    kms = clients.client("kms")
    topics = {}
    for topic in clients.sns.list_topics()["Topics"]:
        key = clients.sns.get_topic_attributes(TopicArn=topic["TopicArn"])["Attributes"].get("KmsMasterKeyId")
        customer_managed = bool(key) and kms.describe_key(KeyId=key)["KeyMetadata"]["KeyManager"] == "CUSTOMER"
        topics[topic["TopicArn"].rsplit(":", 1)[-1]] = customer_managed
    return {
        "tables": tables,
        "queues": queues,
        "timestream": timestream,
        "lifecycle": [_rule(rule) for rule in lifecycle],
        "streams": sorted(clients.kinesis.list_streams()["StreamNames"]),
        "topics": topics,
        "buses": sorted(b["Name"] for b in clients.events.list_event_buses()["EventBuses"] if b["Name"] != "default"),
        "schedule_groups": sorted(
            g["Name"] for g in clients.scheduler.list_schedule_groups()["ScheduleGroups"] if g["Name"] != "default"
        ),
    }


@pytest.fixture
def local() -> Iterator[tuple[Clients, Settings]]:
    with mock_aws():
        settings = provision(Settings(region=REGION))
        yield Clients(settings), settings


def test_the_local_provisioning_creates_what_the_stack_creates(synth, local):
    clients, settings = local
    stack, here = template_resources(synth.template), local_resources(clients, settings)
    for kind in stack:
        assert here[kind] == stack[kind], kind


def test_the_comparison_covers_every_kind_of_resource_of_the_layout(synth):
    stack = template_resources(synth.template)
    names = layout.Names()
    assert set(stack["tables"]) == set(names.tables().values())
    assert stack["tables"][names.table("endpoints")]["indexes"]
    assert stack["tables"][names.table("endpoints")]["ttl"] == layout.ENDPOINTS_TTL
    assert set(stack["queues"]) == {names.queue(role) for role in layout.QUEUES}
    assert {table for _, table in stack["timestream"]} == set(layout.TIMESTREAM_TABLES)
    assert [rule[0] for rule in stack["lifecycle"]] == [rule.id for rule in layout.lifecycle_rules()]
    assert stack["streams"] == [names.stream]
    assert stack["topics"] == {names.topic: True}
    assert stack["buses"] == [names.event_bus]
    assert stack["schedule_groups"] == [names.schedule_group]


def test_a_difference_is_caught(synth, local):
    """The comparison can fail: a table the stack does not have, created here, is a difference."""
    clients, settings = local
    extra = layout.TableLayout("scratch", "pk", "sk", indexes=(layout.Index("by-x", "x", "pk"),))
    clients.dynamodb.create_table(**table_definition("t", extra))
    stack, here = template_resources(synth.template), local_resources(clients, settings)
    assert here["tables"] != stack["tables"]
    assert here["tables"]["t"]["indexes"] == {"by-x": ((("x", "HASH"), ("pk", "RANGE")), "ALL")}


def test_the_events_cold_tier_is_the_same_rule_in_s3_as_in_the_stack(alt, local):
    """The stack with a cold tier (`events_cold_after_days`) and the local bucket given the same knobs hold the
    same lifecycle: the transition to Glacier Instant Retrieval included."""
    clients, settings = local
    config = alt.stack.config
    knobs = (config.events_retention_days, config.noncurrent_version_days, config.events_cold_after_days)
    clients.s3.put_bucket_lifecycle_configuration(
        Bucket=settings.bucket, LifecycleConfiguration=lifecycle_configuration(layout.lifecycle_rules(*knobs))
    )
    here = local_resources(clients, settings)["lifecycle"]
    assert here == template_resources(alt.template)["lifecycle"]
    assert ("expire-inference-events", "events/", 400, None, None, (("GLACIER_IR", 7),), "Enabled") in here
