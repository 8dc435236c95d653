from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from driftline.applications import result_name_for
from driftline.applications.builtin import feature_drift
from driftline.applications.builtin import histogram_data_drift as drift
from driftline.applications.drift import DriftApplicationBase, distances, histogram_windows
from driftline.applications.loader import load_module
from driftline.errors import ConfigurationError
from driftline.records import EndpointRecord, ModelRecord
from driftline.schemas import AppMetric, AppResult, ResultKind, ResultStatus
from driftline.stats.profile import compute_feature_stats

demo = load_module(Path(__file__).resolve().parents[2] / "apps" / "demo_app.py")


class RecordingLogger:
    def __init__(self):
        self.records = []

    def _log(self, level, message, extra=None, **_):
        self.records.append((level, message, extra or {}))

    def info(self, message, *args, **kwargs):
        self._log("info", message, **kwargs)

    def warning(self, message, *args, **kwargs):
        self._log("warning", message, **kwargs)


def _context(window: pd.DataFrame, feature_stats: dict, logger=None, features=None):
    from driftline.applications import MonitoringApplicationContext

    features = features if features is not None else list(feature_stats)
    endpoint = EndpointRecord("e1", "p", "m", "serving", "store://models/p/m:latest", "1", features, ["prediction"])
    model = ModelRecord("p", "m", "1", "store://models/p/m:1", "k", feature_names=features, feature_stats=feature_stats)
    return MonitoringApplicationContext(
        application_name="histogram-data-drift",
        project_name="p",
        start_infer_time=datetime(2026, 11, 26, 17, 0, tzinfo=UTC),
        end_infer_time=datetime(2026, 11, 26, 17, 10, tzinfo=UTC),
        model_endpoint=endpoint,
        model=model,
        sample_df_loader=lambda: window,
        logger=logger or RecordingLogger(),
    )


def _split(output):
    results = {r.name: r for r in output if isinstance(r, AppResult)}
    metrics = {m.name: m.value for m in output if isinstance(m, AppMetric)}
    return results, metrics


TRAIN = pd.DataFrame(
    {
        "a": np.linspace(0, 10, 1000),
        "b": np.linspace(-5, 5, 1000),
        "c": np.linspace(100, 200, 1000),
        "d": np.linspace(0, 1, 1000),
        "kind": ["x", "y"] * 500,  # categorical: no histogram, not in the means
    }
)
STATS = compute_feature_stats(TRAIN)


def test_constant_inputs_far_from_training_are_detected():
    window = pd.DataFrame({c: [1e6] * 20 for c in "abcd"} | {"kind": ["x"] * 20})
    results, metrics = _split(drift.HistogramDataDriftApplication().do_tracking(_context(window, STATS)))
    # every value is in the outer bin whose reference probability is 0: TVD 1, Hellinger 1 for every feature
    assert metrics["tvd_mean"] == 1.0
    assert metrics["hellinger_mean"] == 1.0
    general = results["general_drift"]
    assert (general.value, general.status, general.kind) == (1.0, ResultStatus.detected, ResultKind.data_drift)
    assert general.extra_data["drifted_features"] == ["a", "b", "c", "d"]
    assert "kind" in general.extra_data["skipped_features"]


def test_a_sample_of_the_training_data_is_not_drift():
    window = TRAIN.iloc[::5]
    results, metrics = _split(drift.HistogramDataDriftApplication().do_tracking(_context(window, STATS)))
    assert metrics["tvd_mean"] < 0.05
    assert results["general_drift"].status == ResultStatus.no_detection
    assert all(r.status == ResultStatus.no_detection for r in results.values())
    assert results["general_drift"].extra_data["drifted_features"] == []


def test_one_drifted_feature_is_not_averaged_away():
    window = TRAIN.iloc[::5].copy()
    window["c"] = 1e6  # one of four features replaced
    results, _ = _split(drift.HistogramDataDriftApplication().do_tracking(_context(window, STATS)))
    assert results["general_drift"].status == ResultStatus.no_detection  # MLRun's verdict: averaged away
    assert results["c_drift"].status == ResultStatus.detected  # ours: the feature itself says so
    assert results["c_drift"].value == 1.0
    assert results["general_drift"].extra_data["drifted_features"] == ["c"]


def test_exact_numbers_on_a_hand_made_reference():
    # reference: 2 bins over [0, 2], one value each; padded q = [0, .5, .5, 0]
    stats = {"x": {"type": "numeric", "hist": [[1, 1], [0.0, 1.0, 2.0]]}}
    # window: two values in bin [0, 1), two beyond the training max: p = [0, .5, 0, .5]
    window = pd.DataFrame({"x": [0.5, 0.5, 5.0, 5.0, None]})
    results, metrics = _split(drift.HistogramDataDriftApplication().do_tracking(_context(window, stats)))
    tvd = 0.5  # (|0-.5| + |.5-0|) / 2
    hellinger = math.sqrt(1 - 0.5)  # sum sqrt(pq) = sqrt(.25) = .5
    kld = math.log(0.5 / 1e-4) * 0.5 * 2  # KL(p||q) = .5 ln(.5/1e-4); KL(q||p) the same: ln 5000
    assert metrics == pytest.approx({"tvd_mean": tvd, "hellinger_mean": hellinger, "kld_mean": kld})
    general = results["general_drift"]
    assert general.value == pytest.approx((tvd + hellinger) / 2)  # 0.6036
    assert general.status == ResultStatus.potential_detection
    x = results["x_drift"]
    assert x.extra_data["tvd"] == pytest.approx(tvd)
    assert x.extra_data["kld"] == pytest.approx(kld)
    assert (x.extra_data["count"], x.extra_data["missing"], x.extra_data["method"]) == (4, 1, "histogram")
    assert x.extra_data["threshold"] == {"potential_detection": 0.5, "detected": 0.7}


