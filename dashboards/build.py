"""Grafana dashboards as code: MLRun's four monitoring dashboards (overview, details, performance, applications)
on driftline's data sources, Amazon Timestream (the writer's ``app_results`` and ``metrics`` tables) and Amazon
CloudWatch (the functions' EMF metrics, namespace ``driftline``).

A small builder instead of hand-written JSON: panels are laid out on Grafana's 24-column grid by the builder,
every query names its data source through a dashboard variable (so one import works in any workspace), and
the committed ``*.json`` files are exactly this module's output (tests/infra/test_dashboards.py checks it).

    python dashboards/build.py          # rewrite the JSON files
    python dashboards/build.py --check  # exit 1 if a committed file differs from the builder's output
"""

# ruff: noqa: S608 - the SQL here is dashboard text built from constants; Grafana runs it, nothing is user input

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:  # `python dashboards/build.py` from a checkout: the names come from driftline
    sys.path.insert(0, str(HERE.parent))

from driftline.deploy.functions import METRICS_NAMESPACE, SERVICES  # noqa: E402
from driftline.layout import TIMESTREAM_METRICS, TIMESTREAM_RESULTS, Names  # noqa: E402
from driftline.stats.multivariate.classifier import METHOD as CLASSIFIER_AUC  # noqa: E402
from driftline.stats.multivariate.reconstruction import METHOD as PCA_ERROR  # noqa: E402

SCHEMA_VERSION = 39
GRID_WIDTH = 24
TIMESTREAM = {"type": "grafana-timestream-datasource", "uid": "${timestream}"}
CLOUDWATCH = {"type": "cloudwatch", "uid": "${cloudwatch}"}
NAMESPACE = METRICS_NAMESPACE
SERVICE = SERVICES  # the Powertools `service` dimension of each function
DEFAULTS = Names()  # the default stack's names: the text variables' defaults
STACK = Names("$stack")  # names of the stack the `stack` variable holds
RESULTS = f'"$database"."{TIMESTREAM_RESULTS}"'
METRICS = f'"$database"."{TIMESTREAM_METRICS}"'
ENDPOINT_FILTER = "endpoint_id = '$endpoint'"
# MLRun's ResultStatusApp, coloured as its dashboards do
STATUS_MAPPINGS = [
    {
        "type": "value",
        "options": {
            "-1": {"text": "irrelevant", "color": "text", "index": 0},
            "0": {"text": "no detection", "color": "green", "index": 1},
            "1": {"text": "potential detection", "color": "yellow", "index": 2},
            "2": {"text": "detected", "color": "red", "index": 3},
        },
    }
]
KIND_MAPPINGS = [
    {
        "type": "value",
        "options": {
            "0": {"text": "data drift", "index": 0},
            "1": {"text": "concept drift", "index": 1},
            "2": {"text": "model performance", "index": 2},
            "3": {"text": "system performance", "index": 3},
            "4": {"text": "application anomaly", "index": 4},
        },
    }
]
DRIFT_THRESHOLDS = {
    "mode": "absolute",
    "steps": [{"color": "green", "value": None}, {"color": "yellow", "value": 0.5}, {"color": "red", "value": 0.7}],
}


# ------------------------------------------------------------------------------------------------ queries


def timestream(sql: str, ref: str = "A", time_series: bool = False) -> dict[str, Any]:
    """A Timestream target; ``time_series`` rows (time, series labels..., value) become one series per label set."""
    target: dict[str, Any] = {"refId": ref, "datasource": TIMESTREAM, "rawQuery": " ".join(sql.split())}
    if time_series:
        target["_long_to_series"] = True  # marker consumed by Panel (adds the transformation)
    return target


def cloudwatch(
    metric: str,
    dimensions: dict[str, str],
    statistic: str = "Sum",
    ref: str = "A",
    namespace: str = NAMESPACE,
    label: str = "",
) -> dict[str, Any]:
    return {
        "refId": ref,
        "datasource": CLOUDWATCH,
        "queryMode": "Metrics",
        "metricQueryType": 0,
        "metricEditorMode": 0,
        "region": "default",
        "namespace": namespace,
        "metricName": metric,
        "dimensions": dimensions,
        "statistic": statistic,
        "matchExact": True,
        "period": "",
        "id": "",
        "expression": "",
        "label": label or metric,
    }


def service_metric(service: str, metric: str, statistic: str = "Sum", ref: str = "A") -> dict[str, Any]:
    return cloudwatch(metric, {"service": SERVICE[service]}, statistic, ref, label=f"{metric} ({statistic})")


