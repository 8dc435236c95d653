"""Performance before labels: CBPE (binary and 3 classes) and DLE under covariate shift, against the realized
metrics the model-performance app computes from the labels, and NannyML's CBPE and DLE on the same windows.

Data (fixed seeds): 8 numeric features; the true P(y | x) is logistic with an interaction (binary) or a softmax
(3 classes); the model is scikit-learn's HistGradientBoosting trained on 20k rows; the reference (labelled, for
calibration) is 20k other rows; 50 windows of 2,000 rows each move the inputs' means (covariate shift, P(y | x)
unchanged). Regression: y = linear + noise whose spread grows with |x0|; windows shift x0. Realized metrics come
from the built-in ``model_performance`` app (``driftline/applications/builtin/model_performance.py``).

Prints, per metric: mean |estimate - realized| over the 50 windows (target for accuracy: <= 0.02), the empirical
coverage of the 95 % band with its Clopper-Pearson interval, and time per window; then NannyML's figures on the
same windows (its band is +-3 sampling errors; its +-1.96 sampling errors is shown too). Figures, never pass/fail.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from driftline.stats.performance_estimation import (  # noqa: E402
    estimate_classification,
    estimate_regression,
    fit_cbpe,
    fit_dle,
    with_realized,
)

SEED = 20261205
D = 8
WINDOWS = 50
ROWS = 2_000
TRAIN = 20_000
REFERENCE = 20_000


def load_app() -> object:
    """The model-performance app's module: its realized metrics are what the benchmark compares with."""
    import driftline.applications.builtin.model_performance as module

    return module


def clopper_pearson(k: int, n: int) -> tuple[float, float]:
    from scipy.stats import beta

    low = float(beta.ppf(0.025, k, n - k + 1)) if k else 0.0
    high = float(beta.ppf(0.975, k + 1, n - k)) if k < n else 1.0
    return low, high


def coverage_text(hits: list[bool]) -> str:
    k, n = int(sum(hits)), len(hits)
    low, high = clopper_pearson(k, n)
    return f"{100 * k / n:5.1f} % (CI {100 * low:.0f}-{100 * high:.0f} %)"


class World:
    def __init__(self, rng: np.random.Generator) -> None:
        self.w = rng.normal(size=D) * 0.7
        self.w3 = rng.normal(size=(D, 3)) * 0.7
        self.shifts = [rng.normal(0, 0.6, size=D) for _ in range(WINDOWS)]

    def binary(
        self, rng: np.random.Generator, n: int, shift: np.ndarray | float = 0.0
    ) -> tuple[np.ndarray, np.ndarray]:
        x = rng.normal(size=(n, D)) + shift
        logit = x @ self.w + 0.6 * x[:, 0] * x[:, 1]
        return x, (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)

    def multiclass(
        self, rng: np.random.Generator, n: int, shift: np.ndarray | float = 0.0
    ) -> tuple[np.ndarray, np.ndarray]:
        x = rng.normal(size=(n, D)) + shift
        logits = x @ self.w3
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        return x, (rng.random(n)[:, None] > np.cumsum(p, axis=1)).sum(axis=1)

    def regression(self, rng: np.random.Generator, n: int, shift: float = 0.0) -> tuple[pd.DataFrame, np.ndarray]:
        x = rng.normal(size=(n, D))
        x[:, 0] += shift
        y = x @ self.w + rng.normal(size=n) * (0.3 + 0.7 * np.abs(x[:, 0]))
        return pd.DataFrame(x, columns=[f"x{i}" for i in range(D)]), y