def test_thresholds_are_constructor_kwargs():
    stats = {"x": {"type": "numeric", "hist": [[1, 1], [0.0, 1.0, 2.0]]}}
    window = pd.DataFrame({"x": [0.5, 0.5, 5.0, 5.0]})
    app = drift.HistogramDataDriftApplication(potential_threshold=0.2, detected_threshold=0.6)
    results, _ = _split(app.do_tracking(_context(window, stats)))
    assert results["general_drift"].status == ResultStatus.detected
    assert results["general_drift"].extra_data["threshold"] == {"potential_detection": 0.2, "detected": 0.6}


@pytest.mark.parametrize(
    "kwargs",
    [{"potential_threshold": 0.8, "detected_threshold": 0.7}, {"detected_threshold": 2}, {"potential_threshold": "x"}],
)
def test_bad_thresholds_are_refused(kwargs):
    with pytest.raises(ConfigurationError, match="threshold"):
        drift.HistogramDataDriftApplication(**kwargs)


def test_a_model_logged_without_training_set_gives_nothing_and_one_clear_warning():
    logger = RecordingLogger()
    output = drift.HistogramDataDriftApplication().do_tracking(_context(TRAIN, {}, logger, features=["a"]))
    assert output == []
    warnings = [r for r in logger.records if r[0] == "warning"]
    assert len(warnings) == 1
    assert "training_set=" in warnings[0][1]


def test_features_missing_from_the_window_or_empty_are_skipped_and_named():
    window = pd.DataFrame({"a": [1.0, 2.0], "b": [None, None], "c": ["1.0", "oops"]})
    results, _ = _split(drift.HistogramDataDriftApplication().do_tracking(_context(window, STATS)))
    skipped = results["general_drift"].extra_data["skipped_features"]
    assert skipped["b"] == "no values in the window"
    assert skipped["d"] == "not in the window's columns"
    assert results["c_drift"].extra_data["missing"] == 1  # "oops" is not a number
    assert set(results) == {"general_drift", "a_drift", "c_drift"}


def test_result_names_are_sanitised_and_unique():
    taken = {"general_drift"}
    assert result_name_for("petal length (cm)", taken) == "petal_length__cm__drift"
    assert result_name_for("petal-length (cm)", taken) == "petal_length__cm__drift_2"
    assert result_name_for("1st", taken) == "f_1st_drift"
    assert result_name_for("general", taken) == "general_drift_2"


def test_feature_drift_reports_mlruns_general_drift_with_the_same_number_and_verdict():
    """feature_drift's optional general_drift is the histogram app's, computed by the same base."""
    stats = {"x": {"type": "numeric", "hist": [[1, 1], [0.0, 1.0, 2.0]]}}
    window = pd.DataFrame({"x": [0.5, 0.5, 5.0, 5.0, None]})
    app = feature_drift.FeatureDriftApplication(general_drift=True, min_count=1)
    results, _ = _split(app.do_tracking(_context(window, stats)))
    general = results["general_drift"]
    assert general.value == pytest.approx((0.5 + math.sqrt(0.5)) / 2)  # (tvd + hellinger) / 2, as above: 0.6036
    assert (general.status, general.kind) == (ResultStatus.potential_detection, ResultKind.data_drift)
    mlrun, _ = _split(drift.HistogramDataDriftApplication().do_tracking(_context(window, stats)))
    assert general.value == mlrun["general_drift"].value


def test_both_drift_apps_share_the_no_reference_guard():
    for app in (drift.HistogramDataDriftApplication(), feature_drift.FeatureDriftApplication()):
        logger = RecordingLogger()
        assert app.do_tracking(_context(TRAIN, {}, logger, features=["a"])) == []
        [(level, message, extra)] = logger.records
        assert (level, extra["application_name"]) == ("warning", "histogram-data-drift")
        assert "training_set=" in message


def test_a_drift_app_only_scores():
    """A subclass of the drift base writes score(); the guard and the preprocessing come with the base."""

    class MaxTvd(DriftApplicationBase):
        def score(self, monitoring_context):
            windows, _ = histogram_windows(monitoring_context)
            per_feature = distances(windows, ["tvd"])
            return {"max_tvd": max(d["tvd"] for d in per_feature.values())}

    window = pd.DataFrame({"x": [0.5, 0.5, 5.0, 5.0]})
    stats = {"x": {"type": "numeric", "hist": [[1, 1], [0.0, 1.0, 2.0]]}}
    assert MaxTvd().do_tracking(_context(window, stats)) == {"max_tvd": 0.5}
    assert MaxTvd().do_tracking(_context(window, {})) == []  # the guard: score() never ran


def test_demo_app_reports_traffic_and_latency():
    window = pd.DataFrame(
        {
            "request_id": ["r1", "r1", "r2", "r3"],
            "latency": [200_000, 200_000, 10_000, 20_000],  # microseconds; r1 had two rows
        }
    )
    app = demo.DemoMonitoringApp(latency_threshold_ms=150)
    results, metrics = _split(app.do_tracking(_context(window, {})))
    assert metrics["row_count"] == 4
    assert metrics["mean_latency_ms"] == pytest.approx((200 + 10 + 20) / 3)  # per request, not per row
    p95 = results["latency_p95"]
    # p95 of [10, 20, 200] ms by linear interpolation: 20 + 0.9 * 180 = 182
    assert p95.value == pytest.approx(182.0)
    assert (p95.kind, p95.status) == (ResultKind.system_performance, ResultStatus.detected)
    relaxed = demo.DemoMonitoringApp(latency_threshold_ms=1000)
    assert _split(relaxed.do_tracking(_context(window, {})))[0]["latency_p95"].status == ResultStatus.no_detection
