"""Two-sample tests and effect sizes over a reference and a window sketch, one small pure function each, plus
a registry of descriptors (name, role, feature types, default threshold, which direction means drift, binning).

Two-sample tests (``role="test"``, the value judged is a p-value: lower means drift):

* ``ks``: Kolmogorov-Smirnov. The statistic is the largest CDF gap evaluated at the reference's fine bin edges
  (exact at every edge; between edges it can only be missed, so the test is conservative, and exactly
  scipy's ``ks_2samp`` statistic when the edges are all the distinct training values). p-value: scipy's
  asymptotic two-sample formula, ``kstwo.sf(D, round(n*m/(n+m)))``.
* ``chi2``: chi-square test of homogeneity on the 2 x K contingency table (reference counts, window counts), never
  a goodness-of-fit test against reference frequencies (that ignores the reference's own sampling noise and
  raises false alarms). Categories: the reference's, plus one column for values it never saw; numbers: the fine
  bins. Columns empty in both rows are dropped; no continuity correction.

Effect sizes (``role="effect"``, higher means drift):

* ``wasserstein``: normed Wasserstein-1, ``W1 / std(reference)``, integrated over the fine bins (values spread
  evenly inside a quantile bin, step CDF for distinct-value bins, exact tails outside the training range).
* ``jensenshannon``: Jensen-Shannon distance, base 2 (in [0, 1]).
* ``psi``: population stability index, zero probabilities replaced by 1e-4.
* ``hellinger``, ``tvd``: as :mod:`driftline.stats.distances`.

For numbers, ``jensenshannon``, ``psi``, ``hellinger`` and ``tvd`` use the coarse binning :data:`COARSE_BINNING`:
about ten bins of equal training mass (the training deciles) plus one bin at or below the training minimum and
one above the maximum. For categories: the categories, plus one bin for values never seen in training.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from driftline.errors import ConfigurationError, InvalidRequestError
from driftline.stats.distances import hellinger as _hellinger
from driftline.stats.distances import tvd as _tvd
from driftline.stats.profile import CATEGORICAL, NUMERIC
from driftline.stats.reference import (
    DISTINCT,
    CategoricalWindow,
    NumericReference,
    NumericWindow,
    Reference,
    Window,
)

KS_SMALL = 1000  # n*m/(n+m) up to which the KS p-value is scipy's own formula
PSI_EMPTY_BIN = 1e-4  # stand-in for an empty bin's probability (PSI and KL are infinite otherwise)
COARSE_GROUPS = 10
COARSE_BINNING = (
    "numeric: the training deciles (10 bins of equal training mass over [min, max]) plus one bin at or below the "
    "training minimum and one above the maximum; categorical: the training categories plus one bin for unseen values"
)
FINE_BINNING = "the reference's fine bins (up to 100 training quantiles, or every distinct value)"


@dataclass(frozen=True)
class TestOutcome:
    statistic: float
    p_value: float
    dof: int | None = None


# ------------------------------------------------------------------------------------------------- aligning


def _check_pair(reference: Reference, window: Window) -> None:
    if isinstance(reference, NumericReference) != isinstance(window, NumericWindow):
        raise InvalidRequestError(
            f"a {reference.kind} reference cannot be compared with a {window.kind} window sketch; "
            "expected the sketch built on that reference"
        )
    if isinstance(reference, NumericReference):
        assert isinstance(window, NumericWindow)
        if window.counts.size != reference.counts.size:
            raise InvalidRequestError(
                f"window sketch has {window.counts.size} bins, the reference {reference.counts.size}: "
                "expected the sketch built on that reference"
            )
    if window.n <= 0:
        raise InvalidRequestError("the window has no values for this feature; expected at least one")
    if reference.n <= 0:
        raise InvalidRequestError("the reference has no values for this feature; expected at least one")


def contingency(reference: Reference, window: Window) -> np.ndarray:
    """The 2 x K table (row 0: reference, row 1: window), columns empty in both rows dropped."""
    _check_pair(reference, window)
    if isinstance(reference, NumericReference):
        assert isinstance(window, NumericWindow)
        table = np.vstack([reference.counts, window.counts]).astype(np.float64)
    else:
        assert isinstance(window, CategoricalWindow)
        aligned, unseen = window.aligned(reference)
        extra = sum(unseen.values())
        table = np.vstack(
            [
                np.append(reference.counts, reference.other),
                np.append(aligned, extra),
            ]
        ).astype(np.float64)
    return table[:, table.sum(axis=0) > 0]


def _coarse_groups(reference: NumericReference, groups: int = COARSE_GROUPS) -> np.ndarray:
    """For each fine bin, its coarse bin: 0 = at or below the minimum, 1..g = training deciles, g+1 = above max."""
    inner = reference.counts[1:-1]
    cumulative = np.cumsum(inner) / max(reference.n, 1)
    # the decile a fine bin falls in, by the training mass up to and including it
    decile = np.minimum(np.ceil(cumulative * groups - 1e-9).astype(np.int64), groups)
    decile = np.maximum(decile, 1)
    _, compact = np.unique(decile, return_inverse=True)
    inner_groups = compact + 1
    return np.concatenate(([0], inner_groups, [inner_groups.max(initial=0) + 1]))


def distributions(reference: Reference, window: Window) -> tuple[np.ndarray, np.ndarray]:
    """(q, p): reference and window probabilities on the coarse binning (see :data:`COARSE_BINNING`)."""
    _check_pair(reference, window)
    if isinstance(reference, NumericReference):
        assert isinstance(window, NumericWindow)
        groups = _coarse_groups(reference)
        size = int(groups.max()) + 1
        q = np.bincount(groups, weights=reference.counts, minlength=size)
        p = np.bincount(groups, weights=window.counts, minlength=size)
    else:
        assert isinstance(window, CategoricalWindow)
        aligned, unseen = window.aligned(reference)
        q = np.append(reference.counts, reference.other).astype(np.float64)
        p = np.append(aligned, sum(unseen.values())).astype(np.float64)
    return q / q.sum(), p / p.sum()


# ------------------------------------------------------------------------------------------------- tests


def ks_p_value(d: float, n: int, m: int) -> float:
    """Two-sided two-sample KS p-value. Small samples (``n*m/(n+m) <= 1000``): scipy's asymptotic formula
    ``kstwo.sf(D, round(en))``; larger: Kolmogorov's limit with Stephens' correction,
    ``Q((sqrt(en) + 0.12 + 0.11 / sqrt(en)) * D)``, as accurate there and without importing scipy.stats
    (~1 s of cold start) or its slow exact series."""
    if d <= 0:
        return 1.0
    big, small = sorted((float(n), float(m)), reverse=True)
    en = big * small / (big + small)
    if en <= KS_SMALL:
        from scipy.stats import kstwo

        p = float(kstwo.sf(d, max(round(en), 1)))
    else:
        from scipy.special import kolmogorov

        root = math.sqrt(en)
        p = float(kolmogorov((root + 0.12 + 0.11 / root) * d))
    return min(max(p, 0.0), 1.0)


def ks(reference: Reference, window: Window) -> TestOutcome:
    """Two-sample Kolmogorov-Smirnov on the reference's fine bin edges."""
    _check_pair(reference, window)
    if not isinstance(reference, NumericReference) or not isinstance(window, NumericWindow):
        raise InvalidRequestError("ks: expected a numeric feature (use chi2 for categorical features)")
    d = float(np.max(np.abs(reference.cdf() - window.cdf())))
    return TestOutcome(statistic=d, p_value=ks_p_value(d, reference.n, window.n))


