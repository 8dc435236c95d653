"""MLRun's histogram drift inputs: the padded reference histogram and the window re-binned on its edges.

The reference is the profile's 20 bins plus two outer bins ``[-float_max, x0]`` and ``[xn, +float_max]`` with
reference count 0 (22 bins, 23 edges), so window values outside the training range are counted, not lost.
The window's distribution is ``np.histogram(values, bins=padded_edges) / non-null count``, computed here in one
vectorised pass (a binary search of each value among 23 edges, then ``bincount``) with numpy's bin rules:
``[e_i, e_i+1)`` and the last bin closed. Infinite values fall into the outer bins (numpy would drop them).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from driftline.errors import InvalidRequestError
from driftline.stats.profile import NUMERIC, column_kind, column_stats, describe_numeric, histogram, numeric_values

FLOAT_MAX = sys.float_info.max


@dataclass(frozen=True)
class ReferenceHistogram:
    """A feature's padded reference: 23 edges, 22 counts, and the counts as probabilities (q)."""

    edges: np.ndarray
    counts: np.ndarray
    probabilities: np.ndarray

    @property
    def bins(self) -> int:
        return int(self.counts.size)


def padded_reference(stats: Mapping[str, Any], feature: str = "feature") -> ReferenceHistogram | None:
    """The padded reference histogram of one feature's profile entry; None when it has no histogram
    (a categorical or entirely null column). A histogram already padded (MLRun-style) is not padded twice."""
    hist = stats.get("hist") if isinstance(stats, Mapping) else None
    if not hist:
        return None
    try:
        raw_counts, raw_edges = hist
        counts = np.asarray(raw_counts, dtype=np.float64)
        edges = np.asarray(raw_edges, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidRequestError(f"{feature}: hist must be [counts, edges] of numbers ({exc})") from exc
    if (
        counts.ndim != 1
        or edges.ndim != 1
        or counts.size < 1
        or edges.size != counts.size + 1
        or not np.all(np.isfinite(edges))
        or np.any(np.diff(edges) < 0)
        or np.any(counts < 0)
        or counts.sum() <= 0
    ):
        raise InvalidRequestError(
            f"{feature}: hist must be [counts, edges] with len(edges) == len(counts) + 1, finite increasing "
            f"edges and non-negative counts that are not all zero; got {len(counts)} counts and {len(edges)} edges"
        )
    if not (edges[0] <= -FLOAT_MAX and edges[-1] >= FLOAT_MAX):
        edges = np.concatenate(([-FLOAT_MAX], edges, [FLOAT_MAX]))
        counts = np.concatenate(([0.0], counts, [0.0]))
    return ReferenceHistogram(edges=edges, counts=counts, probabilities=counts / counts.sum())


def bin_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """``np.histogram(values, bins=edges)[0]`` for increasing ``edges``: values outside ``[e0, e_last]`` and NaN
    are not counted; the last bin is closed."""
    bins = edges.size - 1
    index = np.searchsorted(edges, values, side="right") - 1
    index[values == edges[-1]] = bins - 1
    keep = (index >= 0) & (index < bins)
    return np.bincount(index[keep], minlength=bins)


def window_counts(values: np.ndarray, reference: ReferenceHistogram) -> tuple[np.ndarray, int]:
    """Counts of the window's non-null values on the padded reference edges, and that non-null count.
    Every non-null value lands in a bin (infinities in the outer ones), so the counts sum to the count."""
    present = values[~np.isnan(values)]
    index = np.searchsorted(reference.edges, present, side="right") - 1
    np.clip(index, 0, reference.bins - 1, out=index)
    return np.bincount(index, minlength=reference.bins), int(present.size)


def window_distribution(values: np.ndarray, reference: ReferenceHistogram) -> np.ndarray | None:
    """p: the window's probabilities on the reference bins (counts / non-null count); None for no values."""
    counts, n = window_counts(values, reference)
    return counts / n if n else None


def _numeric_window_stats(series: pd.Series, reference: ReferenceHistogram | None) -> dict[str, Any]:
    values = numeric_values(series)
    finite = values[np.isfinite(values)]
    stats: dict[str, Any] = {"type": NUMERIC, **describe_numeric(finite)}
    hist: list[list[Any]] | None
    if reference is not None:
        counts, present = window_counts(values, reference)
        hist = [[int(c) for c in counts], [float(e) for e in reference.edges]]
    else:
        present = int(np.count_nonzero(~np.isnan(values)))
        hist = histogram(finite) if finite.size else None
    stats["count"] = present
    stats["missing"] = int(values.size - present)
    if present > finite.size:
        stats["infinite"] = present - int(finite.size)
    stats["hist"] = hist
    return stats


def sample_df_stats(
    df: pd.DataFrame, feature_stats: Mapping[str, Mapping[str, Any]], columns: Iterable[str] | None = None
) -> dict[str, dict]:
    """The window's statistics, MLRun-style: for each feature (default: the columns of ``df`` that the reference
    profile knows) ``describe`` figures over its finite values, ``count`` of non-null values, ``missing``, and for
    numeric features with a reference histogram the window's ``hist = [22 counts, 23 padded reference edges]``,
    comparable bin by bin with :func:`padded_reference` (without a reference: its own 20-bin histogram).
    Categorical features get ``frequencies``."""
    names = [c for c in df.columns if c in feature_stats] if columns is None else list(columns)
    absent = [c for c in names if c not in df.columns]
    if absent:
        raise InvalidRequestError(f"sample stats: columns {absent} are not in the window's columns {list(df.columns)}")
    out: dict[str, dict] = {}
    for name in names:
        series = df[name]
        if column_kind(series) == NUMERIC:
            reference = padded_reference(feature_stats.get(name) or {}, str(name))
            out[str(name)] = _numeric_window_stats(series, reference)
        else:
            out[str(name)] = column_stats(series, str(name))
    return out