def run_nannyml(folder: Path) -> dict | None:
    if os.environ.get("DRIFTLINE_BENCH_SKIP_NANNYML") == "1":
        print("note: NannyML skipped (DRIFTLINE_BENCH_SKIP_NANNYML=1)")
        return None
    built = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "_nannyml_env.py")], capture_output=True, text=True, check=False
    )
    if built.returncode != 0:
        note = (built.stderr.strip().splitlines() or ["unknown reason"])[-1]
        print(f"note: NannyML skipped: its environment (bench/.venv-nannyml) could not be built: {note}")
        return None
    python = built.stdout.strip().splitlines()[-1]
    done = subprocess.run(
        [python, str(ROOT / "bench" / "_nannyml_run.py"), "estimation", str(folder), str(ROWS)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        print(f"note: NannyML run failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def summarise(label: str, rows: list[dict], metrics: tuple[str, ...], seconds: float) -> None:
    for name in metrics:
        errors = [abs(r[name].value - r[name].realized) for r in rows if r[name].realized is not None]
        hits = [r[name].lower <= r[name].realized <= r[name].upper for r in rows if r[name].realized is not None]
        width = np.mean([r[name].upper - r[name].lower for r in rows])
        realized = [r[name].realized for r in rows if r[name].realized is not None]
        print(
            f"  {label:<11} {name:<9} mean |est - realized| {np.mean(errors):.4f} (max {np.max(errors):.4f}); "
            f"95 % band covers {coverage_text(hits)}; mean width {width:.4f}; realized spans "
            f"{min(realized):.3f}-{max(realized):.3f}"
        )
    print(f"  {label:<11} {seconds * 1000:.0f} ms per window")


def main() -> int:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    app = load_app()
    rng = np.random.default_rng(SEED)
    world = World(rng)

    # ---- binary
    model = HistGradientBoostingClassifier(max_iter=100, random_state=0).fit(*world.binary(rng, TRAIN))
    xr, yr = world.binary(rng, REFERENCE)
    ref_scores = model.predict_proba(xr)[:, 1]
    start = time.perf_counter()
    cbpe = fit_cbpe(ref_scores, yr, model.predict(xr), seed=0)
    fit_seconds = time.perf_counter() - start
    rows, spent, windows = [], 0.0, []
    for i, shift in enumerate(world.shifts):
        x, y = world.binary(rng, ROWS, shift)
        scores, predicted = model.predict_proba(x)[:, 1], model.predict(x)
        start = time.perf_counter()
        estimate = estimate_classification(cbpe, scores, predicted, seed=i)
        spent += time.perf_counter() - start
        truth = app.classification_metrics(y, predicted)
        truth["roc_auc"] = app.roc_auc(y == 1, scores)
        rows.append(with_realized(estimate, truth).metrics)
        windows.append((scores, predicted, y, truth))
    print(
        f"CBPE binary: reference {REFERENCE:,} labelled rows, calibration {cbpe.calibrators[0].method} "
        f"(fit {fit_seconds:.2f} s), reference accuracy {cbpe.reference_metrics['accuracy']:.3f}, "
        f"cross-fitted gap {cbpe.reference_gap['accuracy']:+.4f}; {WINDOWS} shifted windows of {ROWS:,} rows"
    )
    summarise("driftline", rows, ("accuracy", "f1", "roc_auc"), spent / WINDOWS)
    artefact = len(json.dumps(cbpe.to_dict()))

    # ---- multiclass
    model3 = HistGradientBoostingClassifier(max_iter=100, random_state=0).fit(*world.multiclass(rng, TRAIN))
    xr3, yr3 = world.multiclass(rng, REFERENCE)
    cbpe3 = fit_cbpe(model3.predict_proba(xr3), yr3, model3.predict(xr3), seed=0)
    rows3, spent3 = [], 0.0
    for i, shift in enumerate(world.shifts):
        x, y = world.multiclass(rng, ROWS, shift)
        scores, predicted = model3.predict_proba(x), model3.predict(x)
        start = time.perf_counter()
        estimate = estimate_classification(cbpe3, scores, predicted, seed=i)
        spent3 += time.perf_counter() - start
        rows3.append(with_realized(estimate, app.classification_metrics(y, predicted)).metrics)
    print(f"\nCBPE 3 classes: calibration {[c.method for c in cbpe3.calibrators]}")
    summarise("driftline", rows3, ("accuracy", "f1"), spent3 / WINDOWS)
    artefact3 = len(json.dumps(cbpe3.to_dict()))

    # ---- regression
    reg = HistGradientBoostingRegressor(max_iter=100, random_state=0).fit(*world.regression(rng, TRAIN))
    fr, yreg = world.regression(rng, REFERENCE)
    start = time.perf_counter()
    dle = fit_dle(fr, reg.predict(fr), yreg, seed=0)
    dle_fit = time.perf_counter() - start
    rows_r, spent_r, reg_windows = [], 0.0, []
    for i in range(WINDOWS):
        frame, y = world.regression(rng, ROWS, float(world.shifts[i][0]) * 1.5)
        prediction = reg.predict(frame)
        start = time.perf_counter()
        estimate = estimate_regression(dle, frame, prediction)
        spent_r += time.perf_counter() - start
        rows_r.append(with_realized(estimate, app.regression_metrics(y, prediction)).metrics)
        reg_windows.append(frame.assign(y_pred=prediction, y_true=y))
    print(
        f"\nDLE: 2 x 100 trees of depth 3 (fit {dle_fit:.1f} s), spread corrections mae {dle.abs_spread:.2f} "
        f"mse {dle.sq_spread:.2f}, held-out gap mae {dle.reference_gap['mae']:+.4f}"
    )
    summarise("driftline", rows_r, ("mae", "rmse"), spent_r / WINDOWS)
    artefact_r = len(json.dumps(dle.to_dict()))
    big = pd.concat([reg_windows[0]] * 50, ignore_index=True)
    start = time.perf_counter()
    estimate_regression(dle, big.drop(columns=["y_pred", "y_true"]), big["y_pred"].to_numpy())
    big_r = time.perf_counter() - start
    big_scores = np.concatenate([w[0] for w in windows])
    start = time.perf_counter()
    estimate_classification(cbpe, big_scores, seed=0)
    big_c = time.perf_counter() - start
    print(
        f"\nsizes: CBPE binary {artefact / 1024:.1f} KB, 3 classes {artefact3 / 1024:.1f} KB, "
        f"DLE {artefact_r / 1024:.0f} KB of JSON; 100k-row windows: CBPE {big_c:.2f} s, DLE {big_r:.2f} s"
    )

    # ---- NannyML on the same windows
    with tempfile.TemporaryDirectory(prefix="driftline-estimation-") as tmp:
        folder = Path(tmp)
        pd.DataFrame({"y_pred_proba": ref_scores, "y_pred": model.predict(xr), "y_true": yr}).to_parquet(
            folder / "reference.parquet"
        )
        pd.concat(
            [pd.DataFrame({"y_pred_proba": s, "y_pred": p, "y_true": y}) for s, p, y, _ in windows], ignore_index=True
        ).to_parquet(folder / "analysis.parquet")
        fr.assign(y_pred=reg.predict(fr), y_true=yreg).to_parquet(folder / "reg_reference.parquet")
        pd.concat(reg_windows, ignore_index=True).to_parquet(folder / "reg_analysis.parquet")
        peers = run_nannyml(folder)
    if not peers:
        return 0
    print(f"\nNannyML 0.13.1 on the same windows (one chunk of {ROWS:,} rows each)")
    for name in ("accuracy", "f1", "roc_auc"):
        chunks = peers["cbpe"][name]
        realized = [w[3][name] for w in windows]
        ours = [r[name].value for r in rows]
        errors = [abs(c["value"] - r) for c, r in zip(chunks, realized, strict=True)]
        wide = [
            c["lower_confidence_boundary"] <= r <= c["upper_confidence_boundary"]
            for c, r in zip(chunks, realized, strict=True)
        ]
        narrow = [abs(c["value"] - r) <= 1.96 * c["sampling_error"] for c, r in zip(chunks, realized, strict=True)]
        agree = np.mean([abs(c["value"] - o) for c, o in zip(chunks, ours, strict=True)])
        print(
            f"  NannyML CBPE {name:<9} mean |est - realized| {np.mean(errors):.4f}; +-3 SE band covers "
            f"{coverage_text(wide)}; +-1.96 SE covers {coverage_text(narrow)}; mean |NannyML - driftline| {agree:.4f}"
        )
    print(
        f"  NannyML CBPE fit {peers['cbpe_fit_seconds']:.2f} s, "
        f"estimate {peers['cbpe_seconds'] / WINDOWS * 1000:.0f} ms per window"
    )
    for name in ("mae", "rmse"):
        chunks = peers["dle"][name]
        realized = [r[name].realized for r in rows_r]
        ours = [r[name].value for r in rows_r]
        errors = [abs(c["value"] - r) for c, r in zip(chunks, realized, strict=True)]
        wide = [
            c["lower_confidence_boundary"] <= r <= c["upper_confidence_boundary"]
            for c, r in zip(chunks, realized, strict=True)
        ]
        agree = np.mean([abs(c["value"] - o) for c, o in zip(chunks, ours, strict=True)])
        print(
            f"  NannyML DLE  {name:<9} mean |est - realized| {np.mean(errors):.4f}; +-3 SE band covers "
            f"{coverage_text(wide)}; mean |NannyML - driftline| {agree:.4f}"
        )
    print(
        f"  NannyML DLE fit {peers['dle_fit_seconds']:.1f} s, "
        f"estimate {peers['dle_seconds'] / WINDOWS * 1000:.0f} ms per window"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
