"""Duplicate inference events: one request put on Kinesis twice is stored and counted once.

Kinesis ``PutRecord`` is not idempotent. When a put is applied but its answer is lost (a read timeout, a 5xx
after the write), the serving function's retry writes the same event again under a new sequence number: the
same bytes, the same shard (the partition key is the endpoint id), a later position. Sequence guards cannot
see this (the copy is a new record), so the stream remembers the requests it has stored.

A served request is named by its ``request_id`` *and* its start time and latency in microseconds (its
:func:`request_keys`): the request id alone will not do, because a client may send its own ``id`` and reuse
it (OIP clients often send a constant or a counter); two distinct requests never share all three.

Memory, per shard (:class:`RecentRequests`; the shard's one stream processor reads and writes it): one entry
per request, 16 bytes: its 64-bit key, a 32-bit tag of the record that carried it first (a hash of its
sequence number) and the request's time in whole seconds. A record is a duplicate when its request is known
under *another* record's tag. Because the tag names the owner, the decision does not depend on whether this
batch's own entries were saved already: a redelivered (or bisected) batch keeps and drops exactly what the
first delivery did, which is what keeps its deterministic parquet keys exact, and the live figures' sequence
guard then counts each kept record once.

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
function's own retries) and a copy on another shard (a resharding between the two puts). A client that sends
the same request twice gets two served requests, and both are monitored: only Kinesis's copies are removed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from driftline.errors import InvalidRequestError

WINDOW_SECONDS = 60  # Settings.duplicate_window_seconds defaults to the same (config does not import numpy code)
MAX_ENTRIES = 131_072
ENTRY = np.dtype([("request", "<u8"), ("record", "<u4"), ("when", "<u4")])
MAGIC = b"driftline-recent-requests/1\n"
_U32_MAX = 2**32 - 1


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: every input bit flips each output bit with probability ~1/2 (uint64, wrapping).
    Works in place: ``x`` is a fresh array of the caller's, returned mixed."""
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


