"""Reference profiles for drift tests, stored once with the model, and window sketches that merge.

At ``log_model`` time :func:`compute_reference_profile` adds, to each feature's MLRun ``feature_stats`` entry, a
``reference`` entry with what every test needs, so a window only bins its own rows:

* numeric: fine bins over the training values. Edges are the distinct training values when there are at most
  ``bins + 1`` of them (counts, Poisson-like data: every value gets its own bin) or else ``bins + 1`` training
  quantiles (``inverted_cdf``, so every edge is a training value). Bins are closed on the right:
  ``(-inf, e0], (e0, e1], ..., (e_{K-1}, eK], (eK, +inf)``, so the cumulative counts are the exact empirical CDF
  at every edge (what the KS test needs) and values above the training maximum land in the last, empty bin.
  Plus ``n, missing, mean, std, min, max``.
* categorical: the frequencies MLRun's profile already has, plus ``other`` (training values left out when the
  frequencies were truncated).

A window is summarised per feature by a sketch (:class:`NumericWindow`, :class:`CategoricalWindow`) of counts and
sums only: sketches of two parts of a window :meth:`merge` into exactly the sketch of the whole window, so a
window can be processed in chunks (parquet row groups) or from micro-batch partial counts.

Size: about 2.5 KB of JSON per numeric feature at 100 bins (MLRun's own entry is ~0.8 KB); :func:`bins_for`
lowers the bin count for models with more than 50 numeric features (5,000 fine bins in all, at least 20 per
feature) so the model record stays under DynamoDB's 400 KB item limit up to ~200 features.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from driftline.errors import InvalidRequestError
from driftline.stats.profile import (
    CATEGORICAL,
    NUMERIC,
    as_json_number,
    column_kind,
    compute_feature_stats,
    numeric_values,
)

REFERENCE_KEY = "reference"
FORMAT_VERSION = 1
DEFAULT_BINS = 100
MIN_BINS = 20
BIN_BUDGET = 5_000  # fine bins over all numeric features of one model (~130 KB of JSON)
QUANTILES = "quantiles"
DISTINCT = "distinct"
HISTOGRAM = "histogram"  # rebuilt from an MLRun 20-bin histogram (a profile logged without a reference entry)


def bins_for(n_features: int, bins: int = DEFAULT_BINS) -> int:
    """Fine bins per numeric feature: ``bins``, fewer for wide models (at least 20)."""
    if n_features <= 0:
        return bins
    return max(MIN_BINS, min(bins, BIN_BUDGET // n_features))


# ------------------------------------------------------------------------------------------------- binning


class Binner:
    """``np.searchsorted(edges, x, side="left")`` (the number of edges below each value), several times faster.

    A binary search per value costs ~40 ns on 100 edges. Instead, a uniform grid of cells over ``[e0, eK]``
    remembers, per cell, how many edges lie below it; a value's bin is that number plus a few comparisons with
    the edges that can lie inside its cell (at most ``width`` of them). The grid is refined until ``width`` is
    small; edges too unevenly spread for any grid (a far outlier in training) fall back to the binary search.
    Exact: a value is compared with every edge its (slightly widened) cell holds.
    """

    GRIDS = (1024, 4096, 16384, 65536)
    MAX_WIDTH = 4

    def __init__(self, edges: np.ndarray) -> None:
        self.edges = np.asarray(edges, dtype=np.float64)
        self.low = float(self.edges[0])
        span = float(self.edges[-1]) - self.low
        self.cells = 0
        # a span so small (subnormal) that cells / span overflows cannot hold a grid: binary search then
        if not np.isfinite(span) or span <= 0 or not np.isfinite(max(self.GRIDS) / span):
            return
        best: tuple[int, int, np.ndarray] | None = None
        for cells in self.GRIDS:
            size = span / cells
            starts = self.low + size * np.arange(cells)
            margin = size * 1e-6
            below = np.searchsorted(self.edges, starts - margin, side="left")
            upto = np.searchsorted(self.edges, starts + size + margin, side="right")
            width = int(np.max(upto - below))
            if best is None or width < best[1]:
                best = (cells, width, below)
            if width <= 1:  # one comparison per value: as good as it gets
                break
        assert best is not None
        cells, width, below = best
        if width <= self.MAX_WIDTH:
            self.cells, self.scale, self.below, self.width = cells, cells / span, below, max(width, 1)
            self.padded = np.concatenate((self.edges, np.full(self.width, np.inf)))

    def __call__(self, values: np.ndarray) -> np.ndarray:
        """The bin of each finite value: 0 for ``x <= e0``, i for ``e_{i-1} < x <= e_i``, K+1 above ``eK``."""
        if not self.cells:
            return np.searchsorted(self.edges, values, side="left")
        with np.errstate(over="ignore", invalid="ignore"):
            position = values - self.low
            position *= self.scale
        np.maximum(position, 0, out=position)
        np.minimum(position, self.cells - 1, out=position)
        base = self.below[position.astype(np.intp)]
        index = base + (values > self.padded[base])
        for j in range(1, self.width):
            index += values > self.padded[base + j]
        return index


# ------------------------------------------------------------------------------------------------- references


@dataclass(frozen=True)
class NumericReference:
    """A numeric feature's training distribution on fine, right-closed bins (``len(counts) == len(edges) + 1``)."""

    edges: np.ndarray
    counts: np.ndarray
    n: int
    missing: int = 0
    mean: float = 0.0
    std: float = 0.0
    source: str = QUANTILES
    kind: str = field(default=NUMERIC, init=False)

    @property
    def minimum(self) -> float:
        return float(self.edges[0])

    @property
    def maximum(self) -> float:
        return float(self.edges[-1])

    @property
    def probabilities(self) -> np.ndarray:
        return self.counts / self.n

    def cdf(self) -> np.ndarray:
        """The empirical CDF at each edge, ``F(e_i) = P(X <= e_i)``."""
        return np.cumsum(self.counts)[:-1] / self.n

    @cached_property
    def binner(self) -> Binner:
        return Binner(self.edges)

    def to_dict(self) -> dict[str, Any]:
        return {
            "v": FORMAT_VERSION,
            "kind": NUMERIC,
            "source": self.source,
            "edges": [float(e) for e in self.edges],
            "counts": [int(c) for c in self.counts],
            "n": int(self.n),
            "missing": int(self.missing),
            "mean": float(self.mean),
            "std": float(self.std),
        }


