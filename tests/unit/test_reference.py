"""Reference profiles (what log_model stores) and window sketches (what a window computes, mergeable)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driftline.errors import InvalidRequestError
from driftline.stats.profile import compute_feature_stats
from driftline.stats.reference import (
    REFERENCE_KEY,
    Binner,
    CategoricalReference,
    NumericReference,
    bins_for,
    categorical_window,
    compute_reference_profile,
    merge_sketches,
    numeric_reference,
    numeric_window,
    reference_from_entry,
    references_from_profile,
    window_sketch,
    window_sketches,
)


def test_few_distinct_values_get_one_bin_each_right_closed():
    ref = numeric_reference(np.array([1.0, 1.0, 2.0, 5.0, np.nan]))
    assert ref.source == "distinct"
    assert ref.edges.tolist() == [1.0, 2.0, 5.0]
    # (-inf, 1], (1, 2], (2, 5], (5, inf)
    assert ref.counts.tolist() == [2, 1, 1, 0]
    assert ref.n == 4
    assert ref.missing == 1
    assert ref.cdf().tolist() == [0.5, 0.75, 1.0]


def test_many_distinct_values_get_quantile_edges_that_are_training_values():
    values = np.random.default_rng(0).normal(0, 1, 10_000)
    ref = numeric_reference(values, bins=50)
    assert ref.source == "quantiles"
    assert ref.edges.size == 51
    assert np.isin(ref.edges, values).all()
    assert ref.edges[0] == values.min()
    assert ref.edges[-1] == values.max()
    assert ref.counts.sum() == 10_000
    assert ref.counts[-1] == 0  # nothing above the training maximum
    assert ref.counts[1:-1].min() >= 190  # equal training mass per bin


def test_reference_refuses_infinite_and_empty_values():
    with pytest.raises(InvalidRequestError, match="infinite"):
        numeric_reference(np.array([1.0, np.inf]))
    with pytest.raises(InvalidRequestError, match="no non-null"):
        numeric_reference(np.array([np.nan]))


def test_profile_is_a_superset_of_mlrun_feature_stats_and_json():
    rng = np.random.default_rng(1)
    df = pd.DataFrame(
        {
            "x": rng.normal(0, 1, 500),
            "k": rng.poisson(2, 500),
            "c": rng.choice(["a", "b", "c"], 500),
            "empty": [np.nan] * 500,
        }
    )
    profile = compute_reference_profile(df)
    plain = compute_feature_stats(df)
    for name, entry in plain.items():
        assert {k: v for k, v in profile[name].items() if k != REFERENCE_KEY} == entry
    assert REFERENCE_KEY not in profile["empty"]
    assert profile["c"][REFERENCE_KEY]["other"] == 0
    assert sum(profile["c"][REFERENCE_KEY]["counts"]) == 500
    restored = references_from_profile(json.loads(json.dumps(profile, allow_nan=False)))
    assert set(restored) == {"x", "k", "c"}
    assert isinstance(restored["x"], NumericReference)
    assert isinstance(restored["c"], CategoricalReference)
    assert restored["k"].source == "distinct"


def test_wide_models_get_fewer_bins_to_fit_the_model_record():
    assert bins_for(25) == 100
    assert bins_for(100) == 50
    assert bins_for(5000) == 20
    df = pd.DataFrame(np.random.default_rng(2).normal(size=(300, 200)), columns=[f"f{i}" for i in range(200)])
    size = len(json.dumps(compute_reference_profile(df)))
    assert size < 330_000  # DynamoDB items stop at 400 KB


def test_a_profile_without_reference_falls_back_to_the_mlrun_histogram():
    entry = {"type": "numeric", "count": 8, "mean": 2.0, "std": 1.0, "hist": [[1, 2, 3, 2], [0.0, 1.0, 2.0, 3.0, 4.0]]}
    ref = reference_from_entry(entry)
    assert ref.source == "histogram"
    assert ref.edges.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert ref.counts.tolist() == [0, 1, 2, 3, 2, 0]
    cat = reference_from_entry({"type": "categorical", "count": 5, "frequencies": {"a": 3, "b": 1}})
    assert cat.categories == ("a", "b")
    assert cat.other == 1
    assert reference_from_entry({"type": "unsupported"}) is None


def test_a_malformed_reference_is_a_clear_error():
    with pytest.raises(InvalidRequestError, match="malformed reference"):
        reference_from_entry({"reference": {"kind": "numeric", "edges": [2, 1], "counts": [1, 1, 1], "n": 3}}, "x")
    with pytest.raises(InvalidRequestError, match="expected 'numeric' or 'categorical'"):
        reference_from_entry({"reference": {"kind": "text"}}, "x")
    with pytest.raises(InvalidRequestError, match="mapping"):
        reference_from_entry([1, 2], "x")


def test_numeric_window_counts_missing_infinite_and_out_of_range():
    ref = numeric_reference(np.array([0.0, 1.0, 2.0]))
    w = numeric_window(np.array([-1.0, 0.0, 0.5, 2.0, 4.0, np.nan, np.inf]), ref)
    assert w.counts.tolist() == [2, 1, 1, 1]
    assert (w.n, w.missing, w.infinite) == (5, 1, 1)
    assert (w.below_n, w.above_n, w.below, w.above) == (1, 1, 1.0, 2.0)
    assert (w.vmin, w.vmax) == (-1.0, 4.0)
    assert w.mean == pytest.approx(5.5 / 5)


def test_type_errors_in_a_numeric_column_are_counted_not_binned():
    ref = numeric_reference(np.array([0.0, 1.0]))
    w = window_sketch(pd.Series(["0.5", "oops", None, 1]), ref)
    assert w.type_errors == 1
    assert w.n == 2
    assert w.missing == 1


def test_categorical_window_reads_values_as_text_like_the_profile():
    w = categorical_window(pd.Series([True, False, True, None]))
    assert w.counts == {"True": 2, "False": 1}
    assert w.missing == 1
    ref = CategoricalReference(categories=("True", "False"), counts=np.array([5, 5]), n=10)
    aligned, unseen = categorical_window(pd.Series(["True", "maybe"])).aligned(ref)
    assert aligned.tolist() == [1, 0]
    assert unseen == {"maybe": 1}


def test_window_sketches_cover_only_columns_with_a_reference():
    refs = {"x": numeric_reference(np.array([0.0, 1.0]))}
    sketches = window_sketches(pd.DataFrame({"x": [0.5], "y": [1]}), refs)
    assert set(sketches) == {"x"}


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(finite, min_size=1, max_size=300),
    st.lists(st.one_of(finite, st.just(float("nan"))), min_size=1, max_size=200),
    st.integers(min_value=1, max_value=40),
)
def test_binner_is_exactly_searchsorted_left(training, values, split):
    ref = numeric_reference(np.array(training), bins=20)
    x = np.array(values + [float(e) for e in ref.edges])  # every edge itself is a tie
    x = x[np.isfinite(x)]
    assert Binner(ref.edges)(x).tolist() == np.searchsorted(ref.edges, x, side="left").tolist()
    # and sketches of two parts merge into the sketch of the whole
    whole = np.array(values)
    parts = [numeric_window(whole[:split], ref), numeric_window(whole[split:], ref)]
    merged = parts[0].merge(parts[1])
    direct = numeric_window(whole, ref)
    assert merged.counts.tolist() == direct.counts.tolist()
    assert (merged.n, merged.missing, merged.below_n, merged.above_n) == (
        direct.n,
        direct.missing,
        direct.below_n,
        direct.above_n,
    )
    assert merged.total == pytest.approx(direct.total)
    assert merged.above == pytest.approx(direct.above)


def test_binner_falls_back_when_the_span_is_too_small_for_a_grid():
    """Found by hypothesis: training [0, 2.2e-313] has a subnormal span, and cells / span overflows."""
    edges = numeric_reference(np.array([0.0, 2.2250738585e-313]), bins=20).edges
    binner = Binner(edges)
    assert binner.cells == 0
    x = np.array([0.0, 1e-320, 1.0, -1.0])
    assert binner(x).tolist() == np.searchsorted(edges, x, side="left").tolist()


def test_binner_falls_back_when_edges_are_too_uneven_for_a_grid():
    edges = np.concatenate((np.linspace(0, 1, 99), [1e9]))
    binner = Binner(edges)
    assert binner.cells == 0
    x = np.array([0.5, 2.0, 1e10, -3.0])
    assert binner(x).tolist() == np.searchsorted(edges, x, side="left").tolist()


def test_categorical_sketches_merge_and_mismatched_numeric_sketches_do_not():
    a = categorical_window(pd.Series(["a", "b", None]))
    b = categorical_window(pd.Series(["b", "c"]))
    merged = merge_sketches([{"c": a}, {"c": b}])["c"]
    assert merged.counts == {"a": 1, "b": 2, "c": 1}
    assert (merged.n, merged.missing) == (4, 1)
    one = numeric_window(np.array([1.0]), numeric_reference(np.array([0.0, 1.0])))
    other = numeric_window(np.array([1.0]), numeric_reference(np.array([0.0, 1.0, 2.0])))
    with pytest.raises(InvalidRequestError, match="same reference"):
        one.merge(other)
