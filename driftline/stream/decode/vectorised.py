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
    POSITION,
    TABLE_FIELDS,
    arrow_type,
    as_value_column,
    column_names,
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
_HOUR_US = 3_600_000_000
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


def _check_row_indices(row_indices: pa.Array, count: pa.Array, ok: np.ndarray) -> None:
    """What the reference asks of ``row_indices`` lists (:mod:`driftline.inference_event`): increasing whole numbers,
    the first at least 0, each below the request's ``effective_sample_count``; and, as the reference's rows
    do, each within ``row_index``'s int32. Clears ``ok`` for the records whose list breaks any of these."""
    values = pc.list_flatten(row_indices)
    if len(values) == 0:
        return
    index = values.fill_null(-1).to_numpy()  # [null] is not an index
    parent = pc.list_parent_indices(row_indices).to_numpy()
    limit = np.minimum(count.fill_null(0).to_numpy()[parent], _INT32_LIMIT)
    bad = (index < 0) | (index >= limit)  # increasing from >= 0: every index >= 0
    bad[1:] |= (parent[1:] == parent[:-1]) & (index[1:] <= index[:-1])
    if bad.any():
        ok[np.unique(parent[bad])] = False


def _accept(table: pa.Table, rows_at: np.ndarray, source: FastInput, result: FastResult) -> None:
    """Validate the slice (every check of the reference decoder, vectorised; most are skipped in O(1) when a
    column has no nulls and its min/max are in range), then emit events and row parts for the valid records."""
    columns = _arrays(table)
    _check_types(columns)
    n = table.num_rows
    ok = np.ones(n, dtype=bool)
    for name in _NOT_NULL:
        column = columns.get(name)
        if column is not None and column.null_count:
            ok &= _mask(pc.is_valid(column))
    # The numeric checks read the columns in place with numpy (no nulls: the explicit schema's types); only a
    # column that fails them (or has nulls) is checked value by value.
    latency = columns["latency_us"]
    count = columns["effective_sample_count"]
    for column in (latency, count):
        if column.null_count or column.to_numpy().min() < 0:
            ok &= _mask(pc.greater_equal(column, 0))
    version = columns["schema_version"]
    if version.null_count or (version.to_numpy() != 1).any():
        ok &= _mask(pc.equal(version, 1))  # null: missing or JSON null, which the reference treats differently
    sampling = columns["sampling_percentage"]
    if sampling.null_count or not np.isfinite(sampling.to_numpy()).all():
        ok &= _mask(pc.is_finite(sampling))
    endpoint = columns["endpoint_id"]
    endpoint_codes = pc.dictionary_encode(endpoint)  # its dictionary: the distinct ids; its indices: group codes
    bad_ids = [e for e in endpoint_codes.dictionary.to_pylist() if not ENDPOINT_ID_PATTERN.match(e)]
    if bad_ids:
        ok &= ~_mask(pc.is_in(endpoint, pa.array(bad_ids, type=pa.string())))
    when = columns["when"]
    if not _serving_times(when):
        well_formed = pc.match_substring_regex(when, _WHEN)
        if well_formed.true_count != n:
            ok &= _mask(well_formed)
    feature_names = columns["feature_names"]
    label_names = columns["label_names"]
    for names in (feature_names, label_names):
        if names.null_count:
            ok &= _mask(pc.is_valid(names))
        if names.values.null_count:  # some name is null (or a value under a null list: then look closer)
            items = pc.list_flatten(names)
            ok[np.unique(pc.list_parent_indices(names).to_numpy()[_mask(pc.is_null(items))])] = False

    inputs = columns["inputs"]
    outputs = columns["outputs"]
    for column in (inputs, outputs):
        if column.null_count:
            ok &= _mask(pc.is_valid(column))
    # error: typed by the read (an explicit struct costs the parse more): an object is an error event, null or
    # absent none, anything else is refused by the reference
    error = columns.get("error")
    is_error = np.zeros(n, dtype=bool)
    if error is not None and error.null_count < n:
        if pa.types.is_struct(error.type):
            is_error = _mask(pc.is_valid(error))
        else:
            ok &= ~_mask(pc.is_valid(error))
    n_rows = _lengths(inputs)
    rows = pc.list_flatten(inputs)
    parent = _parents(inputs)
    bad = np.diff(rows.offsets.to_numpy()) != _lengths(feature_names)[parent]  # a row of the wrong width
    if rows.null_count:
        bad |= ~_mask(pc.is_valid(rows))  # [null] is not a row
    if bad.any():
        ok[np.unique(parent[bad])] = False
    n_outputs = _lengths(outputs)
    ok &= is_error | (n_outputs == n_rows)
    row_indices = columns["row_indices"]
    given = None if row_indices.null_count == n else _mask(pc.is_valid(row_indices))
    if given is not None:
        ok &= ~given | (_lengths(row_indices) == n_rows)
        _check_row_indices(row_indices, count, ok)

    # pyarrow refuses impossible dates (Feb 30) for the whole array: take them out first, or fall back.
    safe_when = when if ok.all() else pc.if_else(pa.array(ok), when, "1970-01-01T00:00:00+00:00")
    try:
        when_ts = pc.cast(safe_when, _WHEN_TYPE)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise _Unsupported(str(exc)) from exc

    accepted = np.flatnonzero(ok)
    if len(accepted) < n:
        result.rejected.extend(rows_at[~ok].tolist())
    if len(accepted) == 0:
        return
    everything = len(accepted) == n
    take = None if everything else pa.array(accepted)

    def pick(array: pa.Array) -> pa.Array:
        return array if take is None else array.take(take)

    positions = rows_at[accepted].astype(np.int32)
    whole_batch = len(positions) == len(source.payloads)  # then positions are 0..n-1: no take by position

    def by_position(name: str) -> pa.Array:
        array = source.array(name)
        return array if whole_batch else array.take(pa.array(positions))

    shard_ids = source.shard_ids
    one_shard = shard_ids.count(shard_ids[0]) == len(shard_ids)
    if one_shard:  # a Lambda batch comes from one shard
        shards = pa.repeat(pa.scalar(shard_ids[0], type=pa.string()), len(positions))
    else:
        shards = by_position("shard_ids")
    is_error = is_error[accepted]
    row_count = np.where(is_error, 0, n_rows[accepted]).astype(np.int32)
    typed = {**columns, "when": when_ts}  # each field as the tables hold it
    picked: dict[str, pa.Array] = {}

    def accepted_field(name: str) -> pa.Array:
        array = picked.get(name)
        if array is None:
            array = picked[name] = pick(typed[name])
        return array

    inputs_ok, outputs_ok, when_ok = accepted_field("inputs"), accepted_field("outputs"), accepted_field("when")
    feature_ok, label_ok = accepted_field("feature_names"), accepted_field("label_names")
    endpoint_ok = accepted_field("endpoint_id")
    per_event = {column.name: accepted_field(column.source) for column in ROW_COLUMNS if column.per == "request"}
    event_columns = {
        "position": pa.array(positions),
        "shard_id": shards,
        "sequence_number": by_position("sequence_numbers"),
        **{spec.name: accepted_field(spec.name) for spec in TABLE_FIELDS},
        "is_error": pa.array(is_error),
        "row_count": pa.array(row_count),
    }
    result.events.append(pa.table(event_columns, schema=EVENT_SCHEMA))
    result.sources.append(_Source(positions, inputs_ok, outputs_ok, row_count > 0))

    with_rows = row_count > 0
    if not with_rows.any():
        return
    # One part per (endpoint, hour, shard) and feature/label layout. Nested columns are never reordered
    # (pyarrow's take on lists of lists is slow): rows are gathered from the flat values with numpy.
    micros = when_ok.view(pa.int64()).to_numpy()
    hours = micros - micros % _HOUR_US
    hour_index = (hours - hours.min()) // _HOUR_US
    combined = endpoint_codes.indices.to_numpy().astype(np.int64) if everything else _codes(endpoint_ok)
    per_event_keys: list[tuple[np.ndarray, int | None]] = [(hour_index, int(hour_index.max()) + 1)]
    # The layout (feature names, label names) is almost always one per endpoint: compared at once with each
    # endpoint's first request's; only names that differ within an endpoint are coded request by request.
    # (Dictionary codes are numbered in order of first appearance: code k first appears at endpoint_starts[k].)
    endpoint_starts = np.flatnonzero(np.diff(np.maximum.accumulate(combined), prepend=-1) > 0)
    endpoint_first = pa.array(endpoint_starts[combined])
    for names in (feature_ok, label_ok):
        for view in _name_views(names):
            if not view.equals(view.take(endpoint_first)):
                per_event_keys.append((_codes(view), None))
    if not one_shard:
        per_event_keys.append((_codes(shards), None))
    for codes, size in per_event_keys:
        combined = combined * (size or int(codes.max()) + 1) + codes
    if combined.min() == combined.max():
        event_code, n_codes = np.zeros(len(combined), dtype=np.int64), 1
    else:
        event_code = _codes(pa.array(combined))
        n_codes = int(event_code.max()) + 1
    event_code[~with_rows] = -1  # errors and empty requests: no rows

    # every request's rows, in batch order, and the request of each
    row_lists, row_event = (rows, parent) if everything else (pc.list_flatten(inputs_ok), _parents(inputs_ok))
    row_code = event_code[row_event]
    if n_codes == 1 and (row_code >= 0).all():
        row_order = np.arange(len(row_code))
        bounds = [0, len(row_code)]
    else:
        row_order = np.argsort(row_code, kind="stable")
        row_order = row_order[row_code[row_order] >= 0]
        sorted_codes = row_code[row_order]
        bounds = [0, *(np.flatnonzero(np.diff(sorted_codes)) + 1).tolist(), len(row_order)]
    ordered_event = row_event[row_order]
    in_offsets = inputs_ok.offsets.to_numpy()
    out_offsets = outputs_ok.offsets.to_numpy()
    row_in_request = row_order - (in_offsets[row_event[row_order]] - in_offsets[0])
    take_events = pa.array(ordered_event)
    row_index = row_in_request
    own = None if given is None else given[accepted][ordered_event]  # rows whose request names their place
    if own is not None and own.any():
        named = pick(row_indices)
        named_offsets = named.offsets.to_numpy()
        at = named_offsets[ordered_event] - named_offsets[0] + row_in_request
        flat_named = pc.list_flatten(named).to_numpy(zero_copy_only=False)
        row_index = np.where(own, flat_named[np.where(own, at, 0)], row_in_request)
    # Every row's fixed columns, label and position in part order: each part takes a slice of them.
    fixed = pa.RecordBatch.from_arrays(list(per_event.values()), names=list(per_event)).take(take_events)
    row_indexes = pa.array(row_index.astype(np.int32))
    # offsets index the whole child arrays (.values), whatever slice of them a list array is
    label_values = as_value_column(outputs_ok.values.take(pa.array(out_offsets[ordered_event] + row_in_request)))
    row_positions = pa.array(positions[ordered_event])
    value_offsets = row_lists.offsets.to_numpy()[row_order]
    values = row_lists.values  # float64: the explicit type of inputs
    flat = values.to_numpy(zero_copy_only=False)
    valid = None if values.null_count == 0 else _mask(pc.is_valid(values))
    firsts = ordered_event[bounds[:-1]]  # each part's first event: its names and group
    take_firsts = pa.array(firsts)
    first_features = feature_ok.take(take_firsts).to_pylist()
    first_labels = label_ok.take(take_firsts).to_pylist()
    first_endpoints = endpoint_ok.take(take_firsts).to_pylist()
    for i, (start, end) in enumerate(itertools.pairwise(bounds)):
        size = end - start
        features, labels = column_names(tuple(first_features[i]), tuple(first_labels[i]), None)
        sliced = fixed.slice(start, size)
        arrays = [
            row_indexes.slice(start, size) if column.per == "row" else sliced.column(column.name)
            for column in ROW_COLUMNS
        ]
        if features:
            gather = value_offsets[start:end, None] + np.arange(len(features))
            # feature-major copy: one arrow array, each feature column a zero-copy slice of it
            by_feature = gather.T.ravel()
            nulls = None if valid is None else ~valid[by_feature]
            block = pa.array(flat[by_feature], type=pa.float64(), mask=nulls)
            arrays += [block.slice(j * size, size) for j in range(len(features))]
        arrays += [label_values.slice(start, size), row_positions.slice(start, size)]
        first = int(firsts[i])
        group = (first_endpoints[i], int(hours[first]), shard_ids[int(positions[first])])
        result.parts.append((group, pa.Table.from_arrays(arrays, names=[*FIXED_NAMES, *features, labels[0], POSITION])))
