"""Correction for testing many features at once: adjusted p-values, compared with the family's alpha.

* ``bonferroni``: ``min(1, p * m)``; controls the family-wise error rate (the chance of any false alarm) at alpha.
* ``bh`` (Benjamini-Hochberg): the step-up adjusted p-values; controls the false discovery rate at alpha, and
  the family-wise error rate too when nothing drifted (so a window with no drift at all raises an alarm with
  probability at most alpha), with more power than Bonferroni once some features did drift.
* ``none``: the raw p-values.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from driftline.errors import ConfigurationError

CORRECTIONS = ("bh", "bonferroni", "none")


def bonferroni(p_values: Sequence[float]) -> list[float]:
    p = np.asarray(p_values, dtype=np.float64)
    return [float(v) for v in np.minimum(p * p.size, 1.0)]


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Adjusted p-values ``min over j >= i of p_(j) * m / j`` (sorted order), capped at 1."""
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    if m == 0:
        return []
    order = np.argsort(p, kind="stable")
    scaled = p[order] * m / np.arange(1, m + 1)
    adjusted_sorted = np.minimum.accumulate(scaled[::-1])[::-1]
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(adjusted_sorted, 1.0)
    return [float(v) for v in adjusted]


def adjust(p_values: Sequence[float], method: str) -> list[float]:
    """The p-values adjusted by ``method`` (one of :data:`CORRECTIONS`)."""
    if any(not (0.0 <= float(v) <= 1.0) for v in p_values):
        raise ConfigurationError(f"p-values must be in [0, 1], got {list(p_values)}")
    if method == "bonferroni":
        return bonferroni(p_values)
    if method in ("bh", "fdr"):
        return benjamini_hochberg(p_values)
    if method == "none":
        return [float(v) for v in p_values]
    raise ConfigurationError(f"correction {method!r}; expected one of {list(CORRECTIONS)}")
