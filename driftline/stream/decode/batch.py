"""One Kinesis batch, decoded: poison records, one event row per accepted record, and the row groups to write.

Records go through the vectorised decoder (:mod:`driftline.stream.decode.vectorised`) when their payload looks
like what the serving function writes, and through the reference decoder (:mod:`driftline.stream.decode.reference`,
the specification) otherwise or whenever the vectorised one declines; both produce the same events and rows.
Grouping is by (endpoint, hour of the event's ``when``, shard); the first record of a group is the first record
*with rows* of that group in batch order.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from driftline.errors import InvalidRequestError
from driftline.inference_event import InferenceEvent
from driftline.stream.decode.envelope import KinesisBatch, KinesisRecord, PoisonRecord, batch_payloads
from driftline.stream.decode.reference import decode_payload, events_table, reference_parts
from driftline.stream.decode.tables import POSITION, GroupKey, RowGroup, combine_parts
from driftline.stream.decode.vectorised import FastInput, FastResult, decode_fast

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
    payloads = batch_payloads(batch, poison)
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

    slow_tables, decoded, unstorable = reference_parts(decoded)
    poison.extend(unstorable)
    poison.sort(key=lambda p: p.record.position)

    tables = list(fast_result.events)
    if decoded or not tables:
        tables.append(events_table(decoded))
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
