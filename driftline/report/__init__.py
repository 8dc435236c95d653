"""Offline HTML reports: an endpoint over a time range (``driftline report``, ``project.report(...)``) or an offline
evaluation (``driftline evaluate ... --report``, ``Evaluation.report(...)``).

One HTML file, charts as inline SVG (:mod:`driftline.report.svg`), no script and no external resource, so it opens
offline and can be mailed or attached to a ticket. What it shows is in :mod:`driftline.report.document`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from driftline.report.document import ReportInput, render_report, write_report

if TYPE_CHECKING:
    from driftline.applications.evaluate import Evaluation
    from driftline.sdk.project import Project

__all__ = ["ReportInput", "endpoint_report", "evaluation_report", "render_report", "write_report"]


def endpoint_report(
    project: Project,
    path: str | Path,
    *,
    model: str | None = None,
    endpoint: str | None = None,
    start: datetime | str | None = None,
    end: datetime | str | None = None,
) -> Path:
    """Write the report of one model endpoint (by ``endpoint`` name/id, else the endpoint serving ``model``) to
    ``path``: the windows within ``[start, end]`` and the rows of that range. An open side takes everything the
    endpoint has on that side (its first request, its last window or now, whichever is later)."""
    import pandas as pd

    from driftline import clock
    from driftline.applications.data import read_window
    from driftline.aws.registry import Registry, parse_model_uri
    from driftline.errors import InvalidRequestError, NotFoundError
    from driftline.schemas import parse_time

    if not endpoint and not model:
        raise InvalidRequestError("report: expected model=<model name> or endpoint=<endpoint name or id>")
    record = project._endpoint_record(endpoint or model or "")
    if model and endpoint and record.name != model:
        raise InvalidRequestError(
            f"report: endpoint {endpoint!r} serves model {record.name!r}, not {model!r}; pass one of the two"
        )
    low = parse_time(start, "start") if start is not None else None
    high = parse_time(end, "end") if end is not None else None
    if low is not None and high is not None and low >= high:
        raise InvalidRequestError(f"report: start {low.isoformat()} must be before end {high.isoformat()}")
    results = project.get_results(record.endpoint_id, start=low, end=high)
    metrics = project.get_metrics(record.endpoint_id, start=low, end=high)
    # the rows: the range asked for; an open side reaches the endpoint's first/last request and every window
    # with results (the local stack's clock may run ahead of this machine's)
    known = [parse_time(t, "time") for t in (record.first_request, record.last_request) if t]
    if len(results):
        known += [
            parse_time(results["start_infer_time"].min(), "time"),
            parse_time(results["end_infer_time"].max(), "time"),
        ]
    rows_low = low or min(known, default=clock.now() - timedelta(days=1))
    rows_high = high or max([*known, clock.now()]) + timedelta(microseconds=1)
    events = read_window(project.clients, record.endpoint_id, rows_low, rows_high) if rows_low < rows_high else None
    try:
        owner, name, tag = parse_model_uri(record.model_uri)
        model_record = Registry(project.clients).get_model(owner, name, record.model_version or tag)
        profile = {**model_record.feature_stats, **model_record.label_stats}
        features, labels = list(model_record.feature_names), list(model_record.label_names)
    except NotFoundError:
        profile, features, labels = {}, list(record.feature_names), list(record.label_names)
    summary = {
        "project": project.name,
        "endpoint": f"{record.function_name}/{record.name} ({record.endpoint_id})",
        "model": record.model_uri,
        "range (UTC)": f"{rows_low:%Y-%m-%d %H:%M:%S} to {rows_high:%Y-%m-%d %H:%M:%S}",
        "rows in range": 0 if events is None else len(events),
        "windows with results": int(results[["start_infer_time"]].drop_duplicates().shape[0]) if len(results) else 0,
        "applications": ", ".join(sorted(set(results["application_name"]))) if len(results) else "none",
        "reference profile": "yes" if profile else "no (model logged without a training set)",
    }
    report = ReportInput(
        title=f"driftline report: {project.name} / {record.name}",
        summary=summary,
        results=results,
        metrics=metrics,
        events=events if isinstance(events, pd.DataFrame) else pd.DataFrame(),
        feature_names=features,
        label_names=labels,
        profile=profile,
    )
    return write_report(path, report)


def evaluation_report(evaluation: Evaluation, path: str | Path, title: str | None = None) -> Path:
    """Write the report of an offline evaluation (:func:`driftline.evaluate`) to ``path``."""
    import pandas as pd

    results = evaluation.results_frame()
    metrics = evaluation.metrics_frame()
    model = evaluation.model
    sample = evaluation.sample
    if sample is not None and sample.has_timestamps:
        events = sample.window_frame(None, None)
        if sample.timestamp_column != "timestamp":
            events = events.rename(columns={sample.timestamp_column: "timestamp"})
    else:
        events = pd.DataFrame()

    def window_rows(start: Any, end: Any) -> pd.DataFrame:
        if sample is None:
            return pd.DataFrame()
        if not sample.has_timestamps:
            return sample.window_frame(None, None)
        return sample.window_frame(pd.Timestamp(start).to_pydatetime(), pd.Timestamp(end).to_pydatetime())

    profile = {**model.feature_stats, **model.label_stats} if model is not None else {}
    first = evaluation.windows[0].start_infer_time if evaluation.windows else ""
    last = evaluation.windows[-1].end_infer_time if evaluation.windows else ""
    summary = {
        "application": evaluation.application_name,
        "windows": len(evaluation),
        "rows per window": evaluation.rows,
        "rows outside complete windows": evaluation.rows_outside,
        "range (UTC)": f"{first} to {last}",
        "reference profile": "yes" if profile else "no",
    }
    report = ReportInput(
        title=title or f"driftline evaluate: {evaluation.application_name}",
        summary=summary,
        results=results.assign(endpoint_id="offline"),
        metrics=metrics,
        events=events,
        feature_names=list(model.feature_names) if model is not None else [],
        label_names=list(model.label_names) if model is not None else [],
        profile=profile,
        window_rows=window_rows,
    )
    return write_report(path, report)