def chi2(reference: Reference, window: Window) -> TestOutcome:
    """Chi-square test of homogeneity on the 2 x K table of reference and window counts."""
    from scipy.special import chdtrc

    table = contingency(reference, window)
    k = table.shape[1]
    if k < 2:
        return TestOutcome(statistic=0.0, p_value=1.0, dof=0)
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    statistic = float(np.sum((table - expected) ** 2 / expected))
    dof = k - 1
    return TestOutcome(statistic=statistic, p_value=float(chdtrc(dof, statistic)), dof=dof)


# ------------------------------------------------------------------------------------------------- effects


def _interval_integral(a: np.ndarray, b: np.ndarray, width: np.ndarray) -> float:
    """``sum over intervals of the integral of |linear from a to b|`` over each width."""
    same = a * b >= 0
    total = np.where(
        same,
        (np.abs(a) + np.abs(b)) / 2,
        (a * a + b * b) / (2 * np.maximum(np.abs(a) + np.abs(b), 1e-300)),
    )
    return float(np.sum(total * width))


def wasserstein(reference: Reference, window: Window) -> float:
    """Normed Wasserstein-1 distance ``W1 / std(reference)`` (Evidently's "normed Wasserstein"); a constant
    training feature is normed by 1."""
    _check_pair(reference, window)
    if not isinstance(reference, NumericReference) or not isinstance(window, NumericWindow):
        raise InvalidRequestError("wasserstein: expected a numeric feature")
    diff = reference.cdf() - window.cdf()
    width = np.diff(reference.edges)
    if reference.source == DISTINCT:
        inner = float(np.sum(np.abs(diff[:-1]) * width))
    else:
        inner = _interval_integral(diff[:-1], diff[1:], width)
    tails = (window.below + window.above) / window.n
    scale = reference.std if reference.std > 0 else 1.0
    return (inner + tails) / scale


