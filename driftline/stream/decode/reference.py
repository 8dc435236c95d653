"""The reference decoder, the specification of the stream's decoding: payload -> event -> rows, one record at
a time in plain Python.

Each payload is JSON -> :meth:`driftline.inference_event.InferenceEvent.from_dict`, plus the few checks the stream
needs on top of the schema (:func:`check_event`); a record that fails any of these is poison, with a reason
that names what was expected. Its events become rows (:func:`rows_from_events`) and one row of the
decoded-events table each (:func:`events_table`). The vectorised twin (:mod:`driftline.stream.decode.vectorised`)
must produce exactly what this module produces for every record it accepts; tests and a property test hold
the two equal.
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa

from driftline.errors import InvalidRequestError
from driftline.inference_event import ROW_COLUMNS, InferenceEvent
from driftline.schemas import parse_time
from driftline.stream.decode.envelope import KinesisRecord, PoisonRecord, check_envelope, decode_data
from driftline.stream.decode.tables import (
    EVENT_SCHEMA,
    FIXED_COLUMNS,
    HOUR_US,
    POSITION,
    TABLE_FIELDS,
    GroupKey,
    all_column_names,
    column_names,
    value_array,
)

# The endpoint id becomes an S3 partition (endpoint_id=<id>/) and a DynamoDB key: keep it path-safe.
ENDPOINT_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


# ---------------------------------------------------------------------------------------------------- events


def check_event(event: InferenceEvent) -> InferenceEvent:
    """Checks on top of the schema that the stream needs to store an event (same in both decoding paths)."""
    if not ENDPOINT_ID_PATTERN.match(event.endpoint_id):
        raise InvalidRequestError(
            f"inference event: endpoint_id {event.endpoint_id!r}: expected 1-128 letters, digits, '_', '.' or '-'"
        )
    if event.effective_sample_count < 0:
        raise InvalidRequestError(
            f"inference event: effective_sample_count must be >= 0, got {event.effective_sample_count}"
        )
    return event


def decode_payload(payload: bytes) -> InferenceEvent:
    """Payload bytes -> a validated event (the reference decoder; the vectorised one must agree with it)."""
    try:
        data = json.loads(payload)
    except UnicodeDecodeError as exc:
        raise InvalidRequestError(f"inference event: expected UTF-8 JSON ({exc.reason} at byte {exc.start})") from exc
    except ValueError as exc:
        raise InvalidRequestError(f"inference event: expected a JSON object, got invalid JSON ({exc})") from exc
    except RecursionError as exc:  # "[[[[..." deeper than the decoder's stack: a poison record, not a retry
        raise InvalidRequestError("inference event: expected a JSON object, got JSON nested too deeply") from exc
    if b"\\u" in payload or b"\\U" in payload:
        # JSON escapes can encode lone surrogates, which no parquet string or DynamoDB attribute can hold.
        try:
            json.dumps(data, ensure_ascii=False).encode()
        except UnicodeEncodeError as exc:
            raise InvalidRequestError("inference event: a string holds an unpaired UTF-16 surrogate escape") from exc
    try:
        event = InferenceEvent.from_dict(data)
    except (TypeError, ValueError, OverflowError) as exc:  # e.g. int() of a non-numeric effective_sample_count
        raise InvalidRequestError(f"inference event: {exc}") from exc
    return check_event(event)


def decode_record(record: KinesisRecord) -> InferenceEvent:
    """One Kinesis record -> a validated event, or :class:`InvalidRequestError` saying what was expected."""
    check_envelope(record)
    return decode_payload(decode_data(record.data))


def decode_records(
    records: Sequence[KinesisRecord],
) -> tuple[list[tuple[KinesisRecord, InferenceEvent]], list[PoisonRecord]]:
    """The reference path for many records: valid ``(record, event)`` pairs and poison records, batch order."""
    valid: list[tuple[KinesisRecord, InferenceEvent]] = []
    poison: list[PoisonRecord] = []
    for record in records:
        try:
            valid.append((record, decode_record(record)))
        except InvalidRequestError as exc:
            poison.append(PoisonRecord(record, str(exc)))
    return valid, poison


def events_table(decoded: list[tuple[KinesisRecord, InferenceEvent]]) -> pa.Table:
    """The decoded-events table (``EVENT_SCHEMA``) of the reference path's events, in the given order."""
    events = [event for _, event in decoded]
    columns: dict[str, list[Any]] = {
        "position": [record.position for record, _ in decoded],
        "shard_id": [record.shard_id for record, _ in decoded],
        "sequence_number": [record.sequence_number for record, _ in decoded],
    }
    for name, parse in _TABLE_FIELDS:
        values = [getattr(event, name) for event in events]
        columns[name] = values if parse is None else [parse(value) for value in values]
    columns["is_error"] = [event.error is not None for event in events]
    columns["row_count"] = [0 if event.error is not None else len(event.inputs) for event in events]
    return pa.table(columns, schema=EVENT_SCHEMA)


def _parser(type_name: str | None) -> Callable[[Any], Any] | None:
    """How an event field's value becomes what a table of that type holds: a time is an ISO string in the
    event, parsed; anything else is kept as it is (``None``)."""
    return _parse_optional_time if type_name is not None and type_name.startswith("timestamp") else None


def _parse_optional_time(value: str | None) -> datetime | None:
    return None if value is None else parse_time(value)


