"""Duplicate inference events: one request put on Kinesis twice is stored and counted once.

Kinesis ``PutRecord`` is not idempotent. When a put is applied but its answer is lost (a read timeout, a 5xx
after the write), the serving function's retry writes the same event again under a new sequence number: same
``request_id``, same bytes, same shard (the partition key is the endpoint id), a later position. Sequence
guards cannot see this (the copy is a new record), so the stream remembers the request ids it has stored.

Memory, per endpoint and shard (:class:`RecentRequests`): one entry per request, 16 bytes: an 8-byte hash of
the request id, a 4-byte tag of the record that carried it first (a hash of its sequence number) and the
request's time in whole seconds. A record is a duplicate when its request id is known under *another*
record's tag. Because the tag names the owner, the decision does not depend on whether this batch's own
entries were saved already: a redelivered (or bisected) batch keeps and drops exactly what the first
delivery did, which is what keeps its deterministic parquet keys exact.

How long it remembers (:data:`WINDOW_SECONDS`): a batch forgets the entries whose request time is more than
the window before the request time of its own first record. The copy of a request is put by the invocation
that served it, at most the serving function's timeout (29 s, the HTTP API's limit) after that request
started; and any record after a batch's first record was put after it. So a copy in this batch, or in any
later delivery (a redelivery, a bisected half, the next batch), carries a request time at most the timeout
before the batch's first record: its owner's entry is still there. Forgetting relative to the batch's
*newest* record would not be safe: a backlog batch spanning minutes would forget owners its own redelivery
needs. A window of twice the timeout leaves room for clock skew. At Kinesis's per-shard ceiling (1,000
records/s) the memory holds about 60,000 entries plus the batch (under 1.2 MB); :data:`MAX_ENTRIES` keeps the
newest 131,072 whatever happens (the one case where a decision could change between deliveries).

What it does not catch: a copy that reaches the stream after the window (impossible for the serving
function's own retries; possible for a client that replays an old request id by hand, which is then a new
request for monitoring), and a copy on another shard (a resharding between the two puts).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from driftline.errors import InvalidRequestError

WINDOW_SECONDS = 60
MAX_ENTRIES = 131_072
ENTRY = np.dtype([("request", "<u8"), ("record", "<u4"), ("when", "<u4")])
MAGIC = b"driftline-recent-requests/1\n"


def request_hash(request_id: str) -> int:
    """64 bits of BLAKE2b of the request id (two distinct ids in a window collide with p < 1e-10)."""
    return int.from_bytes(hashlib.blake2b(request_id.encode(), digest_size=8).digest(), "little")


def record_tag(sequence_number: str) -> int:
    """32 bits naming the record that first carried a request (within one shard)."""
    return int.from_bytes(hashlib.blake2b(sequence_number.encode(), digest_size=4).digest(), "little")


class Candidate(NamedTuple):
    """One accepted record, as deduplication sees it."""

    position: int  # in the batch
    sequence: int
    sequence_number: str
    request_id: str
    when_seconds: int  # the request's time, seconds since the epoch


@dataclass
class RecentRequests:
    """The request ids one endpoint stored from one shard in the last window (see the module doc)."""

    entries: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=ENTRY))

    def __len__(self) -> int:
        return len(self.entries)

    @classmethod
    def decode(cls, data: bytes | None) -> RecentRequests:
        """From the stored bytes (``None``: nothing stored yet). Raises :class:`InvalidRequestError` for bytes
        that are not this format."""
        if not data:
            return cls()
        if not data.startswith(MAGIC) or (len(data) - len(MAGIC)) % ENTRY.itemsize:
            raise InvalidRequestError(
                f"recent-requests state: expected {MAGIC!r} then 16-byte entries, got {len(data)} bytes "
                f"starting {data[:32]!r}"
            )
        return cls(np.frombuffer(data, dtype=ENTRY, offset=len(MAGIC)).copy())

    def encode(self) -> bytes:
        return MAGIC + self.entries.astype(ENTRY, copy=False).tobytes()


@dataclass(frozen=True)
class Decision:
    duplicates: list[int]  # batch positions of the records to drop
    recent: RecentRequests  # what to remember after this batch
    forgotten: int = 0  # entries dropped by the size cap (not by the window): a figure worth logging


def decide(
    recent: RecentRequests,
    candidates: Iterable[Candidate],
    *,
    window_seconds: int = WINDOW_SECONDS,
    max_entries: int = MAX_ENTRIES,
) -> Decision:
    """Which of one endpoint's records on one shard repeat a request already stored, in sequence order
    (the first record carrying a request id owns it), and the memory to keep. Pure."""
    ordered = sorted(candidates, key=lambda c: c.sequence)
    entries = recent.entries
    owners: dict[int, int] = dict(zip(entries["request"].tolist(), entries["record"].tolist(), strict=True))
    duplicates: list[int] = []
    added: list[tuple[int, int, int]] = []
    for candidate in ordered:
        request = request_hash(candidate.request_id)
        tag = record_tag(candidate.sequence_number)
        owner = owners.get(request)
        if owner is None:
            owners[request] = tag
            added.append((request, tag, _seconds(candidate.when_seconds)))
        elif owner != tag:
            duplicates.append(candidate.position)
    if added:
        entries = np.concatenate([entries, np.array(added, dtype=ENTRY)])
    forgotten = 0
    if ordered:
        # Forget relative to this delivery's FIRST record, never its newest: a copy in this batch or any later
        # delivery was put after that record, so its request time is at most the serving timeout before it.
        cutoff = _seconds(ordered[0].when_seconds) - window_seconds
        entries = entries[entries["when"].astype(np.int64) >= cutoff]
        if len(entries) > max_entries:
            forgotten = len(entries) - max_entries
            entries = entries[np.argsort(entries["when"], kind="stable")[forgotten:]]
    return Decision(duplicates=sorted(duplicates), recent=RecentRequests(entries), forgotten=forgotten)


def _seconds(when_seconds: int) -> int:
    return max(0, min(int(when_seconds), 2**32 - 1))


def candidates_of(events: pa.Table) -> dict[tuple[str, str], list[Candidate]]:
    """The accepted records of a batch (``EVENT_SCHEMA``) per (endpoint, shard), in batch order."""
    seconds = pc.divide(pc.cast(events.column("when"), pa.int64()), 1_000_000).to_pylist()
    columns = [events.column(name).to_pylist() for name in ("position", "sequence_number", "request_id")]
    keys = zip(events.column("endpoint_id").to_pylist(), events.column("shard_id").to_pylist(), strict=True)
    streams: dict[tuple[str, str], list[Candidate]] = {}
    for key, position, sequence_number, request_id, when in zip(keys, *columns, seconds, strict=True):
        candidate = Candidate(position, int(sequence_number), sequence_number, request_id, when)
        streams.setdefault(key, []).append(candidate)
    return streams
