"""The three distances MLRun's histogram drift app reports, exactly as MLRun computes them.

Each is one small pure function ``(p, q) -> float`` over two probability vectors on the same bins
(p = the window, q = the reference), plus a descriptor saying what it accepts and which way means drift.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# MLRun's ``kld_scaling``: the stand-in for an empty bin in the denominator, so KL stays finite.
KLD_EMPTY_BIN = 1e-4


def tvd(p: np.ndarray, q: np.ndarray) -> float:
    """Total variation distance: ``sum|p - q| / 2``; 0 for equal distributions, 1 for disjoint ones."""
    return float(np.sum(np.abs(p - q)) / 2)


def hellinger(p: np.ndarray, q: np.ndarray) -> float:
    """Hellinger distance: ``sqrt(max(1 - sum(sqrt(p * q)), 0))``; the max guards rounding below zero."""
    return float(np.sqrt(max(1.0 - float(np.sum(np.sqrt(p * q))), 0.0)))


def _kl(a: np.ndarray, b: np.ndarray) -> float:
    mask = a != 0
    a = a[mask]
    b = b[mask]
    return float(np.sum(a * np.log(a / np.where(b != 0, b, KLD_EMPTY_BIN))))


def kld(p: np.ndarray, q: np.ndarray) -> float:
    """Symmetric Kullback-Leibler divergence ``KL(p||q) + KL(q||p)`` (MLRun's, not capped).

    Each term sums ``a * log(a / b')`` over the bins where ``a != 0``, with ``b' = 1e-4`` where ``b == 0``."""
    return _kl(p, q) + _kl(q, p)


@dataclass(frozen=True)
class DistanceMethod:
    """What a distance is: its name, the feature types it accepts, its default thresholds (None: the distance
    is reported, not judged) and which direction means drift."""

    name: str
    func: Callable[[np.ndarray, np.ndarray], float]
    feature_types: tuple[str, ...] = ("numeric",)
    potential_threshold: float | None = None
    detected_threshold: float | None = None
    higher_means_drift: bool = True
    bounded: bool = True  # in [0, 1]


DISTANCES: dict[str, DistanceMethod] = {
    "tvd": DistanceMethod("tvd", tvd, potential_threshold=0.5, detected_threshold=0.7),
    "hellinger": DistanceMethod("hellinger", hellinger, potential_threshold=0.5, detected_threshold=0.7),
    "kld": DistanceMethod("kld", kld, bounded=False),
}