_TABLE_FIELDS = tuple((spec.name, _parser(spec.table)) for spec in TABLE_FIELDS)
# The row columns a row takes from its request: read once per event (one C call for them all), repeated per
# row at the end. The one column each row has of its own (row_index) is built row by row.
_PER_REQUEST = tuple((c.name, _parser(c.arrow)) for c in ROW_COLUMNS if c.per == "request")
_request_values = operator.attrgetter(*(c.source for c in ROW_COLUMNS if c.per == "request"))  # (several)
[_PER_ROW] = [c for c in ROW_COLUMNS if c.per == "row"]
_row_values = operator.attrgetter(_PER_ROW.source)


# ---------------------------------------------------------------------------------------------------- rows


class _Columns:
    """Column lists that grow row by row; a column first seen late is padded with nulls before it."""

    def __init__(self) -> None:
        self.data: dict[str, list[Any]] = {}

    def put(self, name: str, start: int, values: Iterable[Any]) -> None:
        column = self.data.get(name)
        if column is None:
            column = self.data[name] = []
        if len(column) < start:
            column.extend([None] * (start - len(column)))
        column.extend(values)

    def padded(self, total: int) -> dict[str, list[Any]]:
        for column in self.data.values():
            if len(column) < total:
                column.extend([None] * (total - len(column)))
        return self.data


def rows_from_events(items: Sequence[tuple[int, InferenceEvent]]) -> pa.Table | None:
    """The reference row builder: ``(position, event)`` pairs -> one table (with the internal ``_position``
    column), or ``None`` when the events hold no rows. Error events are skipped: they only count as errors."""
    requests: list[tuple[Any, ...]] = []  # each event's values of the per-request columns
    counts: list[int] = []  # each event's rows
    own: list[int] = []  # each row's own column (row_index)
    positions: list[int] = []
    columns = _Columns()
    total = 0
    for position, event in items:
        n = len(event.inputs)
        if event.error is not None or n == 0:
            continue
        requests.append(_request_values(event))
        counts.append(n)
        places = _row_values(event)  # the places the request names, else the rows' own: 0, 1, ...
        own.extend(places if places is not None else range(n))
        positions.extend([position] * n)
        feature_names, label_names = tuple(event.feature_names), tuple(event.label_names)
        score_names = tuple(event.score_names or ()) if event.scores is not None else ()
        features, labels, scores = all_column_names(feature_names, label_names, score_names, None)
        for j, name in enumerate(features):
            columns.put(name, total, [row[j] for row in event.inputs])
        if not any(isinstance(out, list) for out in event.outputs):
            columns.put(labels[0], total, event.outputs)
        else:
            for r, out in enumerate(event.outputs):
                if isinstance(out, list):
                    _, names = column_names(feature_names, label_names, len(out))
                    for name, value in zip(names, out, strict=True):
                        columns.put(name, total + r, [value])
                else:
                    columns.put(labels[0], total + r, [out])
        if event.scores is not None:
            for j, name in enumerate(scores):
                columns.put(name, total, [row[j] for row in event.scores])
        total += n
    if total == 0:
        return None
    arrays = _fixed_columns(requests, counts, own)
    for name, values in columns.padded(total).items():
        arrays[name] = value_array(values)
    arrays[POSITION] = pa.array(positions, type=pa.int32())
    return pa.table(arrays)


def _fixed_columns(requests: list[tuple[Any, ...]], counts: list[int], own: list[int]) -> dict[str, pa.Array]:
    """The row columns, in their order: each request's values repeated on its rows, and the rows' own."""
    each_row = pa.array(np.repeat(np.arange(len(counts)), counts))  # the request of each row
    by_column = zip(*requests, strict=True)
    per_request = {name: (parse, values) for (name, parse), values in zip(_PER_REQUEST, by_column, strict=True)}
    arrays: dict[str, pa.Array] = {}
    for name, kind in FIXED_COLUMNS:
        if name == _PER_ROW.name:
            arrays[name] = pa.array(own, type=kind)
        else:
            parse, values = per_request[name]
            stored = values if parse is None else [parse(value) for value in values]
            arrays[name] = pa.array(stored, type=kind).take(each_row)
    return arrays


def _hour_us(when: datetime) -> int:
    micros = (when - _EPOCH) // _MICROSECOND
    return micros - micros % HOUR_US


def reference_parts(
    decoded: list[tuple[KinesisRecord, InferenceEvent]],
) -> tuple[list[tuple[GroupKey, pa.Table]], list[tuple[KinesisRecord, InferenceEvent]], list[PoisonRecord]]:
    """Rows of the reference path: one table per group and feature/label layout, as the fast path cuts its
    parts, so both paths order a group's columns alike (by first appearance in the batch). A record whose
    rows cannot be stored (a shape no rule foresaw) is isolated and becomes poison instead of failing the
    batch forever."""
    by_key: dict[
        tuple[GroupKey, tuple[str, ...], tuple[str, ...], tuple[str, ...]], list[tuple[KinesisRecord, InferenceEvent]]
    ] = {}
    for record, event in decoded:
        if event.error is None and event.inputs:
            group = (event.endpoint_id, _hour_us(parse_time(event.when)), record.shard_id)
            scores = tuple(event.score_names or ()) if event.scores is not None else ()
            key = (group, tuple(event.feature_names), tuple(event.label_names), scores)
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
