"""The Kinesis envelope: a batch's records, their shard and sequence numbers, their payloads, poison records.

A Kinesis batch (``{"Records": [{"eventID": "shardId-...:4959...", "kinesis": {"data": <base64>,
"sequenceNumber": ..., "partitionKey": ...}}]}``) becomes a :class:`KinesisBatch` of :class:`KinesisRecord`, and
each record's data its payload bytes (base64, strict). A record whose envelope or base64 is unusable can never
succeed: it becomes a :class:`PoisonRecord` (logged, counted, dead-lettered) and never blocks the shard. What
the payload says is the decoders' business (:mod:`driftline.stream.decode.reference` and its twin).
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, overload

from driftline.errors import InvalidRequestError

_DIGITS = re.compile(r"^[0-9]{1,128}$")
SEQUENCE_WIDTH = 128  # Kinesis sequence numbers are decimal strings of up to 128 digits


class KinesisRecord(NamedTuple):
    """One record of a Kinesis batch, as the event source mapping delivers it (a tuple: cheap to build)."""

    position: int  # index in the batch (batch order is sequence order within a shard)
    event_id: str  # shardId:sequenceNumber
    shard_id: str
    sequence_number: str  # decimal string, as Kinesis gives it (the batchItemFailures identifier)
    partition_key: str
    data: str  # base64, untouched

    @property
    def sequence(self) -> int:
        return int(self.sequence_number)


@dataclass(frozen=True, slots=True)
class PoisonRecord:
    """A record that can never be processed, and why (the reason names what was expected)."""

    record: KinesisRecord
    reason: str


def padded_sequence(sequence: int | str) -> str:
    """A sequence number zero-padded to 128 digits, so plain string comparison orders sequence numbers."""
    return str(sequence).zfill(SEQUENCE_WIDTH)


class KinesisBatch(Sequence[KinesisRecord]):
    """The records of one batch held column by column (building a thousand record objects is a measurable
    part of a batch's cost); indexing it yields a :class:`KinesisRecord`, whose position is its index."""

    __slots__ = ("datas", "event_ids", "partition_keys", "sequence_numbers", "shard_ids")

    def __init__(
        self,
        event_ids: list[str],
        shard_ids: list[str],
        sequence_numbers: list[str],
        partition_keys: list[str],
        datas: list[str],
    ) -> None:
        self.event_ids = event_ids
        self.shard_ids = shard_ids
        self.sequence_numbers = sequence_numbers
        self.partition_keys = partition_keys
        self.datas = datas

    @classmethod
    def of(cls, records: Iterable[KinesisRecord]) -> KinesisBatch:
        """A batch of records (their positions become their index in this batch)."""
        records = list(records)
        return cls(
            [r.event_id for r in records],
            [r.shard_id for r in records],
            [r.sequence_number for r in records],
            [r.partition_key for r in records],
            [r.data for r in records],
        )

    def __len__(self) -> int:
        return len(self.event_ids)

    @overload
    def __getitem__(self, index: int) -> KinesisRecord: ...

    @overload
    def __getitem__(self, index: slice) -> list[KinesisRecord]: ...

    def __getitem__(self, index: int | slice) -> KinesisRecord | list[KinesisRecord]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"record {index} of a batch of {len(self)}")
        return KinesisRecord(
            index,
            self.event_ids[index],
            self.shard_ids[index],
            self.sequence_numbers[index],
            self.partition_keys[index],
            self.datas[index],
        )

    def __repr__(self) -> str:
        return f"KinesisBatch({len(self)} records)"


