"""Reference profiles: MLRun's ``feature_stats``, computed once when a model is logged with a training set.

Per numeric column: ``count, mean, std, min, 25%, 50%, 75%, max`` (pandas ``describe`` semantics over the
non-null values), ``missing``, ``type: "numeric"`` and ``hist = [counts, edges]`` from
``np.histogram(values, bins=20)``. Per categorical column (object, string, category, bool): ``count, unique,
top, freq, missing, type: "categorical"`` and ``frequencies``. Everything is plain JSON (NaN -> None).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from driftline.errors import InvalidRequestError

HIST_BINS = 20  # MLRun's default_hist_bins
MAX_CATEGORIES = 1000  # frequencies beyond the most frequent 1000 values are left out (item size limits)
QUANTILES = (25.0, 50.0, 75.0)
NUMERIC = "numeric"
CATEGORICAL = "categorical"
UNSUPPORTED = "unsupported"


def as_json_number(value: Any) -> float | None:
    """A plain float, or None for NaN / a missing value (JSON has no NaN)."""
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def column_kind(series: pd.Series) -> str:
    """``numeric`` for int/float columns, ``categorical`` for object/string/category/bool, else ``unsupported``."""
    dtype = series.dtype
    if ptypes.is_bool_dtype(dtype):
        return CATEGORICAL
    if ptypes.is_numeric_dtype(dtype) and not ptypes.is_complex_dtype(dtype):
        return NUMERIC
    if ptypes.is_object_dtype(dtype) or ptypes.is_string_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype):
        return CATEGORICAL
    return UNSUPPORTED


def numeric_values(series: pd.Series) -> np.ndarray:
    """The column as float64 with NaN for missing values (numpy and nullable pandas dtypes alike)."""
    return series.to_numpy(dtype=np.float64, na_value=np.nan)


def describe_numeric(values: np.ndarray) -> dict[str, Any]:
    """pandas ``describe`` of a float array of non-null, finite values (std with ddof=1; None when undefined)."""
    count = int(values.size)
    if count == 0:
        return {"count": 0, "mean": None, "std": None, "min": None, "25%": None, "50%": None, "75%": None, "max": None}
    q25, q50, q75 = np.percentile(values, QUANTILES)  # linear interpolation, as pandas
    return {
        "count": count,
        "mean": as_json_number(np.mean(values)),
        "std": as_json_number(np.std(values, ddof=1)) if count > 1 else None,
        "min": as_json_number(np.min(values)),
        "25%": as_json_number(q25),
        "50%": as_json_number(q50),
        "75%": as_json_number(q75),
        "max": as_json_number(np.max(values)),
    }


def histogram(values: np.ndarray, bins: int = HIST_BINS) -> list[list[Any]]:
    """``[counts, edges]`` of ``np.histogram(values, bins)`` as plain lists (counts ints, edges floats)."""
    counts, edges = np.histogram(values, bins=bins)
    return [[int(c) for c in counts], [float(e) for e in edges]]


def numeric_stats(series: pd.Series, name: str) -> dict[str, Any]:
    values = numeric_values(series)
    present = values[~np.isnan(values)]
    infinite = int(np.count_nonzero(np.isinf(present)))
    if infinite:
        raise InvalidRequestError(
            f"column {name!r} has {infinite} infinite values; expected finite numbers "
            "(drop or replace them before profiling)"
        )
    stats: dict[str, Any] = {"type": NUMERIC, **describe_numeric(present)}
    stats["missing"] = int(values.size - present.size)
    stats["hist"] = histogram(present) if present.size else None
    return stats


def categorical_stats(series: pd.Series) -> dict[str, Any]:
    present = series.dropna()
    counts = present.astype(str).value_counts(sort=True)
    counts = counts[counts > 0]
    stats: dict[str, Any] = {
        "type": CATEGORICAL,
        "count": int(present.size),
        "unique": int(counts.size),
        "top": str(counts.index[0]) if counts.size else None,
        "freq": int(counts.iloc[0]) if counts.size else None,
        "missing": int(series.size - present.size),
        "frequencies": {str(k): int(v) for k, v in counts.head(MAX_CATEGORIES).items()},
    }
    if counts.size > MAX_CATEGORIES:
        stats["frequencies_truncated"] = True
    return stats


def column_stats(series: pd.Series, name: str) -> dict[str, Any]:
    kind = column_kind(series)
    if kind == NUMERIC:
        return numeric_stats(series, name)
    if kind == CATEGORICAL:
        return categorical_stats(series)
    present = int(series.notna().sum())
    return {"type": UNSUPPORTED, "dtype": str(series.dtype), "count": present, "missing": int(series.size - present)}


def compute_feature_stats(df: pd.DataFrame, columns: Sequence[str] | None = None) -> dict[str, dict]:
    """MLRun's ``feature_stats`` of ``df`` (all columns, or ``columns`` in that order), JSON-serialisable.

    An entirely null column gets a clear entry (``count: 0``, ``hist: None``). Raises
    :class:`InvalidRequestError` for an empty DataFrame, unknown or duplicated columns and infinite values.
    """
    if not isinstance(df, pd.DataFrame):
        raise InvalidRequestError(f"feature stats: expected a pandas DataFrame, got {type(df).__name__}")
    if df.shape[0] == 0 or df.shape[1] == 0:
        raise InvalidRequestError(
            f"feature stats: the DataFrame is empty ({df.shape[0]} rows, {df.shape[1]} columns); "
            "expected a training set with at least one row and one column"
        )
    names = list(df.columns) if columns is None else list(columns)
    unknown = [c for c in names if c not in df.columns]
    if unknown:
        raise InvalidRequestError(
            f"feature stats: unknown columns {unknown}; expected names from the DataFrame's columns {list(df.columns)}"
        )
    repeated = set(df.columns[df.columns.duplicated()])
    duplicated = sorted({str(c) for c in names if c in repeated})
    if duplicated:
        raise InvalidRequestError(f"feature stats: duplicated column names {duplicated}; expected unique columns")
    return {str(c): column_stats(df[c], str(c)) for c in names}