@dataclass(frozen=True)
class CategoricalReference:
    """A categorical feature's training frequencies; ``other`` counts values beyond the stored categories."""

    categories: tuple[str, ...]
    counts: np.ndarray
    n: int
    missing: int = 0
    other: int = 0
    kind: str = field(default=CATEGORICAL, init=False)

    def index(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.categories)}

    def to_dict(self) -> dict[str, Any]:
        return {
            "v": FORMAT_VERSION,
            "kind": CATEGORICAL,
            "categories": list(self.categories),
            "counts": [int(c) for c in self.counts],
            "n": int(self.n),
            "missing": int(self.missing),
            "other": int(self.other),
        }


Reference = NumericReference | CategoricalReference


def numeric_reference(values: np.ndarray, bins: int = DEFAULT_BINS, missing: int | None = None) -> NumericReference:
    """The fine-binned reference of float values (NaN = missing; infinite values are refused)."""
    values = np.asarray(values, dtype=np.float64)
    present = values[~np.isnan(values)]
    if np.isinf(present).any():
        raise InvalidRequestError("reference values: expected finite numbers, got infinite values")
    if present.size == 0:
        raise InvalidRequestError("reference values: no non-null values to build a reference from")
    if bins < 1:
        raise InvalidRequestError(f"reference bins: expected at least 1, got {bins}")
    distinct = np.unique(present)
    if distinct.size <= bins + 1:
        edges, source = distinct, DISTINCT
    else:
        levels = np.linspace(0.0, 1.0, bins + 1)
        edges, source = np.unique(np.quantile(present, levels, method="inverted_cdf")), QUANTILES
        edges[0], edges[-1] = distinct[0], distinct[-1]
    counts = np.bincount(np.searchsorted(edges, present, side="left"), minlength=edges.size + 1)
    return NumericReference(
        edges=edges,
        counts=counts.astype(np.int64),
        n=int(present.size),
        missing=int(values.size - present.size) if missing is None else missing,
        mean=float(present.mean()),
        std=float(present.std()) if present.size > 1 else 0.0,
        source=source,
    )


def categorical_reference(series: pd.Series) -> CategoricalReference:
    present = series.dropna()
    counts = present.astype(str).value_counts(sort=True)
    if counts.empty:
        raise InvalidRequestError("reference values: no non-null values to build a reference from")
    return CategoricalReference(
        categories=tuple(str(c) for c in counts.index),
        counts=counts.to_numpy(dtype=np.int64),
        n=int(present.size),
        missing=int(series.size - present.size),
    )


