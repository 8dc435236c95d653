"""The offline HTML report: generic over any app's results, titled axes, whole-number ticks for classes, the
drifted features' windows against the reference, nothing fetched from the network; and ``driftline evaluate
--report`` as a user runs it."""

from __future__ import annotations

import io
import pickle
from contextlib import redirect_stderr
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from driftline.cli import main
from driftline.local.demo import train_model, window_inputs
from driftline.report import ReportInput, render_report
from driftline.report.document import band_of, class_values, lines_of, unit_of
from driftline.report.svg import linear_ticks
from driftline.stats.reference import compute_reference_profile
from tests.report_html import integer_ticks, read_report

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


@pytest.mark.parametrize(
    ("low", "high"), [(-0.5, 2.5), (0, 1), (-0.3, 0.4), (0, 7), (0, 1_000), (3.0, 3.4), (-1e6, 1e6), (0, 0.001)]
)
def test_integer_axes_never_get_fractional_ticks(low, high):
    ticks = linear_ticks(low, high, integer=True)
    assert ticks
    assert all(float(t).is_integer() for t in ticks)
    assert all(low <= t <= high for t in ticks)


def test_plain_axes_get_nice_ticks_inside_the_range():
    ticks = linear_ticks(0, 1.08)
    assert ticks == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]


def test_bands_lines_and_units_are_read_from_any_extra_data():
    assert band_of({"band": [0.8, 0.9]}) == ("band", 0.8, 0.9)
    assert band_of({"lower_bound": 1, "upper_bound": 3}) == ("lower/upper_bound", 1.0, 3.0)
    assert band_of({"lower": 1, "upper": 2}) == ("lower/upper", 1.0, 2.0)
    assert band_of({"threshold": [0.0, 0.62]}) == ("threshold", 0.0, 0.62)
    assert band_of({"lower": 1}) is None
    assert band_of({"feature": "x", "tvd": 0.3}) is None
    assert lines_of({"threshold": {"potential_detection": 0.5, "detected": 0.7}}) == {
        "potential_detection": 0.5,
        "detected": 0.7,
    }
    assert lines_of({"threshold": 0.3, "reference_value": 0.9}) == {"threshold": 0.3, "reference": 0.9}
    assert unit_of("latency_p95", {"unit": "ms"}) == "ms"
    assert unit_of("latency_p95_ms", {}) == "ms"
    assert unit_of("general_drift", {}) == "no unit"
    assert class_values(pd.Series([0.0, 1.0, 2.0, 1.0])) == [0, 1, 2]
    assert class_values(pd.Series([0.5, 1.0])) is None


def _window(app: str, name: str, minute: int, value: float, status: int, extra: dict) -> dict:
    start = pd.Timestamp("2026-12-04T10:00:00Z") + pd.Timedelta(minutes=minute)
    return {
        "endpoint_id": "e1",
        "application_name": app,
        "result_name": name,
        "result_value": value,
        "result_kind": 2,
        "result_status": status,
        "result_extra_data": extra,
        "start_infer_time": start,
        "end_infer_time": start + pd.Timedelta(minutes=1),
    }


def test_any_apps_results_are_drawn_with_their_bands_thresholds_and_extra_data():
    """Apps the report does not know: a performance estimate with a band and a realized value, a multivariate
    check with a ``[lo, hi]`` threshold range, a custom app with ``lower_bound``/``upper_bound`` and a unit, and
    one whose extra_data is stored as JSON text."""
    rows = []
    for minute in range(3):
        rows.append(
            _window(
                "perf-estimate",
                "accuracy",
                minute,
                0.9 - minute / 10,
                minute,
                {"band": [0.85 - minute / 10, 0.95 - minute / 10], "realized": 0.88 - minute / 10, "method": "cbpe"},
            )
        )
        rows.append(_window("joint", "reconstruction_error", minute, 1.1 + minute, 0, {"threshold": [0.0, 2.5]}))
        rows.append(
            _window(
                "custom",
                "latency_p95",
                minute,
                40.0 + minute,
                0,
                {"unit": "ms", "lower_bound": 10.0, "upper_bound": 60.0, "threshold_ms": 50.0},
            )
        )
        rows.append(_window("textual", "score", minute, 0.1, 0, '{"note": "stored as JSON text", "threshold": 0.4}'))
    metrics = pd.DataFrame(
        [
            {
                "application_name": "custom",
                "metric_name": "rows",
                "metric_value": 10.0 * (m + 1),
                "start_infer_time": pd.Timestamp("2026-12-04T10:00:00Z") + pd.Timedelta(minutes=m),
                "end_infer_time": pd.Timestamp("2026-12-04T10:01:00Z") + pd.Timedelta(minutes=m),
            }
            for m in range(3)
        ]
    )
    text = render_report(ReportInput(title="t", summary={"a": 1}, results=pd.DataFrame(rows), metrics=metrics))
    read = read_report(text)
    assert read.scripts == 0
    assert read.urls == []

    accuracy = read.chart("perf-estimate / accuracy")
    assert (accuracy.x_title, accuracy.y_title) == ("window end (UTC)", "accuracy (no unit)")
    assert accuracy.bands == 1
    assert accuracy.points == 6  # the estimate and the realized value per window
    joint = read.chart("joint / reconstruction_error")
    assert joint.bands == 1
    latency = read.chart("custom / latency_p95")
    assert latency.y_title == "latency_p95 (ms)"
    assert latency.bands == 1
    textual = read.chart("textual / score")
    assert textual.hlines == 1
    rows_metric = read.chart("custom / rows")
    assert integer_ticks(rows_metric.y_ticks), rows_metric.y_ticks
    assert "result-custom-latency_p95" in read.ids
    assert "threshold_ms" in text  # extra_data shown per window
    assert "stored as JSON text" in text