def records_from_event(event: Any) -> KinesisBatch:
    """The records of a Kinesis event source batch. Raises :class:`InvalidRequestError` when ``event`` is not
    a Kinesis batch at all; a malformed *record* inside a batch is kept with what can be read of it, so the
    decoder reports it as poison (:func:`check_envelope`)."""
    if not isinstance(event, Mapping) or not isinstance(event.get("Records"), list):
        raise InvalidRequestError('Kinesis batch: expected an object with a "Records" list')
    raw = event["Records"]
    try:
        kinesis = [r["kinesis"] for r in raw]
        event_ids = [r["eventID"] for r in raw]
        return KinesisBatch(
            event_ids,
            _shard_ids(event_ids),
            [k["sequenceNumber"] for k in kinesis],
            [k.get("partitionKey") or "" for k in kinesis],
            [k["data"] for k in kinesis],
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        return KinesisBatch.of(_lenient_record(position, r) for position, r in enumerate(raw))


def _shard_ids(event_ids: list[str]) -> list[str]:
    """What precedes the last ':' of each event id (``ValueError`` where there is none). A Lambda batch comes
    from one shard: when every id starts with the first one's shard and ':' and has no ':' after it (told by
    counting over the ids joined), that shard is shared rather than cut out of each id."""
    first = event_ids[0] if event_ids else ""
    cut = first.rfind(":")
    if cut >= 0:
        prefix, joined, n = first[: cut + 1], "\n".join(event_ids), len(event_ids)
        if (
            joined.count("\n") == n - 1  # no id holds a line break: the joints are the only ones
            and joined.count("\n" + prefix) == n - 1  # every id after the first starts with the prefix
            and joined.count(":") == n * prefix.count(":")  # and has no ':' after it
        ):
            return [first[:cut]] * n
    return [e[: e.rindex(":")] for e in event_ids]


def _lenient_record(position: int, raw: Any) -> KinesisRecord:
    raw = raw if isinstance(raw, Mapping) else {}
    kinesis = raw.get("kinesis") if isinstance(raw.get("kinesis"), Mapping) else {}
    event_id = str(raw.get("eventID") or "")
    shard_id, sep, id_sequence = event_id.rpartition(":")
    if not sep:
        shard_id, id_sequence = "", event_id
    data = kinesis.get("data")
    return KinesisRecord(
        position=position,
        event_id=event_id,
        shard_id=shard_id,
        sequence_number=str(kinesis.get("sequenceNumber") or id_sequence),
        partition_key=str(kinesis.get("partitionKey") or ""),
        data=data if isinstance(data, str) else "",
    )


def check_envelope(record: KinesisRecord) -> None:
    """What the stream needs from the envelope itself: a shard and a sequence number to guard with."""
    if not isinstance(record.sequence_number, str) or not _DIGITS.match(record.sequence_number):
        raise InvalidRequestError(
            f"Kinesis record: expected kinesis.sequenceNumber to be a decimal string, got {record.sequence_number!r}"
        )
    if not record.shard_id:
        raise InvalidRequestError(f"Kinesis record: expected eventID 'shardId:sequenceNumber', got {record.event_id!r}")
    if not isinstance(record.data, str):
        raise InvalidRequestError(
            f"Kinesis record: expected kinesis.data to be a base64 string, got {record.data!r:.40}"
        )


def decode_data(data: str) -> bytes:
    """Kinesis ``data`` (base64) -> the payload bytes; strict: stray characters are an error, not skipped."""
    if not data:
        raise InvalidRequestError("Kinesis record: expected base64 data, got nothing")
    try:
        return binascii.a2b_base64(data, strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidRequestError(f"Kinesis record: data is not valid base64 ({exc})") from exc


def batch_payloads(batch: KinesisBatch, poison: list[PoisonRecord]) -> list[bytes | None]:
    """Base64-decode every record (``None`` where it is poison, which is appended to ``poison``).

    The common case costs one C call per record: the envelope fields are checked for the whole batch at
    once, and only a batch with a problem is walked record by record (which also words the reasons)."""
    a2b = binascii.a2b_base64
    sequences = batch.sequence_numbers
    try:
        if (
            len(batch)
            and all(batch.shard_ids)
            and all(batch.datas)
            and all(sequences)
            and max(map(len, sequences)) <= SEQUENCE_WIDTH
            and (joined := "".join(sequences)).isascii()
            and joined.encode().isdigit()  # bytes.isdigit: a table look-up per byte, str.isdigit a Unicode one
        ):
            return [a2b(data, strict_mode=True) for data in batch.datas]
    except (binascii.Error, ValueError, TypeError):  # bad base64, a non-string field
        pass
    decoded: list[bytes | None] = []
    for record in batch:
        try:
            check_envelope(record)
            decoded.append(decode_data(record.data))
        except InvalidRequestError as exc:
            poison.append(PoisonRecord(record, str(exc)))
            decoded.append(None)
    return decoded