def compute_reference_profile(
    df: pd.DataFrame, columns: Sequence[str] | None = None, bins: int | None = None
) -> dict[str, dict]:
    """MLRun's ``feature_stats`` of ``df`` (exactly :func:`compute_feature_stats`, a superset is stored) with a
    ``reference`` entry per numeric or categorical column that has values. What ``log_model`` stores."""
    stats = compute_feature_stats(df, columns)
    numeric = [name for name, entry in stats.items() if entry.get("type") == NUMERIC]
    fine = bins_for(len(numeric)) if bins is None else bins
    for name, entry in stats.items():
        if not entry.get("count"):
            continue
        column = df[name]
        if entry["type"] == NUMERIC:
            entry[REFERENCE_KEY] = numeric_reference(numeric_values(column), fine).to_dict()
        elif entry["type"] == CATEGORICAL:
            frequencies = entry.get("frequencies") or {}
            stored = sum(int(v) for v in frequencies.values())
            entry[REFERENCE_KEY] = {
                "v": FORMAT_VERSION,
                "kind": CATEGORICAL,
                "categories": list(frequencies),
                "counts": [int(v) for v in frequencies.values()],
                "n": int(entry["count"]),
                "missing": int(entry.get("missing", 0)),
                "other": int(entry["count"]) - stored,
            }
    return stats


def _from_mlrun_histogram(entry: Mapping[str, Any], name: str) -> NumericReference | None:
    hist = entry.get("hist")
    if not hist:
        return None
    try:
        counts = np.asarray(hist[0], dtype=np.float64)
        edges = np.asarray(hist[1], dtype=np.float64)
    except (TypeError, ValueError, IndexError) as exc:
        raise InvalidRequestError(f"{name}: hist must be [counts, edges] of numbers ({exc})") from exc
    if edges.size != counts.size + 1 or counts.sum() <= 0 or not np.isfinite(edges).all():
        raise InvalidRequestError(f"{name}: hist must be [counts, edges] with len(edges) == len(counts) + 1")
    # a padded (MLRun-style) histogram: drop the two empty outer bins
    if edges.size > 3 and abs(edges[0]) > 1e300 and abs(edges[-1]) > 1e300:
        edges, counts = edges[1:-1], counts[1:-1]
    n = int(counts.sum())
    fine = np.concatenate(([0.0], counts, [0.0])).astype(np.int64)
    std = entry.get("std")
    return NumericReference(
        edges=edges,
        counts=fine,
        n=n,
        missing=int(entry.get("missing") or 0),
        mean=float(entry.get("mean") or 0.0),
        std=float(std) if std is not None else 0.0,
        source=HISTOGRAM,
    )


def reference_from_entry(entry: Mapping[str, Any], name: str = "feature") -> Reference | None:
    """The drift reference of one ``feature_stats`` entry: its ``reference`` entry, or, for a profile logged
    before references existed, one rebuilt from MLRun's 20-bin ``hist`` / ``frequencies`` (coarser: tests stay
    valid, only less sensitive). None when the entry has nothing to compare against."""
    if not isinstance(entry, Mapping):
        raise InvalidRequestError(f"{name}: expected a feature_stats entry (a mapping), got {type(entry).__name__}")
    ref = entry.get(REFERENCE_KEY)
    if isinstance(ref, Mapping):
        kind = ref.get("kind")
        try:
            if kind == NUMERIC:
                edges = np.asarray(ref["edges"], dtype=np.float64)
                counts = np.asarray(ref["counts"], dtype=np.int64)
                if counts.size != edges.size + 1 or edges.size < 1 or np.any(np.diff(edges) <= 0):
                    raise ValueError("expected increasing edges and len(counts) == len(edges) + 1")
                return NumericReference(
                    edges=edges,
                    counts=counts,
                    n=int(ref["n"]),
                    missing=int(ref.get("missing", 0)),
                    mean=float(ref.get("mean", 0.0)),
                    std=float(ref.get("std", 0.0)),
                    source=str(ref.get("source", QUANTILES)),
                )
            if kind == CATEGORICAL:
                categories = tuple(str(c) for c in ref["categories"])
                counts = np.asarray(ref["counts"], dtype=np.int64)
                if counts.size != len(categories):
                    raise ValueError("expected one count per category")
                return CategoricalReference(
                    categories=categories,
                    counts=counts,
                    n=int(ref["n"]),
                    missing=int(ref.get("missing", 0)),
                    other=int(ref.get("other", 0)),
                )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidRequestError(f"{name}: malformed reference entry ({exc})") from exc
        raise InvalidRequestError(f"{name}: reference kind {kind!r}; expected 'numeric' or 'categorical'")
    kind = entry.get("type")
    if kind == CATEGORICAL and entry.get("frequencies"):
        frequencies = entry["frequencies"]
        stored = sum(int(v) for v in frequencies.values())
        return CategoricalReference(
            categories=tuple(str(c) for c in frequencies),
            counts=np.asarray([int(v) for v in frequencies.values()], dtype=np.int64),
            n=int(entry.get("count") or stored),
            missing=int(entry.get("missing") or 0),
            other=max(int(entry.get("count") or stored) - stored, 0),
        )
    if kind in (NUMERIC, None):
        return _from_mlrun_histogram(entry, name)
    return None


