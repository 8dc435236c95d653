"""The tables both decoders produce, and the rules they share: one parquet row per input row, its column
names and types, the groups (endpoint, hour, shard) that become one object each, and the decoded-events table.

Columns (docs/architecture.md, "Event parquet columns"), in this order: the row columns of the event's
definition (:data:`driftline.inference_event.ROW_COLUMNS`: ``timestamp``, ``request_id``, ``row_index``,
``latency``, ``model_version``, ``effective_sample_count``), then one column per feature, then the label columns.
Every arrow schema here is built from that definition; both decoders fill the columns by name.

Typing: a feature or label column is float64 when its values in the file are numbers (JSON booleans count as
1.0/0.0; null stays null); it is string as soon as one value in the file is a string, and then its numbers are
written as pyarrow's float64 -> string cast writes them (``5.0`` -> ``"5"``). Nested values (lists, objects) of
a feature are stored as compact JSON strings. A column whose values are all null is float64, so files keep one
schema.

Labels: a prediction per row becomes the column named by ``label_names[0]`` (``prediction`` when the event has
no label names). A multi-output prediction (a list per row) becomes one column per output: named by
``label_names`` when there is one name per output, else ``{base}_{i}`` (``prediction_0``, ``prediction_1``...).

Names: a feature or label whose name is one of the fixed columns, a Hive partition column (``endpoint_id``,
``date``, ``hour``), empty, or already taken in that event, is stored as ``feature_{name}`` / ``label_{name}``
(then ``..._{position}`` if that is taken too), so no column is ever silently overwritten.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from driftline import layout
from driftline.inference_event import EVENT_FIELDS, ROW_COLUMNS

_TIMESTAMP = re.compile(r"^timestamp\[(\w+), (.+)\]$")


def arrow_type(name: str) -> pa.DataType:
    """The arrow type the event's definition names: pyarrow's alias (``int64``, ``string``...),
    ``list<...>`` or ``timestamp[unit, zone]``."""
    if name.startswith("list<") and name.endswith(">"):
        return pa.list_(arrow_type(name[5:-1]))
    if match := _TIMESTAMP.match(name):
        return pa.timestamp(match[1], tz=match[2])
    return pa.type_for_alias(name)


FIXED_COLUMNS: tuple[tuple[str, pa.DataType], ...] = tuple((c.name, arrow_type(c.arrow)) for c in ROW_COLUMNS)
FIXED_NAMES = tuple(name for name, _ in FIXED_COLUMNS)
PARTITION_COLUMNS = layout.EVENT_PARTITIONS
POSITION = "_position"  # the record's place in the batch; internal, dropped before writing
RESERVED = frozenset((*FIXED_NAMES, *PARTITION_COLUMNS, POSITION))
DEFAULT_LABEL = "prediction"
GroupKey = tuple[str, int, str]  # endpoint_id, hour start (µs since epoch), shard_id
HOUR_US = 3_600_000_000  # a group's hour: its events' times in µs since the epoch, floored to a multiple of this


# ---------------------------------------------------------------------------------------------------- names


def column_names(
    feature_names: tuple[str, ...], label_names: tuple[str, ...], width: int | None = None
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(feature columns, label columns) for an event's names; ``width`` is the length of a list prediction
    (``None`` for one value per row). Both decoding paths name columns here, so they cannot disagree."""
    features, labels, _ = all_column_names(feature_names, label_names, (), width)
    return features, labels


