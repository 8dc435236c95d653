"""The stream's duplicate detection (driftline.stream.dedup): pure decisions over request ids and record tags."""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driftline.errors import InvalidRequestError
from driftline.stream.decode.batch import decode_batch
from driftline.stream.decode.envelope import records_from_event
from driftline.stream.dedup import (
    MAGIC,
    Candidates,
    RecentRequests,
    candidates_of,
    decide,
    record_tags,
    request_keys,
    string_hashes,
)
from driftline.stream.testing import inference_event, kinesis_event, sequence_number

T = 1_795_000_000  # seconds since the epoch


class Rec(NamedTuple):
    position: int
    request_id: str
    sequence: int
    when: int  # seconds
    latency_us: int = 1000


def rec(position: int, request_id: str, *, seq: int | None = None, when: int = T) -> Rec:
    return Rec(position, request_id, position if seq is None else seq, when)


def batch_of(*records: Rec) -> Candidates:
    """Records of one endpoint on one shard, in sequence order, as the stream builds them."""
    ordered = sorted(records, key=lambda r: r.sequence)
    when_us = np.array([r.when * 1_000_000 for r in ordered], dtype=np.int64)
    return Candidates(
        positions=np.array([r.position for r in ordered], dtype=np.int64),
        requests=request_keys(
            pa.array([r.request_id for r in ordered], pa.string()),
            when_us,
            np.array([r.latency_us for r in ordered], dtype=np.int64),
        ),
        records=record_tags(pa.array([sequence_number(r.sequence) for r in ordered], pa.string())),
        when_seconds=when_us // 1_000_000,
    )


def test_distinct_requests_are_all_kept_and_remembered():
    decision = decide(RecentRequests(), batch_of(rec(0, "a"), rec(1, "b"), rec(2, "c")))
    assert decision.duplicates == []
    assert len(decision.recent) == 3


def test_a_copy_later_in_the_same_batch_is_dropped_and_the_first_kept():
    decision = decide(RecentRequests(), batch_of(rec(0, "a"), rec(1, "b"), rec(2, "a"), rec(3, "a")))
    assert decision.duplicates == [2, 3]
    assert len(decision.recent) == 2


def test_order_is_by_sequence_not_by_the_order_given():
    decision = decide(RecentRequests(), batch_of(rec(1, "a", seq=9), rec(0, "a", seq=4)))
    assert decision.duplicates == [1]  # the record with the lower sequence number owns the request


def test_a_copy_in_a_later_batch_is_dropped():
    first = decide(RecentRequests(), batch_of(rec(0, "a", seq=0), rec(1, "b", seq=1)))
    later = decide(first.recent, batch_of(rec(0, "c", seq=2), rec(1, "a", seq=3)))
    assert later.duplicates == [1]


def test_a_redelivered_batch_keeps_and_drops_exactly_what_its_first_delivery_did():
    batch = [rec(0, "a", seq=10), rec(1, "b", seq=11), rec(2, "a", seq=12)]
    before = decide(RecentRequests(), batch_of(rec(0, "z", seq=1))).recent
    first = decide(before, batch_of(*batch))
    # redelivered before its memory was saved, and after
    assert decide(before, batch_of(*batch)).duplicates == first.duplicates == [2]
    assert decide(first.recent, batch_of(*batch)).duplicates == [2]
    # bisected after a failure: the halves decide alike, whichever memory they start from
    half_one = decide(first.recent, batch_of(*batch[:1]))
    assert half_one.duplicates == []
    assert decide(half_one.recent, batch_of(rec(0, "b", seq=11), rec(1, "a", seq=12))).duplicates == [1]


def test_the_memory_forgets_requests_older_than_the_window():
    old = decide(RecentRequests(), batch_of(rec(0, "a", seq=0, when=T))).recent
    newer = decide(old, batch_of(rec(0, "b", seq=1, when=T + 61)), window_seconds=60)
    assert len(newer.recent) == 1  # "a" forgotten
    assert decide(newer.recent, batch_of(rec(0, "a", seq=2, when=T)), window_seconds=60).duplicates == []
    within = decide(old, batch_of(rec(0, "b", seq=1, when=T + 60)), window_seconds=60)
    assert decide(within.recent, batch_of(rec(0, "a", seq=2, when=T)), window_seconds=60).duplicates == [0]


def test_the_size_cap_keeps_the_newest_and_says_how_many_it_forgot():
    many = [rec(i, f"r{i}", when=T + i) for i in range(10)]
    decision = decide(RecentRequests(), batch_of(*many), max_entries=4, window_seconds=3600)
    assert decision.forgotten == 6
    assert sorted(decision.recent.entries["when"].tolist()) == [T + 6, T + 7, T + 8, T + 9]


