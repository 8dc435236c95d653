"""The vectorised decoder: many payloads -> one pyarrow table -> events and rows, without a Python loop per value.

The reference decoder (:func:`driftline.stream.decode.reference.decode_payload` + ``rows_from_events``)
spends ~20 µs of Python per record; pyarrow's JSON reader parses a whole batch in C++. This module accepts only
what it can prove the reference accepts, and produces the same events and rows (a property test holds the two
paths equal). Every record it is not sure about goes back to the reference path, record by record, which
names the reason of any refusal. So the fast path only ever changes speed, never results.

How a record is pinned to its row: only payloads starting with ``{"`` are tried, joined with newlines. Each
then yields at least one row or fails the whole read (a line break inside a payload splits an object, which
fails the read, or separates two objects, which makes two rows), so a table with exactly as many rows as
payloads has row ``i`` = payload ``i``.
"""

from __future__ import annotations

import io
import itertools
import operator
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from driftline.inference_event import EVENT_FIELDS, ROW_COLUMNS
from driftline.stream.decode.reference import ENDPOINT_ID_PATTERN
from driftline.stream.decode.tables import (
    EVENT_SCHEMA,
    FIXED_NAMES,
    HOUR_US,
    POSITION,
    TABLE_FIELDS,
    all_column_names,
    arrow_type,
    as_value_column,
)

# Each field as the definition types it (driftline.inference_event); fields typed None (outputs, error) are
# inferred by the reader and checked after the read.
EXPLICIT_SCHEMA = pa.schema([(spec.name, arrow_type(spec.arrow)) for spec in EVENT_FIELDS if spec.arrow is not None])
# A null (or absent) value stands for the field's default only where that default is None; elsewhere the
# reference refuses it or puts something in its place: such records go back to it.
_NOT_NULL = tuple(spec.name for spec in EVENT_FIELDS if spec.default is not None)
_WHEN_TYPE = EVENT_SCHEMA.field("when").type  # the request's start as the tables hold it
_PARSE = pj.ParseOptions(explicit_schema=EXPLICIT_SCHEMA, unexpected_field_behavior="infer")
# The subset of ISO 8601 on which pyarrow's cast and datetime.fromisoformat agree (others take the slow path).
_WHEN = r"^\d{4}-\d{2}-\d{2}T([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,6})?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$"
# What the serving function writes (isoformat with microseconds and an offset), one of the strings _WHEN accepts:
# "0" stands for a digit. A batch of these is checked on its bytes with a few numpy operations.
_WHEN_LAYOUT = np.frombuffer(b"0000-00-00T00:00:00.000000+00:00", dtype=np.uint8)
_WHEN_DIGITS = np.equal(_WHEN_LAYOUT, ord("0"))
_WHEN_SIGN = 26
_WHEN_FIXED = ~_WHEN_DIGITS & (np.arange(len(_WHEN_LAYOUT)) != _WHEN_SIGN)
_NUMBERS = (pa.int64(), pa.float64(), pa.null())
_MIN_SPLIT = 8  # below this a failing slice goes to the reference path as it is
_MAX_KEY_GROUPS = 32
_MIN_BLOCK = 1 << 20
_INT32_LIMIT = 2**31

_STARTS_OBJECT = operator.methodcaller("startswith", b'{"')


@dataclass
class FastInput:
    """One batch as the fast path sees it: columns indexed by batch position (no per-record objects)."""

    shard_ids: list[str]
    sequence_numbers: list[str]
    partition_keys: list[str]
    payloads: list[bytes | None]  # None: not decoded (poison)
    _arrays: dict[str, pa.Array] = field(default_factory=dict, repr=False)

    def array(self, name: str) -> pa.Array:
        """A column as an arrow array, built once per batch."""
        array = self._arrays.get(name)
        if array is None:
            array = self._arrays[name] = pa.array(getattr(self, name), type=pa.string())
        return array


@dataclass
class _Source:
    """Where accepted records' inputs and outputs live (for the live figures' last row)."""

    positions: np.ndarray  # ascending batch positions, one per row of the arrays
    inputs: pa.Array
    outputs: pa.Array
    has_rows: np.ndarray  # False for error events and requests without sampled rows

    def index(self, position: int) -> int | None:
        i = int(np.searchsorted(self.positions, position))
        return i if i < len(self.positions) and self.positions[i] == position else None


