"""Offline evaluation: any app on DataFrames or parquet with no AWS, windows cut like the controller's."""

from __future__ import annotations

import json
import sys
import types
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

import driftline
from driftline.applications import ModelMonitoringApplicationBase
from driftline.applications.evaluate import cut_windows, evaluate, evaluate_main, resolve_app
from driftline.errors import ApplicationError, InvalidRequestError
from driftline.records import ModelRecord
from driftline.schemas import ResultStatus
from driftline.stats.reference import compute_reference_profile

T0 = datetime(2026, 1, 1, tzinfo=UTC)
RNG = np.random.default_rng(11)
TRAIN = pd.DataFrame(
    {"x": RNG.normal(0, 1, 3000), "c": RNG.choice(["a", "b", "c"], 3000), "label": RNG.integers(0, 2, 3000)}
)


def sample(n: int = 3000, shift_after: int | None = None) -> pd.DataFrame:
    x = RNG.normal(0, 1, n)
    if shift_after is not None:
        x[shift_after:] += 1.5
    return pd.DataFrame(
        {
            "timestamp": pd.date_range(T0, periods=n, freq="1s", tz="UTC"),
            "request_id": [f"r{i}" for i in range(n)],
            "x": x,
            "c": RNG.choice(["a", "b", "c"], n),
            "label": RNG.integers(0, 2, n),
        }
    )


def test_windows_are_cut_like_the_controller_cuts_them():
    step = timedelta(minutes=10)
    windows = cut_windows(T0, T0 + timedelta(minutes=35), step)
    assert windows == [(T0 + i * step, T0 + (i + 1) * step) for i in range(3)]  # the partial 4th is not complete
    # a start is taken exactly (like a checkpoint), even off the grid
    start = T0 + timedelta(minutes=3)
    assert cut_windows(T0, T0 + timedelta(minutes=35), step, start=start)[0] == (start, start + step)
    assert cut_windows(T0, T0 + timedelta(minutes=5), step) == []


def test_feature_drift_over_windows_finds_the_shift_where_it_starts():
    evaluation = driftline.evaluate(
        "feature_drift", sample=sample(3000, shift_after=1800), reference=TRAIN, label_names=["label"], base_period=10
    )
    # 3000 s of rows: the fifth window would end after the last row, so it is not complete yet
    assert len(evaluation) == 4
    assert evaluation.rows == [600] * 4
    assert evaluation.rows_outside == 600
    frame = evaluation.results_frame()
    x = frame[frame["result_name"] == "x_drift"].reset_index(drop=True)
    assert [s == ResultStatus.detected for s in x["result_status"]] == [False, False, False, True]
    assert x["start_infer_time"].iloc[3] == "2026-01-01T00:30:00.000000+00:00"
    assert set(frame["result_name"]) == {"dataset_drift", "prediction_drift", "x_drift", "c_drift"}
    assert list(evaluation.metrics_frame().columns)[-2:] == ["metric_name", "metric_value"]


def test_a_parquet_sample_is_sketched_in_chunks_with_the_same_results(tmp_path):
    df = sample(2500, shift_after=1000)
    path = tmp_path / "window.parquet"
    df.to_parquet(path, row_group_size=300)
    in_memory = evaluate("feature_drift", sample=df, reference=TRAIN)
    chunked = evaluate("feature_drift", sample=path, reference=TRAIN, chunk_rows=256)
    a, b = in_memory.results_frame(), chunked.results_frame()
    assert a["result_value"].tolist() == pytest.approx(b["result_value"].tolist())
    assert a["result_status"].tolist() == b["result_status"].tolist()
    windows = evaluate("feature_drift", sample=path, reference=TRAIN, base_period=10, chunk_rows=256)
    assert windows.rows == [600] * 4
    assert windows.rows_outside == 100


def test_references_can_be_a_profile_a_model_record_or_nothing():
    profile = compute_reference_profile(TRAIN[["x", "c"]])
    by_profile = evaluate("feature_drift", sample=sample(500), reference=profile).results_frame()
    record = ModelRecord("p", "m", "1", "", "", feature_names=["x", "c"], feature_stats=profile)
    by_record = evaluate("feature_drift", sample=sample(500), reference=record).results_frame()
    assert set(by_profile["result_name"]) == set(by_record["result_name"]) == {"dataset_drift", "x_drift", "c_drift"}
    nothing = evaluate("feature_drift", sample=sample(500))
    assert nothing.results_frame().empty


