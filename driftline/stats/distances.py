"""The three distances MLRun's histogram drift app reports, exactly as MLRun computes them.

Each is one small pure function ``(p, q) -> float`` over two probability vectors on the same bins
(p = the window, q = the reference), registered as a :attr:`~driftline.stats.registry.Role.DISTANCE` in the one
registry (:mod:`driftline.stats.registry`). MLRun judges the mean of TVD and Hellinger: ``potential_detection``
from 0.5, ``detected`` from 0.7; KLD is reported, not judged (it is not bounded).
"""

from __future__ import annotations

import numpy as np

from driftline.stats.profile import NUMERIC
from driftline.stats.registry import Direction, Inputs, Role, statistic

# MLRun's ``kld_scaling``: the stand-in for an empty bin in the denominator, so KL stays finite.
KLD_EMPTY_BIN = 1e-4
# MLRun's HistogramDataDriftApplication thresholds (changed there only by subclassing).
MLRUN_POTENTIAL = 0.5
MLRUN_DETECTED = 0.7
MLRUN_BINNING = "the profile's 20 equal-width training bins plus one empty bin on each side (22 bins)"


@statistic(
    "tvd",
    Role.DISTANCE,
    inputs=Inputs.PROBABILITIES,
    feature_types=(NUMERIC,),
    direction=Direction.HIGHER,
    threshold=MLRUN_DETECTED,
    potential_threshold=MLRUN_POTENTIAL,
    binning=MLRUN_BINNING,
    description="total variation distance (MLRun)",
)
def tvd(p: np.ndarray, q: np.ndarray) -> float:
    """Total variation distance: ``sum|p - q| / 2``; 0 for equal distributions, 1 for disjoint ones."""
    return float(np.sum(np.abs(p - q)) / 2)


@statistic(
    "hellinger",
    Role.DISTANCE,
    inputs=Inputs.PROBABILITIES,
    feature_types=(NUMERIC,),
    direction=Direction.HIGHER,
    threshold=MLRUN_DETECTED,
    potential_threshold=MLRUN_POTENTIAL,
    binning=MLRUN_BINNING,
    description="Hellinger distance (MLRun)",
)
def hellinger(p: np.ndarray, q: np.ndarray) -> float:
    """Hellinger distance: ``sqrt(max(1 - sum(sqrt(p * q)), 0))``; the max guards rounding below zero."""
    return float(np.sqrt(max(1.0 - float(np.sum(np.sqrt(p * q))), 0.0)))


def _kl(a: np.ndarray, b: np.ndarray) -> float:
    mask = a != 0
    a = a[mask]
    b = b[mask]
    return float(np.sum(a * np.log(a / np.where(b != 0, b, KLD_EMPTY_BIN))))


@statistic(
    "kld",
    Role.DISTANCE,
    inputs=Inputs.PROBABILITIES,
    feature_types=(NUMERIC,),
    direction=Direction.HIGHER,
    threshold=None,
    binning=MLRUN_BINNING,
    description="symmetric Kullback-Leibler divergence (MLRun)",
    bounded=False,
)
def kld(p: np.ndarray, q: np.ndarray) -> float:
    """Symmetric Kullback-Leibler divergence ``KL(p||q) + KL(q||p)`` (MLRun's, not capped).

    Each term sums ``a * log(a / b')`` over the bins where ``a != 0``, with ``b' = 1e-4`` where ``b == 0``."""
    return _kl(p, q) + _kl(q, p)