@dataclass
class FastResult:
    events: list[pa.Table] = field(default_factory=list)  # EVENT_SCHEMA
    # ((endpoint_id, hour start µs, shard_id), rows with _position): one group and feature layout each
    parts: list[tuple[tuple[str, int, str], pa.Table]] = field(default_factory=list)
    rejected: list[int] = field(default_factory=list)  # batch positions, for the reference path
    sources: list[_Source] = field(default_factory=list)

    def last_row(self, position: int) -> tuple[list[object], object] | None:
        for source in self.sources:
            i = source.index(position)
            if i is not None:
                if not source.has_rows[i]:
                    return None
                inputs = source.inputs[i].as_py() or []
                outputs = source.outputs[i].as_py() or []
                if not inputs:
                    return None
                return inputs[-1], outputs[len(inputs) - 1] if len(outputs) >= len(inputs) else None
        return None


class _Unsupported(Exception):
    """The slice's shape is outside what the fast path handles; the reference path will."""


def eligible(payload: bytes) -> bool:
    """Payloads the fast path may try: JSON objects whose first key starts right after the brace (what the
    serving function writes). Such a payload yields at least one row or fails the JSON read."""
    return payload[:2] == b'{"'


def decode_fast(source: FastInput, positions: Sequence[int]) -> FastResult:
    """Decode the records at ``positions`` (ascending); those it cannot vouch for come back in ``rejected``."""
    result = FastResult()
    positions = list(positions)
    payloads = source.payloads
    selected = payloads if len(positions) == len(payloads) else [payloads[i] for i in positions]
    if not all(map(_STARTS_OBJECT, selected)):
        result.rejected.extend(i for i in positions if not eligible(payloads[i]))  # type: ignore[arg-type]
        positions = [i for i in positions if eligible(payloads[i])]  # type: ignore[arg-type]
    if positions:
        _attempt(source, positions, result, by_key=True)
    return result


def _attempt(source: FastInput, positions: list[int], result: FastResult, *, by_key: bool) -> None:
    everything = len(positions) == len(source.payloads)  # then positions are 0..n-1: no copy of the list
    payloads = source.payloads if everything else [source.payloads[i] for i in positions]
    try:
        table = _read(b"\n".join(payloads), len(positions))  # type: ignore[arg-type]
        rows_at = np.arange(len(positions)) if everything else np.asarray(positions, dtype=np.int64)
        _accept(table, rows_at, source, result)
        return
    except _Unsupported:
        pass
    _split(source, positions, result, by_key=by_key)


def _split(source: FastInput, positions: list[int], result: FastResult, *, by_key: bool) -> None:
    if len(positions) <= _MIN_SPLIT:
        result.rejected.extend(positions)
        return
    if by_key:
        # Typically one endpoint's payloads differ in shape from another's (e.g. string features): split there.
        keys: dict[str, list[int]] = {}
        for i in positions:
            keys.setdefault(source.partition_keys[i], []).append(i)
        if 1 < len(keys) <= _MAX_KEY_GROUPS:
            for group in keys.values():
                _attempt(source, group, result, by_key=False)
            return
    half = len(positions) // 2
    _attempt(source, positions[:half], result, by_key=False)
    _attempt(source, positions[half:], result, by_key=False)


def _read(lines: bytes, expected_rows: int) -> pa.Table:
    """One JSON-lines read, in one block (no object can straddle two). Each payload starts with ``{"``, so each
    yields at least one row or fails the read; with exactly one row per payload in total, row ``i`` is payload
    ``i``."""
    # On the calling thread: the stream function has under one vCPU (1,024 MB), so a thread pool only adds a
    # hand-off, and the parse then reads the payloads and leaves the table in this thread's core's cache.
    options = pj.ReadOptions(block_size=max(_MIN_BLOCK, len(lines) + 1), use_threads=False)
    try:
        table = pj.read_json(io.BytesIO(lines), read_options=options, parse_options=_PARSE)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        raise _Unsupported(str(exc)) from exc
    if table.num_rows != expected_rows:
        raise _Unsupported("a payload held more than one JSON object")
    return table


def _arrays(table: pa.Table) -> dict[str, pa.Array]:
    """The table's columns as arrays, looked up once (a read of several blocks is made one chunk first)."""
    batches = table.to_batches()
    batch = batches[0] if len(batches) == 1 else table.combine_chunks().to_batches()[0]
    return dict(zip(batch.schema.names, batch.columns, strict=True))


