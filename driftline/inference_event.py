"""The inference event, defined once: what the serving function writes to Kinesis for each request.

Each field of :class:`InferenceEvent` carries its whole description in its metadata (:class:`EventField`): its
JSON type, the arrow type the vectorised decoder reads it as, whether a record may leave it out, whether it is
the same for every request of a served model, its type in the stream's decoded-events table, the rule the
reference decoder checks beyond its type, and what it means. :data:`ROW_COLUMNS` lists what every parquet row
holds before the features and labels, and which field each column comes from. The consumers derive from these:

- the serving encoder (:class:`driftline.serving.tracking.EventEncoder`) encodes the ``per="model"`` fields once
  per served model and the others per request, and leaves out the fields written only when set;
- :meth:`InferenceEvent.from_dict`, the reference decoder, reads each field that has no ``rule`` by its JSON
  type alone (the others have their own lines there, in the order that words the refusals);
- the vectorised decoder's read schema, the decoded-events table and the parquet row columns are built from
  ``arrow``, ``table`` and :data:`ROW_COLUMNS` (:mod:`driftline.stream.decode.tables`), and both decoders fill
  them by name.

``tests/unit/test_inference_event.py`` holds each consumer to this definition. Adding a field is one field here
(and one :data:`ROW_COLUMNS` entry to store it in every row), plus the code that sets it.

No pyarrow here (the serving function imports this module): arrow types are written as strings, which
:func:`driftline.stream.decode.tables.arrow_type` turns into types.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from driftline.errors import InvalidRequestError
from driftline.schemas import _finite, _require, parse_time

SCHEMA_VERSION = 1
_SPEC = "driftline.event"  # the metadata key an EventField travels under


@dataclass(frozen=True)
class EventField:
    """One field of the inference event, as every consumer sees it."""

    json: str  # the JSON value as written
    arrow: str | None  # as the vectorised decoder reads it; None: typed by the reader batch by batch
    per: Literal["request", "model"]  # "model": the same for every request to one served model (encoded once)
    meaning: str
    required: bool = True  # a record without it is refused; else the default (or the rule) stands in
    table: str | None = None  # its arrow type in the decoded-events table (live figures, duplicates); None: not there
    rule: str | None = None  # what the reference decoder checks beyond the JSON type; None: nothing more
    omit_null: bool = False  # written only when set, so records without it stay as they were
    name: str = ""  # the dataclass field's
    default: Any = None  # the dataclass field's (dataclasses.MISSING: none)


def _event(
    json_type: str, arrow: str | None, per: Literal["request", "model"], meaning: str, **more: Any
) -> dict[str, Any]:
    return {_SPEC: EventField(json_type, arrow, per, meaning, **more)}


@dataclass(frozen=True)
class InferenceEvent:
    """What the serving function writes to Kinesis for one request (partition key: ``endpoint_id``); each
    field's metadata says what it is (see the module doc). ``to_json`` writes it as the serving function does
    (keys in another order); ``from_dict`` is the reference decoder's reading, with its refusals."""

    request_id: str = field(
        metadata=_event(
            "string",
            "string",
            "request",
            "the request's id: the OIP request's `id`, else one the serving function drew; labels refer to it",
            table="string",
        )
    )
    endpoint_id: str = field(
        metadata=_event(
            "string",
            "string",
            "model",
            "the served model's endpoint (`endpoint_id_for` of project, function, model) and the partition key; "
            "the stream stores only 1-128 of [A-Za-z0-9_.-] (it becomes an S3 partition and a table key)",
            table="string",
        )
    )
    project: str = field(metadata=_event("string", "string", "model", "the serving function's project", table="string"))
    function_name: str = field(metadata=_event("string", "string", "model", "the serving function", table="string"))
    model_name: str = field(metadata=_event("string", "string", "model", "the model served", table="string"))
    model_version: str = field(
        metadata=_event(
            "string",
            "string",
            "model",
            "the version served (the registry's)",
            required=False,
            table="string",
            rule="absent: empty; any other JSON value is kept as its str()",
        )
    )
    when: str = field(
        metadata=_event(
            "string",
            "string",
            "request",
            "the request's start; the serving function writes isoformat with microseconds and +00:00",
            table="timestamp[us, UTC]",
            rule="an ISO 8601 time with a UTC offset",
        )
    )
    latency_us: int = field(
        metadata=_event(
            "integer",
            "int64",
            "request",
            "the request's true latency in microseconds (MLRun's modulo-1 s bug is not ours)",
            table="int64",
            rule=">= 0",
        )
    )
    inputs: list[list[Any]] = field(
        metadata=_event(
            "array of rows, each an array of values",
            # JSON integers read as doubles (stored as float64 anyway); rows of anything else are handed back
            "list<list<float64>>",
            "request",
            "the sampled rows (set_tracking(sampling_percentage=...) samples per row)",
            rule="each row one value per feature name",
        )
    )
    outputs: list[Any] = field(
        metadata=_event(
            "array of values (an array per row for a multi-output model)",
            None,  # numbers or strings: the reader types it, and the vectorised decoder checks what it got
            "request",
            "the model's output for each sampled row",
            rule="one per row of inputs, unless error is set",
        )
    )
    feature_names: list[str] = field(
        metadata=_event(
            "array of strings",
            "list<string>",
            "model",
            "the model's features, in the order of each row's values",
            table="list<string>",
            rule="each name kept as its str()",
        )
    )
    label_names: list[str] = field(
        metadata=_event(
            "array of strings",
            "list<string>",
            "model",
            "the names of the model's outputs (the prediction column's name; one per output of a multi-output model)",
            table="list<string>",
            rule="each name kept as its str()",
        )
    )
    sampling_percentage: float = field(
        default=100.0,
        metadata=_event(
            "number", "float64", "model", "the share of rows tracked", required=False, rule="a finite number"
        ),
    )
    effective_sample_count: int = field(
        default=0,
        metadata=_event(
            "integer",
            "int64",
            "request",
            "the rows the request really had (inputs holds the sampled ones), so counts can be re-estimated",
            required=False,
            table="int64",
            rule="absent: the number of rows in inputs; read with int(); the stream also wants >= 0",
        ),
    )
    error: dict[str, str] | None = field(
        default=None,
        metadata=_event(
            "object or null",
            None,  # any object: a struct type would cost the read more than the check does
            "request",
            "set when the model raised: {type, message}; then outputs is empty and the event stores no rows",
            required=False,
            rule="an object or null",
        ),
    )
    schema_version: int = field(
        default=SCHEMA_VERSION,
        metadata=_event("integer", "int64", "model", "this definition's version", required=False, rule="absent or 1"),
    )
    row_indices: list[int] | None = field(
        default=None,
        metadata=_event(
            "array of integers or null",
            "list<int64>",  # a JSON boolean or fraction fails the read (the reference refuses it)
            "request",
            "each sampled row's position in the request when sampling left rows out (absent: 0, 1, ...), so "
            "row_index downstream still names the row that ground truth refers to",
            required=False,
            rule="one increasing whole number per row of inputs, each below effective_sample_count",
            omit_null=True,
        ),
    )
    received: str | None = field(
        default=None,
        metadata=_event(
            "string or null",
            "string",
            "request",
            "set by an ingest (rows a model served elsewhere scored): when driftline accepted them, while `when` is "
            "the row's own time; the stream's duplicate check dates the request by it. Absent for served requests",
            required=False,
            table="timestamp[us, UTC]",
            rule="null, or an ISO 8601 time with a UTC offset",
            omit_null=True,
        ),
    )
    score_names: list[str] | None = field(
        default=None,
        metadata=_event(
            "array of strings or null",
            "list<string>",
            "model",
            "the columns of the model's class scores (`driftline.scores.score_columns` of its `classes_`: "
            "`proba_<class>`, in `classes_` order); null: the model gives no scores",
            required=False,
            rule="null, or each name kept as its str()",
            omit_null=True,
        ),
    )
    scores: list[list[float | None]] | None = field(
        default=None,
        metadata=_event(
            "array of rows, each an array of numbers, or null",
            "list<list<float64>>",
            "request",
            "each sampled row's class scores (predict_proba), one number per score name; the same rows as inputs",
            required=False,
            rule="null, or one row per row of inputs, each one number (or null) per score name; needs score_names",
            omit_null=True,
        ),
    )

    @property
    def kind(self) -> str:
        return "error" if self.error else "inference"

    def to_json(self) -> bytes:
        data = asdict(self)
        for name in OMITTED_WHEN_NULL:
            if data[name] is None:
                del data[name]
        return json.dumps(data, separators=(",", ":"), allow_nan=False).encode()

    @classmethod
    def from_dict(cls, data: Any) -> InferenceEvent:
        where = "inference event"
        if not isinstance(data, Mapping):
            raise InvalidRequestError(f"{where}: expected a JSON object, got {type(data).__name__}")
        version = data.get("schema_version", SCHEMA_VERSION)
        if version != SCHEMA_VERSION:
            raise InvalidRequestError(f"{where}: unsupported schema_version {version!r}, expected {SCHEMA_VERSION}")
        inputs = _require(data, "inputs", list, where)
        outputs = _require(data, "outputs", list, where)
        feature_names = _require(data, "feature_names", list, where)
        label_names = _require(data, "label_names", list, where)
        error = data.get("error")
        if error is not None and not isinstance(error, Mapping):
            raise InvalidRequestError(f"{where}: field 'error' must be an object or null")
        for i, row in enumerate(inputs):
            if not isinstance(row, list) or len(row) != len(feature_names):
                raise InvalidRequestError(
                    f"{where}: inputs[{i}] must be a list of {len(feature_names)} values (one per feature)"
                )
        if error is None and len(outputs) != len(inputs):
            raise InvalidRequestError(
                f"{where}: {len(outputs)} outputs for {len(inputs)} input rows; expected one output per row"
            )
        latency = _require(data, "latency_us", int, where)
        if latency < 0:
            raise InvalidRequestError(f"{where}: latency_us must be >= 0, got {latency}")
        when = _require(data, "when", str, where)
        parse_time(when, f"{where}: when")
        received = data.get("received")
        if received is not None:
            if not isinstance(received, str):
                raise InvalidRequestError(f"{where}: field 'received' must be null or a string")
            parse_time(received, f"{where}: received")
        score_names, scores = _scores(data.get("score_names"), data.get("scores"), len(inputs), where)
        effective_sample_count = int(data.get("effective_sample_count", len(inputs)))
        row_indices = _row_indices(data.get("row_indices"), len(inputs), effective_sample_count, where)
        # The fields whose JSON type is their whole rule come first (as request_id ... model_name always did,
        # so a record with several faults is refused for the same one), then those with rules of their own.
        # One dict filled in place: cheaper on this path than a comprehension unpacked into the call.
        values: dict[str, Any] = {}
        for name, kind in _REQUIRED_BY_TYPE:
            values[name] = _require(data, name, kind, where)
        for spec in _OPTIONAL_BY_TYPE:
            values[spec.name] = _read_optional(data, spec, where)
        values["model_version"] = str(data.get("model_version", ""))
        values["when"] = when
        values["latency_us"] = latency
        values["inputs"] = inputs
        values["outputs"] = outputs
        values["feature_names"] = [str(n) for n in feature_names]
        values["label_names"] = [str(n) for n in label_names]
        values["sampling_percentage"] = _finite(data.get("sampling_percentage", 100.0), f"{where}: sampling_percentage")
        values["effective_sample_count"] = effective_sample_count
        values["error"] = dict(error) if error is not None else None
        values["schema_version"] = SCHEMA_VERSION
        values["row_indices"] = row_indices
        values["received"] = received
        values["score_names"] = score_names
        values["scores"] = scores
        return cls(**values)


