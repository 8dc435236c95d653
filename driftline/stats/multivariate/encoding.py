"""Rows of mixed features as one numeric matrix, the same way at ``log_model`` time and in every window.

* numeric feature: ``(x - mean) / std`` with the reference's mean and population std (std 0: scale 1, so a
  constant training feature is a column of zeros and any value it takes later is a visible residual);
  missing values get the reference mean, i.e. 0.
* categorical feature: one indicator column per reference category (the profile's ``categories``, the most
  frequent ``max_categories`` of them) plus one ``other`` column for everything else, including values never
  seen in training. The block is centred by the reference proportions and divided by ``sqrt(sum p (1 - p))``,
  so on the reference it has total variance 1, exactly as one standardised numeric column: a 25-level feature
  does not outweigh a number 25 to 1 in the PCA or the residual. Missing values get the reference mode.

Why one-hot and not frequency encoding (NannyML's choice): frequency encoding maps each category to its training
share, so categories of equal share get the same number, and a shift between them (a uniform 5-level feature
whose mix moves) is invisible to any method downstream. One-hot keeps every category apart; the cost is width
(at most ``max_categories + 1`` columns per feature), which the block scaling keeps from dominating.

Values are compared as text (``str(value)``), as the reference profile stores its frequencies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from driftline.errors import InvalidRequestError
from driftline.stats.profile import CATEGORICAL, NUMERIC, column_kind, numeric_values
from driftline.stats.reference import REFERENCE_KEY

ENCODER_VERSION = 1
DEFAULT_MAX_CATEGORIES = 20
OTHER = "__other__"


@dataclass(frozen=True)
class NumericColumn:
    name: str
    mean: float
    std: float
    kind: str = field(default=NUMERIC, init=False)

    @property
    def width(self) -> int:
        return 1

    @property
    def scale(self) -> float:
        return self.std if self.std > 0 else 1.0

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": NUMERIC, "mean": self.mean, "std": self.std}


@dataclass(frozen=True)
class CategoricalColumn:
    """``categories`` then the ``other`` slot; ``proportions`` has one entry per slot (reference shares)."""

    name: str
    categories: tuple[str, ...]
    proportions: np.ndarray
    mode: str
    kind: str = field(default=CATEGORICAL, init=False)

    @property
    def width(self) -> int:
        return len(self.categories) + 1

    @property
    def scale(self) -> float:
        spread = float(np.sum(self.proportions * (1.0 - self.proportions)))
        return float(np.sqrt(spread)) if spread > 0 else 1.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": CATEGORICAL,
            "categories": list(self.categories),
            "proportions": [float(p) for p in self.proportions],
            "mode": self.mode,
        }


Column = NumericColumn | CategoricalColumn


@dataclass(frozen=True)
class Encoded:
    """An encoded window: the matrix, and per feature how many values were missing (imputed) or unseen."""

    matrix: np.ndarray
    missing: dict[str, int]
    unseen: dict[str, int]

    @property
    def rows(self) -> int:
        return int(self.matrix.shape[0])


@dataclass(frozen=True)
class FeatureEncoder:
    columns: tuple[Column, ...]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def width(self) -> int:
        return sum(c.width for c in self.columns)

    @property
    def starts(self) -> np.ndarray:
        """First matrix column of each feature (``np.add.reduceat`` groups a row of columns by feature)."""
        return np.concatenate(([0], np.cumsum([c.width for c in self.columns])[:-1])).astype(np.intp)

    def column_labels(self) -> list[str]:
        labels: list[str] = []
        for column in self.columns:
            if isinstance(column, NumericColumn):
                labels.append(column.name)
            else:
                labels.extend(f"{column.name}={c}" for c in (*column.categories, OTHER))
        return labels

    def check_columns(self, df: pd.DataFrame) -> None:
        if not isinstance(df, pd.DataFrame):
            raise InvalidRequestError(f"expected a pandas DataFrame of the window's rows, got {type(df).__name__}")
        absent = [name for name in self.names if name not in df.columns]
        if absent:
            raise InvalidRequestError(
                f"the rows lack the features {absent}; expected every feature the reference was fitted on "
                f"({self.names})"
            )

    def encode(self, df: pd.DataFrame) -> Encoded:
        """The rows of ``df`` (its other columns are ignored) as an ``n x width`` float64 matrix."""
        self.check_columns(df)
        n = len(df)
        out = np.empty((n, self.width), dtype=np.float64)
        missing: dict[str, int] = {}
        unseen: dict[str, int] = {}
        for column, start in zip(self.columns, self.starts, strict=True):
            series = df[column.name]
            if isinstance(column, NumericColumn):
                values = _numbers(series, column.name)
                nan = np.isnan(values)
                missing[column.name] = int(nan.sum())
                block = out[:, start]
                np.subtract(values, column.mean, out=block)
                block /= column.scale
                if missing[column.name]:
                    block[nan] = 0.0
                continue
            codes, absent, other = _category_codes(series, column)
            missing[column.name] = absent
            unseen[column.name] = other
            scale = column.scale
            block = out[:, start : start + column.width]
            block[:] = -column.proportions / scale
            block[np.arange(n), codes] += 1.0 / scale
        return Encoded(matrix=out, missing=missing, unseen=unseen)

    def to_dict(self) -> dict[str, Any]:
        return {"v": ENCODER_VERSION, "columns": [c.to_dict() for c in self.columns]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureEncoder:
        try:
            if int(data["v"]) != ENCODER_VERSION:
                raise ValueError(f"version {data['v']}, this code reads version {ENCODER_VERSION}")
            columns: list[Column] = []
            for entry in data["columns"]:
                if entry["kind"] == NUMERIC:
                    columns.append(NumericColumn(str(entry["name"]), float(entry["mean"]), float(entry["std"])))
                elif entry["kind"] == CATEGORICAL:
                    categories = tuple(str(c) for c in entry["categories"])
                    proportions = np.asarray(entry["proportions"], dtype=np.float64)
                    if proportions.size != len(categories) + 1:
                        raise ValueError(f"{entry['name']}: expected one proportion per category plus 'other'")
                    columns.append(CategoricalColumn(str(entry["name"]), categories, proportions, str(entry["mode"])))
                else:
                    raise ValueError(f"unknown column kind {entry['kind']!r}")
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidRequestError(f"feature encoder: malformed artefact ({exc})") from exc
        return cls(tuple(columns))


def _numbers(series: pd.Series, name: str) -> np.ndarray:
    if column_kind(series) == NUMERIC:
        values = numeric_values(series)
    else:
        coerced = pd.to_numeric(series, errors="coerce")
        bad = int(series.notna().sum() - coerced.notna().sum())
        if bad:
            raise InvalidRequestError(f"{name}: {bad} values are not numbers; expected a numeric feature")
        values = numeric_values(coerced)
    if np.isinf(values).any():
        raise InvalidRequestError(f"{name}: infinite values; expected finite numbers or missing values")
    return values


def _category_codes(series: pd.Series, column: CategoricalColumn) -> tuple[np.ndarray, int, int]:
    """Slot per row (``len(categories)`` = other), missing rows sent to the mode; counts of missing and unseen."""
    absent_mask = series.isna().to_numpy()
    text = series if pd.api.types.is_string_dtype(series.dtype) else series.astype(str)
    codes = pd.Index(column.categories).get_indexer(text).astype(np.intp)
    other_slot = len(column.categories)
    unseen_mask = (codes < 0) & ~absent_mask
    codes[codes < 0] = other_slot
    if absent_mask.any():
        mode = column.categories.index(column.mode) if column.mode in column.categories else other_slot
        codes[absent_mask] = mode
    return codes, int(absent_mask.sum()), int(unseen_mask.sum())


def _profile_categories(feature_stats: Mapping[str, Any] | None, name: str) -> tuple[list[str], np.ndarray] | None:
    entry = (feature_stats or {}).get(name) or {}
    ref = entry.get(REFERENCE_KEY) if isinstance(entry, Mapping) else None
    if isinstance(ref, Mapping) and ref.get("kind") == CATEGORICAL:
        return [str(c) for c in ref["categories"]], np.asarray(ref["counts"], dtype=np.float64)
    frequencies = entry.get("frequencies") if isinstance(entry, Mapping) else None
    if frequencies:
        return [str(c) for c in frequencies], np.asarray(list(frequencies.values()), dtype=np.float64)
    return None


def fit_encoder(
    df: pd.DataFrame,
    columns: Sequence[str] | None = None,
    feature_stats: Mapping[str, Any] | None = None,
    max_categories: int = DEFAULT_MAX_CATEGORIES,
) -> FeatureEncoder:
    """The encoder of the reference rows ``df`` (``columns`` or all of them). Categories come from the model's
    profile (``feature_stats``, as :func:`driftline.stats.reference.compute_reference_profile` stores them) when
    given, else from ``df``; proportions are always measured on ``df`` (the rows the PCA is fitted on)."""
    if not isinstance(df, pd.DataFrame):
        raise InvalidRequestError(f"expected the reference as a pandas DataFrame, got {type(df).__name__}")
    names = list(df.columns) if columns is None else list(columns)
    if not names:
        raise InvalidRequestError("expected at least one feature column")
    absent = [c for c in names if c not in df.columns]
    if absent:
        raise InvalidRequestError(f"the reference lacks the columns {absent}; expected names among {list(df.columns)}")
    if isinstance(max_categories, bool) or not isinstance(max_categories, int) or max_categories < 1:
        raise InvalidRequestError(f"max_categories must be a whole number >= 1, got {max_categories!r}")
    encoded: list[Column] = []
    for name in names:
        series = df[name]
        kind = column_kind(series)
        if series.notna().sum() == 0:
            raise InvalidRequestError(f"reference column {name!r} has no values (all missing); expected some values")
        if kind == NUMERIC:
            values = _numbers(series, str(name))
            present = values[~np.isnan(values)]
            encoded.append(NumericColumn(str(name), float(present.mean()), float(present.std())))
        elif kind == CATEGORICAL:
            text = series.dropna().astype(str)
            known = _profile_categories(feature_stats, str(name))
            if known is None:
                counts = text.value_counts(sort=True)
                known = [str(c) for c in counts.index], counts.to_numpy(dtype=np.float64)
            ordered = [c for _, c in sorted(zip(-known[1], known[0], strict=True), key=lambda t: t[0])]
            categories = tuple(ordered[:max_categories])
            codes = pd.Index(categories).get_indexer(text)
            shares = np.bincount(np.where(codes < 0, len(categories), codes), minlength=len(categories) + 1)
            proportions = shares / shares.sum()
            mode = str(text.mode().iloc[0])
            encoded.append(CategoricalColumn(str(name), categories, proportions.astype(np.float64), mode))
        else:
            raise InvalidRequestError(
                f"reference column {name!r} has dtype {series.dtype}; expected numbers, text, booleans or categories"
            )
    return FeatureEncoder(tuple(encoded))