def api_metric(metric: str, statistic: str = "Sum", ref: str = "A") -> dict[str, Any]:
    """The inference HTTP API's own metrics (Count, Latency, IntegrationLatency, 4xx, 5xx): the serving function
    publishes no per-request metric of its own."""
    return cloudwatch(
        metric, {"ApiId": "$api"}, statistic, ref, namespace="AWS/ApiGateway", label=f"API {metric} ({statistic})"
    )


def lambda_metric(function_role: str, metric: str, statistic: str, ref: str = "A") -> dict[str, Any]:
    return cloudwatch(
        metric,
        {"FunctionName": STACK.function(function_role)},
        statistic,
        ref,
        namespace="AWS/Lambda",
        label=f"{function_role} {metric}",
    )


# ------------------------------------------------------------------------------------------------ panels


@dataclass
class Panel:
    title: str
    kind: str  # timeseries, stat, table, text, barchart, piechart
    targets: list[dict[str, Any]] = field(default_factory=list)
    width: int = 12
    height: int = 8
    description: str = ""
    unit: str = ""
    mappings: list[dict[str, Any]] = field(default_factory=list)
    thresholds: dict[str, Any] | None = None
    options: dict[str, Any] = field(default_factory=dict)
    text: str = ""
    overrides: list[dict[str, Any]] = field(default_factory=list)

    def render(self, panel_id: int, x: int, y: int) -> dict[str, Any]:
        defaults: dict[str, Any] = {}
        if self.unit:
            defaults["unit"] = self.unit
        if self.mappings:
            defaults["mappings"] = self.mappings
        if self.thresholds:
            defaults["thresholds"] = self.thresholds
            defaults["color"] = {"mode": "thresholds"}
        panel: dict[str, Any] = {
            "id": panel_id,
            "type": self.kind,
            "title": self.title,
            "gridPos": {"h": self.height, "w": self.width, "x": x, "y": y},
        }
        if self.description:
            panel["description"] = self.description
        if self.kind == "text":
            panel["options"] = {"mode": "markdown", "content": self.text}
            return panel
        datasources = {json.dumps(t["datasource"], sort_keys=True) for t in self.targets}
        panel["datasource"] = (
            json.loads(datasources.pop()) if len(datasources) == 1 else {"type": "datasource", "uid": "-- Mixed --"}
        )
        targets = []
        long_to_series = False
        for target in self.targets:
            target = dict(target)
            long_to_series |= bool(target.pop("_long_to_series", False))
            targets.append(target)
        panel["targets"] = targets
        panel["fieldConfig"] = {"defaults": defaults, "overrides": self.overrides}
        panel["options"] = self.options
        if long_to_series:
            panel["transformations"] = [{"id": "prepareTimeSeries", "options": {"format": "multi"}}]
        return panel


def layout(panels: list[Panel]) -> list[dict[str, Any]]:
    """Left to right, wrapping at 24 columns; a row is as tall as its tallest panel."""
    out: list[dict[str, Any]] = []
    x = y = row_height = 0
    for index, panel in enumerate(panels, start=1):
        if panel.width > GRID_WIDTH:
            raise ValueError(f"panel {panel.title!r} is {panel.width} wide; the grid has {GRID_WIDTH} columns")
        if x + panel.width > GRID_WIDTH:
            x, y, row_height = 0, y + row_height, 0
        out.append(panel.render(index, x, y))
        x += panel.width
        row_height = max(row_height, panel.height)
    return out


# ------------------------------------------------------------------------------------------------ variables


def datasource_variable(name: str, plugin: str, label: str) -> dict[str, Any]:
    return {"name": name, "label": label, "type": "datasource", "query": plugin, "current": {}, "hide": 0}


def textbox(name: str, label: str, default: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "type": "textbox",
        "query": default,
        "current": {"text": default, "value": default},
        "description": description,
        "hide": 0,
    }


def query_variable(name: str, label: str, sql: str) -> dict[str, Any]:
    flat = " ".join(sql.split())
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": TIMESTREAM,
        "definition": flat,
        "query": {"refId": f"variable-{name}", "rawQuery": flat},
        "refresh": 2,  # on time range change
        "sort": 1,
        "includeAll": False,
        "multi": False,
        "current": {},
        "hide": 0,
    }


