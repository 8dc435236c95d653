"""Model performance before the labels arrive: CBPE for classifiers, DLE for regressors.

**CBPE** (confidence-based performance estimation, NannyML's method, our code). If the model's scores are
calibrated probabilities, each prediction's chance of being right is known, and so is the *expected* confusion
matrix of a window: for class ``k``, ``TP_k = sum over rows predicted k of P(y = k)``, ``FP_k = sum over rows
predicted k of P(y != k)``, ``FN_k = sum over rows not predicted k of P(y = k)``. Accuracy is the mean
probability of the predicted class; F1 (binary: of the positive class; more classes: the macro mean over the
classes the window predicts or expects at least half a row of) follows from the expected counts; ROC AUC from the
expected true and false positive rates at every threshold of the model's own scores (one sort, cumulative sums).

Calibration is fitted at ``log_model`` time on a reference *with labels* (:func:`fit_cbpe`), per class one-vs-rest
(binary: the positive class), choosing among ``none``, ``isotonic`` and ``sigmoid`` (Platt scaling on the score's
logit) the one with the lowest Brier score on cross-fitted folds (each fold calibrated by a calibrator that never
saw it, so the choice is not flattered by over-fitting); the chosen method is then refitted on every reference
row. More classes: the calibrated one-vs-rest probabilities are renormalised to sum to 1. Stored as JSON:
isotonic knots (x, y; a window interpolates, no scikit-learn) or the sigmoid's two coefficients.

The band: where the *realized* metric of the window's rows falls, given their scores, if the calibration holds.
The labels are drawn ``draws`` times (default 400; fewer, at least 100, above 25k rows) from the calibrated
probabilities, each draw's metrics are computed exactly as the realized ones would be (vectorised: confusion
matrices by one ``bincount``, AUC from the scores' fixed ranks by one matrix product), and the band is the central
``coverage`` interval of the draws around the point estimate. This is
the Poisson-binomial spread of the correctness probabilities, for every metric at once (for accuracy it matches the
closed form ``sqrt(sum c (1 - c)) / n``). The calibration is itself an estimate from a finite reference: its
uncertainty is the spread of the window's point estimate over ``bootstrap`` calibrators (default 30) refitted on
resamples of the reference rows (the chosen method; isotonic where none was chosen, to measure how far the identity
may be off), combined with the draws' spread in quadrature (``calibration_sd`` in ``details``). The calibrator's
average error does not shrink with the window either, so the band is then widened on both sides by the reference's
cross-fitted gap (estimate minus realized on the reference rows, each row calibrated by a calibrator that never
saw it; stored as ``reference_gap``). What no reference can show is a model whose calibration changes in regions
the shift moves into (P(y | score) changing under covariate shift): ``bench/performance_estimation.py`` measures
the coverage that leaves.

**DLE** (direct loss estimation). A loss model predicts, from the features and the model's prediction, each row's
absolute error and squared error (two gradient-boosted tree ensembles of scikit-learn's
``GradientBoostingRegressor``, fitted at ``log_model`` on the reference with labels). Estimated MAE is the mean
predicted absolute error, RMSE the root of the mean predicted squared error. The trees are stored as plain arrays
(feature, threshold, children, value: :class:`TreeEnsemble`, ~75 KB of JSON for 2 x 100 trees of depth 3) and
evaluated with numpy, so the artefact is JSON like every other and no pickle is ever loaded from storage.
Band: per row, ``Var(|e|) = E[e^2] - E[|e|]^2`` and ``Var(e^2) = 2 E[e^2]^2`` (normal errors), each scaled by the
ratio of observed to predicted spread on held-out reference rows (so a loss model that is too confident is
corrected), summed over the window; MSE's band is mapped to RMSE by the square root; both are widened by the
loss models' gap (mean predicted minus realized loss) on the held-out rows. The loss model's bias under a shift
it was not fitted for is not in the band: the benchmark shows how much coverage that costs.

Both assume what NannyML assumes: no concept drift (P(y | x) unchanged) and no shift into regions the reference
never covered.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit, ndtri

from driftline.errors import InvalidRequestError
from driftline.schemas import AppResult, ResultKind, ResultStatus
from driftline.stats.multivariate.encoding import DEFAULT_MAX_CATEGORIES, FeatureEncoder, fit_encoder

CBPE_VERSION = 1
DLE_VERSION = 1
CALIBRATIONS = ("none", "isotonic", "sigmoid")
DEFAULT_COVERAGE = 0.95
DEFAULT_DRAWS = 400
MIN_DRAWS = 100
DRAW_BUDGET = 10_000_000  # rows x draws
DEFAULT_FOLDS = 5
DEFAULT_BOOTSTRAP = 30  # calibrators refitted on resamples of the reference: the calibration's own uncertainty
SPREAD_ROWS = 20_000  # rows of a large window the calibration spread is measured on
MIN_REFERENCE_ROWS = 100
MAX_LOSS_FIT_ROWS = 50_000
PROBABILITY_SLACK = 1e-6  # scores a float32 softmax rounds just past 0 or 1 are still probabilities
HIGHER_IS_BETTER = {"accuracy": True, "f1": True, "roc_auc": True, "mae": False, "rmse": False}
DEFAULT_TOLERANCE = {"accuracy": 0.02, "f1": 0.02, "roc_auc": 0.02, "mae": 0.1, "rmse": 0.1}


def _rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


# ------------------------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class MetricEstimate:
    """One estimated metric with its band; ``realized`` once labels for the same rows are known."""

    name: str
    value: float
    lower: float
    upper: float
    reference: float | None
    status: ResultStatus = ResultStatus.no_detection
    realized: float | None = None

    def extra_data(self, method: str, coverage: float, rows: int, tolerance: float) -> dict[str, Any]:
        out: dict[str, Any] = {
            "method": method,
            "metric": self.name,
            "band": [self.lower, self.upper],
            "coverage": coverage,
            "n_rows": rows,
            "reference_value": self.reference,
            "tolerance": tolerance,
            "higher_is_better": HIGHER_IS_BETTER[self.name],
        }
        if self.realized is not None:
            out["realized"] = self.realized
            out["estimate_error"] = self.value - self.realized
            out["realized_in_band"] = bool(self.lower <= self.realized <= self.upper)
        return out


@dataclass(frozen=True)
class PerformanceEstimate:
    method: str
    rows: int
    coverage: float
    metrics: dict[str, MetricEstimate]
    tolerance: dict[str, float] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, name: str) -> MetricEstimate:
        return self.metrics[name]

    def results(self, prefix: str = "estimated_") -> list[AppResult]:
        """One MLRun result per metric (``estimated_accuracy``...), kind model_performance."""
        return [
            AppResult(
                name=f"{prefix}{m.name}",
                value=m.value,
                kind=ResultKind.model_performance,
                status=m.status,
                extra_data={
                    **m.extra_data(self.method, self.coverage, self.rows, self.tolerance.get(m.name, 0.0)),
                    **self.details,
                },
            )
            for m in self.metrics.values()
        ]


def with_realized(estimate: PerformanceEstimate, realized: Mapping[str, float | None]) -> PerformanceEstimate:
    """The estimate with the realized metrics beside it, for a window whose rows have ground truth.

    ``realized`` is what the model-performance app already computes from the labels joined by request id
    (``classification_metrics(...)`` plus ``roc_auc``, or ``regression_metrics(...)`` in
    ``apps/model_performance.py``): names match (accuracy, f1, roc_auc, mae, rmse); the others are ignored, so
    the same dict serves both apps and the metric code exists once."""
    metrics = {}
    for name, metric in estimate.metrics.items():
        value = realized.get(name)
        metrics[name] = metric if value is None else replace(metric, realized=float(value))
    return replace(estimate, metrics=metrics)


def _status(name: str, lower: float, upper: float, reference: float | None, tolerance: float) -> ResultStatus:
    """Significant (the whole band on the bad side of the reference value) and large (beyond ``tolerance``:
    absolute for scores, relative for errors) = detected; significant and small = potential_detection."""
    if reference is None:
        return ResultStatus.no_detection
    if HIGHER_IS_BETTER[name]:
        if upper >= reference:
            return ResultStatus.no_detection
        return ResultStatus.detected if upper < reference - tolerance else ResultStatus.potential_detection
    if lower <= reference:
        return ResultStatus.no_detection
    return ResultStatus.detected if lower > reference * (1 + tolerance) else ResultStatus.potential_detection


def _tolerances(tolerance: Mapping[str, float] | None) -> dict[str, float]:
    out = dict(DEFAULT_TOLERANCE)
    for name, value in (tolerance or {}).items():
        if name not in out:
            raise InvalidRequestError(f"tolerance for unknown metric {name!r}; expected among {sorted(out)}")
        out[name] = float(value)
    return out


# ------------------------------------------------------------------------------------------------- calibration


@dataclass(frozen=True)
class Calibrator:
    """A monotone map from a score to a probability: ``none``; ``isotonic`` (knots ``x``, ``y``, linear between
    them, flat outside); ``sigmoid`` (``1 / (1 + exp(-(a * logit(score) + b)))``)."""

    method: str
    x: tuple[float, ...] = ()
    y: tuple[float, ...] = ()
    a: float = 1.0
    b: float = 0.0

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        if self.method == "isotonic":
            return np.interp(scores, np.asarray(self.x), np.asarray(self.y))
        if self.method == "sigmoid":
            return expit(self.a * _logit(scores) + self.b)
        return np.asarray(scores, dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        if self.method == "isotonic":
            return {"method": "isotonic", "x": list(self.x), "y": list(self.y)}
        if self.method == "sigmoid":
            return {"method": "sigmoid", "a": self.a, "b": self.b}
        return {"method": "none"}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibrator:
        method = data["method"]
        if method == "isotonic":
            x = tuple(float(v) for v in data["x"])
            y = tuple(float(v) for v in data["y"])
            if len(x) != len(y) or not x or any(b < a for a, b in pairwise(x)):
                raise ValueError("isotonic knots: expected as many increasing x as y, at least one")
            return cls("isotonic", x=x, y=y)
        if method == "sigmoid":
            return cls("sigmoid", a=float(data["a"]), b=float(data["b"]))
        if method == "none":
            return cls("none")
        raise ValueError(f"calibration method {method!r}; expected one of {list(CALIBRATIONS)}")


def _logit(scores: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(scores, dtype=np.float64), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def _platt(z: np.ndarray, outcome: np.ndarray, iterations: int = 50) -> tuple[float, float]:
    """Maximum-likelihood ``(a, b)`` of ``P(y = 1) = sigmoid(a z + b)`` by Newton's method (Platt's own fit; two
    parameters do not need a general optimiser). A tiny ridge keeps separable data finite."""
    design = np.column_stack([z, np.ones_like(z)])
    theta = np.array([1.0, 0.0])
    for _ in range(iterations):
        p = expit(design @ theta)
        gradient = design.T @ (outcome - p) - 1e-6 * theta
        hessian = (design * (p * (1 - p))[:, None]).T @ design + 1e-6 * np.eye(2)
        step = np.linalg.solve(hessian, gradient)
        theta += step
        if np.abs(step).max() < 1e-10:
            break
    return float(theta[0]), float(theta[1])


def fit_calibrator(scores: np.ndarray, outcome: np.ndarray, method: str) -> Calibrator:
    """A calibrator of ``scores`` (probabilities) for the binary ``outcome``."""
    if method == "isotonic":
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(scores, outcome)
        return Calibrator("isotonic", x=tuple(map(float, iso.X_thresholds_)), y=tuple(map(float, iso.y_thresholds_)))
    if method == "sigmoid":
        a, b = _platt(_logit(scores), outcome)
        return Calibrator("sigmoid", a=a, b=b)
    if method == "none":
        return Calibrator("none")
    raise InvalidRequestError(f"calibration {method!r}; expected 'auto' or one of {list(CALIBRATIONS)}")


# ------------------------------------------------------------------------------------------------- inputs


def _classes_of(labels: np.ndarray, classes: Sequence[Any] | None) -> tuple[Any, ...]:
    present = pd.unique(pd.Series(labels))
    if classes is None:
        try:
            found = tuple(_plain(v) for v in sorted(present))
        except TypeError:
            found = tuple(sorted(str(v) for v in present))
    else:
        found = tuple(_plain(v) for v in classes)
        if len(set(found)) != len(found):
            raise InvalidRequestError(f"classes {list(found)} repeat a class; expected distinct classes")
        unknown = [v for v in present if v not in set(found)]
        if unknown:
            raise InvalidRequestError(f"labels {unknown[:5]} are not among the classes {list(found)}")
    if len(found) < 2:
        raise InvalidRequestError(f"the labels hold {len(found)} class; expected at least two classes")
    return found


def _indices(values: Any, classes: Sequence[Any], what: str) -> np.ndarray:
    index = pd.Index(list(classes))
    array = np.asarray(values)
    if array.ndim != 1:
        raise InvalidRequestError(f"{what}: expected one label per row, got shape {array.shape}")
    positions = index.get_indexer(pd.Series(array))
    if (positions < 0).any():
        unknown = pd.unique(pd.Series(array[positions < 0]))[:5].tolist()
        raise InvalidRequestError(
            f"{what}: labels {unknown} are not among the model's classes {list(classes)} (class set mismatch)"
        )
    return positions.astype(np.intp)


def _score_matrix(scores: Any, n_classes: int, what: str) -> np.ndarray:
    """Scores as ``n x C`` probabilities: binary models may give the positive class's column alone."""
    array = np.asarray(scores, dtype=np.float64)
    if array.ndim == 1 and n_classes == 2:
        array = np.column_stack([1.0 - array, array])
    if array.ndim != 2 or array.shape[1] != n_classes:
        raise InvalidRequestError(
            f"{what}: scores of shape {array.shape}; expected one probability per class ({n_classes} columns), "
            "or for a binary model one column, the positive class's"
        )
    if array.shape[0] == 0:
        raise InvalidRequestError(f"{what}: no rows; expected at least one row of scores")
    if not np.isfinite(array).all():
        raise InvalidRequestError(f"{what}: scores hold NaN or infinite values; expected probabilities")
    if array.min() < -PROBABILITY_SLACK or array.max() > 1 + PROBABILITY_SLACK:
        raise InvalidRequestError(
            f"{what}: scores range over [{array.min():.4g}, {array.max():.4g}]; expected probabilities in [0, 1] "
            "(predict_proba, not decision_function or logits)"
        )
    return np.clip(array, 0.0, 1.0)