def _mask(array: pa.Array) -> np.ndarray:
    return np.asarray(array.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


def _check_types(columns: dict[str, pa.Array]) -> None:
    outputs = columns.get("outputs")
    if outputs is None:
        raise _Unsupported("outputs missing")
    kind = outputs.type
    if not pa.types.is_list(kind) or not (kind.value_type in _NUMBERS or pa.types.is_string(kind.value_type)):
        raise _Unsupported("outputs are not one number or string per row")
    try:
        # pyarrow 25's JSON type inference loses a list's leading nulls (``[null, 1]``) and builds an invalid
        # array; ``inputs`` has an explicit type for that reason, ``outputs`` cannot (numbers or strings).
        outputs.validate(full=True)
    except pa.ArrowInvalid as exc:
        raise _Unsupported(f"outputs: {exc}") from exc


def _serving_times(when: pa.Array) -> bool:
    """Whether every value is a time as the serving function writes it (:data:`_WHEN_LAYOUT`, hours below 24,
    minutes and seconds below 60): then each matches :data:`_WHEN`, which need not run. False says nothing."""
    n, width = len(when), len(_WHEN_LAYOUT)
    if when.null_count:
        return False
    offsets = np.frombuffer(when.buffers()[1], dtype=np.int32)[when.offset : when.offset + n + 1]
    if (np.diff(offsets) != width).any():
        return False
    chars = np.frombuffer(when.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]].reshape(n, width)
    digits = chars - np.uint8(ord("0"))  # a byte below "0" wraps above 9
    if (digits[:, _WHEN_DIGITS] > 9).any() or (chars[:, _WHEN_FIXED] != _WHEN_LAYOUT[_WHEN_FIXED]).any():
        return False
    sign = chars[:, _WHEN_SIGN]
    hours, zone_hours = digits[:, 11] * 10 + digits[:, 12], digits[:, 27] * 10 + digits[:, 28]
    return bool(
        ((sign == ord("+")) | (sign == ord("-"))).all()
        and max(hours.max(), zone_hours.max()) <= 23
        and max(digits[:, 14].max(), digits[:, 17].max(), digits[:, 30].max()) <= 5
    )


