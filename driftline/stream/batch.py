"""One Kinesis batch, decoded: poison records, one event row per accepted record, and the row groups to write.

Records go through the fast path (:mod:`driftline.stream.fast`) when their payload looks like what the
serving function writes, and through the reference path otherwise or whenever the fast path declines; both
produce the same events and rows. Grouping is by (endpoint, hour of the event's ``when``, shard); the first
record of a group is the first record *with rows* of that group in batch order.
"""

from __future__ import annotations

import binascii
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from driftline.errors import InvalidRequestError
from driftline.schemas import InferenceEvent, parse_time
from driftline.stream.fast import FastInput, FastResult, decode_fast
from driftline.stream.records import (
    SEQUENCE_WIDTH,
    KinesisBatch,
    KinesisRecord,
    PoisonRecord,
    check_envelope,
    decode_data,
    decode_payload,
)
from driftline.stream.rows import EVENT_SCHEMA, POSITION, RowGroup, combine_parts, rows_from_events

_HOUR_US = 3_600_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
GroupKey = tuple[str, int, str]  # endpoint_id, hour start (µs since epoch), shard_id
Exclude = Callable[[pa.Table], Collection[int]]


@dataclass
class DecodedBatch:
    records: KinesisBatch
    poison: list[PoisonRecord]
    events: pa.Table  # EVENT_SCHEMA, one row per accepted record, batch order
    groups: list[RowGroup]  # batch order of their first record
    duplicates: list[int] = field(default_factory=list)  # positions left out as repeats of a stored request
    _slow: dict[int, InferenceEvent] = field(default_factory=dict, repr=False)
    _fast: FastResult | None = field(default=None, repr=False)

    @property
    def rows(self) -> int:
        return sum(g.rows for g in self.groups)

    def last_row(self, position: int) -> tuple[Any, Any] | None:
        """(inputs, prediction) of the last row of the accepted record at ``position``; None without rows."""
        event = self._slow.get(position)
        if event is not None:
            if event.error is not None or not event.inputs:
                return None
            return event.inputs[-1], event.outputs[len(event.inputs) - 1]
        return self._fast.last_row(position) if self._fast is not None else None


def decode_batch(
    records: Sequence[KinesisRecord], *, fast: bool = True, exclude: Exclude | None = None
) -> DecodedBatch:
    """Decode and group a batch. Never raises for bad data: what cannot be stored becomes a poison record.
    ``fast=False`` forces the reference path (tests compare the two). ``exclude`` is shown the accepted
    records (``EVENT_SCHEMA``) and names the positions to leave out of the events and the rows (duplicates,
    :mod:`driftline.stream.dedup`); what it raises propagates."""
    batch = records if isinstance(records, KinesisBatch) else KinesisBatch.of(records)
    poison: list[PoisonRecord] = []
    payloads = _payloads(batch, poison)
    decodable = [i for i, p in enumerate(payloads) if p is not None] if poison else list(range(len(batch)))
    if fast:
        source = FastInput(batch.shard_ids, batch.sequence_numbers, batch.partition_keys, payloads)
        fast_result = decode_fast(source, decodable)
        slow_positions = sorted(fast_result.rejected)
    else:
        fast_result = FastResult()
        slow_positions = decodable
    slow = [(batch[i], payload) for i in slow_positions if (payload := payloads[i]) is not None]

    decoded: list[tuple[KinesisRecord, InferenceEvent]] = []
    for record, payload in slow:
        try:
            decoded.append((record, decode_payload(payload)))
        except InvalidRequestError as exc:
            poison.append(PoisonRecord(record, str(exc)))

    slow_tables, decoded, unstorable = _slow_rows(decoded)
    poison.extend(unstorable)
    poison.sort(key=lambda p: p.record.position)

    tables = list(fast_result.events)
    if decoded or not tables:
        tables.append(_events_table(decoded))
    events = tables[0]  # each table is in batch order; several (a split batch, the reference path's) may interleave
    if len(tables) > 1:
        events = pa.concat_tables(tables)
        if (np.diff(events.column("position").to_numpy()) < 0).any():
            events = events.take(pc.sort_indices(events, sort_keys=[("position", "ascending")]))

    duplicates = sorted(exclude(events)) if exclude is not None and events.num_rows else []
    dropped = pa.array(duplicates, type=pa.int32()) if duplicates else None
    if dropped is not None:
        events = _without(events, "position", dropped)

    parts: dict[GroupKey, list[pa.Table]] = {}
    for key, table in (*fast_result.parts, *slow_tables):
        if dropped is not None:
            table = _without(table, POSITION, dropped)
        if table.num_rows:
            parts.setdefault(key, []).append(table)
    groups = []
    for (endpoint_id, hour_us, shard_id), tables in parts.items():
        position = min(t.column(POSITION)[0].as_py() for t in tables)  # each part is in batch order
        groups.append(
            RowGroup(
                endpoint_id=endpoint_id,
                hour_start=datetime.fromtimestamp(hour_us / 1_000_000, tz=UTC),
                shard_id=shard_id,
                first_sequence=batch.sequence_numbers[position],
                first_position=position,
                table=combine_parts(tables),
            )
        )
    groups.sort(key=lambda g: g.first_position)
    return DecodedBatch(
        records=batch,
        poison=poison,
        events=events,
        groups=groups,
        duplicates=duplicates,
        _slow={record.position: event for record, event in decoded},
        _fast=fast_result,
    )