def string_hashes(strings: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A 64-bit hash of each string's UTF-8 bytes, for the whole array at once (uint64). Not cryptographic:
    it tells apart what a batch holds, with collisions as rare as a random 64-bit value's."""
    strings = _string_array(strings)
    n = len(strings)
    if n == 0:
        return np.empty(0, dtype=np.uint64)
    offsets, data = _buffers(strings)
    lengths = np.diff(offsets)
    width = max(8, int(-(-lengths.max() // 8) * 8))
    length = int(lengths[0])
    if length and (lengths == length).all():
        # all the same length (uuids, sequence numbers): the strings are the rows of the bytes, zeros after them
        padded = np.zeros((n, width), dtype=np.uint8)
        padded[:, :length] = data.reshape(n, length)
    else:
        data = np.concatenate([data, np.zeros(width, dtype=np.uint8)])
        columns = np.arange(width)
        padded = data[offsets[:-1].reshape(-1, 1) + columns]
        padded *= columns < lengths[:, None]  # zero what belongs to the next strings
    words = padded.view("<u8")
    hashes = _mix(lengths.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15))
    for j in range(words.shape[1]):
        hashes ^= words[:, j]
        hashes = _mix(hashes)
    return hashes


def request_keys(request_ids: pa.Array, when_us: np.ndarray, latency_us: np.ndarray) -> np.ndarray:
    """What names one served request (uint64 per record; see the module doc)."""
    keys = _mix(string_hashes(request_ids) ^ np.asarray(when_us).astype(np.uint64))
    return _mix(keys ^ np.asarray(latency_us).astype(np.uint64))


def record_tags(sequence_numbers: pa.Array) -> np.ndarray:
    """32 bits naming each record within its shard (uint32), from the last 16 digits of its sequence number:
    two records of a shard share them only if their sequence numbers differ by a multiple of 10**16."""
    strings = _string_array(sequence_numbers)
    n = len(strings)
    if n == 0:
        return np.empty(0, dtype=np.uint32)
    offsets, data = _buffers(strings)
    length = int(offsets[1])
    if length >= 16 and (np.diff(offsets) == length).all():  # one length (a shard's are): the digits in place
        tail = data.reshape(n, length)[:, length - 16 :].copy()
    else:
        data = np.concatenate([np.zeros(16, dtype=np.uint8), data])  # zeros before a short number's first digit
        at = offsets[1:].reshape(-1, 1) + np.arange(16)  # the 16 bytes before each end, in the shifted bytes
        tail = data[at]
        tail *= at >= offsets[:-1].reshape(-1, 1) + 16
    words = tail.view("<u8")
    tags = _mix(words[:, 0] ^ np.uint64(0x9E3779B97F4A7C15))
    tags ^= words[:, 1]
    return (_mix(tags) >> np.uint64(32)).astype(np.uint32)


def _string_array(strings: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(strings, pa.ChunkedArray) and strings.num_chunks == 1:
        strings = strings.chunk(0)
    if isinstance(strings, pa.Array) and strings.type == pa.string() and strings.null_count == 0:
        return strings  # as the decoded events hold them: nothing to cast, fill or combine
    strings = pc.cast(strings, pa.string()).fill_null("")
    return strings.combine_chunks() if isinstance(strings, pa.ChunkedArray) else strings


def _buffers(strings: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(offsets rebased to 0 as int64, the UTF-8 bytes of the strings) of a string array, without a copy."""
    n = len(strings)
    _, offsets_buffer, data_buffer = strings.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int32)[strings.offset : strings.offset + n + 1].astype(np.int64)
    data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer is not None else np.empty(0, np.uint8)
    return offsets - offsets[0], data[offsets[0] : offsets[-1]]


@dataclass(frozen=True)
class Candidates:
    """The accepted records of one shard in one batch, in sequence order (batch order)."""

    positions: np.ndarray  # in the batch
    requests: np.ndarray  # request_keys
    records: np.ndarray  # record_tags
    when_seconds: np.ndarray  # the requests' times, seconds since the epoch

    def __len__(self) -> int:
        return len(self.positions)

    def take(self, index: np.ndarray) -> Candidates:
        return Candidates(self.positions[index], self.requests[index], self.records[index], self.when_seconds[index])

    @classmethod
    def of(cls, events: pa.Table) -> Candidates:
        """From ``EVENT_SCHEMA`` rows (one shard, in sequence order)."""
        when = events.column("when").combine_chunks()
        when_us = when.view(pa.int64()).to_numpy(zero_copy_only=False)  # timestamp[us] as its int64 µs
        dated_us = when_us
        if "received" in events.column_names and events.column("received").null_count < events.num_rows:
            # an ingested request is dated by its arrival: its own time may be any time in the past, while its
            # copies (Kinesis's) follow its arrival as a served request's follow its start
            received = events.column("received").combine_chunks()
            dated_us = pc.coalesce(received, when).view(pa.int64()).to_numpy(zero_copy_only=False)
        return cls(
            positions=events.column("position").to_numpy().astype(np.int64),
            requests=request_keys(events.column("request_id"), when_us, events.column("latency_us").to_numpy()),
            records=record_tags(events.column("sequence_number")),
            when_seconds=np.clip(dated_us // 1_000_000, 0, _U32_MAX),
        )


def candidates_of(events: pa.Table) -> dict[str, Candidates]:
    """The accepted records of a batch (``EVENT_SCHEMA``, batch order) per shard (a Lambda batch holds one)."""
    if events.num_rows == 0:
        return {}
    everything = Candidates.of(events)
    shards = events.column("shard_id")
    if shards.null_count == 0:
        offsets, data = _buffers(_string_array(shards))
        width = int(offsets[1])
        if (np.diff(offsets) == width).all() and (data.reshape(-1, width or 1) == data[:width]).all():
            return {data[:width].tobytes().decode(): everything}  # every shard id is the first one
    shard_ids = np.asarray(shards.to_pylist())
    return {shard_id: everything.take(np.flatnonzero(shard_ids == shard_id)) for shard_id in dict.fromkeys(shard_ids)}


@dataclass
class RecentRequests:
    """The requests stored lately from one shard (see the module doc)."""

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
    candidates: Candidates,
    *,
    window_seconds: int = WINDOW_SECONDS,
    max_entries: int = MAX_ENTRIES,
) -> Decision:
    """Which of one shard's records repeat a request already stored (the first record carrying
    a request owns it), and the memory to keep. Pure; vectorised."""
    entries = recent.entries
    if len(candidates) == 0:
        return Decision(duplicates=[], recent=recent)
    requests, records = candidates.requests, candidates.records
    # the owner each request already has in memory, if any
    order = np.argsort(entries["request"], kind="stable")
    known = entries["request"][order]
    at = np.minimum(np.searchsorted(known, requests), max(len(known) - 1, 0))
    in_memory = (known[at] == requests) if len(known) else np.zeros(len(requests), dtype=bool)
    owner = entries["record"][order[at]] if len(known) else np.zeros(len(requests), dtype=np.uint32)
    # among the batch's records, the first carrying each request
    first = np.zeros(len(requests), dtype=bool)
    first[np.unique(requests, return_index=True)[1]] = True
    duplicate = np.where(in_memory, owner != records, ~first)
    new = ~in_memory & first
    added = np.empty(int(new.sum()), dtype=ENTRY)
    added["request"], added["record"], added["when"] = requests[new], records[new], candidates.when_seconds[new]
    entries = np.concatenate([entries, added]) if len(added) else entries
    # Forget relative to this delivery's FIRST record, never its newest: a copy in this batch or any later
    # delivery was put after that record, so its request time is at most the serving timeout before it.
    cutoff = int(candidates.when_seconds[0]) - window_seconds
    entries = entries[entries["when"].astype(np.int64) >= cutoff]
    forgotten = 0
    if len(entries) > max_entries:
        forgotten = len(entries) - max_entries
        entries = entries[np.argsort(entries["when"], kind="stable")[forgotten:]]
    return Decision(
        duplicates=candidates.positions[duplicate].tolist(), recent=RecentRequests(entries), forgotten=forgotten
    )