def test_the_memory_round_trips_through_bytes():
    recent = decide(RecentRequests(), batch_of(rec(0, "a"), rec(1, "b"))).recent
    data = recent.encode()
    assert data.startswith(MAGIC)
    assert len(data) == len(MAGIC) + 2 * 16
    again = RecentRequests.decode(data)
    assert again.entries.tobytes() == recent.entries.tobytes()
    assert decide(again, batch_of(rec(2, "a", seq=5))).duplicates == [2]
    assert len(RecentRequests.decode(None)) == 0


@pytest.mark.parametrize("data", [b"junk", MAGIC + b"\x00" * 15])
def test_bytes_that_are_not_the_format_are_refused_with_what_was_expected(data):
    with pytest.raises(InvalidRequestError, match=r"expected .* then 16-byte entries"):
        RecentRequests.decode(data)


def test_candidates_come_from_the_decoded_events_per_shard():
    a = inference_event(model_name="a", request_id="r-a")
    b = inference_event(model_name="b", request_id="r-b", error={"type": "E", "message": "m"})
    batch = decode_batch(records_from_event(kinesis_event([a, b, a], start=3)))
    [(shard_id, candidates)] = candidates_of(batch.events).items()
    assert shard_id == "shardId-000000000006"
    assert candidates.positions.tolist() == [0, 1, 2]
    assert candidates.requests[0] == candidates.requests[2] != candidates.requests[1]  # the same bytes twice
    assert len(set(candidates.records.tolist())) == 3  # carried by three records
    assert candidates.when_seconds.tolist() == [1_795_712_400] * 3  # 2026-11-26T17:00:00Z
    two = kinesis_event([a], shard_id="shardId-000000000001")["Records"] + kinesis_event([b])["Records"]
    split = candidates_of(decode_batch(records_from_event({"Records": two})).events)
    assert {k: v.positions.tolist() for k, v in split.items()} == {
        "shardId-000000000001": [0],
        "shardId-000000000006": [1],
    }


def test_decode_batch_leaves_excluded_records_out_of_events_and_rows():
    events = [inference_event(request_id=f"r{i}", inputs=[[float(i), 0.0]]) for i in range(4)]
    batch = decode_batch(records_from_event(kinesis_event(events)), exclude=lambda _table: [0, 2])
    assert batch.duplicates == [0, 2]
    assert batch.events.column("request_id").to_pylist() == ["r1", "r3"]
    [group] = batch.groups
    assert group.table.column("request_id").to_pylist() == ["r1", "r3"]
    assert group.first_sequence == sequence_number(1)  # the group starts at its first record kept


def test_a_client_reusing_its_request_id_is_not_taken_for_a_copy():
    """OIP clients may send their own id, and reuse it: distinct requests differ in start time or latency."""
    decision = decide(
        RecentRequests(),
        batch_of(rec(0, "1", when=T), rec(1, "1", when=T + 1), Rec(2, "1", 2, T, latency_us=999)),
    )
    assert decision.duplicates == []


def test_string_hashes_are_stable_and_tell_strings_apart():
    values = ["", "abc", "é-request", "x" * 37]
    hashes = string_hashes(pa.array(values))
    # pinned: the stored memories of a running system must keep their meaning across versions
    assert [hex(int(h)) for h in hashes] == [
        "0x58beef8caf94302d",
        "0xd8d8c9afa2455b40",
        "0x266a930f758e848e",
        "0x54c0886257101b35",
    ]
    # slices, chunked arrays and large strings hash alike
    assert string_hashes(pa.array(["pad", *values]).slice(1)).tolist() == hashes.tolist()
    assert string_hashes(pa.chunked_array([values[:2], values[2:]])).tolist() == hashes.tolist()
    assert string_hashes(pa.array(values, pa.large_string())).tolist() == hashes.tolist()
    # strings of one length (uuids, sequence numbers) take a faster path to the same hashes
    same_length = ["abcdefghij", "0123456789", "é23456789"]
    mixed = string_hashes(pa.array([*same_length, "x"])).tolist()[:3]
    assert string_hashes(pa.array(same_length)).tolist() == mixed
    assert (
        string_hashes(pa.array(["12345678", "abcdefgh"])).tolist()
        == string_hashes(pa.array(["12345678", "abcdefgh", ""])).tolist()[:2]
    )
    rng = np.random.default_rng(0)
    many = {"".join(rng.choice(list("ab\x00é"), size=rng.integers(0, 12))) for _ in range(20_000)}
    assert len(set(string_hashes(pa.array(sorted(many))).tolist())) == len(many)
    assert string_hashes(pa.array(["a", "a\x00"])).tolist()[0] != string_hashes(pa.array(["a\x00"])).tolist()[0]


