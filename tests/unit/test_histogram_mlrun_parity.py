"""The histogram app gives MLRun's numbers on the demo's windows (the seed's flow), label column included.

MLRun's ``log_model(training_set=df, label_column=...)`` profiles the whole training set (``infer_from_df``),
label column included, and its histogram app averages over every profiled column found in the window, where the
stream stores the predictions under the label's name. The expected numbers are computed here from MLRun's
definitions alone, with numpy on the training set and the window (nothing of driftline's statistics is used):
20 equal-width bins over the training min..max (``np.histogram(col, bins=20)``), two outer bins
``[-float_max, x0]`` and ``[xn, float_max]`` of reference count 0, the window binned on those 23 edges and divided
by its count; TVD = sum|p-q|/2, Hellinger = sqrt(max(1 - sum sqrt(p q), 0)), KLD = KL(p||q) + KL(q||p) with
1e-4 for a zero in the denominator; ``general_drift = (tvd_mean + hellinger_mean) / 2``; 0.5 / 0.7.
"""

from __future__ import annotations

import pickle
import sys
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

import driftline
from driftline.applications import MonitoringApplicationContext
from driftline.applications.builtin.histogram_data_drift import HistogramDataDriftApplication
from driftline.local.demo import train_model, window_inputs
from driftline.records import EndpointRecord, ModelRecord
from driftline.schemas import AppMetric, AppResult
from driftline.stats.reference import compute_reference_profile

FLOAT_MAX = sys.float_info.max


def mlrun_numbers(training: pd.DataFrame, window: pd.DataFrame) -> dict[str, float]:
    """MLRun's histogram drift numbers over every numeric column of the training set present in the window."""
    tvd, hellinger, kld = [], [], []
    for column in training.columns:
        if column not in window.columns:
            continue
        counts, edges = np.histogram(training[column].to_numpy(dtype=float), bins=20)
        edges = np.concatenate(([-FLOAT_MAX], edges, [FLOAT_MAX]))
        q = np.concatenate(([0], counts, [0])) / counts.sum()
        values = window[column].to_numpy(dtype=float)
        values = values[~np.isnan(values)]
        p = np.histogram(values, bins=edges)[0] / values.size
        tvd.append(np.sum(np.abs(p - q)) / 2)
        hellinger.append(np.sqrt(max(1 - np.sum(np.sqrt(p * q)), 0)))

        def kl(a: np.ndarray, b: np.ndarray) -> float:
            b = np.where(b == 0, 1e-4, b)
            nonzero = a != 0
            return float(np.sum(a[nonzero] * np.log(a[nonzero] / b[nonzero])))

        kld.append(kl(p, q) + kl(q, p))
    means = {"tvd_mean": np.mean(tvd), "hellinger_mean": np.mean(hellinger), "kld_mean": np.mean(kld)}
    return {k: float(v) for k, v in means.items()} | {
        "general_drift": float((means["tvd_mean"] + means["hellinger_mean"]) / 2)
    }


def mlrun_status(value: float) -> int:
    return 2 if value >= 0.7 else 1 if value >= 0.5 else 0


@pytest.fixture(scope="module")
def demo_windows(tmp_path_factory) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    """The demo's training set and its two windows as the stream stores them: the inputs the demo sends and, under
    the label's name, what its model predicts for them (float64, as the parquet rows hold numbers)."""
    model_file, train_set, features = train_model(tmp_path_factory.mktemp("demo"))
    model = pickle.loads(model_file.read_bytes())  # the file the line above wrote
    constant, sampled, _, _ = window_inputs(features)
    windows = []
    for rows in (constant, sampled):
        inputs = np.asarray(rows, dtype=float)
        frame = pd.DataFrame(inputs, columns=features.columns)
        windows.append(frame.assign(label=model.predict(inputs).astype(float)))
    return train_set, windows


def _context(train_set: pd.DataFrame, window: pd.DataFrame) -> MonitoringApplicationContext:
    """The context the app function builds in the live path, with the profiles ``log_model`` stores."""
    features = [c for c in train_set.columns if c != "label"]
    model = ModelRecord(
        "iris-monitoring",
        "RandomForestClassifier",
        "1",
        "store://models/iris-monitoring/RandomForestClassifier:1",
        "k",
        feature_names=features,
        label_names=["label"],
        feature_stats=compute_reference_profile(train_set[features]),
        label_stats=compute_reference_profile(train_set[["label"]]),
    )
    endpoint = EndpointRecord("e1", "iris-monitoring", "RandomForestClassifier", "serving", model.uri, "1", features)
    return MonitoringApplicationContext(
        application_name="histogram-data-drift",
        project_name="iris-monitoring",
        start_infer_time=datetime(2026, 11, 26, 17, 0, tzinfo=UTC),
        end_infer_time=datetime(2026, 11, 26, 17, 1, tzinfo=UTC),
        model_endpoint=endpoint,
        model=model,
        sample_df_loader=lambda: window,
        logger=None,
    )


def test_the_histogram_app_gives_mlruns_numbers_on_the_demos_windows(demo_windows):
    train_set, windows = demo_windows
    seen = []
    for window in windows:
        expected = mlrun_numbers(train_set, window)
        output = HistogramDataDriftApplication().do_tracking(_context(train_set, window))
        results = {r.name: r for r in output if isinstance(r, AppResult)}
        metrics = {m.name: m.value for m in output if isinstance(m, AppMetric)}
        general = results["general_drift"]
        assert general.value == pytest.approx(expected["general_drift"], abs=1e-9)
        assert int(general.status) == mlrun_status(expected["general_drift"])
        for name in ("tvd_mean", "hellinger_mean", "kld_mean"):
            assert metrics[name] == pytest.approx(expected[name], abs=1e-9), name
        assert general.extra_data["features_evaluated"] == 5  # four features and the label
        label = results["label_drift"]
        assert label.extra_data["role"] == "label"
        seen.append(round(general.value, 3))
    # the figures (MLRun's rule on these windows); without the label driftline gave 0.994 / 0.139
    assert seen == [0.927, 0.213]


def test_features_only_would_not_be_mlruns_number(demo_windows):
    """The check above could fail: leaving the label out gives other numbers."""
    train_set, windows = demo_windows
    features_only = mlrun_numbers(train_set.drop(columns="label"), windows[0])["general_drift"]
    with_label = mlrun_numbers(train_set, windows[0])["general_drift"]
    assert abs(features_only - with_label) > 0.05


def test_offline_evaluate_includes_the_label_as_the_live_app_does(demo_windows):
    """``driftline.evaluate`` with the training set as reference: the same numbers."""
    train_set, windows = demo_windows
    for window in windows:
        evaluation = driftline.evaluate(
            "builtin:histogram_data_drift", sample=window, reference=train_set, label_names=["label"]
        )
        frame = evaluation.results_frame().set_index("result_name")
        assert frame.loc["general_drift", "result_value"] == pytest.approx(
            mlrun_numbers(train_set, window)["general_drift"], abs=1e-9
        )


def test_a_model_without_label_profile_averages_its_features_only(demo_windows):
    train_set, windows = demo_windows
    context = _context(train_set, windows[1])
    assert context.model is not None
    context.model.label_stats = {}
    output = HistogramDataDriftApplication().do_tracking(context)
    general = next(r for r in output if isinstance(r, AppResult) and r.name == "general_drift")
    expected = mlrun_numbers(train_set.drop(columns="label"), windows[1])["general_drift"]
    assert general.value == pytest.approx(expected, abs=1e-9)
