"""The report document: one HTML file with inline SVG charts (:mod:`driftline.report.svg`), no script, no external
resource.

Sections, each drawn from data any app produces (nothing here knows an app by name):

* the summary (endpoint or evaluation, time range);
* traffic, when the rows are at hand: each label column's predictions over time (a class label gets whole-number
  ticks, one per class) and the latency;
* results over time, per application and result: the value per window (marker colour = status), a band when the
  result's ``extra_data`` holds one (``band: [lo, hi]``, a pair of keys ``lower``/``upper`` such as
  ``lower_bound``/``upper_bound``, or a two-number ``threshold`` range), horizontal lines for numeric thresholds
  (``threshold: x`` or ``{name: x}``, ``reference_value``), a ``realized`` series beside an estimate, and the
  result's ``extra_data`` per window in a table; the value axis is titled with the result's name and unit
  (``extra_data["unit"]``, else read from the name's suffix: ``_ms``, ``_s``, ``_pct``..., else "no unit");
* metrics over time, the same way;
* per drifted column (a result whose ``extra_data`` names a ``feature`` and whose status is potential or detected),
  the window's distribution against the reference: a histogram on the reference profile's bins (plus the two
  outer bins MLRun's drift app counts: below the training minimum, above its maximum) for numbers, bars per
  category for categories;
* every result in one table.
"""

from __future__ import annotations

import html
import itertools
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from driftline.report.svg import CATEGORY, TIME, Axis, Band, Chart, HLine, Series, render

STATUS_NAMES = {-1: "irrelevant", 0: "no_detection", 1: "potential_detection", 2: "detected"}
STATUS_COLOURS = {-1: "#9e9e9e", 0: "#2e7d32", 1: "#f9a825", 2: "#c62828"}
REFERENCE_COLOUR = "#90a4ae"
WINDOW_COLOUR = "#1565c0"
MAX_CLASSES = 30  # a label with at most this many whole-number values is drawn as classes
MAX_CATEGORIES = 25
UNIT_SUFFIXES = (
    ("_ms", "ms"),
    ("_us", "µs"),
    ("_seconds", "s"),
    ("_s", "s"),
    ("_pct", "%"),
    ("_percent", "%"),
    ("_rows", "rows"),
    ("_count", "count"),
)
TIME_COLUMN = "timestamp"


@dataclass
class ReportInput:
    """What a report shows. ``results`` has MLRun's result columns (``result_extra_data`` a dict or its JSON),
    ``metrics`` the metric columns, ``events`` the rows of the range (``timestamp``, ``latency`` in µs, feature and
    label columns; may be empty), ``profile`` the reference profile of features and labels
    (``feature_stats | label_stats``)."""

    title: str
    summary: Mapping[str, Any]
    results: pd.DataFrame
    metrics: pd.DataFrame = field(default_factory=pd.DataFrame)
    events: pd.DataFrame = field(default_factory=pd.DataFrame)
    feature_names: Sequence[str] = ()
    label_names: Sequence[str] = ()
    profile: Mapping[str, Any] = field(default_factory=dict)
    windows_per_feature: int = 3  # the most recent drifted windows shown per drifted column
    # a window's rows for the drift histograms (default: ``events`` cut by ``timestamp``)
    window_rows: Callable[[Any, Any], pd.DataFrame] | None = None
    traffic_limit: int = 5000  # the traffic charts draw at most this many rows, evenly spaced


# ------------------------------------------------------------------------------------------------ helpers


def _extra(value: Any) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, str) and value:
        try:
            loaded = json.loads(value)
        except ValueError:
            return {"extra_data": value}
        return dict(loaded) if isinstance(loaded, Mapping) else {"extra_data": loaded}
    return {}


def _utc(series: pd.Series) -> pd.Series:
    return (
        pd.to_datetime(series, utc=True, format="ISO8601")
        if series.dtype == object
        else pd.to_datetime(series, utc=True)
    )


def _seconds(series: pd.Series) -> list[float]:
    return [t.timestamp() for t in _utc(series)]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _pair(value: Any) -> tuple[float, float] | None:
    if isinstance(value, list | tuple) and len(value) == 2:
        lo, hi = _number(value[0]), _number(value[1])
        if lo is not None and hi is not None:
            return lo, hi
    return None


