"""Joint drift by a domain classifier: can a model tell the window's rows from the reference's?

A classifier is trained to separate a reference sample (label 0) from a window sample (label 1), both encoded
the same way (:mod:`.encoding`). Its stratified K-fold out-of-fold scores give one ROC AUC over all rows: 0.5
when the two samples come from one distribution, higher the better they can be told apart, whatever the
difference (marginals, correlations, clusters, interactions).

The null. Under no drift the out-of-fold scores carry no information about the label, so the AUC is the
Mann-Whitney statistic of two exchangeable samples: mean 0.5, variance ``(n0 + n1 + 1) / (12 n0 n1)`` (the
no-ties formula; ties only shrink it, so the test errs on the quiet side). One-sided (an AUC below 0.5 is
noise), p = P(N(0.5, var) >= AUC). A permutation null would be exact but costs one classifier per permutation,
which a window's time budget does not have; ``bench/joint_drift.py`` measures the false-alarm rate instead.

Bounded time. Both sides are subsampled to ``max_rows`` (default 5,000 each), the classifier is scikit-learn's
``HistGradientBoostingClassifier`` with ``max_iter`` (default 50) shallow trees and no early stopping, on
``folds`` (default 5) folds; a window therefore costs the same whatever its size (the caps and the elapsed time
are reported). ``model="logistic"`` (logistic regression on the same encoding) is faster but sees only changes in
means: a flipped correlation with unchanged marginals is invisible to a linear score.

Which features: when the test is significant, permutation importance on two held-out folds (the drop in AUC
when one feature's encoded columns are shuffled), averaged.

The reference sample is stored encoded (float32, base64 in ``to_dict``): 5,000 rows x 60 encoded columns is
~1.6 MB of JSON, an S3 object referenced from the model record rather than part of it.
"""

from __future__ import annotations

import base64
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from driftline.errors import ConfigurationError, InvalidRequestError
from driftline.stats.multivariate.encoding import DEFAULT_MAX_CATEGORIES, FeatureEncoder, fit_encoder
from driftline.stats.multivariate.verdict import MultivariateVerdict, status_for

CLASSIFIER_VERSION = 1
METHOD = "domain_classifier_auc"
DEFAULT_MAX_ROWS = 5_000
DEFAULT_FOLDS = 5
DEFAULT_MAX_ITER = 50
DEFAULT_FALSE_ALARM_RATE = 0.01
DEFAULT_AUC_EFFECT = 0.05  # AUC - 0.5: an AUC of 0.55 or more is a difference worth a "detected"
MIN_ROWS = 20
IMPORTANCE_FOLDS = 2
MODELS = ("hgb", "logistic")


def _rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


@dataclass(frozen=True)
class ClassifierReference:
    """The encoder and an encoded sample of reference rows (``rows x encoder.width``, float32)."""

    encoder: FeatureEncoder
    sample: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        data = np.ascontiguousarray(self.sample, dtype="<f4")
        return {
            "v": CLASSIFIER_VERSION,
            "method": METHOD,
            "encoder": self.encoder.to_dict(),
            "rows": int(data.shape[0]),
            "width": int(data.shape[1]),
            "sample_f32_base64": base64.b64encode(data.tobytes()).decode("ascii"),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ClassifierReference:
        try:
            if int(data["v"]) != CLASSIFIER_VERSION or data.get("method") != METHOD:
                raise ValueError(f"expected {METHOD} version {CLASSIFIER_VERSION}, got {data.get('v')}")
            encoder = FeatureEncoder.from_dict(data["encoder"])
            raw = base64.b64decode(data["sample_f32_base64"], validate=True)
            sample = np.frombuffer(raw, dtype="<f4").reshape(int(data["rows"]), int(data["width"]))
            if sample.shape[1] != encoder.width:
                raise ValueError(f"sample has {sample.shape[1]} columns, the encoder {encoder.width}")
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidRequestError(f"classifier reference: malformed artefact ({exc})") from exc
        return cls(encoder=encoder, sample=sample.astype(np.float32))


def fit_classifier_reference(
    df: pd.DataFrame,
    columns: Sequence[str] | None = None,
    *,
    feature_stats: Mapping[str, Any] | None = None,
    encoder: FeatureEncoder | None = None,
    max_rows: int = DEFAULT_MAX_ROWS,
    max_categories: int = DEFAULT_MAX_CATEGORIES,
    seed: int | np.random.Generator | None = None,
) -> ClassifierReference:
    """A random sample of at most ``max_rows`` reference rows, encoded (pass the reconstruction reference's
    ``encoder`` to share one encoding)."""
    encoder = encoder or fit_encoder(df, columns, feature_stats, max_categories)
    encoder.check_columns(df)
    if len(df) < MIN_ROWS:
        raise InvalidRequestError(f"the reference has {len(df)} rows; expected at least {MIN_ROWS}")
    rows = _rng(seed).permutation(len(df))[:max_rows]
    sample = encoder.encode(df.iloc[np.sort(rows)]).matrix.astype(np.float32)
    return ClassifierReference(encoder=encoder, sample=sample)


def _auc(labels: np.ndarray, scores: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels, scores))


def _model(kind: str, max_iter: int, seed: int) -> Any:
    if kind == "hgb":
        from sklearn.ensemble import HistGradientBoostingClassifier

        return HistGradientBoostingClassifier(
            max_iter=max_iter, learning_rate=0.1, max_leaf_nodes=15, early_stopping=False, random_state=seed
        )
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=max(max_iter, 100))