def common_variables(with_endpoint: bool) -> list[dict[str, Any]]:
    variables = [
        datasource_variable("timestream", "grafana-timestream-datasource", "Timestream"),
        datasource_variable("cloudwatch", "cloudwatch", "CloudWatch"),
        textbox(
            "database", "Timestream database", DEFAULTS.timestream_database, "The stack's database (context stack_name)"
        ),
        textbox("stack", "Stack", DEFAULTS.stack, "The CDK stack name: prefixes function names"),
        textbox(
            "api",
            "HTTP API id",
            "",
            "The stack's ApiId output: the inference API whose AWS/ApiGateway metrics are charted",
        ),
    ]
    if with_endpoint:
        variables.append(
            query_variable(
                "endpoint",
                "Endpoint",
                f"SELECT DISTINCT endpoint_id FROM {RESULTS} WHERE $__timeFilter ORDER BY endpoint_id",
            )
        )
    return variables


def dashboard(uid: str, title: str, description: str, panels: list[Panel], with_endpoint: bool) -> dict[str, Any]:
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["driftline", "model-monitoring"],
        "timezone": "utc",
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "refresh": "1m",
        "time": {"from": "now-24h", "to": "now"},
        "templating": {"list": common_variables(with_endpoint)},
        "annotations": {"list": []},
        "links": [
            {
                "title": "driftline dashboards",
                "type": "dashboards",
                "tags": ["driftline"],
                "asDropdown": True,
                "includeVars": True,
                "keepTime": True,
            }
        ],
        "panels": layout(panels),
    }


# ------------------------------------------------------------------------------------------------ dashboards

LATEST_STATUS = f"""
SELECT endpoint_id, application_name, result_name,
       max_by(result_status, time) AS status, max_by(result_value, time) AS value,
       max_by(result_kind, time) AS kind, max(time) AS last_window_end
FROM {RESULTS} WHERE $__timeFilter
GROUP BY endpoint_id, application_name, result_name
"""


def overview() -> dict[str, Any]:
    panels = [
        Panel(
            "Endpoints monitored",
            "stat",
            [timestream(f"SELECT count(DISTINCT endpoint_id) AS endpoints FROM {RESULTS} WHERE $__timeFilter")],
            width=6,
            height=5,
        ),
        Panel("Requests", "stat", [api_metric("Count")], width=6, height=5, unit="short"),
        Panel("Average latency", "stat", [api_metric("Latency", "Average")], width=6, height=5, unit="ms"),
        Panel("Errors", "stat", [service_metric("serving", "Errors")], width=6, height=5, unit="short"),
        Panel(
            "Endpoints by drift status (newest window)",
            "table",
            [
                timestream(
                    f"""
                    SELECT endpoint_id, max(status) AS worst_status, count(*) AS results,
                           max(last_window_end) AS last_window_end
                    FROM ({LATEST_STATUS}) GROUP BY endpoint_id ORDER BY worst_status DESC, endpoint_id
                    """
                )
            ],
            width=24,
            height=9,
            description="The worst status among each endpoint's results in their newest windows (MLRun's colours).",
            overrides=[
                {
                    "matcher": {"id": "byName", "options": "worst_status"},
                    "properties": [
                        {"id": "mappings", "value": STATUS_MAPPINGS},
                        {"id": "custom.cellOptions", "value": {"type": "color-background"}},
                    ],
                }
            ],
        ),
        Panel(
            "Requests",
            "timeseries",
            [
                api_metric("Count"),
                lambda_metric("serving", "Invocations", "Sum", "B"),
                api_metric("4xx", ref="C"),
                api_metric("5xx", ref="D"),
            ],
            width=12,
        ),
        Panel(
            "Latency",
            "timeseries",
            [
                api_metric("Latency", "Average"),
                api_metric("Latency", "p99", "B"),
                api_metric("IntegrationLatency", "p99", "C"),
                lambda_metric("serving", "Duration", "p99", "D"),
            ],
            width=12,
            unit="ms",
        ),
    ]
    return dashboard(
        "driftline-overview",
        "driftline / Model monitoring - overview",
        "Every monitored endpoint: traffic, latency, errors and drift status (MLRun's overview dashboard).",
        panels,
        with_endpoint=False,
    )


def extra_number(path: str) -> str:
    """A number of a result's ``extra_data`` (Timestream stores it as JSON text)."""
    return f"CAST(json_extract_scalar(result_extra_data, '$.{path}') AS DOUBLE)"


