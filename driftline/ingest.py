"""Ingest: rows a model served elsewhere already scored, into the same stream as the same inference events.

A team serving on SageMaker, ECS or its own Lambda, or scoring in batch, sends its inputs and predictions
(``POST /v2/models/{name}/events`` on the serving HTTP API; ``Project.log_inferences`` / ``record_results``;
``driftline ingest``). They become :class:`~driftline.inference_event.InferenceEvent` records on the
installation's Kinesis stream, so the stream, the controller and the apps monitor them unchanged.

The document (JSON)::

    {"inputs": [[5.1, 3.5, 1.4, 0.2], ...] or [{"sepal_length_cm": 5.1, ...}, ...],   # required
     "outputs": [0, ...],                          # required ("predictions" also read): one per row
     "timestamps": ["2026-11-26T17:00:00Z", ...],   # optional: one per row, or one string for all
     "request_ids": ["r-1", ...],                  # optional: one per row
     "scores": [[0.9, 0.05, 0.05], ...],           # optional: class scores, one row per row
     "classes": [0, 1, 2],                         # the scores' classes (default: the model record's)
     "model_version": "3"}                         # optional: the logged version (default: latest)

Events: the rows sharing a request id and a time make one request (one event; ``row_index`` their order in
it). Without request ids, the rows sharing a time are cut into requests of at most ``rows_per_event`` rows
whose ids are derived from their content (``ingest-<sha256>``), so the same document always makes the same
events. Without timestamps every row takes the arrival time. Each event carries ``received`` (the arrival
time): the stream's duplicate check dates ingested requests by it, so Kinesis's copies of a retried put are
removed as a served request's are. A whole ingest that is sent again (its answer was lost, a batch job
re-run) is recognised by its receipt (:func:`receipt_key`: the digest of the document, kept
:data:`driftline.layout.INGEST_RECEIPT_DAYS` days) and answered without putting anything again.

Pure: no AWS here (the service puts the records and keeps the receipts).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from driftline import layout
from driftline.errors import InvalidRequestError, PayloadTooLargeError
from driftline.inference_event import InferenceEvent
from driftline.schemas import parse_time, to_iso
from driftline.scores import score_columns

MAX_ID_LENGTH = 256
MAX_ROWS = 100_000  # per document; the body's size is bounded too (Settings.max_request_bytes)
ROWS_PER_EVENT = 500  # rows of one derived request, at most
MAX_RECORD_BYTES = 1024 * 1024  # Kinesis's record limit (data + partition key)
_FIELDS = ("inputs", "outputs", "predictions", "timestamps", "request_ids", "scores", "classes", "model_version")
_EXAMPLE = '{"inputs": [[5.1, 3.5, 1.4, 0.2]], "outputs": [0], "timestamps": ["2026-11-26T17:00:00Z"]}'


@dataclass(frozen=True)
class IngestTarget:
    """The endpoint the rows belong to, and what the model's record says about its columns."""

    project: str
    function_name: str
    model_name: str
    model_version: str
    endpoint_id: str
    feature_names: tuple[str, ...]
    label_names: tuple[str, ...]
    score_names: tuple[str, ...] = ()  # the record's proba_<class> columns (log_model)


@dataclass(frozen=True)
class Ingest:
    """A validated document as events, and what the answer says."""

    events: list[InferenceEvent]
    rows: int
    digest: str  # of the document and its endpoint: the receipt's name

    def answer(self, target: IngestTarget, *, duplicate: bool = False) -> dict[str, Any]:
        return {
            "model_name": target.model_name,
            "model_version": target.model_version,
            "endpoint_id": target.endpoint_id,
            "rows": self.rows,
            "requests": len(self.events),
            "digest": self.digest,
            "duplicate": duplicate,
        }


def receipt_key(endpoint_id: str, digest: str) -> str:
    return f"{layout.INGEST_RECEIPTS_PREFIX}{endpoint_id}/{digest}.json"


