"""The built-in histogram drift app against a plain numpy computation of the same numbers (issue 12's target:
within 2x), on one window of 100k rows x 20 numeric features plus the label column (MLRun's profile includes it).

Baseline, measured in the same run: for each column, ``np.histogram`` of the window on the padded reference edges,
then TVD, Hellinger and KLD with numpy, their means and ``general_drift`` (what a person would write by hand
from MLRun's definitions; the reference histograms are precomputed for both). The app runs as the app function runs
it: ``do_tracking`` on a context whose ``sample_df`` is already loaded (reading parquet is the same for both and not
timed). Both give the same ``general_drift`` (checked to 1e-9 before timing). Prints figures, never pass/fail.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from driftline.applications import MonitoringApplicationContext  # noqa: E402
from driftline.applications.builtin.histogram_data_drift import HistogramDataDriftApplication  # noqa: E402
from driftline.records import EndpointRecord, ModelRecord  # noqa: E402
from driftline.schemas import AppResult  # noqa: E402
from driftline.stats.reference import compute_reference_profile  # noqa: E402

SEED = 20261204
ROWS = 100_000
FEATURES = 20
REPEATS = 7
FLOAT_MAX = sys.float_info.max


def data(rng: np.random.Generator, shifted: bool) -> pd.DataFrame:
    columns = {}
    for i in range(FEATURES):
        shift = 0.5 if shifted and i % 3 == 0 else 0.0
        columns[f"f{i:02d}"] = rng.normal(shift, 1 + i / 10, ROWS)
    columns["label"] = rng.integers(0, 3 if not shifted else 4, ROWS).astype(float)
    return pd.DataFrame(columns)


def padded(profile: dict) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    out = {}
    for name, stats in profile.items():
        counts, edges = stats["hist"]
        edges = np.concatenate(([-FLOAT_MAX], edges, [FLOAT_MAX]))
        counts = np.concatenate(([0.0], counts, [0.0]))
        out[name] = (edges, counts / counts.sum())
    return out


def numpy_numbers(references: dict[str, tuple[np.ndarray, np.ndarray]], window: pd.DataFrame) -> float:
    tvd, hellinger, kld = [], [], []
    for name, (edges, q) in references.items():
        values = window[name].to_numpy()
        values = values[~np.isnan(values)]
        p = np.histogram(values, bins=edges)[0] / values.size
        tvd.append(np.abs(p - q).sum() / 2)
        hellinger.append(np.sqrt(max(1 - np.sqrt(p * q).sum(), 0.0)))
        pz, qz = p != 0, q != 0
        qq, pp = np.where(qz, q, 1e-4), np.where(pz, p, 1e-4)
        kld.append(np.sum(p[pz] * np.log(p[pz] / qq[pz])) + np.sum(q[qz] * np.log(q[qz] / pp[qz])))
    return float((np.mean(tvd) + np.mean(hellinger)) / 2)


def context(model: ModelRecord, window: pd.DataFrame) -> MonitoringApplicationContext:
    endpoint = EndpointRecord("e", "p", "m", "serving", model.uri, "1", model.feature_names, ["label"])
    ctx = MonitoringApplicationContext(
        application_name="histogram-data-drift",
        project_name="p",
        start_infer_time=datetime(2026, 12, 4, tzinfo=UTC),
        end_infer_time=datetime(2026, 12, 4, 0, 10, tzinfo=UTC),
        model_endpoint=endpoint,
        model=model,
        sample_df_loader=lambda: window,
        logger=None,
    )
    assert len(ctx.sample_df) == ROWS  # loaded before timing, as both sides get the same frame
    return ctx


def best_of(func, *args) -> tuple[float, object]:
    best, value = float("inf"), None
    for _ in range(REPEATS):
        start = time.perf_counter()
        value = func(*args)
        best = min(best, time.perf_counter() - start)
    return best, value


def main() -> int:
    rng = np.random.default_rng(SEED)
    training = data(rng, shifted=False)
    window = data(rng, shifted=True)
    features = [c for c in training.columns if c != "label"]
    model = ModelRecord(
        "p",
        "m",
        "1",
        "store://models/p/m:1",
        "k",
        feature_names=features,
        label_names=["label"],
        feature_stats=compute_reference_profile(training[features]),
        label_stats=compute_reference_profile(training[["label"]]),
    )
    references = padded(model.feature_stats | model.label_stats)
    app = HistogramDataDriftApplication()

    def run_app() -> float:
        output = app.do_tracking(context(model, window))
        return next(r.value for r in output if isinstance(r, AppResult) and r.name == "general_drift")

    baseline_s, baseline_value = best_of(numpy_numbers, references, window)
    app_s, app_value = best_of(run_app)
    assert isinstance(app_value, float)
    assert isinstance(baseline_value, float)
    if abs(app_value - baseline_value) > 1e-9:
        print(f"MISMATCH: app general_drift {app_value!r} != numpy {baseline_value!r}")
        return 1
    print(f"window: {ROWS:,} rows x {FEATURES} features + label; best of {REPEATS}")
    print(f"  plain numpy (np.histogram + distances):   {baseline_s * 1000:8.1f} ms")
    print(f"  histogram app (do_tracking, all results): {app_s * 1000:8.1f} ms")
    print(f"  ratio app / numpy: {app_s / baseline_s:.2f}x (target: within 2x)")
    print(f"  general_drift: {app_value:.6f} (numpy {baseline_value:.6f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