def references_from_profile(feature_stats: Mapping[str, Any]) -> dict[str, Reference]:
    """Every feature of a profile that has a reference (see :func:`reference_from_entry`)."""
    out: dict[str, Reference] = {}
    for name, entry in feature_stats.items():
        ref = reference_from_entry(entry or {}, str(name))
        if ref is not None:
            out[str(name)] = ref
    return out


# ------------------------------------------------------------------------------------------------- windows


@dataclass
class NumericWindow:
    """A window's numeric column on its reference's bins. Every field is a count, a sum, a min or a max, so two
    sketches :meth:`merge` exactly. ``n`` counts finite values (those are binned); ``below``/``above`` are the
    sums of ``min - x`` and ``x - max`` over values outside the training range (Wasserstein's tails)."""

    counts: np.ndarray
    n: int = 0
    missing: int = 0
    infinite: int = 0
    type_errors: int = 0
    total: float = 0.0
    total_sq: float = 0.0
    below_n: int = 0
    above_n: int = 0
    below: float = 0.0
    above: float = 0.0
    vmin: float = float("inf")
    vmax: float = float("-inf")
    kind: str = field(default=NUMERIC, init=False)

    @property
    def rows(self) -> int:
        return self.n + self.missing + self.infinite + self.type_errors

    @property
    def mean(self) -> float | None:
        return self.total / self.n if self.n else None

    @property
    def std(self) -> float | None:
        if self.n < 2:
            return None
        variance = (self.total_sq - self.total * self.total / self.n) / (self.n - 1)
        return float(np.sqrt(max(variance, 0.0)))

    def cdf(self) -> np.ndarray:
        return np.cumsum(self.counts)[:-1] / self.n

    def merge(self, other: NumericWindow) -> NumericWindow:
        if other.counts.size != self.counts.size:
            raise InvalidRequestError(
                f"window sketches: cannot merge {self.counts.size} bins with {other.counts.size}: "
                "expected sketches made on the same reference"
            )
        return NumericWindow(
            counts=self.counts + other.counts,
            n=self.n + other.n,
            missing=self.missing + other.missing,
            infinite=self.infinite + other.infinite,
            type_errors=self.type_errors + other.type_errors,
            total=self.total + other.total,
            total_sq=self.total_sq + other.total_sq,
            below_n=self.below_n + other.below_n,
            above_n=self.above_n + other.above_n,
            below=self.below + other.below,
            above=self.above + other.above,
            vmin=min(self.vmin, other.vmin),
            vmax=max(self.vmax, other.vmax),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": NUMERIC,
            "counts": [int(c) for c in self.counts],
            "n": self.n,
            "missing": self.missing,
            "infinite": self.infinite,
            "type_errors": self.type_errors,
            "mean": as_json_number(self.mean),
            "std": as_json_number(self.std),
            "min": as_json_number(self.vmin) if self.n else None,
            "max": as_json_number(self.vmax) if self.n else None,
            "below_range": self.below_n,
            "above_range": self.above_n,
        }


