"""Joint drift by PCA reconstruction error: a change in how features move together, which per-feature tests
cannot see (a correlation that flips, a new cluster, a mix that shifts while every marginal stays put).

Fitted once at ``log_model`` time (:func:`fit_reconstruction`):

1. the reference rows are encoded (:mod:`.encoding`: standardised numbers, block-scaled one-hot categories,
   imputation) and shuffled into a *fit* part and a *held-out* part (``fit_fraction``, default half each);
2. PCA on the fit part keeps the fewest components that explain ``variance_share`` of the variance (NannyML's
   default, 65 %), never all of them (the residual space must not be empty);
3. on the held-out part, each row's reconstruction error (the Euclidean norm of its residual after projecting
   onto the kept components and back) gives the sampling distribution a window is judged against: its mean,
   standard deviation and skewness, and each feature's mean squared residual. Held-out rows, because the rows the
   PCA was fitted on are reconstructed better than new rows from the same distribution (their own error is
   biased low, and every window would look drifted).

Everything a window needs is in :class:`ReconstructionReference` (JSON via ``to_dict``/``from_dict``), so a
window costs one encoding and one projection (:func:`reconstruction_drift`).

The threshold. Under no drift, the window's mean error over ``n`` rows is a mean of ``n`` draws from the
held-out error distribution; its centre is known only up to the held-out mean's own error (``m`` rows). By the
CLT it is normal with mean ``mu`` and standard deviation ``s = sigma * sqrt(1/n + 1/m)``; the band at false-alarm
rate ``alpha`` (two-sided: a window reconstructed *better* than the reference, e.g. constant inputs, is a change
too) is ``mu + s * (+-z + (z^2 - 1) * g / 6)``, ``z`` the ``1 - alpha/2`` normal quantile and ``g`` the skewness of
the mean (``skew / sqrt(n)``): the Cornish-Fisher correction, which matters only for small windows of a skewed
error. Rows are assumed independent (a window of near-duplicate rows is judged as if each were new).
``bench/joint_drift.py`` measures the false-alarm rate over windows of 100 to 100k rows.

The status follows the house rule: significant (p <= alpha) and the mean error moved by at least
``effect_threshold`` of the reference mean (relative change, default 5 %) = ``detected``; significant and
smaller = ``potential_detection``. Contributions say which features carry the extra residual (window vs reference
mean squared residual per feature) and which kept components changed their variance or centre.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from driftline.errors import InvalidRequestError
from driftline.stats.multivariate.encoding import (
    DEFAULT_MAX_CATEGORIES,
    FeatureEncoder,
    fit_encoder,
)
from driftline.stats.multivariate.verdict import MultivariateVerdict, status_for

RECONSTRUCTION_VERSION = 1
METHOD = "pca_reconstruction_error"
DEFAULT_VARIANCE_SHARE = 0.65
DEFAULT_FALSE_ALARM_RATE = 0.01
DEFAULT_EFFECT_THRESHOLD = 0.05
MIN_REFERENCE_ROWS = 100
MAX_FIT_ROWS = 100_000
MAX_HOLDOUT_ROWS = 200_000


def _z(p: float) -> float:
    from scipy.special import ndtri

    return float(ndtri(p))


def _two_sided_p(z: float) -> float:
    from scipy.special import ndtr

    return float(min(1.0, 2.0 * ndtr(-abs(z))))


def _rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


@dataclass(frozen=True)
class ReconstructionReference:
    """The fitted PCA and the held-out error distribution. ``components`` is ``k x width`` (orthonormal rows)."""

    encoder: FeatureEncoder
    mean: np.ndarray
    components: np.ndarray
    eigenvalues: np.ndarray
    variance_share: float
    explained_share: float
    error_mean: float
    error_std: float
    error_skew: float
    holdout_rows: int
    fit_rows: int
    feature_residual: np.ndarray  # per feature: mean squared residual on the held-out rows

    def residuals(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(residual, scores) of encoded rows; ``matrix`` is centred in place (callers pass a fresh encoding)."""
        matrix -= self.mean
        scores = matrix @ self.components.T
        matrix -= scores @ self.components
        return matrix, scores

    def row_errors(self, df: pd.DataFrame) -> np.ndarray:
        """Each row's reconstruction error (what the window's mean is taken over)."""
        residual, _ = self.residuals(self.encoder.encode(df).matrix)
        return np.sqrt(np.einsum("ij,ij->i", residual, residual))

    def to_dict(self) -> dict[str, Any]:
        return {
            "v": RECONSTRUCTION_VERSION,
            "method": METHOD,
            "encoder": self.encoder.to_dict(),
            "mean": self.mean.tolist(),
            "components": self.components.tolist(),
            "eigenvalues": self.eigenvalues.tolist(),
            "variance_share": self.variance_share,
            "explained_share": self.explained_share,
            "error_mean": self.error_mean,
            "error_std": self.error_std,
            "error_skew": self.error_skew,
            "holdout_rows": self.holdout_rows,
            "fit_rows": self.fit_rows,
            "feature_residual": self.feature_residual.tolist(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReconstructionReference:
        try:
            if int(data["v"]) != RECONSTRUCTION_VERSION or data.get("method") != METHOD:
                raise ValueError(f"expected {METHOD} version {RECONSTRUCTION_VERSION}, got {data.get('v')}")
            encoder = FeatureEncoder.from_dict(data["encoder"])
            components = np.asarray(data["components"], dtype=np.float64)
            mean = np.asarray(data["mean"], dtype=np.float64)
            feature_residual = np.asarray(data["feature_residual"], dtype=np.float64)
            if components.ndim != 2 or components.shape[1] != encoder.width or mean.size != encoder.width:
                raise ValueError(f"components of shape {components.shape} for {encoder.width} encoded columns")
            if feature_residual.size != len(encoder.columns):
                raise ValueError("expected one residual per feature")
            return cls(
                encoder=encoder,
                mean=mean,
                components=components,
                eigenvalues=np.asarray(data["eigenvalues"], dtype=np.float64),
                variance_share=float(data["variance_share"]),
                explained_share=float(data["explained_share"]),
                error_mean=float(data["error_mean"]),
                error_std=float(data["error_std"]),
                error_skew=float(data["error_skew"]),
                holdout_rows=int(data["holdout_rows"]),
                fit_rows=int(data["fit_rows"]),
                feature_residual=feature_residual,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidRequestError(f"reconstruction reference: malformed artefact ({exc})") from exc


def fit_reconstruction(
    df: pd.DataFrame,
    columns: Sequence[str] | None = None,
    *,
    feature_stats: Mapping[str, Any] | None = None,
    variance_share: float = DEFAULT_VARIANCE_SHARE,
    fit_fraction: float = 0.5,
    max_categories: int = DEFAULT_MAX_CATEGORIES,
    seed: int | np.random.Generator | None = None,
) -> ReconstructionReference:
    """Fit the PCA on a random ``fit_fraction`` of the reference rows (at most 100k) and measure the error
    distribution on the rest (at most 200k). ``feature_stats``: the model's profile, whose categories the
    encoding uses (see :func:`.encoding.fit_encoder`)."""
    if not 0.0 < variance_share <= 1.0:
        raise InvalidRequestError(f"variance_share must be in (0, 1], got {variance_share!r}")
    if not 0.1 <= fit_fraction <= 0.9:
        raise InvalidRequestError(f"fit_fraction must be in [0.1, 0.9], got {fit_fraction!r}")
    encoder = fit_encoder(df, columns, feature_stats, max_categories)
    n = len(df)
    if n < MIN_REFERENCE_ROWS:
        raise InvalidRequestError(
            f"the reference has {n} rows; expected at least {MIN_REFERENCE_ROWS} (half fit the PCA, half measure "
            "the error a window is judged against)"
        )
    matrix = encoder.encode(df).matrix
    width = matrix.shape[1]
    if width < 2:
        raise InvalidRequestError("expected at least two encoded columns (one numeric feature has no joint structure)")
    order = _rng(seed).permutation(n)
    cut = round(n * fit_fraction)
    fit_rows = order[: min(cut, MAX_FIT_ROWS)]
    held_rows = order[cut : cut + MAX_HOLDOUT_ROWS]
    if fit_rows.size <= width:
        raise InvalidRequestError(
            f"{fit_rows.size} rows to fit the PCA on {width} encoded columns; expected more rows than columns "
            "(a larger reference, or fewer categories per feature)"
        )
    fit = matrix[fit_rows]
    mean = fit.mean(axis=0)
    centred = fit - mean
    covariance = centred.T @ centred / (fit.shape[0] - 1)
    eigenvalues, vectors = np.linalg.eigh(covariance)
    eigenvalues, vectors = np.clip(eigenvalues[::-1], 0.0, None), vectors[:, ::-1]
    total = float(eigenvalues.sum())
    if total <= 0:
        raise InvalidRequestError("every reference feature is constant; expected some variation to fit a PCA on")
    cumulative = np.cumsum(eigenvalues) / total
    k = int(np.searchsorted(cumulative, variance_share - 1e-12) + 1)
    k = min(max(k, 1), width - 1)
    components = np.ascontiguousarray(vectors[:, :k].T)
    reference = ReconstructionReference(
        encoder=encoder,
        mean=mean,
        components=components,
        eigenvalues=eigenvalues[:k].copy(),
        variance_share=float(variance_share),
        explained_share=float(cumulative[k - 1]),
        error_mean=0.0,
        error_std=0.0,
        error_skew=0.0,
        holdout_rows=int(held_rows.size),
        fit_rows=int(fit_rows.size),
        feature_residual=np.zeros(len(encoder.columns)),
    )
    residual, _ = reference.residuals(matrix[held_rows])
    squared = residual * residual
    errors = np.sqrt(squared.sum(axis=1))
    std = float(errors.std(ddof=1))
    skew = float(np.mean(((errors - errors.mean()) / std) ** 3)) if std > 0 else 0.0
    per_feature = np.add.reduceat(squared.mean(axis=0), encoder.starts)
    return replace(
        reference, error_mean=float(errors.mean()), error_std=std, error_skew=skew, feature_residual=per_feature
    )


def band(reference: ReconstructionReference, rows: int, false_alarm_rate: float) -> tuple[float, float]:
    """Where the mean error of ``rows`` no-drift rows falls with probability ``1 - false_alarm_rate``."""
    z = _z(1.0 - false_alarm_rate / 2.0)
    spread = reference.error_std * math.sqrt(1.0 / rows + 1.0 / reference.holdout_rows)
    skew = reference.error_skew / math.sqrt(rows)
    shift = (z * z - 1.0) * skew / 6.0
    return reference.error_mean + spread * (shift - z), reference.error_mean + spread * (shift + z)


def _components(reference: ReconstructionReference, scores: np.ndarray, top: int) -> list[dict[str, Any]]:
    """Kept components whose window variance or centre moved most (a component is named by the features with
    the largest loadings)."""
    encoder = reference.encoder
    lam = np.maximum(reference.eigenvalues, 1e-12)
    ratio = scores.var(axis=0) / lam if scores.shape[0] > 1 else np.ones_like(lam)
    shift = scores.mean(axis=0) / np.sqrt(lam)
    score = np.abs(np.log(np.maximum(ratio, 1e-12))) + shift * shift
    loadings = np.add.reduceat(reference.components**2, encoder.starts, axis=1)
    out = []
    for j in np.argsort(-score)[:top]:
        features = [encoder.names[i] for i in np.argsort(-loadings[j])[:3]]
        out.append(
            {
                "component": int(j),
                "variance_ratio": float(ratio[j]),
                "mean_shift_sd": float(shift[j]),
                "features": features,
            }
        )
    return out


def reconstruction_drift(
    reference: ReconstructionReference,
    df: pd.DataFrame,
    *,
    false_alarm_rate: float = DEFAULT_FALSE_ALARM_RATE,
    effect_threshold: float = DEFAULT_EFFECT_THRESHOLD,
    top: int = 5,
) -> MultivariateVerdict:
    """The window ``df`` (any extra columns are ignored) judged against the reference's error distribution."""
    if not 0.0 < false_alarm_rate < 1.0:
        raise InvalidRequestError(f"false_alarm_rate must be in (0, 1), got {false_alarm_rate!r}")
    encoded = reference.encoder.encode(df)
    n = encoded.rows
    if n < 1:
        raise InvalidRequestError("the window has no rows; expected at least one")
    residual, scores = reference.residuals(encoded.matrix)
    squared = residual * residual
    per_column = squared.sum(axis=0)
    errors = np.sqrt(squared.sum(axis=1))
    value = float(errors.mean())
    mu = reference.error_mean
    spread = reference.error_std * math.sqrt(1.0 / n + 1.0 / reference.holdout_rows)
    t = (value - mu) / spread if spread > 0 else (0.0 if value == mu else math.copysign(math.inf, value - mu))
    # first-order inverse of the Cornish-Fisher expansion that sets the band
    z = t - (t * t - 1.0) * (reference.error_skew / math.sqrt(n)) / 6.0 if math.isfinite(t) else t
    p_value = _two_sided_p(z) if math.isfinite(z) else 0.0
    effect = (value - mu) / mu if mu > 0 else 0.0
    names = reference.encoder.names
    window_feature = np.add.reduceat(per_column, reference.encoder.starts) / n
    ref_feature = reference.feature_residual
    excess = window_feature - ref_feature
    contributions = [
        {
            "feature": names[i],
            "window_sq_residual": float(window_feature[i]),
            "reference_sq_residual": float(ref_feature[i]),
            "window_share": float(window_feature[i] / max(window_feature.sum(), 1e-300)),
            "reference_share": float(ref_feature[i] / max(ref_feature.sum(), 1e-300)),
            "missing": encoded.missing.get(names[i], 0),
            **({"unseen": encoded.unseen[names[i]]} if names[i] in encoded.unseen else {}),
        }
        for i in np.argsort(-excess)[:top]
    ]
    return MultivariateVerdict(
        method=METHOD,
        value=value,
        status=status_for(p_value, false_alarm_rate, effect, effect_threshold),
        band=band(reference, n, false_alarm_rate),
        false_alarm_rate=false_alarm_rate,
        p_value=p_value,
        effect=effect,
        effect_threshold=effect_threshold,
        rows=n,
        reference_value=mu,
        contributions=contributions,
        details={
            "effect_method": "relative change of the mean reconstruction error",
            "components_kept": int(reference.components.shape[0]),
            "encoded_columns": int(reference.encoder.width),
            "variance_share": reference.variance_share,
            "explained_share": reference.explained_share,
            "reference_holdout_rows": reference.holdout_rows,
            "components": _components(reference, scores, min(top, 3)),
            "missing_imputed": int(sum(encoded.missing.values())),
            "unseen_categories": int(sum(encoded.unseen.values())),
        },
    )
