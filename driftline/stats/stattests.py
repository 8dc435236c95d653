"""Two-sample tests and effect sizes over a reference and a window sketch, one small pure function each,
registered with its descriptor (name, role, feature types, default threshold, which direction means drift,
binning) in the one registry, :mod:`driftline.stats.registry`.

Two-sample tests (:attr:`Role.TEST`, the value judged is a p-value: lower means drift):

* ``ks``: Kolmogorov-Smirnov. The statistic is the largest CDF gap evaluated at the reference's fine bin edges
  (exact at every edge; between edges it can only be missed, so the test is conservative, and exactly
  scipy's ``ks_2samp`` statistic when the edges are all the distinct training values). p-value: scipy's
  asymptotic two-sample formula, ``kstwo.sf(D, round(n*m/(n+m)))``.
* ``chi2``: chi-square test of homogeneity on the 2 x K contingency table (reference counts, window counts), never
  a goodness-of-fit test against reference frequencies (that ignores the reference's own sampling noise and
  raises false alarms). Categories: the reference's, plus one column for values it never saw; numbers: the fine
  bins. Columns empty in both rows are dropped; no continuity correction.

Effect sizes (:attr:`Role.EFFECT`, higher means drift):

* ``wasserstein``: normed Wasserstein-1, ``W1 / std(reference)``, integrated over the fine bins (values spread
  evenly inside a quantile bin, step CDF for distinct-value bins, exact tails outside the training range).
* ``jensenshannon``: Jensen-Shannon distance, base 2 (in [0, 1]).
* ``psi``: population stability index, zero probabilities replaced by 1e-4.
* ``hellinger``, ``tvd``: MLRun's distances (:mod:`driftline.stats.distances`) on the coarse binning.

For numbers, ``jensenshannon``, ``psi``, ``hellinger`` and ``tvd`` use the coarse binning :data:`COARSE_BINNING`:
about ten bins of equal training mass (the training deciles) plus one bin at or below the training minimum and
one above the maximum. For categories: the categories, plus one bin for values never seen in training.
"""

from __future__ import annotations

import math

import numpy as np

from driftline.errors import InvalidRequestError
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
from driftline.stats.registry import Direction, Inputs, Role, TestOutcome, statistic

KS_SMALL = 1000  # n*m/(n+m) up to which the KS p-value is scipy's own formula
PSI_EMPTY_BIN = 1e-4  # stand-in for an empty bin's probability (PSI and KL are infinite otherwise)
COARSE_GROUPS = 10
COARSE_BINNING = (
    "numeric: the training deciles (10 bins of equal training mass over [min, max]) plus one bin at or below the "
    "training minimum and one above the maximum; categorical: the training categories plus one bin for unseen values"
)
FINE_BINNING = "the reference's fine bins (up to 100 training quantiles, or every distinct value)"
BOTH = (NUMERIC, CATEGORICAL)
SIGNIFICANCE = 0.05  # the default alpha of every test
EFFECT_SIZE = 0.1  # the default effect size that matters, for every effect


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


@statistic(
    "ks",
    Role.TEST,
    inputs=Inputs.SKETCHES,
    feature_types=(NUMERIC,),
    direction=Direction.LOWER,
    threshold=SIGNIFICANCE,
    binning=FINE_BINNING,
    description="two-sample Kolmogorov-Smirnov",
)
def ks(reference: Reference, window: Window) -> TestOutcome:
    """Two-sample Kolmogorov-Smirnov on the reference's fine bin edges."""
    _check_pair(reference, window)
    if not isinstance(reference, NumericReference) or not isinstance(window, NumericWindow):
        raise InvalidRequestError("ks: expected a numeric feature (use chi2 for categorical features)")
    d = float(np.max(np.abs(reference.cdf() - window.cdf())))
    return TestOutcome(statistic=d, p_value=ks_p_value(d, reference.n, window.n))


@statistic(
    "chi2",
    Role.TEST,
    inputs=Inputs.SKETCHES,
    feature_types=BOTH,
    direction=Direction.LOWER,
    threshold=SIGNIFICANCE,
    binning=FINE_BINNING,
    description="chi-square on the 2xK table",
)
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


@statistic(
    "wasserstein",
    Role.EFFECT,
    inputs=Inputs.SKETCHES,
    feature_types=(NUMERIC,),
    direction=Direction.HIGHER,
    threshold=EFFECT_SIZE,
    binning=FINE_BINNING,
    description="normed Wasserstein-1",
    bounded=False,
)
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


@statistic(
    "jensenshannon",
    Role.EFFECT,
    inputs=Inputs.SKETCHES,
    feature_types=BOTH,
    direction=Direction.HIGHER,
    threshold=EFFECT_SIZE,
    binning=COARSE_BINNING,
    description="Jensen-Shannon distance",
)
def jensenshannon(reference: Reference, window: Window) -> float:
    """Jensen-Shannon distance (base 2, in [0, 1]) on the coarse binning."""
    q, p = distributions(reference, window)
    m = (p + q) / 2

    def kl(a: np.ndarray) -> float:
        mask = a > 0
        return float(np.sum(a[mask] * np.log2(a[mask] / m[mask])))

    return float(np.sqrt(max((kl(p) + kl(q)) / 2, 0.0)))


@statistic(
    "psi",
    Role.EFFECT,
    inputs=Inputs.SKETCHES,
    feature_types=BOTH,
    direction=Direction.HIGHER,
    threshold=EFFECT_SIZE,
    binning=COARSE_BINNING,
    description="population stability index",
    bounded=False,
)
def psi(reference: Reference, window: Window) -> float:
    """Population stability index ``sum (p - q) ln(p / q)`` on the coarse binning (empty bins: 1e-4)."""
    q, p = distributions(reference, window)
    q = np.where(q > 0, q, PSI_EMPTY_BIN)
    p = np.where(p > 0, p, PSI_EMPTY_BIN)
    return float(np.sum((p - q) * np.log(p / q)))


@statistic(
    "hellinger",
    Role.EFFECT,
    inputs=Inputs.SKETCHES,
    feature_types=BOTH,
    direction=Direction.HIGHER,
    threshold=EFFECT_SIZE,
    binning=COARSE_BINNING,
    description="Hellinger distance",
)
def hellinger(reference: Reference, window: Window) -> float:
    """MLRun's Hellinger distance on the coarse binning."""
    q, p = distributions(reference, window)
    return _hellinger(p, q)


@statistic(
    "tvd",
    Role.EFFECT,
    inputs=Inputs.SKETCHES,
    feature_types=BOTH,
    direction=Direction.HIGHER,
    threshold=EFFECT_SIZE,
    binning=COARSE_BINNING,
    description="total variation distance",
)
def tvd(reference: Reference, window: Window) -> float:
    """MLRun's total variation distance on the coarse binning."""
    q, p = distributions(reference, window)
    return _tvd(p, q)