def _without(table: pa.Table, column: str, dropped: pa.Array) -> pa.Table:
    return table.filter(pc.invert(pc.is_in(table.column(column), value_set=dropped)))


def _payloads(batch: KinesisBatch, poison: list[PoisonRecord]) -> list[bytes | None]:
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
    payloads: list[bytes | None] = []
    for record in batch:
        try:
            check_envelope(record)
            payloads.append(decode_data(record.data))
        except InvalidRequestError as exc:
            poison.append(PoisonRecord(record, str(exc)))
            payloads.append(None)
    return payloads


def _hour_us(when: datetime) -> int:
    micros = (when - _EPOCH) // _MICROSECOND
    return micros - micros % _HOUR_US


def _slow_rows(
    decoded: list[tuple[KinesisRecord, InferenceEvent]],
) -> tuple[list[tuple[GroupKey, pa.Table]], list[tuple[KinesisRecord, InferenceEvent]], list[PoisonRecord]]:
    """Rows of the reference path: one table per group and feature/label layout, as the fast path cuts its
    parts, so both paths order a group's columns alike (by first appearance in the batch). A record whose
    rows cannot be stored (a shape no rule foresaw) is isolated and becomes poison instead of failing the
    batch forever."""
    by_key: dict[tuple[GroupKey, tuple[str, ...], tuple[str, ...]], list[tuple[KinesisRecord, InferenceEvent]]] = {}
    for record, event in decoded:
        if event.error is None and event.inputs:
            group = (event.endpoint_id, _hour_us(parse_time(event.when)), record.shard_id)
            key = (group, tuple(event.feature_names), tuple(event.label_names))
            by_key.setdefault(key, []).append((record, event))
    tables: list[tuple[GroupKey, pa.Table]] = []
    rejected: dict[int, PoisonRecord] = {}
    for key, items in by_key.items():
        try:
            table = rows_from_events([(r.position, e) for r, e in items])
        except (pa.ArrowException, TypeError, ValueError, OverflowError):
            kept = []
            for record, event in items:
                try:
                    rows_from_events([(record.position, event)])
                    kept.append((record, event))
                except (pa.ArrowException, TypeError, ValueError, OverflowError) as exc:
                    reason = f"inference event: its rows cannot be stored ({type(exc).__name__}: {exc})"
                    rejected[record.position] = PoisonRecord(record, reason)
            table = rows_from_events([(r.position, e) for r, e in kept]) if kept else None
        if table is not None:
            tables.append((key[0], table))
    if rejected:
        decoded = [(r, e) for r, e in decoded if r.position not in rejected]
    return tables, decoded, list(rejected.values())


def _events_table(decoded: list[tuple[KinesisRecord, InferenceEvent]]) -> pa.Table:
    columns: dict[str, list[Any]] = {name: [] for name in EVENT_SCHEMA.names}
    for record, event in decoded:
        is_error = event.error is not None
        columns["position"].append(record.position)
        columns["shard_id"].append(record.shard_id)
        columns["sequence_number"].append(record.sequence_number)
        columns["request_id"].append(event.request_id)
        columns["endpoint_id"].append(event.endpoint_id)
        columns["project"].append(event.project)
        columns["function_name"].append(event.function_name)
        columns["model_name"].append(event.model_name)
        columns["model_version"].append(event.model_version)
        columns["when"].append(parse_time(event.when))
        columns["latency_us"].append(event.latency_us)
        columns["effective_sample_count"].append(event.effective_sample_count)
        columns["is_error"].append(is_error)
        columns["row_count"].append(0 if is_error else len(event.inputs))
        columns["feature_names"].append(event.feature_names)
        columns["label_names"].append(event.label_names)
    return pa.table(columns, schema=EVENT_SCHEMA)
