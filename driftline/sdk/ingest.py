"""``Project.log_inferences`` / ``record_results``: rows scored elsewhere, sent to the serving HTTP API's ingest
route (``POST /v2/models/{name}/events``, :mod:`driftline.ingest`).

Through the API rather than straight to Kinesis: the serving function is the one place that checks rows against
the model's record and builds inference events (the stream reads what it writes), and the SDK's principal keeps
no right to write the stream (``execute-api:Invoke`` only; ``driftline/deploy/functions.py``), so a user can
not put records the stream would have to refuse. A document is cut into requests of ``chunk_rows`` rows (under
Lambda's 6 MB request payload); each is recognised by its receipt when sent again, so calling again with the
same rows after a failure does not store them twice.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from driftline.errors import InvalidRequestError
from driftline.schemas import to_iso

if TYPE_CHECKING:
    from driftline.sdk.project import Project

CHUNK_ROWS = 5_000


def log_inferences(
    project: Project,
    model_name: str,
    data: Any,
    predictions: Any = None,
    *,
    timestamps: Any = None,
    request_ids: Any = None,
    scores: Any = None,
    classes: Sequence[Any] | None = None,
    model_version: str | int | None = None,
    function: str = "serving",
    chunk_rows: int = CHUNK_ROWS,
) -> dict[str, Any]:
    """Send rows a model served elsewhere scored. ``data``: a DataFrame (the model's feature columns are taken
    from it), a list of records (dicts keyed by feature) or of rows. ``predictions``, ``timestamps``,
    ``request_ids``: a column name of ``data`` or one value per row (``timestamps`` also one time for all); when
    ``predictions`` is left out, the model's label column of ``data`` is used, and ``timestamps`` a
    ``timestamp`` column if there is one. ``scores``: column names, or one row of class scores per row (then
    ``classes`` names the classes, unless the model was logged with them); left out, the model's score columns
    (``proba_<class>``) of ``data`` are used if present. Returns what was stored."""
    record = project.get_model(model_name, str(model_version) if model_version is not None else "latest")
    frame = _frame_of(data, record.feature_names)
    n = len(frame)
    label = record.label_names[0] if record.label_names else "prediction"
    if predictions is None:
        if label not in frame.columns:
            raise InvalidRequestError(
                f"log_inferences: no predictions: pass predictions=... or give data a {label!r} column (the model's "
                "label)"
            )
        predictions = label
    document: dict[str, Any] = {
        "inputs": _cells(frame[list(record.feature_names)]),
        "outputs": _values(_column_or_values(frame, predictions, n, "predictions")),
    }
    if timestamps is None and "timestamp" in frame.columns:
        timestamps = "timestamp"
    if timestamps is not None:
        document["timestamps"] = _times(frame, timestamps, n)
    if request_ids is not None:
        document["request_ids"] = [str(v) for v in _column_or_values(frame, request_ids, n, "request_ids")]
    if scores is None and record.score_names and all(c in frame.columns for c in record.score_names):
        scores = list(record.score_names)
    if scores is not None:
        document["scores"], classes = _scores_part(frame, scores, classes, record.score_names)
    if classes is not None:
        document["classes"] = _values(list(classes))
    document["model_version"] = record.version
    if chunk_rows < 1:
        raise InvalidRequestError(f"chunk_rows: expected a whole number >= 1, got {chunk_rows}")
    return _send(project, function, model_name, record.version, document, n, chunk_rows)


def _frame_of(data: Any, feature_names: Sequence[str]) -> Any:
    """``data`` as a DataFrame holding every feature of the model, or a clear refusal."""
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        frame = data
    elif isinstance(data, list) and data and isinstance(data[0], Mapping):
        frame = pd.DataFrame.from_records(data)
    elif isinstance(data, list) and data and isinstance(data[0], list | tuple):
        frame = pd.DataFrame([list(r) for r in data], columns=list(feature_names) or None)
    else:
        raise InvalidRequestError(
            f"log_inferences: data must be a DataFrame, a list of records or a list of rows, got {type(data).__name__}"
        )
    if frame.empty:
        raise InvalidRequestError("log_inferences: data has no rows")
    missing = [name for name in feature_names if name not in frame.columns]
    if missing:
        raise InvalidRequestError(
            f"log_inferences: data lacks the model's features {missing}; "
            f"its columns are {[str(c) for c in frame.columns]}"
        )
    return frame


def _scores_part(
    frame: Any, scores: Any, classes: Sequence[Any] | None, score_names: Sequence[str]
) -> tuple[list[list[Any]], Sequence[Any] | None]:
    """The document's ``scores`` (from columns of ``frame`` or one row per row), and the classes to send."""
    if isinstance(scores, list | tuple) and scores and all(isinstance(c, str) for c in scores):
        missing = [c for c in scores if c not in frame.columns]
        if missing:
            raise InvalidRequestError(f"log_inferences: score columns {missing} are not columns of data")
        if classes is None and list(scores) != list(score_names):
            from driftline.scores import class_of

            classes = [class_of(c) for c in scores]
        return _cells(frame[list(scores)]), classes
    rows = [list(map(_value, r)) for r in scores]
    if len(rows) != len(frame):
        raise InvalidRequestError(f"log_inferences: scores has {len(rows)} rows for {len(frame)} rows of data")
    return rows, classes