# ------------------------------------------------------------------------------------------------- CBPE


@dataclass(frozen=True)
class CBPEReference:
    """What a window needs: the classes (in score-column order), the positive class (binary), one calibrator per
    class scored (binary: the positive class only), and the reference's own figures."""

    classes: tuple[Any, ...]
    positive: int
    calibrators: tuple[Calibrator, ...]
    reference_metrics: dict[str, float]
    reference_gap: dict[str, float]
    rows: int
    # calibrator sets refitted on bootstrap resamples of the reference (one calibrator per scored class each)
    bootstrap: tuple[tuple[Calibrator, ...], ...] = ()

    @property
    def binary(self) -> bool:
        return len(self.classes) == 2

    def probabilities(self, scores: np.ndarray) -> np.ndarray:
        """Calibrated ``n x C`` probabilities of raw ``n x C`` scores."""
        if self.binary:
            p = np.clip(self.calibrators[0](scores[:, self.positive]), 0.0, 1.0)
            out = np.empty_like(scores)
            out[:, self.positive], out[:, 1 - self.positive] = p, 1.0 - p
            return out
        calibrated = np.column_stack([c(scores[:, k]) for k, c in enumerate(self.calibrators)])
        calibrated = np.clip(calibrated, 1e-9, 1.0)
        return calibrated / calibrated.sum(axis=1, keepdims=True)

    def to_dict(self) -> dict[str, Any]:
        return {
            "v": CBPE_VERSION,
            "method": "cbpe",
            "classes": list(self.classes),
            "positive": self.positive,
            "calibrators": [c.to_dict() for c in self.calibrators],
            "reference_metrics": self.reference_metrics,
            "reference_gap": self.reference_gap,
            "rows": self.rows,
            "bootstrap": [[c.to_dict() for c in calibrators] for calibrators in self.bootstrap],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CBPEReference:
        try:
            if int(data["v"]) != CBPE_VERSION or data.get("method") != "cbpe":
                raise ValueError(f"expected cbpe version {CBPE_VERSION}, got {data.get('v')}")
            classes = tuple(data["classes"])
            calibrators = tuple(Calibrator.from_dict(c) for c in data["calibrators"])
            expected = 1 if len(classes) == 2 else len(classes)
            if len(calibrators) != expected:
                raise ValueError(f"{len(calibrators)} calibrators for {len(classes)} classes; expected {expected}")
            bootstrap = tuple(tuple(Calibrator.from_dict(c) for c in entry) for entry in data.get("bootstrap", ()))
            if any(len(entry) != expected for entry in bootstrap):
                raise ValueError(f"a bootstrap calibrator set without {expected} calibrators")
            return cls(
                classes=classes,
                positive=int(data["positive"]),
                calibrators=calibrators,
                reference_metrics={k: float(v) for k, v in data["reference_metrics"].items()},
                reference_gap={k: float(v) for k, v in data["reference_gap"].items()},
                rows=int(data["rows"]),
                bootstrap=bootstrap,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidRequestError(f"cbpe reference: malformed artefact ({exc})") from exc


def _positive_index(classes: tuple[Any, ...], pos_label: Any) -> int:
    """The model-performance app's rule: ``pos_label``, else 1 when it is a class, else the largest class."""
    if len(classes) != 2:
        return -1
    if pos_label is not None:
        if pos_label not in classes:
            raise InvalidRequestError(f"pos_label {pos_label!r} is not among the classes {list(classes)}")
        return classes.index(pos_label)
    return classes.index(1) if 1 in classes else 1


def _average_ranks(scores: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing their average (the Mann-Whitney convention), per column of a matrix."""
    if scores.ndim == 2:
        return np.column_stack([_average_ranks(scores[:, k]) for k in range(scores.shape[1])])
    order = np.argsort(scores, kind="stable")
    ordered = scores[order]
    first = np.r_[True, ordered[1:] != ordered[:-1]]
    group = np.cumsum(first) - 1
    starts = np.flatnonzero(first)
    ends = np.r_[starts[1:], ordered.size]
    ranks = np.empty(scores.size)
    ranks[order] = ((starts + ends + 1) / 2)[group]
    return ranks


def _auc_from_ranks(ranks: np.ndarray, positives: np.ndarray) -> np.ndarray:
    """Mann-Whitney AUC per column of a 0/1 ``n x B`` matrix, scores' average ranks ``ranks`` (NaN: one class)."""
    n1 = positives.sum(axis=0).astype(np.float64)
    n0 = positives.shape[0] - n1
    with np.errstate(invalid="ignore", divide="ignore"):
        return (ranks @ positives - n1 * (n1 + 1) / 2) / (n1 * n0)


def _expected_auc(scores: np.ndarray, p: np.ndarray, order: np.ndarray | None = None) -> float:
    """ROC AUC from expected TPR/FPR at every distinct score (NannyML's construction), trapezoids between.
    ``order``: ``argsort(-scores)`` when already known (it depends on the scores only)."""
    if order is None:
        order = np.argsort(-scores, kind="stable")
    s, q = scores[order], p[order]
    last = np.r_[s[1:] != s[:-1], True]  # the end of each group of tied scores
    tp = np.cumsum(q)[last]
    fp = np.cumsum(1.0 - q)[last]
    if tp[-1] <= 0 or fp[-1] <= 0:
        return float("nan")
    tpr = np.r_[0.0, tp / tp[-1]]
    fpr = np.r_[0.0, fp / fp[-1]]
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


def _f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    denominator = 2 * tp + fp + fn
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, 2 * tp / np.where(denominator > 0, denominator, 1), 0.0)


def _point_estimates(
    reference: CBPEReference,
    raw: np.ndarray,
    p: np.ndarray,
    pred: np.ndarray,
    orders: Mapping[int, np.ndarray] | None = None,
) -> dict[str, float]:
    orders = orders or {}
    n, c = p.shape
    rows = np.arange(n)
    onehot = np.zeros_like(p)
    onehot[rows, pred] = 1.0
    tp = (onehot * p).sum(axis=0)
    fp = onehot.sum(axis=0) - tp
    fn = p.sum(axis=0) - tp
    out = {"accuracy": float(p[rows, pred].mean())}
    if reference.binary:
        k = reference.positive
        out["f1"] = float(_f1(tp[k : k + 1], fp[k : k + 1], fn[k : k + 1])[0])
        out["roc_auc"] = _expected_auc(raw[:, k], p[:, k], orders.get(k))
    else:
        # as the realized macro mean: the classes the window predicts or is expected to hold
        present = (onehot.sum(axis=0) > 0) | (p.sum(axis=0) >= 0.5)
        out["f1"] = float(_f1(tp, fp, fn)[present].mean())
        out["roc_auc"] = float(np.nanmean([_expected_auc(raw[:, k], p[:, k], orders.get(k)) for k in range(c)]))
    return out


def _draw_metrics(
    reference: CBPEReference, raw: np.ndarray, p: np.ndarray, pred: np.ndarray, draws: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """The realized metrics of ``draws`` label sets drawn from the calibrated probabilities."""
    n, c = p.shape
    batch = max(1, min(draws, 2_000_000 // max(n, 1)))  # keeps each n x batch array under ~16 MB
    cumulative = np.cumsum(p, axis=1)
    cumulative[:, -1] = 1.0
    ranks = _average_ranks(raw[:, reference.positive] if reference.binary else raw)
    out: dict[str, list[np.ndarray]] = {"accuracy": [], "f1": [], "roc_auc": []}
    done = 0
    while done < draws:
        b = min(batch, draws - done)
        u = rng.random((n, b))
        labels = np.zeros((n, b), dtype=np.intp)  # inverse CDF: the number of cumulative levels below u
        for k in range(c - 1):
            labels += u > cumulative[:, k : k + 1]
        codes = (np.arange(b)[None, :] * c + pred[:, None]) * c + labels
        confusion = np.bincount(codes.ravel(), minlength=b * c * c).reshape(b, c, c).astype(np.float64)
        tp = np.diagonal(confusion, axis1=1, axis2=2)
        fp = confusion.sum(axis=2) - tp
        fn = confusion.sum(axis=1) - tp
        out["accuracy"].append(tp.sum(axis=1) / n)
        if reference.binary:
            k = reference.positive
            out["f1"].append(_f1(tp[:, k], fp[:, k], fn[:, k]))
            out["roc_auc"].append(_auc_from_ranks(ranks, (labels == k).astype(np.float64)))
        else:
            present = (confusion.sum(axis=2) + confusion.sum(axis=1)) > 0
            f1 = np.where(present, _f1(tp, fp, fn), np.nan)
            out["f1"].append(np.nanmean(f1, axis=1))
            aucs = np.column_stack([_auc_from_ranks(ranks[:, k], (labels == k).astype(np.float64)) for k in range(c)])
            with np.errstate(invalid="ignore"):
                out["roc_auc"].append(np.nanmean(np.where(np.isfinite(aucs), aucs, np.nan), axis=1))
        done += b
    return {name: np.concatenate(parts) for name, parts in out.items()}


def _model_rule(raw: np.ndarray, positive: int) -> np.ndarray:
    """Predicted classes when none are given: the positive class at 0.5 (binary), else the arg-max."""
    if raw.shape[1] == 2:
        return np.where(raw[:, positive] >= 0.5, positive, 1 - positive).astype(np.intp)
    return np.argmax(raw, axis=1).astype(np.intp)


def _cbpe_inputs(
    reference: CBPEReference, scores: Any, predicted: Any | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    raw = _score_matrix(scores, len(reference.classes), "window")
    if predicted is None:
        pred = _model_rule(raw, reference.positive)
    else:
        pred = _indices(predicted, reference.classes, "predicted labels")
        if pred.size != raw.shape[0]:
            raise InvalidRequestError(f"{pred.size} predicted labels for {raw.shape[0]} rows of scores")
    return raw, reference.probabilities(raw), pred


def _calibration_spread(reference: CBPEReference, raw: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """Per metric, the standard deviation of the window's point estimate over the bootstrap calibrators: how much
    the estimate depends on which reference rows the calibration happened to see (0 without a bootstrap)."""
    if not reference.bootstrap:
        return {}
    if raw.shape[0] > SPREAD_ROWS:  # a calibration error does not average out with rows: a sample measures it
        rows = np.sort(np.random.default_rng(0).choice(raw.shape[0], SPREAD_ROWS, replace=False))
        raw, pred = raw[rows], pred[rows]
    columns = [reference.positive] if reference.binary else range(raw.shape[1])
    orders = {k: np.argsort(-raw[:, k], kind="stable") for k in columns}  # the scores' order: sorted once
    points = [
        _point_estimates(
            reference, raw, replace(reference, calibrators=c, bootstrap=()).probabilities(raw), pred, orders
        )
        for c in reference.bootstrap
    ]
    out = {}
    for name in points[0]:
        values = np.asarray([p[name] for p in points], dtype=np.float64)
        values = values[np.isfinite(values)]
        if values.size > 1:
            out[name] = float(values.std(ddof=1))
    return out


def estimate_classification(
    reference: CBPEReference,
    scores: Any,
    predicted: Any | None = None,
    *,
    coverage: float = DEFAULT_COVERAGE,
    draws: int = DEFAULT_DRAWS,
    tolerance: Mapping[str, float] | None = None,
    seed: int | np.random.Generator | None = None,
) -> PerformanceEstimate:
    """Estimated accuracy, F1 and ROC AUC of a window from its scores (``n`` or ``n x C`` probabilities, columns
    in ``reference.classes`` order) and predicted labels (default: the model's rule, 0.5 or the arg-max)."""
    if not 0.5 <= coverage < 1.0:
        raise InvalidRequestError(f"coverage must be in [0.5, 1), got {coverage!r}")
    if isinstance(draws, bool) or not isinstance(draws, int) or draws < MIN_DRAWS:
        raise InvalidRequestError(f"draws must be a whole number >= {MIN_DRAWS}, got {draws!r}")
    raw, p, pred = _cbpe_inputs(reference, scores, predicted)
    points = _point_estimates(reference, raw, p, pred)
    # a large window's band is narrow and smooth: fewer draws keep its cost near one second
    draws = max(MIN_DRAWS, min(draws, DRAW_BUDGET // raw.shape[0]))
    sampled = _draw_metrics(reference, raw, p, pred, draws, _rng(seed))
    tolerances = _tolerances(tolerance)
    tail = (1.0 - coverage) / 2
    calibration_sd = _calibration_spread(reference, raw, pred)
    z = float(ndtri(1.0 - tail))
    metrics: dict[str, MetricEstimate] = {}
    for name, value in points.items():
        values = sampled[name][np.isfinite(sampled[name])]
        if not math.isfinite(value) or values.size == 0:
            continue  # e.g. ROC AUC of a window whose rows all belong to one class
        # the band is the draws' spread around the point estimate (their own centre carries Monte Carlo noise),
        # combined in quadrature with the calibration's own spread, then widened by the reference's gap
        low, high = np.quantile(values - values.mean(), [tail, 1 - tail])
        spread = z * calibration_sd.get(name, 0.0)
        low, high = -math.hypot(float(low), spread), math.hypot(float(high), spread)
        bias = abs(reference.reference_gap.get(name, 0.0))
        lower, upper = value + low - bias, value + high + bias
        ref = reference.reference_metrics.get(name)
        metrics[name] = MetricEstimate(
            name, value, lower, upper, ref, _status(name, lower, upper, ref, tolerances[name])
        )
    return PerformanceEstimate(
        method="cbpe",
        rows=int(raw.shape[0]),
        coverage=coverage,
        metrics=metrics,
        tolerance=tolerances,
        details={
            "band_method": f"{draws} label draws from the calibrated probabilities (Poisson-binomial)"
            + (
                f", combined with the spread over {len(reference.bootstrap)} calibrators refitted on resamples of "
                "the reference"
                if reference.bootstrap
                else ""
            ),
            "calibration_sd": calibration_sd,
            "calibration": [c.method for c in reference.calibrators],
            "f1_average": "binary (positive class)" if reference.binary else "macro",
            "reference_gap": reference.reference_gap,
        },
    )


def _realized(reference: CBPEReference, raw: np.ndarray, pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """The reference's realized metrics, the same definitions as the draws (a one-draw run with known labels)."""
    n, c = raw.shape
    confusion = np.bincount(pred * c + truth, minlength=c * c).reshape(c, c).astype(np.float64)
    tp = np.diagonal(confusion)
    fp, fn = confusion.sum(axis=1) - tp, confusion.sum(axis=0) - tp
    out = {"accuracy": float(tp.sum() / n)}
    if reference.binary:
        k = reference.positive
        out["f1"] = float(_f1(tp[k : k + 1], fp[k : k + 1], fn[k : k + 1])[0])
        out["roc_auc"] = float(_auc_from_ranks(_average_ranks(raw[:, k]), (truth == k).astype(np.float64)))
    else:
        present = (confusion.sum(axis=1) + confusion.sum(axis=0)) > 0
        out["f1"] = float(_f1(tp, fp, fn)[present].mean())
        ranks = _average_ranks(raw)
        aucs = [float(_auc_from_ranks(ranks[:, k], (truth == k).astype(np.float64))) for k in range(c)]
        out["roc_auc"] = float(np.nanmean(aucs))
    return out


def realized_classification(
    reference: CBPEReference, scores: Any, truth: Any, predicted: Any | None = None
) -> dict[str, float]:
    """The realized accuracy, F1 and ROC AUC of rows whose true classes are known, with exactly the definitions
    the estimate and its band use (so estimate, band and realized value are comparable). ``truth``: the true
    labels (values among ``reference.classes``); ``scores``/``predicted`` as for :func:`estimate_classification`.
    A metric that cannot be computed (ROC AUC with one class present) is left out."""
    raw, _, pred = _cbpe_inputs(reference, scores, predicted)
    labels = _indices(truth, reference.classes, "true labels")
    if labels.size != raw.shape[0]:
        raise InvalidRequestError(f"{labels.size} true labels for {raw.shape[0]} rows of scores")
    return {name: value for name, value in _realized(reference, raw, pred, labels).items() if math.isfinite(value)}


def _cross_fitted_calibrators(
    raw: np.ndarray,
    truth: np.ndarray,
    n_classes: int,
    scored: list[int],
    calibration: str,
    folds: int,
    rng: np.random.Generator,
) -> tuple[list[Calibrator], np.ndarray]:
    """One calibrator per ``scored`` class, fitted on every reference row with the method (``calibration``, or for
    ``auto`` the lowest cross-fitted Brier score), and that method's out-of-fold probabilities (``n x
    len(scored)``): what each row would have been given by a calibrator that never saw it."""
    fold_of = np.empty(truth.size, dtype=np.intp)
    for k in range(n_classes):  # stratified folds, so every fold sees every class
        rows = np.flatnonzero(truth == k)
        fold_of[rng.permutation(rows)] = np.arange(rows.size) % folds
    calibrators: list[Calibrator] = []
    out_of_fold = np.empty((truth.size, len(scored)))
    for j, k in enumerate(scored):
        outcome = (truth == k).astype(np.float64)
        candidates = [calibration] if calibration != "auto" else list(CALIBRATIONS)
        best: tuple[float, str, np.ndarray] | None = None
        for method in candidates:
            oof = np.empty(truth.size)
            for f in range(folds):
                test = fold_of == f
                oof[test] = fit_calibrator(raw[~test, k], outcome[~test], method)(raw[test, k])
            brier = float(np.mean((oof - outcome) ** 2))
            if best is None or brier < best[0] - 1e-12:
                best = (brier, method, oof)
        assert best is not None
        calibrators.append(fit_calibrator(raw[:, k], outcome, best[1]))
        out_of_fold[:, j] = best[2]
    return calibrators, out_of_fold


def fit_cbpe(
    scores: Any,
    labels: Any,
    predicted: Any | None = None,
    *,
    classes: Sequence[Any] | None = None,
    pos_label: Any = None,
    calibration: str = "auto",
    folds: int = DEFAULT_FOLDS,
    bootstrap: int = DEFAULT_BOOTSTRAP,
    seed: int | np.random.Generator | None = None,
) -> CBPEReference:
    """Calibrate the model's reference scores against the reference labels (what ``log_model`` stores).

    ``scores``: ``n`` positive-class probabilities (binary) or ``n x C`` (columns in ``classes`` order; default:
    the sorted labels); ``labels``: the true classes; ``predicted``: the model's labels (default: its rule).
    ``calibration``: ``auto`` (lowest cross-fitted Brier score per class), or one of ``none, isotonic, sigmoid``."""
    truth_values = np.asarray(labels)
    if truth_values.ndim != 1:
        raise InvalidRequestError(f"labels: expected one label per row, got shape {truth_values.shape}")
    if pd.isna(pd.Series(truth_values)).any():
        raise InvalidRequestError("labels: missing values; expected a label for every reference row")
    if truth_values.size < MIN_REFERENCE_ROWS:
        raise InvalidRequestError(
            f"the reference has {truth_values.size} labelled rows; expected at least {MIN_REFERENCE_ROWS}"
        )
    if calibration != "auto" and calibration not in CALIBRATIONS:
        raise InvalidRequestError(f"calibration {calibration!r}; expected 'auto' or one of {list(CALIBRATIONS)}")
    found = _classes_of(truth_values, classes)
    raw = _score_matrix(scores, len(found), "reference")
    if raw.shape[0] != truth_values.size:
        raise InvalidRequestError(f"{raw.shape[0]} rows of scores for {truth_values.size} labels")
    truth = _indices(truth_values, found, "labels")
    positive = _positive_index(found, pos_label)
    counts = np.bincount(truth, minlength=len(found))
    if counts.min() < folds:
        raise InvalidRequestError(
            f"class {found[int(np.argmin(counts))]!r} has {counts.min()} reference rows; expected at least {folds} "
            "per class (one per calibration fold)"
        )
    scored = [positive] if len(found) == 2 else list(range(len(found)))
    rng = _rng(seed)
    calibrators, out_of_fold = _cross_fitted_calibrators(raw, truth, len(found), scored, calibration, folds, rng)
    model_pred = _model_rule(raw, positive) if predicted is None else _indices(predicted, found, "predicted labels")
    if model_pred.size != truth.size:
        raise InvalidRequestError(f"{model_pred.size} predicted labels for {truth.size} labels")
    if isinstance(bootstrap, bool) or not isinstance(bootstrap, int) or bootstrap < 0:
        raise InvalidRequestError(f"bootstrap must be a whole number >= 0, got {bootstrap!r}")
    # the calibration's uncertainty: the chosen method refitted on resamples of the reference rows; where no
    # calibration was chosen (the scores looked calibrated), isotonic refits measure how far the identity may be off
    resampled: list[tuple[Calibrator, ...]] = []
    for _ in range(bootstrap):
        rows = rng.integers(0, truth.size, truth.size)
        resampled.append(
            tuple(
                fit_calibrator(
                    raw[rows, k],
                    (truth[rows] == k).astype(np.float64),
                    "isotonic" if chosen.method == "none" else chosen.method,
                )
                for k, chosen in zip(scored, calibrators, strict=True)
            )
        )
    reference = CBPEReference(
        classes=found,
        positive=positive,
        calibrators=tuple(calibrators),
        reference_metrics={},
        reference_gap={},
        rows=int(truth.size),
        bootstrap=tuple(resampled),
    )
    realized = _realized(reference, raw, model_pred, truth)
    # what CBPE would have said about the reference itself with calibrators that never saw each row
    if len(found) == 2:
        p_oof = np.empty_like(raw)
        p_oof[:, positive], p_oof[:, 1 - positive] = out_of_fold[:, 0], 1 - out_of_fold[:, 0]
    else:
        clipped = np.clip(out_of_fold, 1e-9, 1.0)
        p_oof = clipped / clipped.sum(axis=1, keepdims=True)
    estimated = _point_estimates(reference, raw, p_oof, model_pred)
    gap = {name: estimated[name] - realized[name] for name in realized if math.isfinite(estimated[name])}
    return replace(reference, reference_metrics=realized, reference_gap=gap)


# ------------------------------------------------------------------------------------------------- DLE


@dataclass(frozen=True)
class TreeEnsemble:
    """Gradient-boosted regression trees as flat arrays: node ``i`` splits on ``feature[i] <= threshold[i]``
    to ``left[i]`` / ``right[i]`` (``-1`` at a leaf, whose ``value`` counts); ``roots`` index each tree's first
    node. Prediction = ``init + rate * sum of the leaves reached``."""

    init: float
    rate: float
    roots: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray
    depth: int

    @classmethod
    def from_sklearn(cls, model: Any) -> TreeEnsemble:
        parts: dict[str, list[np.ndarray]] = {k: [] for k in ("feature", "threshold", "left", "right", "value")}
        roots, offset, depth = [], 0, 0
        for estimator in model.estimators_[:, 0]:
            tree = estimator.tree_
            leaf = tree.children_left < 0
            roots.append(offset)
            parts["feature"].append(np.where(leaf, 0, tree.feature))
            parts["threshold"].append(tree.threshold)
            parts["left"].append(np.where(leaf, -1, tree.children_left + offset))
            parts["right"].append(np.where(leaf, -1, tree.children_right + offset))
            parts["value"].append(tree.value[:, 0, 0])
            offset += tree.node_count
            depth = max(depth, int(tree.max_depth))
        init = float(np.ravel(model.init_.constant_)[0]) if hasattr(model.init_, "constant_") else 0.0
        return cls(
            init=init,
            rate=float(model.learning_rate),
            roots=np.asarray(roots, dtype=np.intp),
            feature=np.concatenate(parts["feature"]).astype(np.intp),
            threshold=np.concatenate(parts["threshold"]).astype(np.float64),
            left=np.concatenate(parts["left"]).astype(np.intp),
            right=np.concatenate(parts["right"]).astype(np.intp),
            value=np.concatenate(parts["value"]).astype(np.float64),
            depth=depth,
        )

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Tree by tree, one level per step over all rows (``trees x depth`` vectorised steps). Leaves point to
        themselves, so a row that reached one stays; ``x`` is compared in float32, as scikit-learn does."""
        n = x.shape[0]
        flat = np.ascontiguousarray(x.T, dtype=np.float32).astype(np.float64).ravel()
        rows = np.arange(n)
        index = np.arange(self.left.size)
        leaf = self.left < 0
        left, right = np.where(leaf, index, self.left), np.where(leaf, index, self.right)
        offsets = self.feature * n
        total = np.zeros(n)
        for root in self.roots:
            node = np.full(n, root, dtype=np.intp)
            for _ in range(self.depth):
                go_left = flat.take(offsets.take(node) + rows) <= self.threshold.take(node)
                node = np.where(go_left, left.take(node), right.take(node))
            total += self.value.take(node)
        return self.init + self.rate * total

    def to_dict(self) -> dict[str, Any]:
        return {
            "init": self.init,
            "rate": self.rate,
            "depth": self.depth,
            "roots": self.roots.tolist(),
            "feature": self.feature.tolist(),
            "threshold": [float(f"{t:.9g}") for t in self.threshold],
            "left": self.left.tolist(),
            "right": self.right.tolist(),
            "value": [float(f"{v:.9g}") for v in self.value],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TreeEnsemble:
        arrays = {k: np.asarray(data[k]) for k in ("roots", "feature", "threshold", "left", "right", "value")}
        size = arrays["feature"].size
        if any(arrays[k].size != size for k in ("threshold", "left", "right", "value")):
            raise ValueError("tree arrays of different lengths")
        if size and (max(arrays["left"].max(), arrays["right"].max(), arrays["roots"].max()) >= size):
            raise ValueError("a child or root index beyond the node arrays")
        return cls(
            init=float(data["init"]),
            rate=float(data["rate"]),
            roots=arrays["roots"].astype(np.intp),
            feature=arrays["feature"].astype(np.intp),
            threshold=arrays["threshold"].astype(np.float64),
            left=arrays["left"].astype(np.intp),
            right=arrays["right"].astype(np.intp),
            value=arrays["value"].astype(np.float64),
            depth=int(data["depth"]),
        )


@dataclass(frozen=True)
class DLEReference:
    """The encoder of the loss models' inputs (features; the prediction is appended, standardised), the two loss
    models, the variance corrections measured on held-out rows, and the reference's realized MAE and RMSE."""

    encoder: FeatureEncoder
    prediction_mean: float
    prediction_std: float
    abs_model: TreeEnsemble
    sq_model: TreeEnsemble
    abs_spread: float
    sq_spread: float
    reference_metrics: dict[str, float]
    reference_gap: dict[str, float]
    rows: int

    def inputs(self, df: pd.DataFrame, predictions: Any) -> np.ndarray:
        return _loss_inputs(self.encoder, self.prediction_mean, self.prediction_std, df, predictions)

    def losses(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return _losses(self.abs_model, self.sq_model, x)

    def to_dict(self) -> dict[str, Any]:
        return {
            "v": DLE_VERSION,
            "method": "dle",
            "encoder": self.encoder.to_dict(),
            "prediction_mean": self.prediction_mean,
            "prediction_std": self.prediction_std,
            "abs_model": self.abs_model.to_dict(),
            "sq_model": self.sq_model.to_dict(),
            "abs_spread": self.abs_spread,
            "sq_spread": self.sq_spread,
            "reference_metrics": self.reference_metrics,
            "reference_gap": self.reference_gap,
            "rows": self.rows,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DLEReference:
        try:
            if int(data["v"]) != DLE_VERSION or data.get("method") != "dle":
                raise ValueError(f"expected dle version {DLE_VERSION}, got {data.get('v')}")
            return cls(
                encoder=FeatureEncoder.from_dict(data["encoder"]),
                prediction_mean=float(data["prediction_mean"]),
                prediction_std=float(data["prediction_std"]),
                abs_model=TreeEnsemble.from_dict(data["abs_model"]),
                sq_model=TreeEnsemble.from_dict(data["sq_model"]),
                abs_spread=float(data["abs_spread"]),
                sq_spread=float(data["sq_spread"]),
                reference_metrics={k: float(v) for k, v in data["reference_metrics"].items()},
                reference_gap={k: float(v) for k, v in data["reference_gap"].items()},
                rows=int(data["rows"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidRequestError(f"dle reference: malformed artefact ({exc})") from exc


def _losses(abs_model: TreeEnsemble, sq_model: TreeEnsemble, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row: expected absolute error and expected squared error (never below 0, and E[e^2] >= E[|e|]^2)."""
    absolute = np.maximum(abs_model.predict(x), 0.0)
    squared = np.maximum(sq_model.predict(x), absolute * absolute)
    return absolute, squared


def _loss_inputs(encoder: FeatureEncoder, mean: float, std: float, df: pd.DataFrame, predictions: Any) -> np.ndarray:
    """The encoded features with the model's prediction as one more standardised column."""
    prediction = np.asarray(predictions, dtype=np.float64)
    if prediction.ndim != 1 or prediction.size != len(df):
        raise InvalidRequestError(f"predictions: expected one number per row ({len(df)}), got {prediction.shape}")
    if not np.isfinite(prediction).all():
        raise InvalidRequestError("predictions: NaN or infinite values; expected finite numbers")
    encoded = encoder.encode(df).matrix
    return np.column_stack([encoded, (prediction - mean) / (std if std > 0 else 1.0)])


def _boosted(x: np.ndarray, target: np.ndarray, trees: int, depth: int, seed: int) -> TreeEnsemble:
    from sklearn.ensemble import GradientBoostingRegressor

    model = GradientBoostingRegressor(
        n_estimators=trees, max_depth=depth, learning_rate=0.1, subsample=0.8, min_samples_leaf=20, random_state=seed
    )
    return TreeEnsemble.from_sklearn(model.fit(x, target))


def fit_dle(
    df: pd.DataFrame,
    predictions: Any,
    truth: Any,
    columns: Sequence[str] | None = None,
    *,
    feature_stats: Mapping[str, Any] | None = None,
    trees: int = 100,
    depth: int = 3,
    holdout: float = 0.3,
    max_categories: int = DEFAULT_MAX_CATEGORIES,
    seed: int | np.random.Generator | None = None,
) -> DLEReference:
    """Fit the loss models on the reference (features ``df``, the model's ``predictions``, the ``truth``): on
    ``1 - holdout`` of the rows (at most 50k), and measure on the rest how far the predicted spread and mean are
    from the observed ones (the stored models are the ones measured, so the measurement is honest)."""
    y = np.asarray(truth, dtype=np.float64)
    prediction = np.asarray(predictions, dtype=np.float64)
    if y.ndim != 1 or y.size != len(df) or prediction.shape != y.shape:
        raise InvalidRequestError(
            f"expected one prediction and one true value per reference row ({len(df)}), got {prediction.shape} "
            f"and {y.shape}"
        )
    if not np.isfinite(y).all():
        raise InvalidRequestError("truth: missing or infinite values; expected a true value for every reference row")
    if y.size < MIN_REFERENCE_ROWS:
        raise InvalidRequestError(f"the reference has {y.size} labelled rows; expected at least {MIN_REFERENCE_ROWS}")
    if not 0.1 <= holdout <= 0.5:
        raise InvalidRequestError(f"holdout must be in [0.1, 0.5], got {holdout!r}")
    encoder = fit_encoder(df, columns, feature_stats, max_categories)
    mean, std = float(prediction.mean()), float(prediction.std())
    x = _loss_inputs(encoder, mean, std, df, prediction)
    error = y - prediction
    absolute, squared = np.abs(error), error * error
    rng = _rng(seed)
    order = rng.permutation(y.size)
    cut = int(y.size * (1 - holdout))
    fit_rows, held = order[:cut][:MAX_LOSS_FIT_ROWS], order[cut:]
    seeds = rng.integers(2**31 - 1, size=2)
    abs_model = _boosted(x[fit_rows], absolute[fit_rows], trees, depth, int(seeds[0]))
    sq_model = _boosted(x[fit_rows], squared[fit_rows], trees, depth, int(seeds[1]))
    a_hat, s_hat = _losses(abs_model, sq_model, x[held])
    var_abs = np.maximum(s_hat - a_hat * a_hat, 1e-12)
    var_sq = np.maximum(2 * s_hat * s_hat, 1e-12)
    abs_spread = float(np.mean((absolute[held] - a_hat) ** 2) / np.mean(var_abs))
    sq_spread = float(np.mean((squared[held] - s_hat) ** 2) / np.mean(var_sq))
    gap = {
        "mae": float(a_hat.mean() - absolute[held].mean()),
        "rmse": float(math.sqrt(s_hat.mean()) - math.sqrt(squared[held].mean())),
    }
    return DLEReference(
        encoder=encoder,
        prediction_mean=mean,
        prediction_std=std,
        abs_model=abs_model,
        sq_model=sq_model,
        abs_spread=abs_spread,
        sq_spread=sq_spread,
        reference_metrics={"mae": float(absolute.mean()), "rmse": float(math.sqrt(squared.mean()))},
        reference_gap=gap,
        rows=int(y.size),
    )


def estimate_regression(
    reference: DLEReference,
    df: pd.DataFrame,
    predictions: Any,
    *,
    coverage: float = DEFAULT_COVERAGE,
    tolerance: Mapping[str, float] | None = None,
) -> PerformanceEstimate:
    """Estimated MAE and RMSE of a window from its features and the model's predictions."""
    if not 0.5 <= coverage < 1.0:
        raise InvalidRequestError(f"coverage must be in [0.5, 1), got {coverage!r}")
    if len(df) == 0:
        raise InvalidRequestError("the window has no rows; expected at least one")
    from scipy.special import ndtri

    x = reference.inputs(df, predictions)
    a_hat, s_hat = reference.losses(x)
    n = a_hat.size
    z = float(ndtri(0.5 + coverage / 2))
    mae = float(a_hat.mean())
    mse = float(s_hat.mean())
    sd_mae = math.sqrt(reference.abs_spread * float(np.sum(s_hat - a_hat * a_hat))) / n
    sd_mse = math.sqrt(reference.sq_spread * float(np.sum(2 * s_hat * s_hat))) / n
    tolerances = _tolerances(tolerance)
    gap_mae, gap_rmse = (abs(reference.reference_gap.get(k, 0.0)) for k in ("mae", "rmse"))
    rmse_low, rmse_high = math.sqrt(max(mse - z * sd_mse, 0.0)), math.sqrt(mse + z * sd_mse)
    bands = {
        "mae": (mae, max(mae - z * sd_mae - gap_mae, 0.0), mae + z * sd_mae + gap_mae),
        "rmse": (math.sqrt(mse), max(rmse_low - gap_rmse, 0.0), rmse_high + gap_rmse),
    }
    metrics = {}
    for name, (value, lower, upper) in bands.items():
        ref = reference.reference_metrics.get(name)
        metrics[name] = MetricEstimate(
            name, value, lower, upper, ref, _status(name, lower, upper, ref, tolerances[name])
        )
    return PerformanceEstimate(
        method="dle",
        rows=n,
        coverage=coverage,
        metrics=metrics,
        tolerance=tolerances,
        details={
            "band_method": "per-row loss variance (normal errors for e^2), scaled on held-out reference rows",
            "reference_gap": reference.reference_gap,
            "spread_corrections": {"mae": reference.abs_spread, "mse": reference.sq_spread},
        },
    )