def _importances(
    encoder: FeatureEncoder,
    fitted: list[tuple[Any, np.ndarray]],
    x: np.ndarray,
    y: np.ndarray,
    rng: np.random.Generator,
    top: int,
) -> list[dict[str, Any]]:
    names = encoder.names
    drops = np.zeros(len(names))
    # two held-out folds are enough to rank features; every fold would triple a drifted window's cost
    used = fitted[:IMPORTANCE_FOLDS]
    for clf, test in used:
        xt, yt = x[test], y[test]
        base = _auc(yt, clf.predict_proba(xt)[:, 1])
        for i, (start, width) in enumerate(zip(encoder.starts, (c.width for c in encoder.columns), strict=True)):
            shuffled = xt.copy()
            shuffled[:, start : start + width] = xt[rng.permutation(xt.shape[0]), start : start + width]
            drops[i] += base - _auc(yt, clf.predict_proba(shuffled)[:, 1])
    drops /= len(used)
    return [{"feature": names[i], "auc_drop_when_permuted": float(drops[i])} for i in np.argsort(-drops)[:top]]


def classifier_drift(
    reference: ClassifierReference,
    df: pd.DataFrame,
    *,
    model: str = "hgb",
    max_rows: int = DEFAULT_MAX_ROWS,
    folds: int = DEFAULT_FOLDS,
    max_iter: int = DEFAULT_MAX_ITER,
    false_alarm_rate: float = DEFAULT_FALSE_ALARM_RATE,
    effect_threshold: float = DEFAULT_AUC_EFFECT,
    importances: bool = True,
    top: int = 5,
    threads: int = 1,
    seed: int | np.random.Generator | None = None,
) -> MultivariateVerdict:
    """Cross-validated AUC of reference-vs-window, judged against its Mann-Whitney null."""
    if model not in MODELS:
        raise ConfigurationError(f"model {model!r}; expected one of {list(MODELS)}")
    if not 0.0 < false_alarm_rate < 1.0:
        raise ConfigurationError(f"false_alarm_rate must be in (0, 1), got {false_alarm_rate!r}")
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
        raise ConfigurationError(f"folds must be a whole number >= 2, got {folds!r}")
    started = time.perf_counter()
    rng = _rng(seed)
    reference.encoder.check_columns(df)
    if len(df) < MIN_ROWS:
        raise InvalidRequestError(f"the window has {len(df)} rows; expected at least {MIN_ROWS} for a classifier")
    picked = np.sort(rng.permutation(len(df))[:max_rows]) if len(df) > max_rows else None
    window = df if picked is None else df.iloc[picked]
    encoded = reference.encoder.encode(window)
    ref = reference.sample
    if ref.shape[0] > max_rows:
        ref = ref[np.sort(rng.permutation(ref.shape[0])[:max_rows])]
    x = np.vstack([ref, encoded.matrix.astype(np.float32)])
    y = np.concatenate([np.zeros(ref.shape[0], dtype=np.int8), np.ones(encoded.rows, dtype=np.int8)])
    n0, n1 = int(ref.shape[0]), int(encoded.rows)
    if min(n0, n1) < folds:
        raise InvalidRequestError(f"{min(n0, n1)} rows on one side for {folds} folds; expected at least one per fold")

    from scipy.special import ndtr, ndtri
    from sklearn.model_selection import StratifiedKFold
    from threadpoolctl import threadpool_limits

    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=int(rng.integers(2**31 - 1)))
    scores = np.empty(y.size, dtype=np.float64)
    fitted: list[tuple[Any, np.ndarray]] = []
    # OpenMP threads spin-wait for each other: on a busy 2-core host (or a Lambda's fractional vCPU) a 0.1 s fit
    # took 7 s with 2 threads, so the pool is capped (``threads``, default 1)
    with threadpool_limits(limits=threads):
        for train, test in splitter.split(x, y):
            clf = _model(model, max_iter, int(rng.integers(2**31 - 1)))
            clf.fit(x[train], y[train])
            scores[test] = clf.predict_proba(x[test])[:, 1]
            fitted.append((clf, test))
        auc = _auc(y, scores)
        sd = math.sqrt((n0 + n1 + 1) / (12.0 * n0 * n1))
        p_value = float(ndtr(-(auc - 0.5) / sd))
        upper = 0.5 + float(ndtri(1.0 - false_alarm_rate)) * sd
        contributions: list[dict[str, Any]] = []
        if importances and p_value <= false_alarm_rate:
            contributions = _importances(reference.encoder, fitted, x, y, rng, top)
    return MultivariateVerdict(
        method=METHOD,
        value=auc,
        status=status_for(p_value, false_alarm_rate, auc - 0.5, effect_threshold),
        band=(0.0, upper),
        false_alarm_rate=false_alarm_rate,
        p_value=p_value,
        effect=auc - 0.5,
        effect_threshold=effect_threshold,
        rows=len(df),
        reference_value=0.5,
        contributions=contributions,
        details={
            "effect_method": "cross-validated AUC - 0.5",
            "model": model,
            "folds": folds,
            "max_iter": max_iter,
            "row_cap": max_rows,
            "reference_rows_used": n0,
            "window_rows_used": n1,
            "null": "Mann-Whitney normal approximation, one-sided",
            "importance": "mean AUC drop on held-out folds when a feature is permuted" if contributions else None,
            "seconds": time.perf_counter() - started,
            "missing_imputed": int(sum(encoded.missing.values())),
            "unseen_categories": int(sum(encoded.unseen.values())),
        },
    )