def jensenshannon(reference: Reference, window: Window) -> float:
    """Jensen-Shannon distance (base 2, in [0, 1]) on the coarse binning."""
    q, p = distributions(reference, window)
    m = (p + q) / 2

    def kl(a: np.ndarray) -> float:
        mask = a > 0
        return float(np.sum(a[mask] * np.log2(a[mask] / m[mask])))

    return float(np.sqrt(max((kl(p) + kl(q)) / 2, 0.0)))


def psi(reference: Reference, window: Window) -> float:
    """Population stability index ``sum (p - q) ln(p / q)`` on the coarse binning (empty bins: 1e-4)."""
    q, p = distributions(reference, window)
    q = np.where(q > 0, q, PSI_EMPTY_BIN)
    p = np.where(p > 0, p, PSI_EMPTY_BIN)
    return float(np.sum((p - q) * np.log(p / q)))


def hellinger(reference: Reference, window: Window) -> float:
    q, p = distributions(reference, window)
    return _hellinger(p, q)


def tvd(reference: Reference, window: Window) -> float:
    q, p = distributions(reference, window)
    return _tvd(p, q)


# ------------------------------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class StatDescriptor:
    """What a statistic is: ``role`` ``test`` (the judged value is a p-value; lower means drift, the threshold is
    a significance level) or ``effect`` (higher means drift, the threshold is the size that matters)."""

    name: str
    role: str
    func: Callable[[Reference, Window], Any]
    feature_types: tuple[str, ...]
    default_threshold: float
    higher_means_drift: bool
    binning: str
    description: str

    def accepts(self, kind: str) -> bool:
        return kind in self.feature_types


BOTH = (NUMERIC, CATEGORICAL)
STATS: dict[str, StatDescriptor] = {
    d.name: d
    for d in (
        StatDescriptor("ks", "test", ks, (NUMERIC,), 0.05, False, FINE_BINNING, "two-sample Kolmogorov-Smirnov"),
        StatDescriptor("chi2", "test", chi2, BOTH, 0.05, False, FINE_BINNING, "chi-square on the 2xK table"),
        StatDescriptor(
            "wasserstein", "effect", wasserstein, (NUMERIC,), 0.1, True, FINE_BINNING, "normed Wasserstein-1"
        ),
        StatDescriptor(
            "jensenshannon", "effect", jensenshannon, BOTH, 0.1, True, COARSE_BINNING, "Jensen-Shannon distance"
        ),
        StatDescriptor("psi", "effect", psi, BOTH, 0.1, True, COARSE_BINNING, "population stability index"),
        StatDescriptor("hellinger", "effect", hellinger, BOTH, 0.1, True, COARSE_BINNING, "Hellinger distance"),
        StatDescriptor("tvd", "effect", tvd, BOTH, 0.1, True, COARSE_BINNING, "total variation distance"),
    )
}
DEFAULT_TEST = {NUMERIC: "ks", CATEGORICAL: "chi2"}
DEFAULT_EFFECT = {NUMERIC: "wasserstein", CATEGORICAL: "jensenshannon"}


def get_stat(name: str, role: str, kind: str) -> StatDescriptor:
    """The descriptor ``name``, checked to be a ``role`` that accepts ``kind`` features."""
    descriptor = STATS.get(name)
    if descriptor is None or descriptor.role != role:
        known = sorted(n for n, d in STATS.items() if d.role == role)
        raise ConfigurationError(f"unknown {role} {name!r}; expected one of {known}")
    if not descriptor.accepts(kind):
        fits = sorted(n for n, d in STATS.items() if d.role == role and d.accepts(kind))
        raise ConfigurationError(f"{role} {name!r} does not accept {kind} features; expected one of {fits}")
    return descriptor


def all_effects(reference: Reference, window: Window) -> dict[str, float]:
    """Every effect size that accepts the feature's kind (what a result reports besides the judged one)."""
    kind = reference.kind
    return {
        name: float(d.func(reference, window)) for name, d in STATS.items() if d.role == "effect" and d.accepts(kind)
    }