def series_union(parts: list[tuple[str, str, str]]) -> str:
    """Long-format rows (time, series, value) of several (label, value expression, condition) parts of the
    endpoint's results: one Timestream query, one series per label."""
    selects = [
        f"SELECT time, {label} AS series, {value} AS value FROM {RESULTS} "
        f"WHERE $__timeFilter AND {ENDPOINT_FILTER} AND {condition}"
        for label, value, condition in parts
    ]
    return " UNION ALL ".join(selects) + " ORDER BY time"


JOINT_DRIFT = series_union(
    [
        ("'PCA reconstruction error'", "result_value", f"result_name = '{PCA_ERROR}'"),
        ("'PCA band (upper)'", extra_number("band_upper"), f"result_name = '{PCA_ERROR}'"),
        ("'domain classifier AUC'", "result_value", f"result_name = '{CLASSIFIER_AUC}'"),
        ("'AUC band (upper)'", extra_number("band_upper"), f"result_name = '{CLASSIFIER_AUC}'"),
    ]
)
ESTIMATED = "result_name LIKE 'estimated\\_%' ESCAPE '\\'"
METRIC_LABEL = "replace(result_name, 'estimated_', '')"
ESTIMATED_VS_REALIZED = series_union(
    [
        (f"{METRIC_LABEL} || ' estimated'", "result_value", ESTIMATED),
        (f"{METRIC_LABEL} || ' band lower'", extra_number("band_lower"), ESTIMATED),
        (f"{METRIC_LABEL} || ' band upper'", extra_number("band_upper"), ESTIMATED),
        (
            f"{METRIC_LABEL} || ' realized'",
            extra_number("realized"),
            f"{ESTIMATED} AND json_extract_scalar(result_extra_data, '$.realized') IS NOT NULL",
        ),
    ]
)