def document_digest(endpoint_id: str, document: Mapping[str, Any]) -> str:
    """The same rows, ids, times and scores sent to the same endpoint give the same digest, however the JSON was
    spaced or its keys ordered."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(f"{endpoint_id}\n{canonical}".encode()).hexdigest()


def parse_ingest(
    document: Any,
    target: IngestTarget,
    *,
    received: datetime,
    rows_per_event: int = ROWS_PER_EVENT,
    max_rows: int = MAX_ROWS,
) -> Ingest:
    """Validate an ingest document against the model's columns and build its events (one per request)."""
    if not isinstance(document, Mapping):
        raise InvalidRequestError(f"request body: expected a JSON object such as {_EXAMPLE}, got {_kind(document)}")
    unknown = sorted(set(document) - set(_FIELDS))
    if unknown:
        raise InvalidRequestError(f"request body: unknown fields {unknown}; expected some of {list(_FIELDS)}")
    inputs = _inputs(document.get("inputs"), target.feature_names, max_rows)
    n = len(inputs)
    if "outputs" in document and "predictions" in document:
        raise InvalidRequestError("request body: give either 'outputs' or 'predictions' (the same thing), not both")
    outputs = _outputs(document.get("outputs", document.get("predictions")), n)
    times = _timestamps(document.get("timestamps"), n, received)
    ids = _request_ids(document.get("request_ids"), n)
    score_names, scores = _scores(document.get("scores"), document.get("classes"), target.score_names, n)
    digest = document_digest(target.endpoint_id, document)
    arrival = to_iso(received)

    # rows of one request: the same id (given) and time, in order of first appearance
    groups: dict[tuple[str | None, str], list[int]] = {}
    for i in range(n):
        groups.setdefault((ids[i] if ids is not None else None, times[i]), []).append(i)
    events: list[InferenceEvent] = []
    for (given_id, when), members in groups.items():
        chunks = [members] if given_id is not None else _cut(members, rows_per_event)
        for chunk in chunks:
            chunk_inputs = [inputs[i] for i in chunk]
            chunk_outputs = [outputs[i] for i in chunk]
            chunk_scores = [scores[i] for i in chunk] if scores is not None else None
            request_id = given_id or _derived_id(target, when, chunk_inputs, chunk_outputs, chunk_scores)
            event = InferenceEvent(
                request_id=request_id,
                endpoint_id=target.endpoint_id,
                project=target.project,
                function_name=target.function_name,
                model_name=target.model_name,
                model_version=target.model_version,
                when=when,
                latency_us=0,  # not known: the model ran elsewhere
                inputs=chunk_inputs,
                outputs=chunk_outputs,
                feature_names=list(target.feature_names),
                label_names=list(target.label_names),
                effective_sample_count=len(chunk),
                received=arrival,
                score_names=list(score_names) if score_names else None,
                scores=chunk_scores,
            )
            events.append(event)
    return Ingest(events=events, rows=n, digest=digest)


def encode_records(ingest: Ingest, endpoint_id: str) -> list[bytes]:
    """Each event as the record the stream reads; one over Kinesis's record limit is refused (413) with what
    to change, before anything is put."""
    records = []
    for event in ingest.events:
        data = event.to_json()
        size = len(data) + len(endpoint_id.encode())
        if size > MAX_RECORD_BYTES:
            raise PayloadTooLargeError(
                f"request {event.request_id!r} ({len(event.inputs)} rows sharing one request id and timestamp) "
                f"would be a {size}-byte record, over Kinesis's {MAX_RECORD_BYTES}-byte limit; give its rows "
                "distinct request ids or timestamps"
            )
        records.append(data)
    return records