def _name_views(names: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Two binary arrays, equal at two requests exactly when their lists of names are: each request's names
    end to end, and their lengths (int32 bytes). Both read the list's own buffers (no copy of the names)."""
    lists = names.offsets.to_numpy()  # into names.values
    values = names.values
    _, value_offsets, data = values.buffers()
    ends = np.frombuffer(value_offsets, dtype=np.int32)[values.offset : values.offset + len(values) + 1]
    n = len(names)
    joined = pa.Array.from_buffers(pa.binary(), n, [None, pa.py_buffer(ends[lists]), data or pa.py_buffer(b"")])
    lengths = np.diff(ends)
    lengths_view = pa.Array.from_buffers(pa.binary(), n, [None, pa.py_buffer(lists * 4), pa.py_buffer(lengths)])
    return joined, lengths_view


def _parents(lists: pa.Array) -> np.ndarray:
    return pc.list_parent_indices(lists).to_numpy()


def _codes(array: pa.Array) -> np.ndarray:
    return pc.dictionary_encode(array).indices.to_numpy().astype(np.int64)


def _lengths(array: pa.Array) -> np.ndarray:
    """List lengths as int64 numpy (0 for a null list; callers check nulls separately)."""
    if array.null_count == 0:  # then the offsets say it all (a null list's offsets may span values)
        return np.diff(array.offsets.to_numpy()).astype(np.int64)
    return np.asarray(pc.list_value_length(array).fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64)


# ---------------------------------------------------------------------------------------------------- checks
# Every check of the reference decoder, vectorised. Each clears ``ok`` for the records it refuses; most are
# skipped in O(1) when a column has no nulls and its min/max are in range.


@dataclass
class _Checked:
    """What validating a slice found: the records that pass, and what the checks computed on the way."""

    ok: np.ndarray
    is_error: np.ndarray  # an error event (its rows are not stored)
    n_rows: np.ndarray  # rows in each record's inputs
    rows: pa.Array  # every record's rows, flat (list<float64>)
    row_event: np.ndarray  # the record of each of those rows
    endpoint_codes: pa.DictionaryArray  # its dictionary: the distinct ids; its indices: group codes
    given: np.ndarray | None  # the records that set row_indices (None: none does)
    has_scores: np.ndarray | None  # the records that carry scores (None: none does)


def _validate(columns: dict[str, pa.Array], n: int) -> _Checked:
    ok = np.ones(n, dtype=bool)
    _check_present(columns, ok)
    _check_numbers(columns, ok)
    endpoint_codes = _check_endpoint_ids(columns["endpoint_id"], ok)
    _check_times(columns["when"], ok)
    if columns["received"].null_count < n:
        _check_times(columns["received"].fill_null("1970-01-01T00:00:00+00:00"), ok)
    _check_names(columns["feature_names"], ok)
    _check_names(columns["label_names"], ok)
    is_error = _error_events(columns.get("error"), ok)
    n_rows, rows, row_event = _check_rows(columns, is_error, ok)
    given = _check_row_indices(columns["row_indices"], columns["effective_sample_count"], n_rows, ok)
    has_scores = _check_scores(columns["scores"], columns["score_names"], n_rows, ok)
    return _Checked(ok, is_error, n_rows, rows, row_event, endpoint_codes, given, has_scores)


def _check_present(columns: dict[str, pa.Array], ok: np.ndarray) -> None:
    for name in _NOT_NULL:
        column = columns.get(name)
        if column is not None and column.null_count:
            ok &= _mask(pc.is_valid(column))


def _check_numbers(columns: dict[str, pa.Array], ok: np.ndarray) -> None:
    """Read in place with numpy (no nulls: the explicit schema's types); only a column that fails (or has
    nulls) is checked value by value."""
    for name in ("latency_us", "effective_sample_count"):
        column = columns[name]
        if column.null_count or column.to_numpy().min() < 0:
            ok &= _mask(pc.greater_equal(column, 0))
    version = columns["schema_version"]
    if version.null_count or (version.to_numpy() != 1).any():
        ok &= _mask(pc.equal(version, 1))  # null: missing or JSON null, which the reference treats differently
    sampling = columns["sampling_percentage"]
    if sampling.null_count or not np.isfinite(sampling.to_numpy()).all():
        ok &= _mask(pc.is_finite(sampling))


def _check_endpoint_ids(endpoint: pa.Array, ok: np.ndarray) -> pa.DictionaryArray:
    codes = pc.dictionary_encode(endpoint)  # each distinct id is matched once
    bad_ids = [e for e in codes.dictionary.to_pylist() if not ENDPOINT_ID_PATTERN.match(e)]
    if bad_ids:
        ok &= ~_mask(pc.is_in(endpoint, pa.array(bad_ids, type=pa.string())))
    return codes


def _check_times(when: pa.Array, ok: np.ndarray) -> None:
    if not _serving_times(when):
        well_formed = pc.match_substring_regex(when, _WHEN)
        if well_formed.true_count != len(when):
            ok &= _mask(well_formed)


def _check_names(names: pa.Array, ok: np.ndarray) -> None:
    """No name may be null (a null list is _check_present's)."""
    if names.values.null_count:  # some name is null (or a value under a null list: then look closer)
        items = pc.list_flatten(names)
        ok[np.unique(pc.list_parent_indices(names).to_numpy()[_mask(pc.is_null(items))])] = False


def _error_events(error: pa.Array | None, ok: np.ndarray) -> np.ndarray:
    """Which records are error events. ``error`` is typed by the read (an explicit struct costs the parse more):
    an object is an error event, null or absent none, anything else is refused by the reference."""
    is_error = np.zeros(len(ok), dtype=bool)
    if error is not None and error.null_count < len(ok):
        if pa.types.is_struct(error.type):
            is_error = _mask(pc.is_valid(error))
        else:
            ok &= ~_mask(pc.is_valid(error))
    return is_error


def _check_rows(
    columns: dict[str, pa.Array], is_error: np.ndarray, ok: np.ndarray
) -> tuple[np.ndarray, pa.Array, np.ndarray]:
    """One value per feature name in each row, and one output per row (unless an error event); returns each
    record's row count, the flat rows and each row's record."""
    inputs = columns["inputs"]
    n_rows = _lengths(inputs)
    rows = pc.list_flatten(inputs)
    row_event = _parents(inputs)
    bad = np.diff(rows.offsets.to_numpy()) != _lengths(columns["feature_names"])[row_event]  # a row's width
    if rows.null_count:
        bad |= ~_mask(pc.is_valid(rows))  # [null] is not a row
    if bad.any():
        ok[np.unique(row_event[bad])] = False
    ok &= is_error | (_lengths(columns["outputs"]) == n_rows)
    return n_rows, rows, row_event


def _check_row_indices(row_indices: pa.Array, count: pa.Array, n_rows: np.ndarray, ok: np.ndarray) -> np.ndarray | None:
    """What the reference asks of ``row_indices`` lists (:mod:`driftline.inference_event`): one per row,
    increasing whole numbers, the first at least 0, each below the request's ``effective_sample_count``; and,
    as the reference's rows do, each within ``row_index``'s int32. Returns which records set it."""
    if row_indices.null_count == len(row_indices):
        return None
    given = _mask(pc.is_valid(row_indices))
    ok &= ~given | (_lengths(row_indices) == n_rows)
    values = pc.list_flatten(row_indices)
    if len(values) == 0:
        return given
    index = values.fill_null(-1).to_numpy()  # [null] is not an index
    parent = pc.list_parent_indices(row_indices).to_numpy()
    limit = np.minimum(count.fill_null(0).to_numpy()[parent], _INT32_LIMIT)
    bad = (index < 0) | (index >= limit)  # increasing from >= 0: every index >= 0
    bad[1:] |= (parent[1:] == parent[:-1]) & (index[1:] <= index[:-1])
    if bad.any():
        ok[np.unique(parent[bad])] = False
    return given


def _check_scores(scores: pa.Array, names: pa.Array, n_rows: np.ndarray, ok: np.ndarray) -> np.ndarray | None:
    """What the reference asks of ``score_names`` and ``scores``: no null name; scores only with score names, one
    row per row of inputs, each one number (or null) per name. Returns which records carry scores."""
    if names.null_count < len(names):
        _check_names(names, ok)
    if scores.null_count == len(scores):
        return None
    has = _mask(pc.is_valid(scores))
    width = _lengths(names)
    ok &= ~has | (_mask(pc.is_valid(names)) & (width > 0) & (_lengths(scores) == n_rows))
    rows = pc.list_flatten(scores)
    if len(rows):
        parent = _parents(scores)
        bad = np.diff(rows.offsets.to_numpy()) != width[parent]
        if rows.null_count:
            bad |= ~_mask(pc.is_valid(rows))  # [null] is not a row of scores
        if bad.any():
            ok[np.unique(parent[bad])] = False
    return has


def _timestamps(when: pa.Array, ok: np.ndarray) -> pa.Array:
    """The request starts as the tables hold them."""
    # pyarrow refuses impossible dates (Feb 30) for the whole array: take them out first, or fall back.
    safe_when = when if ok.all() else pc.if_else(pa.array(ok), when, "1970-01-01T00:00:00+00:00")
    try:
        return pc.cast(safe_when, _WHEN_TYPE)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise _Unsupported(str(exc)) from exc


# ---------------------------------------------------------------------------------------------------- output


def _accept(table: pa.Table, rows_at: np.ndarray, source: FastInput, result: FastResult) -> None:
    """Validate the slice, then emit events and row parts for the records that pass (the others are
    handed back). Raises :class:`_Unsupported`, having emitted nothing, for a slice it cannot judge."""
    columns = _arrays(table)
    _check_types(columns)
    checked = _validate(columns, table.num_rows)
    if checked.has_scores is not None:
        stored = checked.ok & ~checked.is_error & (checked.n_rows > 0)
        if not checked.has_scores[stored].all():
            # rows with scores and rows without in one slice: the reference path lays out the mixed columns
            raise _Unsupported("records with and without scores")
    when = _timestamps(columns["when"], checked.ok)
    received = columns["received"]
    if received.null_count < len(received):
        columns = {**columns, "received": _timestamps(received, checked.ok)}
    else:
        columns = {**columns, "received": pa.nulls(len(received), type=_WHEN_TYPE)}
    accepted = _select(columns, when, checked, rows_at, result)
    if accepted is None:
        return
    shards, one_shard = _shards(source, accepted.positions)
    result.events.append(_events_table(accepted, source, shards))
    inputs, outputs = accepted.field("inputs"), accepted.field("outputs")
    result.sources.append(_Source(accepted.positions, inputs, outputs, accepted.row_count > 0))
    if (accepted.row_count > 0).any():
        _emit_parts(accepted, shards, one_shard, source, result)


@dataclass
class _Accepted:
    """The records of a slice that passed every check."""

    accepted: np.ndarray  # their indices in the slice
    positions: np.ndarray  # their batch positions (int32)
    typed: dict[str, pa.Array]  # the slice's fields (every record) as the tables hold them
    checked: _Checked
    is_error: np.ndarray
    row_count: np.ndarray  # rows stored (0 for an error event)
    _take: pa.Array | None = None
    _picked: dict[str, pa.Array] = field(default_factory=dict)

    @property
    def everything(self) -> bool:
        """Every record of the slice passed: the slice's own arrays serve as they are."""
        return self._take is None

    def pick(self, array: pa.Array) -> pa.Array:
        return array if self._take is None else array.take(self._take)

    def field(self, name: str) -> pa.Array:
        """A field's values for these records, taken once."""
        array = self._picked.get(name)
        if array is None:
            array = self._picked[name] = self.pick(self.typed[name])
        return array


def _select(
    columns: dict[str, pa.Array], when: pa.Array, checked: _Checked, rows_at: np.ndarray, result: FastResult
) -> _Accepted | None:
    """The records that passed (``None``: none did); the others are handed back to the reference path."""
    ok = checked.ok
    accepted = np.flatnonzero(ok)
    if len(accepted) < len(ok):
        result.rejected.extend(rows_at[~ok].tolist())
    if len(accepted) == 0:
        return None
    is_error = checked.is_error[accepted]
    return _Accepted(
        accepted=accepted,
        positions=rows_at[accepted].astype(np.int32),
        typed={**columns, "when": when},
        checked=checked,
        is_error=is_error,
        row_count=np.where(is_error, 0, checked.n_rows[accepted]).astype(np.int32),
        _take=None if len(accepted) == len(ok) else pa.array(accepted),
    )


def _by_position(source: FastInput, name: str, positions: np.ndarray) -> pa.Array:
    array = source.array(name)
    whole_batch = len(positions) == len(source.payloads)  # then positions are 0..n-1: no take by position
    return array if whole_batch else array.take(pa.array(positions))


def _shards(source: FastInput, positions: np.ndarray) -> tuple[pa.Array, bool]:
    """The records' shard ids, and whether the batch holds one shard (a Lambda batch does)."""
    shard_ids = source.shard_ids
    if shard_ids.count(shard_ids[0]) == len(shard_ids):
        return pa.repeat(pa.scalar(shard_ids[0], type=pa.string()), len(positions)), True
    return _by_position(source, "shard_ids", positions), False


def _events_table(accepted: _Accepted, source: FastInput, shards: pa.Array) -> pa.Table:
    columns = {
        "position": pa.array(accepted.positions),
        "shard_id": shards,
        "sequence_number": _by_position(source, "sequence_numbers", accepted.positions),
        **{spec.name: accepted.field(spec.name) for spec in TABLE_FIELDS},
        "is_error": pa.array(accepted.is_error),
        "row_count": pa.array(accepted.row_count),
    }
    return pa.table(columns, schema=EVENT_SCHEMA)


# ---------------------------------------------------------------------------------------------------- parts
# One part per (endpoint, hour, shard) and feature/label layout. Nested columns are never reordered (pyarrow's
# take on lists of lists is slow): rows are gathered from the flat values with numpy.


def _emit_parts(accepted: _Accepted, shards: pa.Array, one_shard: bool, source: FastInput, result: FastResult) -> None:
    micros = accepted.field("when").view(pa.int64()).to_numpy()
    hours = micros - micros % HOUR_US
    event_code, n_codes = _part_codes(accepted, hours, shards, one_shard)
    layout = _row_layout(accepted, event_code, n_codes)
    rows = _stored_rows(accepted, layout)
    firsts = layout.event[layout.bounds[:-1]]  # each part's first record: its names and group
    take_firsts = pa.array(firsts)
    first_features = accepted.field("feature_names").take(take_firsts).to_pylist()
    first_labels = accepted.field("label_names").take(take_firsts).to_pylist()
    with_scores = accepted.checked.has_scores is not None
    first_scores = accepted.field("score_names").take(take_firsts).to_pylist() if with_scores else None
    first_endpoints = accepted.field("endpoint_id").take(take_firsts).to_pylist()
    for i, (start, end) in enumerate(itertools.pairwise(layout.bounds)):
        own_scores = tuple(first_scores[i] or ()) if first_scores is not None else ()
        features, labels, scores = all_column_names(tuple(first_features[i]), tuple(first_labels[i]), own_scores, None)
        first = int(firsts[i])
        group = (first_endpoints[i], int(hours[first]), source.shard_ids[int(accepted.positions[first])])
        result.parts.append((group, rows.part(start, end, features, labels[0], scores)))


def _part_codes(accepted: _Accepted, hours: np.ndarray, shards: pa.Array, one_shard: bool) -> tuple[np.ndarray, int]:
    """Each record's part, numbered in order of first appearance (-1: no rows to store), and how many."""
    hour_index = (hours - hours.min()) // HOUR_US
    if accepted.everything:
        combined = accepted.checked.endpoint_codes.indices.to_numpy().astype(np.int64)
    else:
        combined = _codes(accepted.field("endpoint_id"))
    keys: list[tuple[np.ndarray, int | None]] = [(hour_index, int(hour_index.max()) + 1)]
    # The layout (feature names, label names) is almost always one per endpoint: compared at once with each
    # endpoint's first request's; only names that differ within an endpoint are coded request by request.
    # (Dictionary codes are numbered in order of first appearance: code k first appears at endpoint_starts[k].)
    endpoint_starts = np.flatnonzero(np.diff(np.maximum.accumulate(combined), prepend=-1) > 0)
    endpoint_first = pa.array(endpoint_starts[combined])
    named = [accepted.field("feature_names"), accepted.field("label_names")]
    if accepted.checked.has_scores is not None:
        named.append(accepted.field("score_names"))
    for names in named:
        for view in _name_views(names):
            if not view.equals(view.take(endpoint_first)):
                keys.append((_codes(view), None))
    if not one_shard:
        keys.append((_codes(shards), None))
    for codes, size in keys:
        combined = combined * (size or int(codes.max()) + 1) + codes
    if combined.min() == combined.max():
        event_code, n_codes = np.zeros(len(combined), dtype=np.int64), 1
    else:
        event_code = _codes(pa.array(combined))
        n_codes = int(event_code.max()) + 1
    event_code[accepted.row_count == 0] = -1  # errors and empty requests: no rows
    return event_code, n_codes


@dataclass
class _RowLayout:
    """Every row to store, in part order: part ``i`` is rows ``bounds[i]:bounds[i + 1]``."""

    bounds: list[int]
    order: np.ndarray  # each row's index among the records' flat rows
    event: np.ndarray  # each row's record
    in_request: np.ndarray  # each row's place among its record's rows
    rows: pa.Array  # the records' flat rows (list<float64>)


def _row_layout(accepted: _Accepted, event_code: np.ndarray, n_codes: int) -> _RowLayout:
    inputs = accepted.field("inputs")
    if accepted.everything:
        rows, row_event = accepted.checked.rows, accepted.checked.row_event
    else:
        rows, row_event = pc.list_flatten(inputs), _parents(inputs)
    row_code = event_code[row_event]
    if n_codes == 1 and (row_code >= 0).all():
        order = np.arange(len(row_code))
        bounds = [0, len(row_code)]
    else:
        order = np.argsort(row_code, kind="stable")
        order = order[row_code[order] >= 0]
        sorted_codes = row_code[order]
        bounds = [0, *(np.flatnonzero(np.diff(sorted_codes)) + 1).tolist(), len(order)]
    event = row_event[order]
    in_offsets = inputs.offsets.to_numpy()
    return _RowLayout(bounds, order, event, order - (in_offsets[event] - in_offsets[0]), rows)


def _row_indexes(accepted: _Accepted, layout: _RowLayout) -> pa.Array:
    """Each row's ``row_index``: the place its request's ``row_indices`` names, else its place in the request."""
    row_index = layout.in_request
    given = accepted.checked.given
    own = None if given is None else given[accepted.accepted][layout.event]  # rows whose request names their place
    if own is not None and own.any():
        named = accepted.field("row_indices")
        named_offsets = named.offsets.to_numpy()
        at = named_offsets[layout.event] - named_offsets[0] + layout.in_request
        flat_named = pc.list_flatten(named).to_numpy(zero_copy_only=False)
        row_index = np.where(own, flat_named[np.where(own, at, 0)], layout.in_request)
    return pa.array(row_index.astype(np.int32))


@dataclass
class _StoredRows:
    """Every row's columns in part order: each part is a slice of them."""

    fixed: pa.RecordBatch  # the row columns a row takes from its request
    row_index: pa.Array
    label: pa.Array
    position: pa.Array
    value_offsets: np.ndarray  # where each row's feature values start in ``values``
    values: np.ndarray  # the flat feature values (float64: the explicit type of inputs)
    valid: np.ndarray | None  # which of them are not null (None: all)
    scores: _Block | None = None  # the rows' scores, when their records carry them

    def part(
        self, start: int, end: int, features: tuple[str, ...], label: str, scores: tuple[str, ...] = ()
    ) -> pa.Table:
        size = end - start
        fixed = self.fixed.slice(start, size)
        arrays = [
            self.row_index.slice(start, size) if column.per == "row" else fixed.column(column.name)
            for column in ROW_COLUMNS
        ]
        if features:
            gather = self.value_offsets[start:end, None] + np.arange(len(features))
            # feature-major copy: one arrow array, each feature column a zero-copy slice of it
            by_feature = gather.T.ravel()
            nulls = None if self.valid is None else ~self.valid[by_feature]
            block = pa.array(self.values[by_feature], type=pa.float64(), mask=nulls)
            arrays += [block.slice(j * size, size) for j in range(len(features))]
        labels = self.label.slice(start, size)
        if labels.null_count == size and labels.type != pa.float64():
            # typed by the whole read: strings of other records' outputs, while the reference's all-null column
            # (this part alone) is float64
            labels = pa.nulls(size, type=pa.float64())
        arrays.append(labels)
        if scores:
            assert self.scores is not None
            arrays += self.scores.columns(start, end, len(scores))
        arrays.append(self.position.slice(start, size))
        return pa.Table.from_arrays(arrays, names=[*FIXED_NAMES, *features, label, *scores, POSITION])


@dataclass
class _Block:
    """Rows of equal width held flat (each row's first value at ``offsets``): a part's columns are gathered from
    them feature-major, one arrow array whose columns are zero-copy slices."""

    offsets: np.ndarray
    values: np.ndarray
    valid: np.ndarray | None

    def columns(self, start: int, end: int, width: int) -> list[pa.Array]:
        size = end - start
        gather = (self.offsets[start:end, None] + np.arange(width)).T.ravel()
        nulls = None if self.valid is None else ~self.valid[gather]
        block = pa.array(self.values[gather], type=pa.float64(), mask=nulls)
        return [block.slice(j * size, size) for j in range(width)]


def _stored_rows(accepted: _Accepted, layout: _RowLayout) -> _StoredRows:
    per_event = {c.name: accepted.field(c.source) for c in ROW_COLUMNS if c.per == "request"}
    fixed = pa.RecordBatch.from_arrays(list(per_event.values()), names=list(per_event))
    outputs = accepted.field("outputs")
    # offsets index the whole child arrays (.values), whatever slice of them a list array is
    label_at = outputs.offsets.to_numpy()[layout.event] + layout.in_request
    values = layout.rows.values
    scores = None
    if accepted.checked.has_scores is not None:
        lists = accepted.field("scores")
        score_rows = lists.values  # each a list<float64> (offsets index the whole child)
        at = lists.offsets.to_numpy()[layout.event] + layout.in_request
        flat = score_rows.values
        scores = _Block(
            offsets=score_rows.offsets.to_numpy()[at],
            values=flat.to_numpy(zero_copy_only=False),
            valid=None if flat.null_count == 0 else _mask(pc.is_valid(flat)),
        )
    return _StoredRows(
        scores=scores,
        fixed=fixed.take(pa.array(layout.event)),
        row_index=_row_indexes(accepted, layout),
        label=as_value_column(outputs.values.take(pa.array(label_at))),
        position=pa.array(accepted.positions[layout.event]),
        value_offsets=layout.rows.offsets.to_numpy()[layout.order],
        values=values.to_numpy(zero_copy_only=False),
        valid=None if values.null_count == 0 else _mask(pc.is_valid(values)),
    )
