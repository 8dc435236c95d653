"""Ground truth: labels that arrive after the prediction, keyed by the request id the serving function returned.

A label row is ``request_id`` (the serving answer's ``id``), ``row_index`` (the row's position in that request,
default 0) and one value per label column (the endpoint's ``label_names``, the same names the predictions
have in the event dataset). Labels are stored per endpoint and arrival day (:mod:`driftline.aws.ground_truth`)
with the time they arrived (``received``); a label sent twice is stored once per day and read once (the latest
wins), so a retried upload never doubles or loses labels.

Two ways in, one format out:

* :func:`ingest` (the SDK's ``project.log_ground_truth(df)``): a DataFrame, written as parquet;
* :func:`ingest_records` (the serving function's HTTP route): JSON rows, validated and written as gzip JSON
  lines with the standard library only (the serving function carries no pyarrow).

:func:`load` reads them back for a window's predictions and :func:`join` pairs each prediction with its label.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from driftline import clock
from driftline.aws.clients import Clients
from driftline.aws.endpoints import Endpoints
from driftline.aws.ground_truth import GroundTruthStore, object_key
from driftline.errors import InvalidRequestError
from driftline.schemas import to_iso

if TYPE_CHECKING:
    import pandas as pd

REQUEST_ID = "request_id"
ROW_INDEX = "row_index"
RECEIVED = "received"
TRUE_SUFFIX = "__true"
MAX_RECORDS = 10_000  # per HTTP call (the serving function's own row limit)
DEFAULT_MAX_DELAY = timedelta(days=7)


def _endpoint_labels(clients: Clients, project: str, endpoint_id: str) -> list[str]:
    endpoint = Endpoints(clients).get(endpoint_id)
    if endpoint.project != project:
        raise InvalidRequestError(f"endpoint {endpoint_id!r} belongs to project {endpoint.project!r}, not {project!r}")
    return list(endpoint.label_names) or ["prediction"]


def _pick_labels(
    columns: Sequence[str], endpoint_labels: Sequence[str], label_columns: Sequence[str] | None
) -> list[str]:
    if label_columns is not None:
        unknown = [c for c in label_columns if c not in endpoint_labels]
        if unknown:
            raise InvalidRequestError(
                f"ground truth: label columns {unknown} are not the endpoint's labels {list(endpoint_labels)}"
            )
        labels = list(label_columns)
    else:
        labels = [c for c in endpoint_labels if c in columns]
    missing = [c for c in labels if c not in columns]
    if not labels or missing:
        raise InvalidRequestError(
            f"ground truth: expected a {REQUEST_ID!r} column and a column per label {list(endpoint_labels)}; "
            f"got columns {list(columns)}"
        )
    return labels


def _check_value(value: Any, where: str) -> Any:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidRequestError(f"{where}: expected a finite number, a string or null, got {value!r}")
        return value
    raise InvalidRequestError(f"{where}: expected a number, a string, a boolean or null, got {type(value).__name__}")


def validate_records(records: Any, labels: Sequence[str]) -> list[dict[str, Any]]:
    """JSON label rows -> ``[{request_id, row_index, <labels>}]``; the last row for a key wins."""
    if not isinstance(records, list) or not records:
        raise InvalidRequestError("ground truth: expected a non-empty list of label rows")
    if len(records) > MAX_RECORDS:
        raise InvalidRequestError(f"ground truth: {len(records)} rows; at most {MAX_RECORDS} per call")
    rows: dict[tuple[str, int], dict[str, Any]] = {}
    for i, record in enumerate(records):
        where = f"ground truth row {i}"
        if not isinstance(record, Mapping):
            raise InvalidRequestError(f"{where}: expected an object, got {type(record).__name__}")
        request_id = record.get(REQUEST_ID)
        if not isinstance(request_id, str) or not request_id:
            raise InvalidRequestError(f"{where}: expected {REQUEST_ID!r}, the id the serving function returned")
        row_index = record.get(ROW_INDEX, 0)
        if isinstance(row_index, bool) or not isinstance(row_index, int) or row_index < 0:
            raise InvalidRequestError(f"{where}: {ROW_INDEX!r} must be a whole number >= 0, got {row_index!r}")
        missing = [label for label in labels if label not in record]
        if missing:
            raise InvalidRequestError(f"{where}: missing label values for {missing}")
        row = {REQUEST_ID: request_id, ROW_INDEX: row_index}
        for label in labels:
            row[label] = _check_value(record[label], f"{where}: {label}")
        rows[(request_id, row_index)] = row
    return list(rows.values())


def frame_records(df: pd.DataFrame, labels: Sequence[str]) -> list[dict[str, Any]]:
    """A DataFrame's label rows as plain records (NaN labels become null)."""
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise InvalidRequestError(f"ground truth: expected a pandas DataFrame, got {type(df).__name__}")
    if REQUEST_ID not in df.columns:
        raise InvalidRequestError(f"ground truth: expected a {REQUEST_ID!r} column; got columns {list(df.columns)}")
    if df[REQUEST_ID].isna().any():
        raise InvalidRequestError(f"ground truth: {int(df[REQUEST_ID].isna().sum())} rows have no {REQUEST_ID}")
    frame = df[[REQUEST_ID, *([ROW_INDEX] if ROW_INDEX in df.columns else []), *labels]]
    records = json.loads(frame.to_json(orient="records", date_format="iso"))
    for record in records:
        record[REQUEST_ID] = str(record[REQUEST_ID])
    return records