# ---------------------------------------------------------------------------------------------------- fields


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def _scalar(value: Any, where: str) -> Any:
    """A stored value: a finite number, a string, a boolean (as 1/0, as the stream stores it) or null."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidRequestError(f"{where}: expected a finite number, got {value!r}")
        return value
    raise InvalidRequestError(f"{where}: expected a number, a string or null, got {_kind(value)}")


def _inputs(raw: Any, feature_names: Sequence[str], max_rows: int) -> list[list[Any]]:
    names = list(feature_names)
    if raw is None:
        raise InvalidRequestError(f"request body: missing 'inputs'; expected e.g. {_EXAMPLE}")
    if not isinstance(raw, list) or not raw:
        raise InvalidRequestError(
            f"inputs: expected a non-empty array of rows (arrays of {len(names)} values: {', '.join(names)}) or of "
            f"objects keyed by those names, got {_kind(raw)}"
        )
    if len(raw) > max_rows:
        raise PayloadTooLargeError(f"inputs has {len(raw)} rows, over the limit of {max_rows} per ingest; split it")
    rows: list[list[Any]] = []
    for i, row in enumerate(raw):
        if isinstance(row, list):
            if len(row) != len(names):
                raise InvalidRequestError(
                    f"inputs[{i}] has {len(row)} values; the model's {len(names)} features are {', '.join(names)}"
                )
            rows.append([_scalar(v, f"inputs[{i}][{j}] ({names[j]!r})") for j, v in enumerate(row)])
        elif isinstance(row, Mapping):
            missing = [n for n in names if n not in row]
            extra = sorted(str(k) for k in row if k not in set(names))
            if missing or extra:
                detail = "; ".join(
                    p for p in (f"missing {missing}" if missing else "", f"unknown {extra}" if extra else "") if p
                )
                raise InvalidRequestError(f"inputs[{i}]: expected the model's features {names} ({detail})")
            rows.append([_scalar(row[n], f"inputs[{i}][{n!r}]") for n in names])
        else:
            raise InvalidRequestError(
                f"inputs[{i}]: expected a row (an array of {len(names)} values) or an object keyed by feature name, "
                f"got {_kind(row)}"
            )
    return rows


def _outputs(raw: Any, n: int) -> list[Any]:
    if raw is None:
        raise InvalidRequestError(f"request body: missing 'outputs' (the predictions, one per row); e.g. {_EXAMPLE}")
    if not isinstance(raw, list) or len(raw) != n:
        size = f"{len(raw)} values" if isinstance(raw, list) else _kind(raw)
        raise InvalidRequestError(f"outputs: expected {n} predictions (one per row of inputs), got {size}")
    out: list[Any] = []
    for i, value in enumerate(raw):
        if isinstance(value, list):
            if not value:
                raise InvalidRequestError(f"outputs[{i}]: an empty array; expected a prediction or one per output")
            out.append([_scalar(v, f"outputs[{i}][{j}]") for j, v in enumerate(value)])
        else:
            out.append(_scalar(value, f"outputs[{i}]"))
    return out


def _timestamps(raw: Any, n: int, received: datetime) -> list[str]:
    if raw is None:
        return [to_iso(received)] * n
    if isinstance(raw, str):
        return [to_iso(parse_time(raw, "timestamps"))] * n
    if not isinstance(raw, list) or len(raw) != n:
        size = f"{len(raw)} values" if isinstance(raw, list) else _kind(raw)
        raise InvalidRequestError(
            f"timestamps: expected {n} ISO 8601 times with a UTC offset (one per row) or one for all, got {size}"
        )
    parsed: dict[str, str] = {}
    out = []
    for i, value in enumerate(raw):
        if not isinstance(value, str):
            raise InvalidRequestError(
                f"timestamps[{i}]: expected an ISO 8601 time with a UTC offset such as 2026-11-26T17:00:00Z, "
                f"got {_kind(value)}"
            )
        text = parsed.get(value)
        if text is None:
            text = parsed[value] = to_iso(parse_time(value, f"timestamps[{i}]"))
        out.append(text)
    return out


def _request_ids(raw: Any, n: int) -> list[str] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or len(raw) != n:
        size = f"{len(raw)} values" if isinstance(raw, list) else _kind(raw)
        raise InvalidRequestError(f"request_ids: expected {n} strings (one per row), got {size}")
    for i, value in enumerate(raw):
        if not isinstance(value, str) or not value or len(value) > MAX_ID_LENGTH:
            raise InvalidRequestError(
                f"request_ids[{i}]: expected a non-empty string of at most {MAX_ID_LENGTH} characters, "
                f"got {value!r:.60}"
            )
    return list(raw)


def _scores(
    raw: Any, classes: Any, recorded: Sequence[str], n: int
) -> tuple[tuple[str, ...], list[list[float | None]] | None]:
    if raw is None:
        if classes is not None:
            raise InvalidRequestError("classes: given without scores; expected 'scores' (one row per row) with it")
        return (), None
    if classes is not None:
        if not isinstance(classes, list) or not classes or any(isinstance(c, list | Mapping) for c in classes):
            raise InvalidRequestError(f"classes: expected a non-empty array of class labels, got {classes!r:.80}")
        names = tuple(score_columns(classes))
        if len(set(names)) != len(names):
            raise InvalidRequestError(f"classes: expected distinct class labels, got {classes!r:.80}")
    elif recorded:
        names = tuple(recorded)
    else:
        raise InvalidRequestError(
            "scores: the model's classes are unknown; send 'classes' (the class of each score, in order) or log the "
            "model with its classes"
        )
    if not isinstance(raw, list) or len(raw) != n:
        size = f"{len(raw)} rows" if isinstance(raw, list) else _kind(raw)
        raise InvalidRequestError(f"scores: expected {n} rows (one per row of inputs), got {size}")
    out: list[list[float | None]] = []
    for i, row in enumerate(raw):
        if not isinstance(row, list) or len(row) != len(names):
            raise InvalidRequestError(
                f"scores[{i}]: expected {len(names)} numbers (one per class: {', '.join(names)}), got {row!r:.80}"
            )
        values: list[float | None] = []
        for j, value in enumerate(row):
            if value is None:
                values.append(None)
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise InvalidRequestError(f"scores[{i}][{j}]: expected a finite number or null, got {value!r:.40}")
            values.append(float(value))
        out.append(values)
    return names, out


def _cut(members: list[int], size: int) -> list[list[int]]:
    return [members[i : i + size] for i in range(0, len(members), max(1, size))]


def _derived_id(
    target: IngestTarget, when: str, inputs: list[list[Any]], outputs: list[Any], scores: list[Any] | None
) -> str:
    content = json.dumps(
        [target.endpoint_id, target.model_version, when, inputs, outputs, scores], separators=(",", ":")
    )
    return "ingest-" + hashlib.sha256(content.encode()).hexdigest()[:32]
