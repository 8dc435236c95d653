"""The stream's duplicate detection (driftline.stream.dedup): pure decisions over request ids and record tags."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driftline.errors import InvalidRequestError
from driftline.stream.batch import decode_batch
from driftline.stream.dedup import MAGIC, Candidate, RecentRequests, candidates_of, decide
from driftline.stream.records import records_from_event
from driftline.stream.testing import inference_event, kinesis_event, sequence_number

T = 1_795_000_000  # seconds since the epoch


def cand(position: int, request_id: str, *, seq: int | None = None, when: int = T) -> Candidate:
    index = position if seq is None else seq
    return Candidate(position, int(sequence_number(index)), sequence_number(index), request_id, when)


def test_distinct_requests_are_all_kept_and_remembered():
    decision = decide(RecentRequests(), [cand(0, "a"), cand(1, "b"), cand(2, "c")])
    assert decision.duplicates == []
    assert len(decision.recent) == 3


def test_a_copy_later_in_the_same_batch_is_dropped_and_the_first_kept():
    decision = decide(RecentRequests(), [cand(0, "a"), cand(1, "b"), cand(2, "a"), cand(3, "a")])
    assert decision.duplicates == [2, 3]
    assert len(decision.recent) == 2


def test_order_is_by_sequence_not_by_the_order_given():
    decision = decide(RecentRequests(), [cand(1, "a", seq=9), cand(0, "a", seq=4)])
    assert decision.duplicates == [1]  # the record with the lower sequence number owns the request


def test_a_copy_in_a_later_batch_is_dropped():
    first = decide(RecentRequests(), [cand(0, "a", seq=0), cand(1, "b", seq=1)])
    later = decide(first.recent, [cand(0, "c", seq=2), cand(1, "a", seq=3)])
    assert later.duplicates == [1]


def test_a_redelivered_batch_keeps_and_drops_exactly_what_its_first_delivery_did():
    batch = [cand(0, "a", seq=10), cand(1, "b", seq=11), cand(2, "a", seq=12)]
    before = decide(RecentRequests(), [cand(0, "z", seq=1)]).recent
    first = decide(before, batch)
    # redelivered before its memory was saved, and after
    assert decide(before, batch).duplicates == first.duplicates == [2]
    assert decide(first.recent, batch).duplicates == [2]
    # bisected after a failure: the halves decide alike, whichever memory they start from
    half_one = decide(first.recent, batch[:1])
    assert half_one.duplicates == []
    assert decide(half_one.recent, [cand(0, "b", seq=11), cand(1, "a", seq=12)]).duplicates == [1]


def test_the_memory_forgets_requests_older_than_the_window():
    old = decide(RecentRequests(), [cand(0, "a", seq=0, when=T)]).recent
    newer = decide(old, [cand(0, "b", seq=1, when=T + 61)], window_seconds=60)
    assert len(newer.recent) == 1  # "a" forgotten
    assert decide(newer.recent, [cand(0, "a", seq=2, when=T)], window_seconds=60).duplicates == []
    within = decide(old, [cand(0, "b", seq=1, when=T + 60)], window_seconds=60)
    assert decide(within.recent, [cand(0, "a", seq=2, when=T)], window_seconds=60).duplicates == [0]


def test_the_size_cap_keeps_the_newest_and_says_how_many_it_forgot():
    many = [cand(i, f"r{i}", when=T + i) for i in range(10)]
    decision = decide(RecentRequests(), many, max_entries=4, window_seconds=3600)
    assert decision.forgotten == 6
    assert sorted(decision.recent.entries["when"].tolist()) == [T + 6, T + 7, T + 8, T + 9]


def test_the_memory_round_trips_through_bytes():
    recent = decide(RecentRequests(), [cand(0, "a"), cand(1, "b")]).recent
    data = recent.encode()
    assert data.startswith(MAGIC)
    assert len(data) == len(MAGIC) + 2 * 16
    again = RecentRequests.decode(data)
    assert again.entries.tobytes() == recent.entries.tobytes()
    assert decide(again, [cand(2, "a", seq=5)]).duplicates == [2]
    assert len(RecentRequests.decode(None)) == 0


@pytest.mark.parametrize("data", [b"junk", MAGIC + b"\x00" * 15])
def test_bytes_that_are_not_the_format_are_refused_with_what_was_expected(data):
    with pytest.raises(InvalidRequestError, match=r"expected .* then 16-byte entries"):
        RecentRequests.decode(data)


def test_candidates_come_from_the_decoded_events_per_endpoint_and_shard():
    a = inference_event(model_name="a", request_id="r-a")
    b = inference_event(model_name="b", request_id="r-b", error={"type": "E", "message": "m"})
    batch = decode_batch(records_from_event(kinesis_event([a, b, a], start=3)))
    streams = candidates_of(batch.events)
    assert {key[0] for key in streams} == {a.endpoint_id, b.endpoint_id}
    by_endpoint = {key[0]: value for key, value in streams.items()}
    assert [(c.position, c.request_id, c.sequence_number) for c in by_endpoint[a.endpoint_id]] == [
        (0, "r-a", sequence_number(3)),
        (2, "r-a", sequence_number(5)),
    ]
    assert by_endpoint[b.endpoint_id][0].when_seconds == 1_795_712_400  # 2026-11-26T17:00:00Z


def test_decode_batch_leaves_excluded_records_out_of_events_and_rows():
    events = [inference_event(request_id=f"r{i}", inputs=[[float(i), 0.0]]) for i in range(4)]
    batch = decode_batch(records_from_event(kinesis_event(events)), exclude=lambda _table: [0, 2])
    assert batch.duplicates == [0, 2]
    assert batch.events.column("request_id").to_pylist() == ["r1", "r3"]
    [group] = batch.groups
    assert group.table.column("request_id").to_pylist() == ["r1", "r3"]
    assert group.first_sequence == sequence_number(1)  # the group starts at its first record kept


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


def shard_of(drawn: list[tuple[int, int, int | None]]) -> list[Candidate]:
    """The shard's records in put order (= sequence order), copies included, each within the timeout."""
    puts: list[tuple[int, int, str, int]] = []  # (put time, tie-break, request id, request time)
    clock = T
    for i, (step, latency, retry) in enumerate(drawn):
        clock += step
        puts.append((clock, 2 * i, f"r{i}", clock - latency))
        if retry is not None:
            puts.append((min(clock + retry, clock - latency + TIMEOUT), 2 * i + 1, f"r{i}", clock - latency))
    puts.sort()
    return [cand(n, request_id, when=when) for n, (_put, _tie, request_id, when) in enumerate(puts)]


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

    def deliver(part: list[Candidate]) -> None:
        nonlocal saved, guard
        for attempt in range(4):  # the event source mapping's retries are bounded; the last attempt succeeds
            dies_after = None if attempt == 3 else plan.choice([None, "objects", "memory", "figures"])
            decision = decide(saved, part)
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