@pytest.fixture(scope="module")
def demo_files(tmp_path_factory) -> tuple[Path, Path]:
    """The demo's two windows (constant rows, then iris samples) as a parquet sample with timestamps (150 rows a
    minute from 10:00) and latency, and the training set: what a user would give ``driftline evaluate``."""
    folder = tmp_path_factory.mktemp("evaluate")
    model_file, train_set, features = train_model(folder)
    model = pickle.loads(model_file.read_bytes())
    constant, sampled, _, _ = window_inputs(features)
    inputs = np.asarray(constant + sampled, dtype=float)
    sample = pd.DataFrame(inputs, columns=features.columns).assign(label=model.predict(inputs).astype(float))
    sample["timestamp"] = pd.date_range("2026-12-04T10:00:00Z", periods=len(sample), freq="400ms")
    sample["latency"] = np.random.default_rng(1).integers(1_000, 5_000, len(sample))
    sample.to_parquet(folder / "sample.parquet")
    train_set.to_parquet(folder / "train.parquet")
    return folder / "sample.parquet", folder / "train.parquet"


def test_driftline_evaluate_writes_the_report(demo_files, tmp_path):
    sample, train = demo_files
    path = tmp_path / "out" / "evaluation.html"
    err = io.StringIO()
    with redirect_stderr(err):
        code = main(
            [
                "evaluate",
                "histogram_data_drift",
                "--sample",
                str(sample),
                "--reference",
                str(train),
                "--labels",
                "label",
                "--base-period",
                "1",
                "--end",
                "2026-12-04T10:02:00Z",
                "--report",
                str(path),
            ]
        )
    assert code == 0, err.getvalue()
    assert f"report written to {path}" in err.getvalue()
    read = read_report(path.read_text())
    assert read.scripts == 0
    assert read.urls == []

    predictions = read.chart("Predictions over time: label")
    assert predictions.x_title == "time (UTC)"
    assert predictions.y_title == "label (predicted class)"
    assert integer_ticks(predictions.y_ticks), predictions.y_ticks
    assert [int(t) for t in predictions.y_ticks] == [0, 1, 2]
    assert read.chart("Latency over time").y_title == "latency (ms)"

    general = read.chart("histogram-data-drift / general_drift")
    assert (general.x_title, general.y_title) == ("window end (UTC)", "general_drift (no unit)")
    assert general.points == 2  # two complete one-minute windows
    assert general.hlines == 2  # MLRun's 0.5 and 0.7

    # the first window (constant rows) drifted in every feature and in the predictions: each drawn against its
    # reference on the reference's bins
    for column in [*FEATURES, "label"]:
        assert f"feature-{column}" in read.ids
        chart = next(c for c in read.charts if c.container == f"feature-{column}")
        assert chart.y_title == "share of rows"
        assert chart.x_title.startswith(f"{column} (reference bins")
        assert chart.bars >= 2
    label_histogram = next(c for c in read.charts if c.container == "feature-label")
    assert integer_ticks(label_histogram.x_ticks), label_histogram.x_ticks


def test_a_categorical_feature_is_drawn_as_bars_per_category():
    reference = pd.DataFrame({"colour": ["red"] * 50 + ["blue"] * 50, "x": np.linspace(0, 1, 100)})
    window = pd.DataFrame(
        {
            "timestamp": pd.date_range("2026-12-04T10:00:00Z", periods=40, freq="1s"),
            "colour": ["green"] * 30 + ["red"] * 10,
            "x": np.linspace(0, 1, 40),
        }
    )
    results = pd.DataFrame([_window("drift", "colour_drift", 0, 0.8, 2, {"feature": "colour", "role": "feature"})])
    text = render_report(
        ReportInput(
            title="t",
            summary={},
            results=results,
            events=window,
            feature_names=["colour", "x"],
            profile=compute_reference_profile(reference),
        )
    )
    read = read_report(text)
    chart = next(c for c in read.charts if c.container == "feature-colour")
    assert chart.x_title == "colour (category)"
    assert chart.x_ticks == ["blue", "red", "green"] or chart.x_ticks == ["red", "blue", "green"]
    assert chart.bars == 6  # reference and window for each of three categories


def test_a_report_with_nothing_in_range_still_renders():
    empty = pd.DataFrame(
        columns=[
            "application_name",
            "result_name",
            "result_value",
            "result_status",
            "result_kind",
            "result_extra_data",
            "start_infer_time",
            "end_infer_time",
        ]
    )
    read = read_report(render_report(ReportInput(title="t", summary={}, results=empty)))
    assert read.charts == []
    assert {"summary", "traffic", "results-over-time", "drifted-features"} <= set(read.ids)