def _send(
    project: Project, function: str, model_name: str, version: str, document: dict[str, Any], n: int, chunk_rows: int
) -> dict[str, Any]:
    """The document to the ingest route in chunks of ``chunk_rows`` rows; the totals of the answers."""
    from driftline.sdk.serving import ServingFunction

    fn = ServingFunction(function, project=project.name, settings=project.settings)
    totals: dict[str, Any] = {"model_name": model_name, "model_version": version, "rows": 0, "requests": 0}
    totals |= {"chunks": 0, "duplicates": 0}
    for start in range(0, n, chunk_rows):
        stop = min(n, start + chunk_rows)
        chunk = {k: v[start:stop] if isinstance(v, list) and k != "classes" else v for k, v in document.items()}
        answer = fn.invoke(f"v2/models/{model_name}/events", chunk, timeout=60.0)
        totals["endpoint_id"] = answer["endpoint_id"]
        totals["rows"] += answer["rows"]
        totals["requests"] += answer["requests"]
        totals["chunks"] += 1
        totals["duplicates"] += 1 if answer.get("duplicate") else 0
    return totals


def _value(value: Any) -> Any:
    """A JSON value: numpy scalars as Python's, NaN/NaT/None as null, times as ISO strings."""
    item = getattr(value, "item", None)
    if callable(item) and not isinstance(value, datetime):
        value = item()
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, datetime):
        return to_iso(value)
    try:
        import pandas as pd

        if value is pd.NaT or (not isinstance(value, list | tuple | dict | str) and pd.isna(value)):
            return None
    except (TypeError, ValueError):
        pass
    return value


def _values(values: Sequence[Any]) -> list[Any]:
    return [[_value(v) for v in value] if isinstance(value, list | tuple) else _value(value) for value in values]


def _cells(frame: Any) -> list[list[Any]]:
    return [[_value(v) for v in row] for row in frame.itertuples(index=False, name=None)]


def _column_or_values(frame: Any, given: Any, n: int, what: str) -> list[Any]:
    if isinstance(given, str):
        if given not in frame.columns:
            raise InvalidRequestError(f"log_inferences: {what}={given!r} is not a column of data")
        return list(frame[given])
    values = list(given)
    if len(values) != n:
        raise InvalidRequestError(f"log_inferences: {what} has {len(values)} values for {n} rows of data")
    return values


def _times(frame: Any, given: Any, n: int) -> Any:
    import pandas as pd

    if isinstance(given, datetime):
        return _time(given)
    values = _column_or_values(frame, given, n, "timestamps")
    return [_time(pd.Timestamp(v).to_pydatetime() if not isinstance(v, str) else v) for v in values]


def _time(value: Any) -> str:
    if isinstance(value, str):
        return value
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InvalidRequestError(
            f"log_inferences: timestamps must be timezone-aware times (or ISO 8601 strings with an offset), got "
            f"{value!r:.60}"
        )
    return to_iso(value)


def record_results(
    project: str | Project,
    model_path: str,
    model_endpoint_name: str,
    infer_results_df: Any,
    *,
    label_columns: str | Sequence[str] | None = None,
    timestamp_column: str | None = None,
    function_name: str = "serving",
) -> dict[str, Any]:
    """MLRun's ``mlrun.model_monitoring.api.record_results``: monitor the results of an inference run outside a
    serving function. ``infer_results_df`` holds the model's features and its prediction column(s)
    (``label_columns``, default the model's label); ``model_path`` (``store://models/{project}/{name}:{version}``)
    names the logged model, ``model_endpoint_name`` the endpoint (the model's name). Sent through
    :func:`log_inferences`."""
    from driftline.aws.registry import parse_model_uri
    from driftline.sdk.project import Project, get_project

    proj = project if isinstance(project, Project) else get_project(project)
    model_project, key, version = parse_model_uri(model_path)
    if model_project != proj.name or key != model_endpoint_name:
        raise InvalidRequestError(
            f"record_results: model_path {model_path!r} must name a model of project {proj.name!r} called "
            f"{model_endpoint_name!r} (the endpoint is named after its model here)"
        )
    labels = [label_columns] if isinstance(label_columns, str) else list(label_columns or [])
    predictions: Any = None
    if len(labels) == 1:
        predictions = labels[0]
    elif len(labels) > 1:
        predictions = [list(r) for r in infer_results_df[labels].itertuples(index=False, name=None)]
    return log_inferences(
        proj,
        model_endpoint_name,
        infer_results_df,
        predictions,
        timestamps=timestamp_column,
        model_version=version,
        function=function_name,
    )