def unit_of(result_name: str, extra: Mapping[str, Any]) -> str:
    """The unit a value is in: ``extra_data["unit"]``, else the name's suffix (``latency_p95_ms`` -> ms), else
    ``no unit``."""
    unit = extra.get("unit")
    if isinstance(unit, str) and unit.strip():
        return unit.strip()
    for suffix, name in UNIT_SUFFIXES:
        if result_name.endswith(suffix):
            return name
    return "no unit"


_BOUND = re.compile(r"^(?P<pre>.*?)(?P<side>lower|upper)(?P<post>.*)$")


def band_of(extra: Mapping[str, Any]) -> tuple[str, float, float] | None:
    """A range the value is judged against or estimated within: ``band: [lo, hi]``, keys ``*lower*``/``*upper*``
    with the same rest (``lower``/``upper``, ``lower_bound``/``upper_bound``, ``ci_lower``/``ci_upper``), or a
    ``threshold`` given as ``[lo, hi]``."""
    if (pair := _pair(extra.get("band"))) is not None:
        return "band", *pair
    sides: dict[tuple[str, str], dict[str, float]] = {}
    for key, value in extra.items():
        match = _BOUND.match(str(key))
        number = _number(value)
        if match and number is not None:
            sides.setdefault((match["pre"], match["post"]), {})[match["side"]] = number
    for (pre, post), found in sides.items():
        if "lower" in found and "upper" in found:
            name = f"{pre}lower/upper{post}".strip("_") if pre or post else "lower/upper"
            return name, found["lower"], found["upper"]
    for key in ("threshold", "thresholds", "confidence_interval", "ci"):
        if (pair := _pair(extra.get(key))) is not None:
            return key, *pair
    return None


def lines_of(extra: Mapping[str, Any]) -> dict[str, float]:
    """Numeric thresholds to draw as horizontal lines: ``threshold`` (a number, or a mapping of names to numbers)
    and ``reference_value``."""
    out: dict[str, float] = {}
    for key in ("threshold", "thresholds"):
        value = extra.get(key)
        if (number := _number(value)) is not None:
            out[key] = number
        elif isinstance(value, Mapping):
            out.update((str(k), n) for k, v in value.items() if (n := _number(v)) is not None)
    if (number := _number(extra.get("reference_value"))) is not None:
        out["reference"] = number
    return out


def class_values(values: pd.Series) -> list[int] | None:
    """The classes of a column whose every value is a whole number (at most ``MAX_CLASSES`` of them), else None."""
    numbers = pd.to_numeric(values, errors="coerce").dropna()
    if numbers.empty or not np.all(np.isfinite(numbers)) or not np.all(numbers == np.round(numbers)):
        return None
    classes = sorted({int(v) for v in numbers})
    return classes if len(classes) <= MAX_CLASSES else None


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list | dict):
        text = json.dumps(value, default=str)
        return text if len(text) <= 120 else text[:117] + "..."
    return str(value)


def _tip(when: str, value: float, status: int | None, extra: Mapping[str, Any]) -> str:
    head = f"{when}: {value:.6g}" + (f" ({STATUS_NAMES.get(status, status)})" if status is not None else "")
    scalars = [f"{k}: {_short(v)}" for k, v in extra.items() if not isinstance(v, list | dict)]
    return "\n".join([head, *scalars[:12]])


def _slug(text: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_-]+", "-", text).strip("-") or "x"


# ------------------------------------------------------------------------------------------------ sections


