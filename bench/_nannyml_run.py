"""Runs inside bench/.venv-nannyml (nannyml 0.13.1, pandas < 3): NannyML on the data written by
bench/joint_drift.py (``joint``: the PCA data-reconstruction drift calculator) or bench/performance_estimation.py
(``estimation``: CBPE and DLE), one chunk per benchmark window. Prints one JSON object."""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

import pandas as pd

warnings.filterwarnings("ignore")
import nannyml as nml  # noqa: E402 - after silencing its import-time warnings

KEYS = ("value", "sampling_error", "lower_confidence_boundary", "upper_confidence_boundary", "alert")


def plain(value: object) -> object:
    if pd.isna(value):
        return None
    return value.item() if hasattr(value, "item") else value


def chunks(frame: pd.DataFrame, metric: str) -> list[dict]:
    """One dict per chunk (= benchmark window) of NannyML's result columns for ``metric``."""
    keys = [k for k in KEYS if (metric, k) in frame.columns]
    return [{k: plain(row[(metric, k)]) for k in keys} for _, row in frame.iterrows()]


def joint(folder: Path, size: int) -> dict:
    reference = pd.read_parquet(folder / "reference.parquet")
    windows = pd.read_parquet(folder / "windows.parquet")
    features = list(reference.columns)
    start = time.perf_counter()
    calculator = nml.DataReconstructionDriftCalculator(column_names=features, chunk_size=size).fit(reference)
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    result = calculator.calculate(windows[features]).filter(period="analysis").to_df()
    per_window = (time.perf_counter() - start) / max(len(windows) // size, 1)
    big = pd.read_parquet(folder / "big.parquet")
    one = nml.DataReconstructionDriftCalculator(column_names=features, chunk_number=1).fit(reference)
    start = time.perf_counter()
    one.calculate(big)
    big_seconds = time.perf_counter() - start
    return {
        "chunks": chunks(result, "reconstruction_error"),
        "fit_seconds": fit_seconds,
        "seconds_per_window": per_window,
        "big_seconds": big_seconds,
    }


def estimation(folder: Path, size: int) -> dict:
    reference = pd.read_parquet(folder / "reference.parquet")
    analysis = pd.read_parquet(folder / "analysis.parquet")
    start = time.perf_counter()
    cbpe = nml.CBPE(
        y_pred_proba="y_pred_proba",
        y_pred="y_pred",
        y_true="y_true",
        problem_type="classification_binary",
        metrics=["accuracy", "f1", "roc_auc"],
        chunk_size=size,
    ).fit(reference)
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    result = cbpe.estimate(analysis.drop(columns=["y_true"])).filter(period="analysis").to_df()
    seconds = time.perf_counter() - start
    out = {
        "cbpe": {m: chunks(result, m) for m in ("accuracy", "f1", "roc_auc")},
        "cbpe_fit_seconds": fit_seconds,
        "cbpe_seconds": seconds,
    }
    reg_ref = pd.read_parquet(folder / "reg_reference.parquet")
    reg_ana = pd.read_parquet(folder / "reg_analysis.parquet")
    features = [c for c in reg_ref.columns if c not in ("y_pred", "y_true")]
    start = time.perf_counter()
    dle = nml.DLE(
        feature_column_names=features, y_pred="y_pred", y_true="y_true", metrics=["mae", "rmse"], chunk_size=size
    ).fit(reg_ref)
    out["dle_fit_seconds"] = time.perf_counter() - start
    start = time.perf_counter()
    result = dle.estimate(reg_ana.drop(columns=["y_true"])).filter(period="analysis").to_df()
    out["dle_seconds"] = time.perf_counter() - start
    out["dle"] = {m: chunks(result, m) for m in ("mae", "rmse")}
    return out


def main() -> int:
    mode, folder, size = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    print(json.dumps(joint(folder, size) if mode == "joint" else estimation(folder, size)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