class Counter(ModelMonitoringApplicationBase):
    def do_tracking(self, monitoring_context):
        return {"rows": len(monitoring_context.sample_df), "factor": self.application_kwargs.get("factor", 1)}


def test_apps_are_resolved_from_classes_instances_names_and_files(tmp_path):
    assert isinstance(resolve_app(Counter, {"factor": 2}), Counter)
    instance = Counter()
    assert resolve_app(instance) is instance
    with pytest.raises(InvalidRequestError, match="not an instance"):
        resolve_app(instance, {"factor": 2})
    with pytest.raises(InvalidRequestError, match="expected one of"):
        resolve_app("no_such_app")
    source = tmp_path / "my_app.py"
    source.write_text(
        "from driftline.applications import ModelMonitoringApplicationBase\n"
        "class A(ModelMonitoringApplicationBase):\n    def do_tracking(self, c):\n        return {'a': 1}\n"
        "class B(A):\n    pass\n"
    )
    with pytest.raises(InvalidRequestError, match=r"name one as 'file.py:Class'"):
        resolve_app(str(source))
    assert type(resolve_app(f"{source}:B")).__name__ == "B"
    evaluation = evaluate(f"{source}:A", sample=sample(100))
    assert evaluation.metrics_frame()["metric_value"].tolist() == [1]
    assert evaluation.application_name == "a"
    with pytest.raises(InvalidRequestError, match="expected an application"):
        resolve_app(42)


def test_a_generic_app_sees_only_its_window_rows():
    evaluation = evaluate(Counter, sample=sample(1300), base_period=10)
    assert evaluation.metrics_frame().query("metric_name == 'rows'")["metric_value"].tolist() == [600, 600]
    assert evaluation.rows_outside == 100


def test_bad_inputs_are_clear_errors():
    with pytest.raises(InvalidRequestError, match="no rows"):
        evaluate(Counter, sample=pd.DataFrame())
    with pytest.raises(InvalidRequestError, match="expected a DataFrame"):
        evaluate(Counter, sample=[1, 2])
    with pytest.raises(InvalidRequestError, match="base_period needs"):
        evaluate(Counter, sample=pd.DataFrame({"x": [1.0]}), base_period=10)
    with pytest.raises(InvalidRequestError, match="whole minutes"):
        evaluate(Counter, sample=sample(10), base_period=0)
    with pytest.raises(InvalidRequestError, match="not in the training set"):
        evaluate("feature_drift", sample=sample(10), reference=TRAIN, feature_names=["nope"])


def test_data_quality_offline_counts_type_errors():
    df = sample(200)
    df["x"] = df["x"].astype(object)
    df.loc[:19, "x"] = "n/a"
    frame = evaluate("data_quality", sample=df, reference=TRAIN[["x", "c"]]).results_frame()
    x = frame[frame["result_name"] == "x_quality"].iloc[0]
    assert x["result_extra_data"]["type_errors"] == 20
    assert x["result_status"] == ResultStatus.detected


def test_model_performance_offline_with_ground_truth_known_answers():
    df = sample(4)
    df["label"] = [1, 1, 0, 0]
    df["score"] = [0.9, 0.4, 0.6, 0.1]
    truth = pd.DataFrame({"request_id": ["r0", "r1", "r2", "r3"], "label": [1, 0, 0, 0]})
    frame = evaluate(
        "model_performance",
        sample=df,
        reference=None,
        label_names=["label"],
        ground_truth=truth,
        application_kwargs={"score_column": "score"},
    ).results_frame()
    values = dict(zip(frame["result_name"], frame["result_value"], strict=True))
    assert values["accuracy"] == pytest.approx(0.75)
    assert values["precision"] == pytest.approx(0.5)
    assert values["recall"] == pytest.approx(1.0)
    assert values["f1"] == pytest.approx(2 / 3)
    assert values["roc_auc"] == pytest.approx(1.0)  # the positive has the highest score
    reg = sample(4)
    reg["label"] = [1.5, 2.5, 3.5, 4.5]
    truth = pd.DataFrame({"request_id": ["r0", "r1", "r2", "r3"], "label": [1.0, 2.0, 3.0, 5.0]})
    frame = evaluate("model_performance", sample=reg, label_names=["label"], ground_truth=truth).results_frame()
    values = dict(zip(frame["result_name"], frame["result_value"], strict=True))
    assert values["mae"] == pytest.approx(0.5)
    assert values["rmse"] == pytest.approx(0.5)
    assert values["r2"] == pytest.approx(1 - 1.0 / 8.75)