def traffic_charts(report: ReportInput) -> list[str]:
    events = report.events
    if events.empty or TIME_COLUMN not in events.columns:
        return []
    events = events.sort_values(TIME_COLUMN)
    if len(events) > report.traffic_limit:
        step = len(events) / report.traffic_limit
        events = events.iloc[[int(i * step) for i in range(report.traffic_limit)]]
    x = _seconds(events[TIME_COLUMN])
    charts = []
    for label in report.label_names:
        if label not in events.columns:
            continue
        values = pd.to_numeric(events[label], errors="coerce")
        classes = class_values(values)
        kind = "predicted class" if classes is not None else "predicted value"
        y_axis = Axis(f"{label} ({kind})", integer=classes is not None)
        if classes is not None:
            y_axis.low, y_axis.high = min(classes) - 0.5, max(classes) + 0.5
        tips = [f"{t:%Y-%m-%d %H:%M:%S} UTC: {v}" for t, v in zip(_utc(events[TIME_COLUMN]), values, strict=True)]
        charts.append(
            render(
                Chart(
                    f"Predictions over time: {label}",
                    Axis("time (UTC)", TIME),
                    y_axis,
                    [Series(label, x, values.tolist(), mode="markers", tips=tips)],
                )
            )
        )
    if "latency" in events.columns:
        latency = (pd.to_numeric(events["latency"], errors="coerce") / 1000.0).tolist()
        charts.append(
            render(
                Chart(
                    "Latency over time",
                    Axis("time (UTC)", TIME),
                    Axis("latency (ms)"),
                    [Series("latency", x, latency, mode="markers", colour="#546e7a")],
                )
            )
        )
    return charts


def _extra_table(rows: pd.DataFrame, extras: list[dict[str, Any]]) -> str:
    keys: list[str] = []
    for extra in extras:
        keys += [k for k in extra if k not in keys]
    if not keys:
        return ""
    head = "".join(f"<th>{html.escape(k)}</th>" for k in ["window end", *keys])
    body = []
    for end, extra in zip(_utc(rows["end_infer_time"]), extras, strict=True):
        cells = "".join(f"<td>{html.escape(_short(extra[k])) if k in extra else ''}</td>" for k in keys)
        body.append(f"<tr><td>{end:%Y-%m-%d %H:%M:%S}</td>{cells}</tr>")
    return (
        "<details><summary>extra_data per window</summary><table class='extra'>"
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></details>"
    )


def result_chart(app: str, name: str, rows: pd.DataFrame, value_column: str, status_column: str | None) -> str:
    """One result's (or metric's) value per window, with its band, thresholds and extra series."""
    rows = rows.sort_values("end_infer_time")
    x = _seconds(rows["end_infer_time"])
    values = pd.to_numeric(rows[value_column], errors="coerce").tolist()
    extras = [_extra(v) for v in rows["result_extra_data"]] if "result_extra_data" in rows else [{} for _ in x]
    statuses = [int(s) for s in rows[status_column]] if status_column else [None] * len(x)
    whens = [f"{t:%Y-%m-%d %H:%M:%S} UTC" for t in _utc(rows["end_infer_time"])]
    tips = [_tip(w, v, s, e) for w, v, s, e in zip(whens, values, statuses, extras, strict=True)]
    colours = [STATUS_COLOURS.get(s, "#9e9e9e") if s is not None else "#9e9e9e" for s in statuses]
    unit = next((u for e in extras if (u := unit_of(name, e)) != "no unit"), unit_of(name, {}))
    integer = all(v is not None and math.isfinite(v) and float(v).is_integer() for v in values) and not any(
        band_of(e) for e in extras
    )
    series = [Series(name, x, values, point_colours=colours, tips=tips, colour="#1565c0")]
    realized = [_number(e.get("realized")) for e in extras]
    if any(r is not None for r in realized):
        series.append(Series("realized", x, realized, colour="#6a1b9a"))
        integer = False
    bands = []
    found = [band_of(e) for e in extras]
    if any(found):
        label = next(b[0] for b in found if b)
        bx = [xi for xi, b in zip(x, found, strict=True) if b]
        bands.append(Band(label, bx, [b[1] for b in found if b], [b[2] for b in found if b]))
    lines = []
    latest_lines = next((lines_of(e) for e in reversed(extras) if lines_of(e)), {})
    for i, (line_name, y) in enumerate(latest_lines.items()):
        colour = {"potential_detection": "#f9a825", "detected": "#c62828"}.get(line_name, "#757575")
        lines.append(HLine(line_name, y, colour, "6 4" if i % 2 == 0 else "2 3"))
    chart = Chart(
        f"{app} / {name}",
        Axis("window end (UTC)", TIME),
        Axis(f"{name} ({unit})", integer=integer),
        series,
        bands,
        lines,
        height=280,
    )
    return render(chart) + _extra_table(rows, extras)