@lru_cache(maxsize=4096)
def all_column_names(
    feature_names: tuple[str, ...], label_names: tuple[str, ...], score_names: tuple[str, ...], width: int | None
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """(feature, label, score columns): :func:`column_names` plus the event's score names (``proba_<class>``),
    after the labels, renamed ``score_{name}`` in the rare case one is taken."""
    base = label_names[0] if label_names else DEFAULT_LABEL
    if width is None:
        labels: tuple[str, ...] = (base,)
    elif len(label_names) == width:
        labels = label_names
    else:
        labels = tuple(f"{base}_{i}" for i in range(width))
    taken: set[str] = set(RESERVED)
    features_out = tuple(_unique(name, "feature", i, taken) for i, name in enumerate(feature_names))
    labels_out = tuple(_unique(name, "label", i, taken) for i, name in enumerate(labels))
    scores_out = tuple(_unique(name, "score", i, taken) for i, name in enumerate(score_names))
    return features_out, labels_out, scores_out


def _unique(name: str, kind: str, position: int, taken: set[str]) -> str:
    candidate = name
    if not candidate or candidate in taken:
        candidate = f"{kind}_{name}" if name else f"{kind}_{position}"
        if candidate in taken:
            candidate = f"{candidate}_{position}"
            while candidate in taken:
                candidate += "_"
    taken.add(candidate)
    return candidate


# ---------------------------------------------------------------------------------------------------- values


def value_array(values: Sequence[Any]) -> pa.Array:
    """A feature or label column: float64 if every value is a number or null, else string (see module doc)."""
    try:
        return pa.array(values, type=pa.float64())
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError):
        pass
    if all(v is None or (isinstance(v, int | float)) for v in values):  # e.g. an int beyond int64
        return pa.array([None if v is None else _to_float(v) for v in values], type=pa.float64())
    numbers = [i for i, v in enumerate(values) if v is not None and isinstance(v, int | float)]
    as_text = pc.cast(pa.array([_to_float(values[i]) for i in numbers], type=pa.float64()), pa.string()).to_pylist()
    out: list[str | None] = [v if v is None or isinstance(v, str) else _json(v) for v in values]
    for i, text in zip(numbers, as_text, strict=True):
        out[i] = text
    return pa.array(out, type=pa.string())


def _to_float(value: int | float) -> float:
    try:
        return float(value)
    except OverflowError:
        return float("inf") if value > 0 else float("-inf")


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def as_value_column(array: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """A decoded column in the stored typing: numbers and nulls -> float64, strings stay strings."""
    if pa.types.is_string(array.type):
        return array
    return pc.cast(array, pa.float64(), safe=False)


# ---------------------------------------------------------------------------------------------------- groups


@dataclass(frozen=True)
class RowGroup:
    """The rows of one (endpoint, hour, shard) in one batch: one parquet object.

    ``first_sequence`` is the sequence number of the first record of the batch that belongs to this group
    (records without rows, e.g. errors, included): the object key is built from it (see
    :func:`driftline.aws.events_store.event_key`)."""

    endpoint_id: str
    hour_start: datetime
    shard_id: str
    first_sequence: str
    first_position: int
    table: pa.Table

    @property
    def rows(self) -> int:
        return self.table.num_rows


def combine_parts(parts: Sequence[pa.Table]) -> pa.Table:
    """Tables of one group (from either decoding path) -> one table in batch order, without ``_position``.

    A column missing from a part is null there; a column that is string in any part is string in all
    (numbers cast as in :func:`value_array`)."""
    if len(parts) == 1:
        return parts[0].drop_columns([POSITION])
    parts = sorted(parts, key=lambda t: t.column(POSITION)[0].as_py())
    names: dict[str, pa.DataType] = {}
    for part in parts:
        for field in part.schema:
            known = names.get(field.name)
            if known is None or pa.types.is_string(field.type):
                names[field.name] = field.type
    unified: list[pa.Table] = []
    for part in parts:
        arrays = []
        for name, kind in names.items():
            if name in part.column_names:
                column = part.column(name)
                arrays.append(column if column.type == kind else pc.cast(column, kind))
            else:
                arrays.append(pa.nulls(part.num_rows, type=kind))
        unified.append(pa.table(arrays, names=list(names)))
    table = pa.concat_tables(unified)
    order = pc.sort_indices(table, sort_keys=[(POSITION, "ascending"), ("row_index", "ascending")])
    return table.take(order).drop_columns([POSITION])


# ---------------------------------------------------------------------------------------------------- events

# The decoded-events table: one row per accepted record (both decoders produce it), what the live figures, the
# duplicate check and the grouping read. The record's place in its batch, then every event field the
# definition gives a table type, then two facts about the record.
ENVELOPE_COLUMNS = (("position", pa.int32()), ("shard_id", pa.string()), ("sequence_number", pa.string()))
TABLE_FIELDS = tuple(spec for spec in EVENT_FIELDS if spec.table is not None)
DERIVED_COLUMNS = (
    ("is_error", pa.bool_()),  # its error is set
    ("row_count", pa.int32()),  # sampled rows stored (0 for an error event)
)
EVENT_SCHEMA = pa.schema(
    [
        *ENVELOPE_COLUMNS,
        *((spec.name, arrow_type(spec.table)) for spec in TABLE_FIELDS if spec.table is not None),
        *DERIVED_COLUMNS,
    ]
)
