"""The seed's flow end to end (what `make demo` runs), against `driftline local up` running in another process."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from driftline.local.demo import train_model
from tests.e2e.conftest import DRIFTLINE
from tests.report_html import integer_ticks, read_report
from tests.unit.test_histogram_mlrun_parity import mlrun_numbers


@pytest.mark.e2e
@pytest.mark.xdist_group("local-up")
def test_make_demo_runs_against_make_local_from_another_shell(local_up, tmp_path):
    """`make local` in one shell, `make demo` in another with no AWS credentials: the demo finds the stack by its
    state file, uses the stack's SDK principal, and every function runs as its own role with IAM enforced."""
    from driftline.local.demo import REQUESTS_PER_PHASE

    done = local_up.run(DRIFTLINE, "demo", "--out", str(tmp_path / "out"), "--no-pause")
    assert done.returncode == 0, done.stdout + done.stderr
    text = done.stdout
    assert f"Using the running local stack at {local_up.api_url}" in text
    assert "detected, no_detection  -> as expected" in text
    assert "denied: 0" in text
    for principal in ("serving", "stream", "controller", "app", "writer", "scheduler"):
        assert re.search(rf"^   {principal}\s+\S", text, re.MULTILINE), principal
    assert re.search(r"^   serving\s+.*kinesis:PutRecord", text, re.MULTILINE)
    assert f"{2 * REQUESTS_PER_PHASE} rows" in text

    out = tmp_path / "out"
    events = pd.read_parquet(out / "events")
    assert len(events) == 2 * REQUESTS_PER_PHASE  # every accepted request exactly once
    assert events["request_id"].is_unique
    constant = events[(events[["sepal_length", "sepal_width", "petal_length", "petal_width"]] == 0.5).all(axis=1)]
    assert len(constant) >= REQUESTS_PER_PHASE  # phase one's rows (an iris sample is never all 0.5)

    results = pd.read_parquet(out / "results.parquet")
    expected = [
        "endpoint_id",
        "application_name",
        "result_name",
        "result_value",
        "result_kind",
        "result_status",
        "result_extra_data",
        "start_infer_time",
        "end_infer_time",
    ]
    assert list(results.columns) == expected
    general = results[results["result_name"] == "general_drift"].sort_values("start_infer_time")
    assert general["result_status"].tolist() == [2, 0]
    per_feature = results[results["result_name"].str.endswith("_drift") & (results["result_name"] != "general_drift")]
    assert {json.loads(x)["feature"] for x in per_feature["result_extra_data"]} == {
        "sepal_length",
        "sepal_width",
        "petal_length",
        "petal_width",
        "label",  # the predictions against the training labels, as MLRun's profile includes the label column
    }
    # MLRun's numbers, computed with MLRun's formulas on the rows the stream stored for each window
    train_set = train_model(tmp_path / "train")[1]
    for window in general.itertuples():
        rows = events[(events["timestamp"] >= window.start_infer_time) & (events["timestamp"] < window.end_infer_time)]
        expected = mlrun_numbers(train_set, rows.drop(columns=["timestamp"]))["general_drift"]
        assert window.result_value == pytest.approx(expected, abs=1e-9)
    assert set(results["application_name"]) == {"histogram-data-drift", "myapp"}

    # the report of the endpoint over the demo's time range, as a user asks for it from the CLI
    first = general["start_infer_time"].min()
    last = general["end_infer_time"].max()
    done = local_up.run(
        DRIFTLINE,
        "report",
        "iris-monitoring",
        "--model",
        "RandomForestClassifier",
        "--start",
        first.isoformat(),
        "--end",
        last.isoformat(),
        "-o",
        str(tmp_path / "range.html"),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"report written to {tmp_path / 'range.html'}" in done.stdout
    read = read_report((tmp_path / "range.html").read_text())
    assert read.scripts == 0
    assert read.urls == []
    predictions = read.chart("Predictions over time: label")
    assert (predictions.x_title, predictions.y_title) == ("time (UTC)", "label (predicted class)")
    assert integer_ticks(predictions.y_ticks), predictions.y_ticks
    assert read.chart("Latency over time").y_title == "latency (ms)"
    drift = read.chart("histogram-data-drift / general_drift")
    assert (drift.x_title, drift.y_title) == ("window end (UTC)", "general_drift (no unit)")
    assert drift.points == 2
    latency = read.chart("myapp / latency_p95")
    assert latency.y_title == "latency_p95 (ms)"  # the demo app says its unit in extra_data
    for column in ("sepal_length", "sepal_width", "petal_length", "petal_width", "label"):
        chart = next(c for c in read.charts if c.container == f"feature-{column}")  # drifted in the first window
        assert chart.x_title.startswith(f"{column} (reference bins")
        assert chart.bars >= 2
    label = next(c for c in read.charts if c.container == "feature-label")
    assert integer_ticks(label.x_ticks), label.x_ticks
    # a range before any traffic: a report that says so, not an error
    done = local_up.run(
        DRIFTLINE,
        "report",
        "iris-monitoring",
        "--model",
        "RandomForestClassifier",
        "--start",
        "2020-01-01T00:00:00Z",
        "--end",
        "2020-01-02T00:00:00Z",
        "-o",
        str(tmp_path / "empty.html"),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No results in this range." in (tmp_path / "empty.html").read_text()

    report = (out / "report.html").read_text()
    # opens with no network: inline SVG, no script, no external resource
    assert "<script" not in report
    assert "http://" not in report
    assert "https://" not in report
    assert "id='feature-petal_width'" in report  # a drifted feature's window against its reference
    assert "histogram-data-drift / general_drift" in report


@pytest.mark.e2e
@pytest.mark.xdist_group("local-up")
def test_smoke_passes_against_the_local_stack_and_says_what_failed(local_up):
    """`driftline smoke` is the check to run after `cdk deploy`; here it runs against `make local`."""
    done = local_up.run(DRIFTLINE, "smoke", "--json", "--timeout", "60")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is True
    names = [c["name"] for c in report["checks"]]
    assert names == [
        "health",
        "server metadata",
        "model routed",
        "model metadata",
        "inference",
        "event stored on S3",
        "live figures",
        "results readable",
    ]
    assert report["checks"][5]["detail"].startswith("s3://")
    again = local_up.run(DRIFTLINE, "smoke", "--json", "--timeout", "60")  # a second run reuses the smoke model
    assert json.loads(again.stdout)["checks"][2]["detail"].startswith("'driftline-smoke' already routed")

    # the CLI reaches the function it names (issue 9, item 12: --function was silently ignored)
    answered = local_up.run(DRIFTLINE, "invoke", "default", "driftline-smoke", "--data", "[[0.9, 0.1]]", "--json")
    assert answered.returncode == 0, answered.stderr
    assert json.loads(answered.stdout)["outputs"][0]["data"] == [1]
    other = local_up.run(DRIFTLINE, "invoke", "default", "driftline-smoke", "--data", "[[0]]", "--function", "f2")
    assert other.returncode == 2
    assert "serving function 'f2' is not deployed in project 'default'" in other.stderr

    missing = local_up.run(DRIFTLINE, "smoke", "--model", "nope")
    assert missing.returncode == 1
    assert "FAIL  model routed" in missing.stdout
    assert "routes no model 'nope'" in missing.stdout