def results_sections(report: ReportInput) -> str:
    results = report.results
    if results.empty:
        return "<section id='results-over-time'><h2>Results over time</h2><p>No results in this range.</p></section>"
    parts = ["<section id='results-over-time'><h2>Results over time</h2>"]
    for app, rows in results.groupby("application_name", sort=True):
        parts.append(f"<h3 id='app-{_slug(str(app))}'>{html.escape(str(app))}</h3>")
        for name, group in rows.groupby("result_name", sort=False):
            parts.append(
                f"<div class='result' id='result-{_slug(str(app))}-{_slug(str(name))}'>"
                + result_chart(str(app), str(name), group, "result_value", "result_status")
                + "</div>"
            )
    parts.append("</section>")
    metrics = report.metrics
    if not metrics.empty:
        parts.append("<section id='metrics-over-time'><h2>Metrics over time</h2>")
        for app, rows in metrics.groupby("application_name", sort=True):
            parts.append(f"<h3>{html.escape(str(app))}</h3>")
            for name, group in rows.groupby("metric_name", sort=False):
                parts.append(
                    f"<div class='metric' id='metric-{_slug(str(app))}-{_slug(str(name))}'>"
                    + result_chart(str(app), str(name), group, "metric_value", None)
                    + "</div>"
                )
        parts.append("</section>")
    return "".join(parts)


def _window_rows(events: pd.DataFrame, start: Any, end: Any) -> pd.DataFrame:
    if events.empty or TIME_COLUMN not in events.columns:
        return events.iloc[0:0]
    stamps = _utc(events[TIME_COLUMN])
    low, high = pd.Timestamp(start), pd.Timestamp(end)
    low = low.tz_localize("UTC") if low.tzinfo is None else low
    high = high.tz_localize("UTC") if high.tzinfo is None else high
    return events[(stamps >= low) & (stamps < high)]


def distribution_chart(column: str, stats: Mapping[str, Any], window: pd.Series, caption: str) -> str | None:
    """The window's distribution against the reference on the reference profile's bins (numbers) or categories."""
    hist = stats.get("hist")
    if hist:
        counts = np.asarray(hist[0], dtype=float)
        edges = np.asarray(hist[1], dtype=float)
        values = pd.to_numeric(window, errors="coerce").to_numpy(dtype=float)
        values = values[~np.isnan(values)]
        if counts.sum() <= 0 or edges.size != counts.size + 1:
            return None
        # MLRun's binning: [e_i, e_i+1), the last inner bin closed, the two outer bins for values out of range
        inner = np.histogram(np.clip(values, edges[0], edges[-1]), bins=edges)[0].astype(float)
        below, above = float(np.sum(values < edges[0])), float(np.sum(values > edges[-1]))
        inner[0] -= below
        inner[-1] -= above
        window_counts = np.concatenate(([below], inner, [above]))
        share_w = window_counts / max(values.size, 1)
        share_r = np.concatenate(([0.0], counts, [0.0])) / counts.sum()
        width = float(np.median(np.diff(edges))) or 1.0
        centres = np.concatenate(
            ([edges[0] - width / 2], (edges[:-1] + edges[1:]) / 2, [edges[-1] + width / 2])
        ).tolist()
        widths = [width, *np.diff(edges).tolist(), width]
        names = [f"below {edges[0]:.4g}"] + [f"[{lo:.4g}, {hi:.4g})" for lo, hi in itertools.pairwise(edges)]
        names[-1] = names[-1][:-1] + "]"
        names.append(f"above {edges[-1]:.4g}")
        classes = class_values(pd.Series(np.concatenate([values, edges[[0, -1]]])))
        chart = Chart(
            f"{column}: window against reference",
            Axis(f"{column} (reference bins; outer bars: outside the training range)", integer=classes is not None),
            Axis("share of rows"),
            [
                Series(
                    "reference",
                    centres,
                    share_r.tolist(),
                    mode="bars",
                    colour=REFERENCE_COLOUR,
                    widths=widths,
                    tips=[f"reference {n}: {s:.3f}" for n, s in zip(names, share_r, strict=True)],
                ),
                Series(
                    f"window ({values.size} rows)",
                    centres,
                    share_w.tolist(),
                    mode="bars",
                    colour=WINDOW_COLOUR,
                    widths=widths,
                    tips=[f"window {n}: {s:.3f}" for n, s in zip(names, share_w, strict=True)],
                ),
            ],
            height=260,
        )
        return render(chart)
    frequencies = stats.get("frequencies")
    if isinstance(frequencies, Mapping) and frequencies:
        reference = pd.Series({str(k): float(v) for k, v in frequencies.items()})
        observed = window.dropna().astype(str).value_counts().astype(float)
        order = list(reference.sort_values(ascending=False).index[:MAX_CATEGORIES])
        order += [c for c in observed.index if c not in order][: max(0, MAX_CATEGORIES - len(order))]
        total_r, total_w = float(reference.sum()) or 1.0, float(observed.sum()) or 1.0
        other_r = float(reference[[c for c in reference.index if c not in order]].sum())
        other_w = float(observed[[c for c in observed.index if c not in order]].sum())
        categories = [*order, *(["(other)"] if other_r or other_w else [])]
        share_r = [float(reference.get(c, 0.0)) / total_r for c in order] + (
            [other_r / total_r] if other_r or other_w else []
        )
        share_w = [float(observed.get(c, 0.0)) / total_w for c in order] + (
            [other_w / total_w] if other_r or other_w else []
        )
        positions = list(range(len(categories)))
        chart = Chart(
            f"{column}: window against reference",
            Axis(f"{column} (category)", CATEGORY, categories=categories),
            Axis("share of rows"),
            [
                Series(
                    "reference", positions, share_r, mode="bars", colour=REFERENCE_COLOUR, widths=[0.8] * len(positions)
                ),
                Series(
                    f"window ({int(total_w)} rows)",
                    positions,
                    share_w,
                    mode="bars",
                    colour=WINDOW_COLOUR,
                    widths=[0.8] * len(positions),
                ),
            ],
            height=260,
        )
        return render(chart)
    return None


