"""Live figures, the pure part: chunking by minutes and the transaction built for a chunk."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

from driftline.aws.endpoints import BUCKET_TTL_SECONDS
from driftline.stream.decode.envelope import padded_sequence
from driftline.stream.live import Identity, LiveEvent, build_updates, chunks

T0 = datetime(2026, 11, 26, 17, 0, 10, tzinfo=UTC)
SHARD = "shardId-000000000001"
IDENTITY = Identity("p", "m", "serving", "2", ["a", "b"], ["label"])


def _event(i: int, *, seconds: int = 0, latency: int = 100, count: int = 1, error: bool = False, rows: int = 1):
    return LiveEvent(i, SHARD, 1000 + i, "e1", T0 + timedelta(seconds=seconds), latency, count, error, rows)


def _values(update):
    return {k: next(iter(v.values())) for k, v in update["ExpressionAttributeValues"].items()}


def test_chunks_hold_at_most_the_given_number_of_minutes_in_order():
    events = [_event(i, seconds=60 * (i // 2)) for i in range(10)]  # two events per minute, five minutes
    got = list(chunks(events, max_minutes=2))
    assert [[e.position for e in c] for c in got] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert list(chunks([], max_minutes=2)) == []


def test_first_delivery_creates_guard_figures_and_buckets():
    events = [
        _event(0, seconds=0, latency=100, count=3),
        _event(1, seconds=30, latency=300, count=1),
        _event(2, seconds=70, latency=999, error=True, rows=0),
    ]
    rows = {0: ([1.0, 2.0], 0), 1: ([3.0, 4.0], 1)}
    updates = build_updates("e1", SHARD, None, events, IDENTITY, rows.get, T0)
    meta, *buckets = updates
    values = _values(meta)
    assert values[":seq"] == padded_sequence(1002)
    assert (values[":requests"], values[":predictions"], values[":errors"]) == ("3", "4", "1")
    assert (values[":lsum"], values[":lcount"]) == ("400", "2")  # errors add no latency
    assert values[":first"] == "2026-11-26T17:00:10.000000+00:00"
    assert values[":last"] == "2026-11-26T17:01:20.000000+00:00"
    assert json.loads(values[":li"]) == [3.0, 4.0]
    assert json.loads(values[":lp"]) == 1
    condition = meta["ConditionExpression"]
    assert "attribute_not_exists(#g)" in condition
    assert meta["ExpressionAttributeNames"]["#g"] == f"seq#{SHARD}"
    assert "#name = if_not_exists(#name, :id_name)" in meta["UpdateExpression"]
    assert [b["Key"]["sk"]["S"] for b in buckets] == ["minute#2026-11-26T17:00", "minute#2026-11-26T17:01"]
    first_minute, second_minute = (_values(b) for b in buckets)
    assert (first_minute[":r"], first_minute[":p"], first_minute[":e"], first_minute[":l"]) == ("2", "4", "0", "400")
    assert (second_minute[":r"], second_minute[":e"], second_minute[":c"]) == ("1", "1", "0")
    assert int(first_minute[":ttl"]) == int(datetime(2026, 11, 26, 17, 0, tzinfo=UTC).timestamp()) + BUCKET_TTL_SECONDS


def test_later_delivery_is_conditioned_on_what_was_read_and_keeps_min_and_max():
    stored = {
        f"seq#{SHARD}": padded_sequence(999),
        "first_request": "2026-11-26T16:00:00.000000+00:00",
        "last_request": "2026-11-26T18:00:00.000000+00:00",
        "last_prediction_at": "2026-11-26T18:00:00.000000+00:00",
    }
    meta = build_updates("e1", SHARD, stored, [_event(0)], IDENTITY, {0: ([1.0, 2.0], 5)}.get, T0)[0]
    values = _values(meta)
    assert values[":first"] == stored["first_request"]  # min kept
    assert values[":last"] == stored["last_request"]  # max kept
    assert ":lp" not in values  # an older prediction does not replace the newer one
    assert values[":old_seq"] == padded_sequence(999)
    assert "#g = :old_seq" in meta["ConditionExpression"]
    assert "#last_request = :old_last" in meta["ConditionExpression"]


def test_identity_fields_are_set_only_where_the_read_item_lacks_them():
    identity = {
        "project": "p",
        "name": "m",
        "function_name": "f",
        "model_uri": "store://models/p/m:latest",
        "model_version": "",
        "feature_names": ["a"],
        "label_names": [],
        "monitoring": True,
        "created": "2026-11-26T16:00:00.000000+00:00",
    }
    deployed = {f"seq#{SHARD}": padded_sequence(999), **identity}
    meta = build_updates("e1", SHARD, deployed, [_event(0)], IDENTITY, {0: ([1.0, 2.0], 5)}.get, T0)[0]
    assert "if_not_exists" not in meta["UpdateExpression"]  # the steady state: the figures alone
    assert not [v for v in meta["ExpressionAttributeValues"] if v.startswith(":id_")]
    missing = {k: v for k, v in deployed.items() if k != "feature_names"}
    meta = build_updates("e1", SHARD, missing, [_event(0)], IDENTITY, {0: ([1.0, 2.0], 5)}.get, T0)[0]
    assert meta["UpdateExpression"].count("if_not_exists") == 1
    assert "#feature_names = if_not_exists(#feature_names, :id_feature_names)" in meta["UpdateExpression"]


def test_every_attribute_goes_through_a_placeholder():
    meta, bucket = build_updates("e1", SHARD, None, [_event(0)], IDENTITY, {0: ([1.0, 2.0], 0)}.get, T0)
    for update in (meta, bucket):
        expression = update["UpdateExpression"] + " " + update.get("ConditionExpression", "")
        words = re.findall(r"[#:]?[A-Za-z_][A-Za-z0-9_]*", expression)
        keywords = {"SET", "ADD", "AND", "if_not_exists", "attribute_not_exists"}
        assert [w for w in words if w[0] not in "#:" and w not in keywords] == []
        assert {w for w in words if w[0] == "#"} == set(update["ExpressionAttributeNames"])


def test_ingested_requests_count_as_predictions_but_not_in_the_latency_figures():
    from dataclasses import replace

    from driftline.stream.live import Figures

    figures = Figures()
    for event in (_event(0, latency=100, count=2), replace(_event(1, latency=0, count=5), ingested=True)):
        figures.add(event)
    assert (figures.requests, figures.predictions) == (2, 7)
    assert (figures.latency_sum_us, figures.latency_count) == (100, 1)  # the served request's only