def _digest(rows: list[dict[str, Any]]) -> str:
    canonical = json.dumps(rows, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(canonical).hexdigest()[:32]


def ingest(
    clients: Clients,
    project: str,
    endpoint_id: str,
    df: pd.DataFrame,
    *,
    label_columns: Sequence[str] | None = None,
    received: datetime | None = None,
) -> int:
    """Store labels for an endpoint's predictions (parquet); returns the number of label rows stored."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    endpoint_labels = _endpoint_labels(clients, project, endpoint_id)
    labels = _pick_labels(list(df.columns), endpoint_labels, label_columns)
    rows = validate_records(frame_records(df, labels), labels)
    when = received or clock.now()
    table = pa.Table.from_pylist(rows)
    table = table.set_column(1, ROW_INDEX, table.column(ROW_INDEX).cast(pa.int64()))
    table = table.append_column(RECEIVED, pa.array([when] * len(rows), pa.timestamp("us", tz="UTC")))
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    key = object_key(endpoint_id, when.strftime("%Y-%m-%d"), _digest(rows), ".parquet")
    GroundTruthStore(clients).put(key, buffer.getvalue(), "application/vnd.apache.parquet")
    return len(rows)


def ingest_records(
    clients: Clients,
    project: str,
    endpoint_id: str,
    records: Any,
    *,
    received: datetime | None = None,
) -> int:
    """Store JSON label rows (the HTTP route's body ``{"labels": [...]}`` or the list itself) with the standard
    library only; returns the number of rows stored."""
    if isinstance(records, Mapping):
        records = records.get("labels")
    if not isinstance(records, list) or not records:
        raise InvalidRequestError("ground truth: expected a non-empty list of label rows")
    endpoint_labels = _endpoint_labels(clients, project, endpoint_id)
    first = records[0] if isinstance(records[0], Mapping) else {}
    # the labels the rows carry (every row must then carry them all); none: all of them, reported missing
    labels = [c for c in endpoint_labels if c in first] or list(endpoint_labels)
    rows = validate_records(records, labels)
    when = received or clock.now()
    stamp = to_iso(when)
    body = "\n".join(json.dumps({**row, RECEIVED: stamp}, separators=(",", ":")) for row in rows).encode()
    key = object_key(endpoint_id, when.strftime("%Y-%m-%d"), _digest(rows), ".jsonl.gz")
    GroundTruthStore(clients).put(key, gzip.compress(body, mtime=0), "application/gzip")
    return len(rows)


def _days(since: datetime, until: datetime) -> list[str]:
    day = since.date()
    out = []
    while day <= until.date():
        out.append(day.isoformat())
        day += timedelta(days=1)
    return out


def load(
    clients: Clients,
    endpoint_id: str,
    since: datetime,
    until: datetime | None = None,
    request_ids: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Labels that arrived from ``since`` (the predictions' window start) up to ``until`` (default: now, at most
    :data:`DEFAULT_MAX_DELAY` later), optionally only for ``request_ids``; one row per (request_id, row_index),
    the latest received."""
    import pandas as pd
    import pyarrow.parquet as pq

    until = until or min(clock.now(), since + DEFAULT_MAX_DELAY)
    store = GroundTruthStore(clients)
    frames = []
    for key in store.keys(endpoint_id, _days(since, until)):
        body = store.get(key)
        if key.endswith(".parquet"):
            frame = pq.read_table(io.BytesIO(body)).to_pandas()
        else:
            frame = pd.DataFrame([json.loads(line) for line in gzip.decompress(body).splitlines() if line.strip()])
        frame[RECEIVED] = pd.to_datetime(frame[RECEIVED], utc=True, format="ISO8601")
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=[REQUEST_ID, ROW_INDEX, RECEIVED])
    labels = pd.concat(frames, ignore_index=True)
    labels[ROW_INDEX] = labels[ROW_INDEX].astype("int64")
    if request_ids is not None:
        labels = labels[labels[REQUEST_ID].isin(set(request_ids))]
    labels = labels.sort_values(RECEIVED, kind="stable").drop_duplicates([REQUEST_ID, ROW_INDEX], keep="last")
    return labels.reset_index(drop=True)


def join(predictions: pd.DataFrame, labels: pd.DataFrame, label_names: Sequence[str]) -> pd.DataFrame:
    """The predictions that have a label: each label column ``L`` (the prediction) beside ``L__true``."""
    if REQUEST_ID not in predictions.columns:
        raise InvalidRequestError(f"predictions: expected a {REQUEST_ID!r} column to match labels with")
    left = predictions.copy()
    if ROW_INDEX not in left.columns:
        left[ROW_INDEX] = 0
    left[ROW_INDEX] = left[ROW_INDEX].astype("int64")
    present = [c for c in label_names if c in labels.columns]
    if ROW_INDEX not in labels.columns:
        labels = labels.assign(**{ROW_INDEX: 0})
    right = labels[[REQUEST_ID, ROW_INDEX, *present]].rename(columns={c: c + TRUE_SUFFIX for c in present})
    right = right.astype({REQUEST_ID: left[REQUEST_ID].dtype}) if len(right) else right
    right[ROW_INDEX] = right[ROW_INDEX].astype("int64")
    return left.merge(right, on=[REQUEST_ID, ROW_INDEX], how="inner")