@dataclass
class CategoricalWindow:
    """A window's categorical column: counts per category (strings, as in the profile)."""

    counts: dict[str, int] = field(default_factory=dict)
    n: int = 0
    missing: int = 0
    kind: str = field(default=CATEGORICAL, init=False)

    @property
    def rows(self) -> int:
        return self.n + self.missing

    def merge(self, other: CategoricalWindow) -> CategoricalWindow:
        counts = dict(self.counts)
        for key, value in other.counts.items():
            counts[key] = counts.get(key, 0) + value
        return CategoricalWindow(counts=counts, n=self.n + other.n, missing=self.missing + other.missing)

    def aligned(self, reference: CategoricalReference) -> tuple[np.ndarray, dict[str, int]]:
        """Counts in the reference's category order, and the categories the reference does not know."""
        index = reference.index()
        counts = np.zeros(len(reference.categories), dtype=np.int64)
        unseen: dict[str, int] = {}
        for key, value in self.counts.items():
            i = index.get(key)
            if i is None:
                unseen[key] = value
            else:
                counts[i] = value
        return counts, unseen

    def to_dict(self) -> dict[str, Any]:
        return {"kind": CATEGORICAL, "counts": dict(self.counts), "n": self.n, "missing": self.missing}


Window = NumericWindow | CategoricalWindow


def numeric_window(values: np.ndarray, reference: NumericReference, type_errors: int = 0) -> NumericWindow:
    """The sketch of float values (NaN = missing) on ``reference``'s bins (:class:`Binner`)."""
    values = np.asarray(values, dtype=np.float64)
    finite_mask = np.isfinite(values)
    finite = values if finite_mask.all() else values[finite_mask]
    nan = int(np.count_nonzero(np.isnan(values))) if finite.size != values.size else 0
    index = reference.binner(finite)
    counts = np.bincount(index, minlength=reference.edges.size + 1)
    low, high = reference.edges[0], reference.edges[-1]
    below_values = finite[finite < low] if counts[0] else finite[:0]
    above_values = finite[finite > high] if counts[-1] else finite[:0]
    return NumericWindow(
        counts=counts,
        n=int(finite.size),
        missing=nan,
        infinite=int(values.size - finite.size - nan),
        type_errors=type_errors,
        total=float(finite.sum()),
        total_sq=float(np.dot(finite, finite)),
        below_n=int(below_values.size),
        above_n=int(above_values.size),
        below=float((low - below_values).sum()),
        above=float((above_values - high).sum()),
        vmin=float(finite.min()) if finite.size else float("inf"),
        vmax=float(finite.max()) if finite.size else float("-inf"),
    )


def categorical_window(series: pd.Series) -> CategoricalWindow:
    """Counts per value as text (``str(value)``, as the profile's frequencies), missing values apart."""
    counts: dict[str, int] = {}
    for key, value in series.value_counts(sort=False, dropna=True).items():
        if value:
            text = str(key)
            counts[text] = counts.get(text, 0) + int(value)
    n = sum(counts.values())
    return CategoricalWindow(counts=counts, n=n, missing=int(series.size - n))


def window_sketch(series: pd.Series, reference: Reference) -> Window:
    """A column of a window summarised against its reference. A numeric reference with non-numeric window
    values counts those as ``type_errors`` (not as data); a categorical reference reads any value as text."""
    if isinstance(reference, NumericReference):
        if series.dtype == np.float64:  # the common case: a view, NaN already marks missing values
            return numeric_window(series.to_numpy(), reference)
        if column_kind(series) == NUMERIC:
            return numeric_window(numeric_values(series), reference)
        coerced = pd.to_numeric(series, errors="coerce")
        type_errors = int(series.notna().sum() - coerced.notna().sum())
        sketch = numeric_window(numeric_values(coerced), reference, type_errors=type_errors)
        sketch.missing -= type_errors  # coercion turned them into NaN: they are errors, not missing values
        return sketch
    return categorical_window(series)


def empty_sketch(reference: Reference) -> Window:
    if isinstance(reference, NumericReference):
        return NumericWindow(counts=np.zeros(reference.edges.size + 1, dtype=np.int64))
    return CategoricalWindow()


def window_sketches(df: pd.DataFrame, references: Mapping[str, Reference]) -> dict[str, Window]:
    """Sketches of every column of ``df`` that has a reference (columns absent from ``df`` are left out)."""
    return {name: window_sketch(df[name], ref) for name, ref in references.items() if name in df.columns}


def merge_sketches(parts: Sequence[Mapping[str, Window]]) -> dict[str, Window]:
    """The sketch of a whole window from the sketches of its parts (feature by feature)."""
    out: dict[str, Window] = {}
    for part in parts:
        for name, sketch in part.items():
            current = out.get(name)
            out[name] = sketch if current is None else current.merge(sketch)  # type: ignore[arg-type]
    return out