def details() -> dict[str, Any]:
    panels = [
        Panel(
            "Overall drift (general_drift, newest window)",
            "stat",
            [
                timestream(
                    f"""
                    SELECT max_by(result_value, time) AS general_drift FROM {RESULTS}
                    WHERE $__timeFilter AND {ENDPOINT_FILTER} AND result_name = 'general_drift'
                    """
                )
            ],
            width=6,
            height=6,
            thresholds=DRIFT_THRESHOLDS,
            description="mean(tvd_mean, hellinger_mean): >= 0.5 potential, >= 0.7 detected (MLRun's thresholds)",
        ),
        Panel(
            "Endpoint results (newest window)",
            "table",
            [timestream(f"SELECT * FROM ({LATEST_STATUS}) WHERE {ENDPOINT_FILTER} ORDER BY status DESC, result_name")],
            width=18,
            height=6,
            overrides=[
                {
                    "matcher": {"id": "byName", "options": "status"},
                    "properties": [{"id": "mappings", "value": STATUS_MAPPINGS}],
                },
                {
                    "matcher": {"id": "byName", "options": "kind"},
                    "properties": [{"id": "mappings", "value": KIND_MAPPINGS}],
                },
            ],
        ),
        Panel(
            "Per-feature analysis (newest window)",
            "table",
            [
                timestream(
                    f"""
                    SELECT json_extract_scalar(extra, '$.feature') AS feature, value AS drift,
                           CAST(json_extract_scalar(extra, '$.tvd') AS DOUBLE) AS tvd,
                           CAST(json_extract_scalar(extra, '$.hellinger') AS DOUBLE) AS hellinger,
                           CAST(json_extract_scalar(extra, '$.kld') AS DOUBLE) AS kld,
                           CAST(json_extract_scalar(extra, '$.count') AS BIGINT) AS rows, status
                    FROM (
                        SELECT result_name, max_by(result_value, time) AS value, max_by(result_status, time) AS status,
                               max_by(result_extra_data, time) AS extra
                        FROM {RESULTS}
                        WHERE $__timeFilter AND {ENDPOINT_FILTER} AND result_name LIKE '%\\_drift' ESCAPE '\\'
                          AND result_name <> 'general_drift'
                        GROUP BY result_name
                    ) ORDER BY drift DESC
                    """
                )
            ],
            width=24,
            height=10,
            description="The histogram drift app's per-feature results: TVD, Hellinger and KLD against the reference.",
            overrides=[
                {
                    "matcher": {"id": "byName", "options": "status"},
                    "properties": [{"id": "mappings", "value": STATUS_MAPPINGS}],
                },
                {
                    "matcher": {"id": "byName", "options": "drift"},
                    "properties": [
                        {"id": "thresholds", "value": DRIFT_THRESHOLDS},
                        {"id": "custom.cellOptions", "value": {"type": "color-background"}},
                    ],
                },
            ],
        ),
        Panel(
            "Feature drift over time",
            "timeseries",
            [
                timestream(
                    f"""
                    SELECT time, result_name, result_value FROM {RESULTS}
                    WHERE $__timeFilter AND {ENDPOINT_FILTER} AND result_name LIKE '%\\_drift' ESCAPE '\\'
                    ORDER BY time
                    """,
                    time_series=True,
                )
            ],
            width=24,
            thresholds=DRIFT_THRESHOLDS,
        ),
        Panel(
            "Joint drift over time",
            "timeseries",
            [timestream(JOINT_DRIFT, time_series=True)],
            width=12,
            description=(
                "The multivariate drift app: the window's mean PCA reconstruction error and the domain classifier's "
                "AUC, each with the upper edge of the band a no-drift window stays in (false-alarm rate 1 %)."
            ),
        ),
        Panel(
            "Joint drift: what changed (newest window)",
            "table",
            [
                timestream(
                    f"""
                    SELECT result_name, value, status,
                           json_extract_scalar(extra, '$.contributions[0].feature') AS first,
                           json_extract_scalar(extra, '$.contributions[1].feature') AS second,
                           json_extract_scalar(extra, '$.contributions[2].feature') AS third
                    FROM (
                        SELECT result_name, max_by(result_value, time) AS value, max_by(result_status, time) AS status,
                               max_by(result_extra_data, time) AS extra
                        FROM {RESULTS}
                        WHERE $__timeFilter AND {ENDPOINT_FILTER} AND result_name IN ('{PCA_ERROR}', '{CLASSIFIER_AUC}')
                        GROUP BY result_name
                    )
                    """
                )
            ],
            width=12,
            description="The features contributing most to each joint-drift result (residual growth; AUC lost).",
            overrides=[
                {
                    "matcher": {"id": "byName", "options": "status"},
                    "properties": [
                        {"id": "mappings", "value": STATUS_MAPPINGS},
                        {"id": "custom.cellOptions", "value": {"type": "color-background"}},
                    ],
                }
            ],
        ),
        Panel(
            "Estimated vs realized performance",
            "timeseries",
            [timestream(ESTIMATED_VS_REALIZED, time_series=True)],
            width=24,
            description=(
                "The performance estimation app: CBPE (classifiers) or DLE (regressors) per window with its band "
                "(95 %), and the realized value once ground truth for the window's rows has arrived."
            ),
        ),
    ]
    return dashboard(
        "driftline-details",
        "driftline / Model monitoring - details",
        "One endpoint: overall drift and the per-feature analysis (MLRun's details dashboard).",
        panels,
        with_endpoint=True,
    )


def performance() -> dict[str, Any]:
    panels = [
        Panel(
            "Drift measures over time",
            "timeseries",
            [
                timestream(
                    f"""
                    SELECT time, metric_name, metric_value FROM {METRICS}
                    WHERE $__timeFilter AND {ENDPOINT_FILTER}
                      AND metric_name IN ('tvd_mean', 'hellinger_mean', 'kld_mean')
                    ORDER BY time
                    """,
                    time_series=True,
                )
            ],
            width=24,
        ),
        Panel(
            "Latency",
            "timeseries",
            [
                api_metric("Latency", "Average"),
                api_metric("Latency", "p99", "B"),
                lambda_metric("serving", "Duration", "p99", "C"),
            ],
            width=12,
            unit="ms",
        ),
        Panel(
            "Predictions",
            "timeseries",
            [api_metric("Count"), service_metric("stream", "RowsWritten", ref="B")],
            width=12,
        ),
        Panel(
            "Stream",
            "timeseries",
            [
                service_metric("stream", "RecordsReceived"),
                service_metric("stream", "PoisonRecords", ref="B"),
                service_metric("stream", "BatchFailures", ref="C"),
                service_metric("serving", "TrackingEventsLost", ref="D"),
                service_metric("stream", "DuplicateRecords", ref="E"),
            ],
            width=12,
        ),
        Panel(
            "Stream iterator age",
            "timeseries",
            [lambda_metric("stream", "IteratorAge", "Maximum")],
            width=12,
            unit="ms",
        ),
        Panel(
            "Custom metrics",
            "timeseries",
            [
                timestream(
                    f"""
                    SELECT time, application_name || '.' || metric_name AS metric, metric_value FROM {METRICS}
                    WHERE $__timeFilter AND {ENDPOINT_FILTER}
                      AND metric_name NOT IN ('tvd_mean', 'hellinger_mean', 'kld_mean')
                    ORDER BY time
                    """,
                    time_series=True,
                )
            ],
            width=24,
            description="Every other metric the endpoint's applications report.",
        ),
    ]
    return dashboard(
        "driftline-performance",
        "driftline / Model monitoring - performance",
        "One endpoint over time: drift measures, latency, predictions and custom metrics "
        "(MLRun's performance dashboard).",
        panels,
        with_endpoint=True,
    )


