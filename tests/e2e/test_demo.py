"""The seed's flow end to end (what `make demo` runs), on a local stack started in-process."""

from __future__ import annotations

import json

import pandas as pd
import pytest


@pytest.mark.e2e
def test_demo_flags_the_constant_window_and_not_the_iris_window(tmp_path, monkeypatch):
    monkeypatch.setenv("DRIFTLINE_HOME", str(tmp_path / "home"))  # never pick up a developer's running stack
    from driftline import clock
    from driftline.local.demo import REQUESTS_PER_PHASE, run_demo

    try:
        outcome = run_demo(tmp_path / "out", pause=False)
    finally:
        clock.reset()

    assert outcome["verdicts"] == ["detected", "no_detection"]
    assert outcome["ok"] is True
    summary = outcome["summary"]
    assert summary["predictions"] == 2 * REQUESTS_PER_PHASE
    assert summary["errors"] == 0
    assert summary["average latency (ms)"] > 0

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
    }
    assert set(results["application_name"]) == {"histogram-data-drift", "myapp"}

    report = (out / "report.html").read_text()
    assert "Drift per feature per window" in report
    # opens with no network: plotly.js is embedded, nothing is fetched
    assert "<script src=" not in report
    assert "<link " not in report
    assert "plotly" in report.lower()