def fake_evidently(monkeypatch):
    """A stand-in for evidently 0.7 (not installed in the project's environment): the same names and the
    snapshot shape of the real one (metric_name, config with column/method/threshold, value)."""
    module = types.ModuleType("evidently")
    presets = types.ModuleType("evidently.presets")

    class Snapshot:
        def __init__(self, current, reference):
            self.metrics = []
            for column in current.columns:
                shift = abs(float(current[column].mean()) - float(reference[column].mean()))
                self.metrics.append(
                    {
                        "metric_name": f"ValueDrift(column={column},method=Wasserstein distance (normed))",
                        "config": {
                            "type": "evidently:metric_v2:ValueDrift",
                            "column": column,
                            "method": "Wasserstein distance (normed)",
                            "threshold": 0.1,
                        },
                        "value": shift,
                    }
                )

        def dict(self):
            return {"metrics": self.metrics, "tests": []}

        def get_html_str(self, as_iframe=False):
            return "<html>report</html>"

    class Report:
        def __init__(self, metrics):
            self.metrics = metrics

        def run(self, current_data, reference_data):
            return Snapshot(current_data, reference_data)

    module.Report = Report
    presets.DataDriftPreset = lambda: "preset"
    monkeypatch.setitem(sys.modules, "evidently", module)
    monkeypatch.setitem(sys.modules, "evidently.presets", presets)


def test_evidently_app_runs_offline_with_a_fake_evidently_and_keeps_its_report(monkeypatch, tmp_path):
    fake_evidently(monkeypatch)
    df = sample(300, shift_after=0)
    train = TRAIN.assign(y=0.0)
    df["y"] = 0.0
    evaluation = evaluate(
        "evidently_app", sample=df, reference=train[["x", "y"]], artifact_dir=tmp_path, application_name="ev"
    )
    frame = evaluation.results_frame()
    status = dict(zip(frame["result_name"], frame["result_status"], strict=True))
    assert status == {"evidently_dataset_drift": 2, "x_evidently_drift": 2, "y_evidently_drift": 0}
    [report] = list(tmp_path.rglob("*.html"))
    assert report.read_text() == "<html>report</html>"
    assert "monitoring/ev/offline/data_drift_report-20260101T000000Z.html" in str(report)


def test_without_evidently_the_app_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "evidently", None)
    with pytest.raises(ApplicationError, match=r"driftline\[evidently\].*pandas < 3"):
        resolve_app("evidently_app")


def test_cli_prints_a_table_json_or_one_error_line(tmp_path, capsys):
    df = sample(1300, shift_after=0)
    df.to_parquet(tmp_path / "s.parquet")
    TRAIN.to_csv(tmp_path / "train.csv", index=False)
    lines: list[str] = []
    code = evaluate_main(
        [
            "feature_drift",
            "--sample",
            str(tmp_path / "s.parquet"),
            "--reference",
            str(tmp_path / "train.csv"),
            "--labels",
            "label",
            "--base-period",
            "10",
        ],
        out=lines.append,
    )
    assert code == 0
    assert "x_drift" in lines[0]
    assert "detected" in lines[0]
    lines.clear()
    code = evaluate_main(
        [
            "feature_drift",
            "--sample",
            str(tmp_path / "s.parquet"),
            "--reference",
            str(tmp_path / "train.csv"),
            "--json",
            "--kwargs",
            '{"alpha": 0.01}',
        ],
        out=lines.append,
    )
    assert code == 0
    payload = json.loads(lines[0])
    assert payload["windows"][0]["rows"] == 1300
    assert evaluate_main(["feature_drift", "--sample", str(tmp_path / "missing.parquet")]) == 2
    assert capsys.readouterr().err.strip().startswith("error: ")
    assert evaluate_main(["feature_drift", "--sample", str(tmp_path / "s.parquet"), "--kwargs", "[1]"]) == 2
