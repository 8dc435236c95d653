"""A self-contained HTML report of one endpoint's traffic and monitoring results.

Charts a person would rather look at than read: predictions and latency over time, the drift of every feature
in every window, the dataset-level verdict per window. plotly.js is embedded once (no CDN: the report opens
with no network).
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

STATUS_NAMES = {-1: "irrelevant", 0: "no_detection", 1: "potential_detection", 2: "detected"}
STATUS_COLOURS = {-1: "#9e9e9e", 0: "#2e7d32", 1: "#f9a825", 2: "#c62828"}


def _figures(events: pd.DataFrame, results: pd.DataFrame, label_columns: list[str]) -> list[tuple[str, Any]]:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    figures: list[tuple[str, Any]] = []
    if not events.empty:
        ev = events.sort_values("timestamp")
        fig = make_subplots(
            rows=2,
            cols=1,
            shared_xaxes=True,
            vertical_spacing=0.08,
            subplot_titles=("Predictions over time", "Latency over time (ms)"),
        )
        for label in label_columns:
            if label in ev:
                fig.add_trace(
                    go.Scatter(x=ev["timestamp"], y=ev[label], mode="markers", name=label, marker={"size": 5}),
                    row=1,
                    col=1,
                )
        fig.add_trace(
            go.Scatter(
                x=ev["timestamp"],
                y=ev["latency"] / 1000.0,
                mode="markers",
                name="latency (ms)",
                marker={"size": 4, "color": "#546e7a"},
            ),
            row=2,
            col=1,
        )
        fig.update_layout(height=520, margin={"t": 60, "l": 50, "r": 20, "b": 40}, legend={"orientation": "h"})
        figures.append(("Traffic", fig))

    if not results.empty:
        res = results.copy()
        res["window"] = res["start_infer_time"].map(_fmt_time) + " → " + res["end_infer_time"].map(_fmt_time)
        per_feature = res[res["result_extra_data"].map(lambda d: isinstance(d, Mapping) and "feature" in d)].copy()
        if not per_feature.empty:
            per_feature["feature"] = per_feature["result_extra_data"].map(lambda d: str(d["feature"]))
            value = per_feature.pivot_table(index="feature", columns="window", values="result_value", aggfunc="max")
            status = per_feature.pivot_table(index="feature", columns="window", values="result_status", aggfunc="max")
            text = [
                [
                    f"{v:.2f}<br>{STATUS_NAMES.get(int(s), '?')}" if pd.notna(v) else ""
                    for v, s in zip(value.loc[f], status.loc[f], strict=True)
                ]
                for f in value.index
            ]
            heat = go.Figure(
                go.Heatmap(
                    z=value.values,
                    x=list(value.columns),
                    y=list(value.index),
                    text=text,
                    texttemplate="%{text}",
                    colorscale=[[0, "#e8f5e9"], [0.5, "#fff59d"], [0.7, "#ffab91"], [1, "#c62828"]],
                    zmin=0,
                    zmax=1,
                    colorbar={"title": "drift"},
                )
            )
            heat.update_layout(
                title="Drift per feature per window (mean of TVD and Hellinger)",
                height=140 + 60 * len(value.index),
                margin={"t": 60, "l": 140, "r": 20, "b": 60},
            )
            figures.append(("Drift per feature", heat))

        overall = res[res["result_name"] == "general_drift"]
        if not overall.empty:
            bars = go.Figure(
                go.Bar(
                    x=overall["window"],
                    y=overall["result_value"],
                    marker_color=[STATUS_COLOURS.get(int(s), "#9e9e9e") for s in overall["result_status"]],
                    text=[STATUS_NAMES.get(int(s), "?") for s in overall["result_status"]],
                    textposition="outside",
                )
            )
            bars.add_hline(y=0.5, line_dash="dot", annotation_text="potential (0.5)")
            bars.add_hline(y=0.7, line_dash="dash", annotation_text="detected (0.7)")
            bars.update_layout(
                title="general_drift per window (MLRun's verdict)",
                yaxis={"range": [0, 1.1]},
                height=380,
                margin={"t": 60, "l": 50, "r": 20, "b": 60},
            )
            figures.append(("Verdict per window", bars))
    return figures


def _kind_name(value: Any) -> str:
    from driftline.schemas import ResultKind

    try:
        return ResultKind(int(value)).name.replace("_", " ")
    except ValueError:
        return str(value)


def _fmt_time(value: Any) -> str:
    return pd.Timestamp(value).strftime("%H:%M:%S")


def _summary_table(summary: Mapping[str, Any]) -> str:
    rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_cell(v))}</td></tr>" for k, v in summary.items()
    )
    return f"<table class='summary'>{rows}</table>"


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def _results_table(results: pd.DataFrame) -> str:
    if results.empty:
        return "<p>No results yet.</p>"
    head = "".join(f"<th>{c}</th>" for c in ("window start", "application", "result", "value", "status", "kind"))
    body = []
    for row in results.sort_values(["start_infer_time", "application_name", "result_name"]).itertuples():
        colour = STATUS_COLOURS.get(int(row.result_status), "#9e9e9e")
        body.append(
            "<tr>"
            f"<td>{html.escape(_fmt_time(row.start_infer_time))}</td>"
            f"<td>{html.escape(str(row.application_name))}</td>"
            f"<td>{html.escape(str(row.result_name))}</td>"
            f"<td>{row.result_value:.4f}</td>"
            f"<td style='color:{colour};font-weight:600'>{STATUS_NAMES.get(int(row.result_status), '?')}</td>"
            f"<td>{_kind_name(row.result_kind)}</td>"
            "</tr>"
        )
    return f"<table class='results'><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def write_report(
    path: Path,
    *,
    title: str,
    summary: Mapping[str, Any],
    events: pd.DataFrame,
    results: pd.DataFrame,
    label_columns: list[str],
) -> Path:
    """Write the report; returns its path."""
    import plotly.io as pio

    sections = []
    first = True
    for heading, fig in _figures(events, results, label_columns):
        chart = pio.to_html(fig, include_plotlyjs=first, full_html=False, config={"displaylogo": False})
        first = False
        sections.append(f"<section><h2>{html.escape(heading)}</h2>{chart}</section>")
    document = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
 body {{ font-family: system-ui, -apple-system, Segoe UI, sans-serif; margin: 24px auto; max-width: 1100px;
        color: #212121; }}
 h1 {{ font-weight: 600; }} h2 {{ font-weight: 500; border-bottom: 1px solid #ddd; padding-bottom: 4px; }}
 table {{ border-collapse: collapse; margin: 8px 0 16px; }}
 th, td {{ padding: 4px 10px; border-bottom: 1px solid #eee; text-align: left; font-size: 14px; }}
 table.summary th {{ color: #555; font-weight: 500; }}
</style></head>
<body>
<h1>{html.escape(title)}</h1>
<section><h2>Endpoint</h2>{_summary_table(summary)}</section>
{"".join(sections)}
<section><h2>All results</h2>{_results_table(results)}</section>
</body></html>
"""
    path.write_text(document, encoding="utf-8")
    return path