def drift_sections(report: ReportInput) -> str:
    results = report.results
    parts = ["<section id='drifted-features'><h2>Drifted features: the window against the reference</h2>"]
    if results.empty:
        return parts[0] + "<p>No results in this range.</p></section>"
    extras = results["result_extra_data"].map(_extra)
    per_column = results.assign(_extra=extras, _feature=extras.map(lambda e: e.get("feature")))
    per_column = per_column[per_column["_feature"].map(lambda f: isinstance(f, str) and bool(f))]
    drifted = per_column[per_column["result_status"].astype(int) >= 1]
    if drifted.empty:
        return parts[0] + "<p>No feature drifted in this range.</p></section>"
    for column in dict.fromkeys(drifted["_feature"]):
        rows = drifted[drifted["_feature"] == column].sort_values("end_infer_time", ascending=False)
        role = rows["_extra"].iloc[0].get("role", "feature")
        parts.append(
            f"<div class='feature' id='feature-{_slug(str(column))}'><h3>{html.escape(str(column))}"
            f" <small>({html.escape(str(role))})</small></h3>"
        )
        stats = report.profile.get(column) or {}
        shown = 0
        seen_windows: set[tuple[str, str]] = set()
        for row in rows.itertuples():
            key = (str(row.start_infer_time), str(row.end_infer_time))
            if key in seen_windows:
                continue
            seen_windows.add(key)
            if shown == report.windows_per_feature:
                break
            start, end = _utc(pd.Series([row.start_infer_time]))[0], _utc(pd.Series([row.end_infer_time]))[0]
            caption = (
                f"window {start:%Y-%m-%d %H:%M:%S} to {end:%H:%M:%S} UTC, {row.application_name} / {row.result_name} "
                f"= {float(row.result_value):.3f} ({STATUS_NAMES.get(int(row.result_status), '?')})"
            )
            loader = report.window_rows or (lambda low, high: _window_rows(report.events, low, high))
            window = loader(row.start_infer_time, row.end_infer_time)
            if column not in window.columns or window.empty:
                parts.append(f"<p>{html.escape(caption)}: the window's rows are not available.</p>")
            elif not stats:
                parts.append(f"<p>{html.escape(caption)}: the reference profile has no entry for this column.</p>")
            else:
                chart = distribution_chart(str(column), stats, window[column], caption)
                parts.append(
                    f"<p class='caption'>{html.escape(caption)}</p>{chart}"
                    if chart
                    else f"<p>{html.escape(caption)}: no histogram or categories in the reference.</p>"
                )
            shown += 1
        more = len({(str(r.start_infer_time), str(r.end_infer_time)) for r in rows.itertuples()}) - shown
        if more > 0:
            parts.append(f"<p class='note'>{more} earlier drifted window(s) not drawn.</p>")
        parts.append("</div>")
    parts.append("</section>")
    return "".join(parts)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}"
    if isinstance(value, list | dict):
        return json.dumps(value, default=str)
    return str(value)


