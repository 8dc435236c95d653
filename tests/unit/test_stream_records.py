"""Kinesis envelope and the reference decoder: valid records, and every way a record can be poison."""

from __future__ import annotations

import base64
import json

import pytest

from driftline.errors import InvalidRequestError
from driftline.stream.decode.envelope import (
    KinesisBatch,
    KinesisRecord,
    check_envelope,
    padded_sequence,
    records_from_event,
)
from driftline.stream.decode.reference import decode_record, decode_records
from driftline.stream.testing import inference_event, kinesis_event
from tests.conftest import load_event


def _record(data: str, sequence: str = "49590338271490256608559692538361571095921575989136588898") -> KinesisRecord:
    return KinesisRecord(0, f"shardId-000000000006:{sequence}", "shardId-000000000006", sequence, "pk", data)


def _b64(payload: bytes) -> str:
    return base64.b64encode(payload).decode()


def test_real_envelope_is_read_field_by_field():
    batch = records_from_event(load_event("kinesis-stream-event"))
    assert len(batch) == 2
    first = batch[0]
    assert first.shard_id == "shardId-000000000006"
    assert first.sequence_number == "49590338271490256608559692538361571095921575989136588898"
    assert first.event_id == f"{first.shard_id}:{first.sequence_number}"
    assert base64.b64decode(first.data) == b"Hello, this is a test."
    assert [r.position for r in batch] == [0, 1]
    assert batch[-1].sequence > batch[0].sequence


def test_the_real_envelopes_payloads_are_poison_with_a_reason():
    valid, poison = decode_records(records_from_event(load_event("kinesis-stream-event")))
    assert valid == []
    assert [p.record.position for p in poison] == [0, 1]
    assert all("expected a JSON object, got invalid JSON" in p.reason for p in poison)


@pytest.mark.parametrize("event", [None, {}, {"Records": "x"}, [], {"records": []}])
def test_not_a_kinesis_batch_is_refused_naming_what_is_expected(event):
    with pytest.raises(InvalidRequestError, match='expected an object with a "Records" list'):
        records_from_event(event)


@pytest.mark.parametrize(
    "event_ids",
    [
        ["s:1", "s:2", "s:3"],
        ["s:1", "t:2"],  # two shards
        ["a:b:1", "a:b:2"],  # a ':' inside the shard id
        ["a:b:1", "a:c:2"],
        ["s:1", "s:2:3"],  # a ':' after the shared prefix: its shard is "s:2"
        ["xs:", "s:5"],  # the first's prefix inside another id, not at its start
        ["s:1\ns:2", "t:3"],  # a line break inside an id
        [":1", ":2"],  # an empty shard id
    ],
)
def test_shard_ids_are_what_precedes_each_event_ids_last_colon(event_ids):
    batch = records_from_event(
        {"Records": [{"eventID": e, "kinesis": {"sequenceNumber": "1", "data": ""}} for e in event_ids]}
    )
    assert batch.shard_ids == [e[: e.rindex(":")] for e in event_ids]


def test_an_event_id_without_a_colon_leaves_the_record_without_a_shard():
    batch = records_from_event(
        {"Records": [{"eventID": e, "kinesis": {"sequenceNumber": "1", "data": ""}} for e in ["s:1", "s2"]]}
    )
    assert batch.shard_ids == ["s", ""]


def test_a_malformed_record_is_kept_so_it_can_be_reported():
    batch = records_from_event({"Records": [{"kinesis": {"data": "eyJ9"}}, "junk"]})
    assert len(batch) == 2
    with pytest.raises(InvalidRequestError, match="sequenceNumber to be a decimal string"):
        check_envelope(batch[0])
    with pytest.raises(InvalidRequestError):
        check_envelope(batch[1])


def test_valid_record_decodes_to_the_event():
    event = inference_event(inputs=[[1.5, 2.5]], outputs=[1])
    record = records_from_event(kinesis_event([event]))[0]
    assert decode_record(record) == event


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ("", "expected base64 data, got nothing"),
        ("@@@@", "not valid base64"),
        ("SGVsbG8", "not valid base64"),  # missing padding
        (_b64(b"{not json"), "got invalid JSON"),
        (_b64(b'{"a": "\xc3\x28"}'), "expected UTF-8 JSON"),
        (_b64(b"[1, 2]"), "expected a JSON object, got list"),
        (_b64(b'{"request_id": "r"}'), "missing field 'inputs'"),
    ],
)
def test_undecodable_records_say_why(data, reason):
    with pytest.raises(InvalidRequestError, match=reason):
        decode_record(_record(data))


def _payload(**changes) -> bytes:
    data = json.loads(inference_event().to_json())
    data.update(changes)
    return json.dumps(data).encode()


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"latency_us": "fast"}, "field 'latency_us' must be int"),
        ({"latency_us": -1}, "latency_us must be >= 0"),
        ({"outputs": [0, 1]}, "2 outputs for 1 input rows"),
        ({"inputs": [[1.0]]}, r"inputs\[0\] must be a list of 2 values"),
        ({"when": "yesterday"}, "expected an ISO 8601 time"),
        ({"when": "2026-11-26T17:00:00"}, "expected a time with a UTC offset"),
        ({"schema_version": 2}, "unsupported schema_version"),
        ({"endpoint_id": "a/b"}, "endpoint_id 'a/b': expected 1-128 letters"),
        ({"endpoint_id": ""}, "endpoint_id '': expected"),
        ({"effective_sample_count": -3}, "effective_sample_count must be >= 0"),
        ({"effective_sample_count": "many"}, "inference event: invalid literal"),
        ({"request_id": "\ud800"}, "unpaired UTF-16 surrogate"),
    ],
)
def test_schema_violations_are_poison_naming_the_field(changes, reason):
    with pytest.raises(InvalidRequestError, match=reason):
        decode_record(_record(_b64(_payload(**changes))))


def test_a_valid_surrogate_pair_is_fine():
    event = decode_record(_record(_b64(_payload(request_id="\ud83d\ude00"))))
    assert event.request_id == "\U0001f600"


def test_decode_records_keeps_batch_order_and_separates_poison():
    events = [inference_event(latency_us=i) for i in range(3)]
    raw = kinesis_event([events[0], b"nope", events[1], "%%%", events[2]])
    valid, poison = decode_records(records_from_event(raw))
    assert [e.latency_us for _, e in valid] == [0, 1, 2]
    assert [r.position for r, _ in valid] == [0, 2, 4]
    assert [p.record.position for p in poison] == [1, 3]


def test_padded_sequences_order_as_strings_like_the_numbers():
    small, large = "9", "49590338271490256608559692538361571095921575989136588898"
    assert padded_sequence(small) < padded_sequence(large)
    assert len(padded_sequence(large)) == 128
    assert int(padded_sequence(large)) == int(large)


def test_batch_of_records_renumbers_positions_and_slices():
    records = list(records_from_event(kinesis_event([inference_event(), inference_event()])))
    batch = KinesisBatch.of(reversed(records))
    assert [r.position for r in batch] == [0, 1]
    assert batch[0].sequence_number == records[1].sequence_number
    assert [r.position for r in batch[1:]] == [1]
    with pytest.raises(IndexError):
        batch[2]
