from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from driftline.errors import InvalidRequestError
from driftline.stats.profile import MAX_CATEGORIES, compute_feature_stats


def test_numeric_column_has_describe_figures_and_a_20_bin_histogram():
    df = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, np.nan]})
    x = compute_feature_stats(df)["x"]
    # describe over 1..4: mean 2.5, sample std sqrt(5/3), quartiles by linear interpolation 1.75 / 2.5 / 3.25
    assert x["type"] == "numeric"
    assert (x["count"], x["missing"]) == (4, 1)
    assert x["mean"] == 2.5
    assert x["std"] == pytest.approx((5 / 3) ** 0.5)
    assert (x["min"], x["25%"], x["50%"], x["75%"], x["max"]) == (1.0, 1.75, 2.5, 3.25, 4.0)
    counts, edges = x["hist"]
    assert len(counts) == 20
    assert len(edges) == 21
    assert (edges[0], edges[-1], sum(counts)) == (1.0, 4.0, 4)
    assert all(type(c) is int for c in counts)


def test_profile_matches_pandas_describe():
    rng = np.random.default_rng(7)
    df = pd.DataFrame({"a": rng.normal(size=500), "b": rng.integers(0, 9, 500)})
    stats = compute_feature_stats(df)
    described = df.describe()
    for col in ("a", "b"):
        for key in ("count", "mean", "std", "min", "25%", "50%", "75%", "max"):
            assert stats[col][key] == pytest.approx(described[col][key]), (col, key)
        assert stats[col]["hist"][0] == np.histogram(df[col], bins=20)[0].tolist()


def test_categorical_and_bool_columns_count_values():
    df = pd.DataFrame(
        {
            "s": ["a", "b", "a", None],
            "flag": [True, False, True, True],
            "cat": pd.Categorical(["x", "x", "y", "x"], categories=["x", "y", "z"]),
        }
    )
    stats = compute_feature_stats(df)
    assert stats["s"] == {
        "type": "categorical",
        "count": 3,
        "unique": 2,
        "top": "a",
        "freq": 2,
        "missing": 1,
        "frequencies": {"a": 2, "b": 1},
    }
    assert stats["flag"]["frequencies"] == {"True": 3, "False": 1}
    assert stats["cat"]["frequencies"] == {"x": 3, "y": 1}  # the unused category is not listed


def test_entirely_null_columns_get_a_clear_entry():
    df = pd.DataFrame({"n": [np.nan, np.nan], "o": [None, None], "ok": [1, 2]})
    stats = compute_feature_stats(df)
    assert stats["n"]["count"] == 0
    assert stats["n"]["hist"] is None
    assert stats["n"]["missing"] == 2
    assert stats["o"]["count"] == 0
    assert stats["o"]["top"] is None


def test_nullable_integers_and_single_values_work():
    stats = compute_feature_stats(pd.DataFrame({"i": pd.array([5, None], dtype="Int64")}))
    assert (stats["i"]["count"], stats["i"]["std"], stats["i"]["min"]) == (1, None, 5.0)
    # a constant column: numpy widens the range by 0.5 on each side
    assert stats["i"]["hist"][1][0] == 4.5


def test_the_profile_is_plain_json():
    df = pd.DataFrame({"x": np.arange(10, dtype=np.float32), "when": pd.date_range("2026-01-01", periods=10)})
    stats = compute_feature_stats(df)
    assert json.loads(json.dumps(stats, allow_nan=False)) == stats
    assert stats["when"]["type"] == "unsupported"


def test_columns_selects_and_orders():
    df = pd.DataFrame({"a": [1], "b": [2], "c": [3]})
    assert list(compute_feature_stats(df, ["c", "a"])) == ["c", "a"]


def test_many_categories_are_truncated_and_say_so():
    df = pd.DataFrame({"id": [f"v{i}" for i in range(MAX_CATEGORIES + 5)]})
    stats = compute_feature_stats(df)["id"]
    assert stats["unique"] == MAX_CATEGORIES + 5
    assert len(stats["frequencies"]) == MAX_CATEGORIES
    assert stats["frequencies_truncated"] is True


@pytest.mark.parametrize(
    ("df", "columns", "message"),
    [
        (pd.DataFrame(), None, "the DataFrame is empty"),
        (pd.DataFrame({"a": []}), None, "0 rows"),
        (pd.DataFrame({"a": [1]}), ["a", "zz"], r"unknown columns \['zz'\]"),
        (pd.DataFrame({"a": [1.0, np.inf]}), None, "'a' has 1 infinite values"),
        (pd.DataFrame([[1, 2]], columns=["a", "a"]), None, "duplicated column names"),
        ([1, 2], None, "expected a pandas DataFrame"),
    ],
)
def test_bad_input_is_refused_clearly(df, columns, message):
    with pytest.raises(InvalidRequestError, match=message):
        compute_feature_stats(df, columns)