def summary_table(summary: Mapping[str, Any]) -> str:
    rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_cell(v))}</td></tr>" for k, v in summary.items()
    )
    return f"<table class='summary'>{rows}</table>"


def results_table(results: pd.DataFrame) -> str:
    if results.empty:
        return "<p>No results yet.</p>"
    head = "".join(
        f"<th>{c}</th>" for c in ("window start", "window end", "application", "result", "value", "status", "kind")
    )
    body = []
    from driftline.schemas import ResultKind

    def kind_name(value: Any) -> str:
        try:
            return ResultKind(int(value)).name.replace("_", " ")
        except ValueError:
            return str(value)

    for row in results.sort_values(["start_infer_time", "application_name", "result_name"]).itertuples():
        colour = STATUS_COLOURS.get(int(row.result_status), "#9e9e9e")
        start, end = _utc(pd.Series([row.start_infer_time]))[0], _utc(pd.Series([row.end_infer_time]))[0]
        body.append(
            "<tr>"
            f"<td>{start:%Y-%m-%d %H:%M:%S}</td><td>{end:%H:%M:%S}</td>"
            f"<td>{html.escape(str(row.application_name))}</td>"
            f"<td>{html.escape(str(row.result_name))}</td>"
            f"<td>{float(row.result_value):.4f}</td>"
            f"<td style='color:{colour};font-weight:600'>{STATUS_NAMES.get(int(row.result_status), '?')}</td>"
            f"<td>{kind_name(row.result_kind)}</td>"
            "</tr>"
        )
    return f"<table class='results'><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


STYLE = """
 body { font-family: system-ui, -apple-system, Segoe UI, sans-serif; margin: 24px auto; max-width: 1100px;
        color: #212121; padding: 0 12px; }
 h1 { font-weight: 600; } h2 { font-weight: 500; border-bottom: 1px solid #ddd; padding-bottom: 4px; margin-top: 32px; }
 h3 { font-weight: 500; margin-bottom: 4px; }
 table { border-collapse: collapse; margin: 8px 0 16px; }
 th, td { padding: 3px 9px; border-bottom: 1px solid #eee; text-align: left; font-size: 13px; }
 table.summary th { color: #555; font-weight: 500; }
 svg.chart { display: block; margin: 6px 0 2px; font-family: inherit; }
 details { margin: 0 0 12px; font-size: 13px; } details table { display: block; overflow-x: auto; }
 .note { color: #666; font-size: 13px; } .caption { font-size: 13px; margin: 10px 0 0; }
"""


def render_report(report: ReportInput) -> str:
    """The whole report as one HTML document."""
    traffic = traffic_charts(report)
    traffic_html = (
        "<section id='traffic'><h2>Traffic</h2>" + "".join(traffic) + "</section>"
        if traffic
        else "<section id='traffic'><h2>Traffic</h2><p>No rows in this range.</p></section>"
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(report.title)}</title>
<style>{STYLE}</style></head>
<body>
<h1>{html.escape(report.title)}</h1>
<section id='summary'><h2>Summary</h2>{summary_table(report.summary)}</section>
{traffic_html}
{results_sections(report)}
{drift_sections(report)}
<section id='all-results'><h2>All results</h2>{results_table(report.results)}</section>
</body></html>
"""


def write_report(path: str | Path, report: ReportInput) -> Path:
    """Write the report to ``path`` (its folder is created); returns the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_report(report), encoding="utf-8")
    return target