def _scores(names: Any, scores: Any, rows: int, where: str) -> tuple[list[str] | None, list[list[Any]] | None]:
    """``score_names`` (null or a list of names) and ``scores`` (null, or one row of one number or null per name
    for each row of inputs)."""
    if names is not None and (not isinstance(names, list) or any(n is None for n in names)):
        raise InvalidRequestError(f"{where}: score_names must be null or a list of names, got {names!r:.80}")
    names = None if names is None else [str(n) for n in names]
    if scores is None:
        return names, None
    width = len(names or [])
    expected = (
        f"{where}: scores must be null or {rows} rows (one per row of inputs) of {width} numbers (one per score name)"
    )
    if not names:
        raise InvalidRequestError(f"{where}: scores are given without score_names; expected both or neither")
    if not isinstance(scores, list) or len(scores) != rows:
        raise InvalidRequestError(f"{expected}, got {scores!r:.80}")
    for row in scores:
        if not isinstance(row, list) or len(row) != width:
            raise InvalidRequestError(f"{expected}, got a row {row!r:.80}")
        for value in row:
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise InvalidRequestError(f"{expected}, got a value {value!r:.80}")
    return names, [[None if v is None else float(v) for v in row] for row in scores]


def _row_indices(value: Any, rows: int, request_rows: int, where: str) -> list[int] | None:
    """``row_indices``: absent/null, or one increasing whole number per sampled row, each below the request's
    row count."""
    if value is None:
        return None
    expected = f"{where}: row_indices must be null or {rows} increasing whole numbers below {request_rows}"
    if not isinstance(value, list) or len(value) != rows:
        raise InvalidRequestError(f"{expected}, got {value!r:.80}")
    previous = -1
    for index in value:
        if isinstance(index, bool) or not isinstance(index, int) or not previous < index < request_rows:
            raise InvalidRequestError(f"{expected}, got {value!r:.80}")
        previous = index
    return list(value)


