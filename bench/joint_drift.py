"""Joint drift: changes per-feature tests cannot see, caught by PCA reconstruction error and a domain classifier;
side by side with NannyML's PCA data-reconstruction drift calculator.

Data (fixed seeds): a 50k-row reference of 20 numeric features (a correlated pair, a 4-feature factor block, a
numeric-categorical dependency, independent normal/lognormal/uniform features) and 5 categorical ones. Windows of
2,000 rows (NannyML: one chunk of 2,000 rows per window). Scenarios whose every marginal is unchanged:

* ``corr_flip``: the pair's correlation 0.8 -> -0.8;
* ``block_broken``: the factor block's columns shuffled independently (each keeps its distribution, the common
  factor is gone);
* ``cat_link_broken``: the category that followed a number's sign no longer does;
* ``mix_shift``: the population moves from 50/50 to 80/20 between two sub-populations that differ only in the
  sign of one pair's correlation (each feature is symmetric, so every marginal is exactly the same).

Prints: per scenario the verdicts (per-feature tests; PCA; classifier; NannyML's alert), false alarms over 200
no-drift windows with their 95 % Clopper-Pearson intervals, the PCA band's calibration at 100 to 20k rows, and the
time for a 100k x 25 window. Figures, never pass/fail.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._side_env import run_in  # noqa: E402
from driftline.schemas import ResultStatus  # noqa: E402
from driftline.stats.drift import assess  # noqa: E402
from driftline.stats.multivariate import (  # noqa: E402
    classifier_drift,
    fit_classifier_reference,
    fit_reconstruction,
    reconstruction_drift,
)
from driftline.stats.reference import compute_reference_profile, references_from_profile, window_sketches  # noqa: E402

SEED = 20261204
N_REF = 50_000
ROWS = 2_000
NODRIFT = 200
CLASSIFIER_NODRIFT = 100  # ~0.5 s each
BIG = 100_000
LEVELS = [f"l{i}" for i in range(6)]
SCENARIOS = ("corr_flip", "block_broken", "cat_link_broken", "mix_shift")


def frame(rng: np.random.Generator, n: int, scenario: str = "none") -> pd.DataFrame:
    rho = -0.8 if scenario == "corr_flip" else 0.8
    z = rng.normal(size=n)
    cols: dict[str, np.ndarray] = {"pair_a": z, "pair_b": rho * z + np.sqrt(1 - rho * rho) * rng.normal(size=n)}
    factor = rng.normal(size=n)
    for i in range(4):
        column = 0.85 * factor + np.sqrt(1 - 0.85**2) * rng.normal(size=n)
        cols[f"block_{i}"] = rng.permutation(column) if scenario == "block_broken" else column
    # two sub-populations: the mix pair's correlation +0.8 or -0.8; the share of the second moves
    second = rng.random(n) < (0.8 if scenario == "mix_shift" else 0.5)
    s = rng.normal(size=n)
    cols["mix_a"] = s
    cols["mix_b"] = np.where(second, -0.8, 0.8) * s + 0.6 * rng.normal(size=n)
    link = rng.normal(size=n)
    cols["link_num"] = link
    for i in range(11):
        kind = i % 3
        cols[f"ind_{i}"] = (
            rng.normal(size=n) if kind == 0 else rng.lognormal(0, 0.5, size=n) if kind == 1 else rng.uniform(size=n)
        )
    df = pd.DataFrame(cols)
    follows = rng.random(n) < 0.9
    sign = link > 0 if scenario != "cat_link_broken" else rng.random(n) < 0.5
    df["cat_link"] = np.where(follows == sign, "up", "down")
    for i in range(4):
        df[f"cat_{i}"] = rng.choice(LEVELS[: 3 + i], size=n)
    return df


def clopper_pearson(k: int, n: int) -> tuple[float, float]:
    from scipy.stats import beta

    low = float(beta.ppf(0.025, k, n - k + 1)) if k else 0.0
    high = float(beta.ppf(0.975, k + 1, n - k)) if k < n else 1.0
    return low, high


def rate(k: int, n: int) -> str:
    low, high = clopper_pearson(k, n)
    return f"{k}/{n} = {100 * k / n:4.1f} % (95 % CI {100 * low:.1f}-{100 * high:.1f} %)"


def nannyml(folder: Path) -> dict | None:
    if os.environ.get("DRIFTLINE_BENCH_SKIP_NANNYML") == "1":
        print("note: NannyML skipped (DRIFTLINE_BENCH_SKIP_NANNYML=1)")
        return None
    return run_in("nannyml", "_nannyml_run.py", "joint", str(folder), str(ROWS))


def best(func: Callable[[], T], repeats: int = 5) -> tuple[float, T]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = func()
        times.append(time.perf_counter() - start)
    return min(times), out


STATUS = {
    ResultStatus.detected: "DETECTED",
    ResultStatus.potential_detection: "potential",
    ResultStatus.no_detection: "-",
}


def main() -> int:
    rng = np.random.default_rng(SEED)
    reference = frame(rng, N_REF)
    start = time.perf_counter()
    pca = fit_reconstruction(reference, seed=1)
    pca_fit = time.perf_counter() - start
    start = time.perf_counter()
    clf_ref = fit_classifier_reference(reference, encoder=pca.encoder, seed=2)
    clf_fit = time.perf_counter() - start
    refs = references_from_profile(compute_reference_profile(reference))
    print(
        f"reference: {N_REF:,} rows x {reference.shape[1]} features -> {pca.encoder.width} encoded columns; PCA keeps "
        f"{pca.components.shape[0]} components ({100 * pca.explained_share:.0f} % of variance, target 65 %); "
        f"fit {pca_fit:.2f} s on {pca.fit_rows:,} rows, error distribution on {pca.holdout_rows:,} held-out rows; "
        f"classifier sample {clf_ref.sample.shape[0]:,} rows ({clf_fit:.2f} s)"
    )
    artefact = len(json.dumps(pca.to_dict()))
    sample = len(json.dumps(clf_ref.to_dict()))
    print(f"artefacts: PCA {artefact / 1024:.0f} KB of JSON; classifier sample {sample / 1024:.0f} KB")

    drifted = {s: frame(rng, ROWS, s) for s in SCENARIOS}
    nodrift = [frame(rng, ROWS) for _ in range(NODRIFT)]
    big = frame(rng, BIG, "corr_flip")
    windows = pd.concat([*drifted.values(), *nodrift], ignore_index=True)

    peers = None
    with tempfile.TemporaryDirectory(prefix="driftline-joint-") as tmp:
        folder = Path(tmp)
        reference.to_parquet(folder / "reference.parquet")
        windows.to_parquet(folder / "windows.parquet")
        big.to_parquet(folder / "big.parquet")
        peers = nannyml(folder)

    # 1. verdicts on drifted windows
    print(f"\n1. windows of {ROWS:,} rows whose marginals are unchanged (per-feature: KS / chi-square, BH-corrected)")
    header = (
        f"{'scenario':<17} {'per-feature':<12} {'PCA':<10} {'rel.change':>10} {'top features (PCA)':<32} "
        f"{'classifier':<10} {'AUC':>6} {'top (clf)':<24} {'NannyML':<8}"
    )
    print(header)
    print("-" * len(header))
    for i, (name, window) in enumerate(drifted.items()):
        verdicts, _ = assess(refs, window_sketches(window, refs))
        flagged = [v.feature for v in verdicts if v.status != ResultStatus.no_detection]
        per_feature = f"{len(flagged)} flagged"
        pca_v = reconstruction_drift(pca, window)
        clf_v = classifier_drift(clf_ref, window, seed=3)
        top_pca = ",".join(c["feature"] for c in pca_v.contributions[:3])
        top_clf = ",".join(c["feature"] for c in clf_v.contributions[:2])
        nml_text = "n/a"
        if peers:
            nml_text = "ALERT" if peers["chunks"][i]["alert"] else "-"
        print(
            f"{name:<17} {per_feature:<12} {STATUS[pca_v.status]:<10} {pca_v.effect:>10.3f} {top_pca:<32} "
            f"{STATUS[clf_v.status]:<10} {clf_v.value:6.3f} {top_clf:<24} {nml_text:<8}"
        )

    # 2. false alarms
    print(f"\n2. false alarms over {NODRIFT} no-drift windows of {ROWS:,} rows (target: detected <= 5 %)")
    pca_vs = [reconstruction_drift(pca, w) for w in nodrift]
    det = sum(v.status == ResultStatus.detected for v in pca_vs)
    pot = sum(v.status != ResultStatus.no_detection for v in pca_vs)
    print(
        f"  PCA (alpha 0.01, effect >= 5 %): detected {rate(det, NODRIFT)}; detected or potential {rate(pot, NODRIFT)}"
    )
    start = time.perf_counter()
    clf_vs = [classifier_drift(clf_ref, w, seed=10 + i) for i, w in enumerate(nodrift[:CLASSIFIER_NODRIFT])]
    clf_seconds = (time.perf_counter() - start) / CLASSIFIER_NODRIFT
    det = sum(v.status == ResultStatus.detected for v in clf_vs)
    pot = sum(v.status != ResultStatus.no_detection for v in clf_vs)
    print(
        f"  classifier (alpha 0.01, AUC >= 0.55): detected {rate(det, CLASSIFIER_NODRIFT)}; "
        f"detected or potential {rate(pot, CLASSIFIER_NODRIFT)}"
    )
    p_values = np.array([v.p_value for v in clf_vs])
    print(
        f"  classifier null check: share of p <= 0.05 is {np.mean(p_values <= 0.05):.3f}, <= 0.10 is "
        f"{np.mean(p_values <= 0.10):.3f} (Mann-Whitney normal null; uniform p would give 0.05 and 0.10)"
    )
    if peers:
        alerts = sum(bool(c["alert"]) for c in peers["chunks"][len(SCENARIOS) :])
        print(f"  NannyML (reference chunks' mean +- 3 sd): alerts {rate(alerts, NODRIFT)}")

    # 3. calibration of the PCA band by window size
    print("\n3. PCA band calibration: share of no-drift windows outside the band (p <= alpha), by window size")
    for n, count in ((100, 400), (1_000, 400), (20_000, 100)):
        ps = np.array([reconstruction_drift(pca, frame(rng, n)).p_value for _ in range(count)])
        print(
            f"  {n:>6,} rows x {count} windows: alpha 0.05 -> {rate(int(np.sum(ps <= 0.05)), count)}; "
            f"alpha 0.01 -> {rate(int(np.sum(ps <= 0.01)), count)}"
        )

    # 4. speed
    print(f"\n4. speed: one window of {BIG:,} rows x 25 features (best of 5)")
    seconds, verdict = best(lambda: reconstruction_drift(pca, big))
    print(f"  PCA reconstruction (encode + project + verdict): {seconds * 1000:7.1f} ms -> {STATUS[verdict.status]}")
    seconds, verdict = best(lambda: classifier_drift(clf_ref, big, seed=4), repeats=3)
    print(
        f"  domain classifier (5,000 rows a side, 5 folds x 50 trees, 1 thread, importances): {seconds * 1000:7.1f} ms "
        f"-> {STATUS[verdict.status]} (no-drift windows: {clf_seconds * 1000:.0f} ms each, no importances)"
    )
    seconds, _ = best(lambda: classifier_drift(clf_ref, big, model="logistic", seed=4), repeats=3)
    print(f"  logistic-regression classifier (sees only mean shifts):                  {seconds * 1000:7.1f} ms")
    if peers:
        print(
            f"  NannyML DataReconstructionDriftCalculator.calculate, same window:        "
            f"{peers['big_seconds'] * 1000:7.1f} ms (its fit: {peers['fit_seconds']:.2f} s; "
            f"per 2,000-row window: {peers['seconds_per_window'] * 1000:.1f} ms)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