def applications() -> dict[str, Any]:
    panels = [
        Panel(
            "Drift status by category",
            "barchart",
            [
                timestream(
                    f"""
                    SELECT CASE kind WHEN 0 THEN 'data drift' WHEN 1 THEN 'concept drift'
                                     WHEN 2 THEN 'model performance' WHEN 3 THEN 'system performance'
                                     ELSE 'application anomaly' END AS category,
                           count_if(status = 0) AS no_detection, count_if(status = 1) AS potential,
                           count_if(status = 2) AS detected
                    FROM ({LATEST_STATUS}) WHERE {ENDPOINT_FILTER} GROUP BY kind ORDER BY kind
                    """
                )
            ],
            width=12,
            options={"stacking": "normal", "xField": "category"},
        ),
        Panel(
            "Application health",
            "timeseries",
            [
                service_metric("app", "AppFailures"),
                service_metric("writer", "ResultsDetected", ref="B"),
                service_metric("writer", "ResultsPotentialDetection", ref="C"),
                service_metric("writer", "AlertsRaised", ref="D"),
            ],
            width=12,
        ),
        Panel(
            "Latest results",
            "table",
            [
                timestream(
                    f"SELECT * FROM ({LATEST_STATUS}) WHERE {ENDPOINT_FILTER} ORDER BY application_name, result_name"
                )
            ],
            width=24,
            overrides=[
                {
                    "matcher": {"id": "byName", "options": "status"},
                    "properties": [
                        {"id": "mappings", "value": STATUS_MAPPINGS},
                        {"id": "custom.cellOptions", "value": {"type": "color-background"}},
                    ],
                },
                {
                    "matcher": {"id": "byName", "options": "kind"},
                    "properties": [{"id": "mappings", "value": KIND_MAPPINGS}],
                },
            ],
        ),
        Panel(
            "Results over time",
            "timeseries",
            [
                timestream(
                    f"""
                    SELECT time, application_name || '.' || result_name AS result, result_value FROM {RESULTS}
                    WHERE $__timeFilter AND {ENDPOINT_FILTER} ORDER BY time
                    """,
                    time_series=True,
                )
            ],
            width=24,
        ),
        Panel(
            "Detection history",
            "table",
            [
                timestream(
                    f"""
                    SELECT time AS window_end, start_infer_time AS window_start,
                           application_name, result_name, result_value, result_status, result_kind
                    FROM {RESULTS}
                    WHERE $__timeFilter AND {ENDPOINT_FILTER} AND result_status >= 1
                    ORDER BY time DESC LIMIT 500
                    """
                )
            ],
            width=24,
            height=10,
            description="Every window whose result reached potential (1) or detected (2): what the alerts were about.",
            overrides=[
                {
                    "matcher": {"id": "byName", "options": "result_status"},
                    "properties": [{"id": "mappings", "value": STATUS_MAPPINGS}],
                },
                {
                    "matcher": {"id": "byName", "options": "result_kind"},
                    "properties": [{"id": "mappings", "value": KIND_MAPPINGS}],
                },
            ],
        ),
    ]
    return dashboard(
        "driftline-applications",
        "driftline / Model monitoring - applications",
        "What the monitoring applications concluded, per category and over time (MLRun's applications dashboard).",
        panels,
        with_endpoint=True,
    )


DASHBOARDS = {
    "overview.json": overview,
    "details.json": details,
    "performance.json": performance,
    "applications.json": applications,
}


def render(board: dict[str, Any]) -> str:
    return json.dumps(board, indent=2, ensure_ascii=False) + "\n"


def build_all() -> dict[str, str]:
    """File name -> the JSON text the builder produces."""
    return {name: render(make()) for name, make in DASHBOARDS.items()}


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for name, text in build_all().items():
        path = HERE / name
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
    if stale:
        print(f"out of date (run python dashboards/build.py): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
