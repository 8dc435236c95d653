"""The controller's shards: key ranges that cover every endpoint id exactly once, balanced for hash-shaped ids, and
the shard event that carries one."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest

from driftline.controller.shards import SHARD_SOURCE, ShardSpec, boundary, shard_count
from driftline.controller.trigger import parse_trigger
from driftline.errors import InvalidRequestError
from driftline.schemas import endpoint_id_for

NOW = datetime(2026, 11, 26, 10, 5, tzinfo=UTC)
IDS = [endpoint_id_for("p", "serving", f"model-{i}") for i in range(4000)]


@pytest.mark.parametrize("count", [1, 2, 3, 7, 20, 200])
def test_every_id_belongs_to_exactly_one_shard_and_hash_ids_spread_evenly(count):
    odd = ["", "e1", "zzz", "ffffffff", "0000000", "gamma", "ffffffffffffffffffffffffffffffff0"]
    specs = [ShardSpec("p", i, count, NOW) for i in range(count)]
    for endpoint_id in IDS + odd:
        assert sum(spec.holds(endpoint_id) for spec in specs) == 1, endpoint_id
    sizes = Counter(next(i for i, s in enumerate(specs) if s.holds(e)) for e in IDS)
    mean = len(IDS) / count
    assert max(sizes.values()) < mean + 5 * mean**0.5 + 1  # a binomial spread, no shard piles up
    assert specs[0].low is None
    assert specs[-1].high is None
    assert [s.high for s in specs[:-1]] == [s.low for s in specs[1:]]  # contiguous


def test_boundaries_are_sorted_hex_prefixes():
    cuts = [boundary(i, 16) for i in range(1, 16)]
    assert cuts == [f"{i:x}0000000" for i in range(1, 16)]
    assert boundary(0, 16) is None
    assert boundary(16, 16) is None


def test_the_shard_event_round_trips_through_the_trigger():
    spec = ShardSpec("p", 3, 20, NOW)
    event = spec.to_event()
    assert event == {
        "source": SHARD_SOURCE,
        "project": "p",
        "shard": 3,
        "shards": 20,
        "now": "2026-11-26T10:05:00.000000+00:00",
        "low": "26666666",
        "high": "33333333",
    }
    assert parse_trigger(event) == spec


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"project": ""}, "'project' must be a non-empty name"),
        ({"shard": "3"}, "must be integers"),
        ({"shards": True}, "must be integers"),
        ({"shard": 20}, "'shard' must be 0..19"),
        ({"shards": 0}, "'shards' must be 1..1000"),
        ({"now": "yesterday"}, "'now'"),
        ({"low": "00000000"}, "does not match shard 3 of 20"),
    ],
)
def test_a_malformed_shard_event_is_refused_saying_what_was_expected(change, message):
    event = {**ShardSpec("p", 3, 20, NOW).to_event(), **change}
    with pytest.raises(InvalidRequestError, match=message) as caught:
        parse_trigger(event)
    assert SHARD_SOURCE in str(caught.value) or "expected" in str(caught.value)


@pytest.mark.parametrize(
    ("endpoints", "size", "most", "expected"),
    [
        (0, 500, 200, 1),
        (1, 500, 200, 1),
        (500, 500, 200, 1),
        (501, 500, 200, 2),
        (10_000, 500, 200, 20),
        (10**6, 500, 200, 200),
    ],
)
def test_the_automatic_shard_count(endpoints, size, most, expected):
    assert shard_count(endpoints, shard_size=size, max_shards=most) == expected