def test_record_tags_tell_a_shards_records_apart_and_never_change():
    numbers = [sequence_number(i) for i in range(5000)] + [
        "7",
        "12",
        "49590338271490256608559692540925702759324208523137515618",
    ]
    tags = record_tags(pa.array(numbers))
    assert tags.dtype == np.uint32
    assert len(set(tags.tolist())) == len(numbers)
    assert record_tags(pa.array(["x", *numbers]).slice(1)).tolist() == tags.tolist()
    assert record_tags(pa.array(numbers[-3:])).tolist() == tags[-3:].tolist()


# --- property: whatever the batching, failures, redeliveries and bisections, every request is stored once ----

TIMEOUT = 29  # the serving function's: a put happens at most this long after its request started

# per request: seconds since the previous put, seconds its put came after its start, and None or how long
# after the first put a second one (a retry whose first answer was lost) reached Kinesis
requests = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=40),
        st.integers(min_value=0, max_value=TIMEOUT),
        st.none() | st.integers(min_value=0, max_value=TIMEOUT),
    ),
    min_size=1,
    max_size=40,
)


def shard_of(drawn: list[tuple[int, int, int | None]]) -> list[Rec]:
    """The shard's records in put order (= sequence order), copies included, each within the timeout."""
    puts: list[tuple[int, int, str, int]] = []  # (put time, tie-break, request id, request time)
    clock = T
    for i, (step, latency, retry) in enumerate(drawn):
        clock += step
        puts.append((clock, 2 * i, f"r{i}", clock - latency))
        if retry is not None:
            puts.append((min(clock + retry, clock - latency + TIMEOUT), 2 * i + 1, f"r{i}", clock - latency))
    puts.sort()
    return [rec(n, request_id, when=when) for n, (_put, _tie, request_id, when) in enumerate(puts)]


@settings(max_examples=300, deadline=None)
@given(drawn=requests, plan=st.randoms(use_true_random=False))
def test_every_request_is_stored_and_counted_once_whatever_the_deliveries(drawn, plan):
    """A model of the stream function: a batch decides against the saved memory, writes its object under the
    key of its first kept record (overwriting), saves the memory, counts what is above the shard's sequence
    guard, and may die between any two of these steps; it is then redelivered whole or bisected, as Lambda does.
    Batches of up to 30 records spanning up to 20 minutes stand for a backlog."""
    records = shard_of(drawn)
    saved = RecentRequests()
    objects: dict[int, list[str]] = {}
    counted: list[str] = []
    guard = -1

    def deliver(part: list[Rec]) -> None:
        nonlocal saved, guard
        for attempt in range(4):  # the event source mapping's retries are bounded; the last attempt succeeds
            dies_after = None if attempt == 3 else plan.choice([None, "objects", "memory", "figures"])
            decision = decide(saved, batch_of(*part))
            kept = [c for c in part if c.position not in decision.duplicates]
            if kept:
                objects[kept[0].sequence] = [c.request_id for c in kept]
            if dies_after != "objects":
                saved = decision.recent
                if dies_after != "memory":
                    counted.extend(c.request_id for c in kept if c.sequence > guard)
                    guard = max([guard, *(c.sequence for c in kept)])
                    if dies_after is None:
                        return
            if len(part) > 1 and plan.random() < 0.5:  # bisect on error
                middle = len(part) // 2
                deliver(part[:middle])
                deliver(part[middle:])
                return

    position = 0
    while position < len(records):
        size = plan.randint(1, 30)
        deliver(records[position : position + size])
        position += size
    unique = sorted({c.request_id for c in records})
    assert sorted(request_id for rows in objects.values() for request_id in rows) == unique
    assert sorted(counted) == unique


def test_an_ingested_request_is_dated_by_its_arrival_so_a_copy_after_live_traffic_is_still_caught():
    """Ingested rows carry their own (old) time in `when` and the ingest's arrival in `received`: the memory dates
    them by the arrival, so a batch that starts with live traffic does not forget them at once."""
    from datetime import UTC, datetime, timedelta

    now = datetime(2026, 11, 26, 17, 0, tzinfo=UTC)
    old = inference_event(request_id="ingest-1", when=now - timedelta(days=3))
    old = dataclasses.replace(old, received=now.isoformat(timespec="microseconds"), latency_us=0)
    live = inference_event(request_id="live", when=now + timedelta(seconds=5))
    first = decode_batch(records_from_event(kinesis_event([live, old], start=0)))
    [(_, candidates)] = candidates_of(first.events).items()
    assert candidates.when_seconds.tolist() == [int(now.timestamp()) + 5, int(now.timestamp())]
    decision = decide(RecentRequests(), candidates)
    assert decision.duplicates == []
    later = inference_event(request_id="live-2", when=now + timedelta(seconds=20))
    second = decode_batch(records_from_event(kinesis_event([later, old], start=2)))
    [(_, again)] = candidates_of(second.events).items()
    assert decide(decision.recent, again).duplicates == [1]  # Kinesis's copy of the ingested request
