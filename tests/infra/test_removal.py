"""What `cdk destroy`, a replacement and a failed first deploy leave behind, read from both synths (the default
keeps data, the alternative sets retain_data=false).

A resource with a fixed name that outlives its stack makes the next deploy of that stack fail with "already
exists". So only the data of record may outlive the stack, and only with retain_data: kept on delete and on
replacement, but removed when the stack's first create rolls back (DeletionPolicy RetainExceptOnCreate), so a
failed first deploy leaves nothing that collides. Logs, the Kinesis stream (transport), queues, the topic and
its key go with the stack."""

from __future__ import annotations

from typing import Any

import pytest

# one worker synthesises once for the whole module set (pytest -n with --dist loadgroup)
pytestmark = pytest.mark.xdist_group("infra-synth")

# The data of record: models and the events/results datasets, the registry and figures, the time series; and
# the data bucket's access log, which goes where the data goes.
DATA_OF_RECORD = {
    "AWS::S3::Bucket",
    "AWS::DynamoDB::Table",
    "AWS::Timestream::Database",
    "AWS::Timestream::Table",
}
RETAINING = {"Retain", "RetainExceptOnCreate", "Snapshot"}


@pytest.fixture(params=["default", "alternative"])
def any_synth(request, synth, alt):
    return synth if request.param == "default" else alt


def _named(resource: dict[str, Any]) -> bool:
    """A physical name given in the template (a name CloudFormation generates cannot collide)."""
    props = resource.get("Properties", {})
    return any(key == "Name" or (key.endswith("Name") and key != "DisplayName") for key in props)


def _retained(resource: dict[str, Any]) -> bool:
    return resource.get("DeletionPolicy") in RETAINING or resource.get("UpdateReplacePolicy") in RETAINING


def test_the_two_synths_cover_both_settings(synth, alt):
    assert (synth.stack.config.retain_data, alt.stack.config.retain_data) == (True, False)


def test_only_data_of_record_outlives_the_stack_and_only_with_retain_data(any_synth):
    retain_data = any_synth.stack.config.retain_data
    for logical_id, resource in any_synth.template["Resources"].items():
        if not _retained(resource):
            continue
        assert retain_data, f"{logical_id} ({resource['Type']}) is kept although retain_data is false"
        assert resource["Type"] in DATA_OF_RECORD, f"{logical_id} ({resource['Type']}) is kept but is not data"


def test_data_of_record_is_kept_on_delete_and_replace_but_not_after_a_failed_first_create(any_synth):
    expected = ("RetainExceptOnCreate", "Retain") if any_synth.stack.config.retain_data else ("Delete", "Delete")
    data = [(k, r) for k, r in any_synth.template["Resources"].items() if r["Type"] in DATA_OF_RECORD]
    assert len(data) >= 6  # two buckets, four tables (and Timestream where enabled)
    for logical_id, resource in data:
        assert (resource.get("DeletionPolicy"), resource.get("UpdateReplacePolicy")) == expected, logical_id


def test_named_resources_other_than_data_go_with_the_stack(any_synth):
    named = {k: r for k, r in any_synth.template["Resources"].items() if _named(r)}
    for kind in ("AWS::Logs::LogGroup", "AWS::Kinesis::Stream", "AWS::SQS::Queue", "AWS::SNS::Topic"):
        assert any(r["Type"] == kind for r in named.values()), kind  # the walk sees them
    for logical_id, resource in named.items():
        if resource["Type"] not in DATA_OF_RECORD:
            assert not _retained(resource), (logical_id, resource["Type"])


def test_every_named_log_group_is_deleted_with_the_stack(any_synth):
    groups = any_synth.resources("AWS::Logs::LogGroup")
    assert any("/aws/apigateway/" in str(g["Properties"]["LogGroupName"]) for g in groups.values())
    for logical_id, group in groups.items():
        assert group.get("DeletionPolicy") == "Delete", logical_id
        assert group.get("UpdateReplacePolicy") == "Delete", logical_id


def test_the_stream_is_transport_and_goes_with_the_stack(any_synth):
    (stream,) = any_synth.resources("AWS::Kinesis::Stream").values()
    assert (stream.get("DeletionPolicy"), stream.get("UpdateReplacePolicy")) == ("Delete", "Delete")


def test_tables_can_be_deleted_by_a_rollback(any_synth):
    """DynamoDB refuses DeleteTable on a table with deletion protection, so a rolled-back first create would
    fail and leave its tables (and their names) behind."""
    for logical_id, table in any_synth.resources("AWS::DynamoDB::Table").items():
        assert not table["Properties"].get("DeletionProtectionEnabled"), logical_id


def test_the_alerts_key_goes_with_the_stack_after_the_shortest_wait(any_synth):
    (key,) = any_synth.resources("AWS::KMS::Key").values()
    assert key["DeletionPolicy"] == "Delete"
    assert key["Properties"]["PendingWindowInDays"] == 7