# The JSON types a field without a rule may have: its type is all the reference decoder checks.
PLAIN_JSON_TYPES: dict[str, type | tuple[type, ...]] = {"string": str, "integer": int, "number": (int, float)}


def _read_optional(data: Mapping[str, Any], spec: EventField, where: str) -> Any:
    """An optional field without a rule: absent (or null where null is its default) is its default, anything
    else must be of its JSON type."""
    if spec.name not in data or (data[spec.name] is None and spec.default is None):
        return spec.default
    return _require(data, spec.name, PLAIN_JSON_TYPES[spec.json], where)


def _described(item: dataclasses.Field[Any]) -> EventField:
    return dataclasses.replace(item.metadata[_SPEC], name=item.name, default=item.default)


EVENT_FIELDS: tuple[EventField, ...] = tuple(_described(item) for item in dataclasses.fields(InferenceEvent))
MODEL_FIELDS = tuple(spec for spec in EVENT_FIELDS if spec.per == "model")
REQUEST_FIELDS = tuple(spec for spec in EVENT_FIELDS if spec.per == "request")
OMITTED_WHEN_NULL = tuple(spec.name for spec in EVENT_FIELDS if spec.omit_null)
_REQUIRED_BY_TYPE = tuple((s.name, PLAIN_JSON_TYPES[s.json]) for s in EVENT_FIELDS if s.rule is None and s.required)
_OPTIONAL_BY_TYPE = tuple(spec for spec in EVENT_FIELDS if spec.rule is None and not spec.required)


# ---------------------------------------------------------------------------------------------------- rows


@dataclass(frozen=True)
class RowColumn:
    """A column of every parquet row, before the features and labels (which the model's names make)."""

    name: str
    arrow: str
    source: str  # the event field it comes from
    per: Literal["request", "row"]  # "request": the event's value on each of its rows; "row": each row's own
    meaning: str


ROW_COLUMNS: tuple[RowColumn, ...] = (
    RowColumn("timestamp", "timestamp[us, UTC]", "when", "request", "the request's start"),
    RowColumn("request_id", "string", "request_id", "request", "the request's id"),
    RowColumn(
        "row_index",
        "int32",
        "row_indices",
        "row",
        "the row's position in its request: its row_indices entry, else its place among the event's rows",
    ),
    RowColumn("latency", "int64", "latency_us", "request", "the request's latency in microseconds (MLRun's name)"),
    RowColumn("model_version", "string", "model_version", "request", "the version served"),
    RowColumn("effective_sample_count", "int64", "effective_sample_count", "request", "the rows its request had"),
)
ROW_COLUMN_NAMES = tuple(column.name for column in ROW_COLUMNS)
TIMESTAMP_COLUMN = next(column.name for column in ROW_COLUMNS if column.source == "when")  # the rows' time
