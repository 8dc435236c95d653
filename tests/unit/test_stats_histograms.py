from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from driftline.errors import InvalidRequestError
from driftline.stats.distances import hellinger, tvd
from driftline.stats.histograms import (
    FLOAT_MAX,
    bin_counts,
    padded_reference,
    sample_df_stats,
    window_counts,
    window_distribution,
)
from driftline.stats.profile import compute_feature_stats

# a hand-made profile entry: 4 bins over [0, 4], 1 + 2 + 3 + 2 = 8 training values
REF = {"type": "numeric", "hist": [[1, 2, 3, 2], [0.0, 1.0, 2.0, 3.0, 4.0]]}


def test_padding_adds_two_empty_outer_bins():
    ref = padded_reference(REF)
    assert ref.bins == 6
    assert ref.edges.tolist() == [-sys.float_info.max, 0.0, 1.0, 2.0, 3.0, 4.0, sys.float_info.max]
    assert ref.counts.tolist() == [0, 1, 2, 3, 2, 0]
    assert ref.probabilities.tolist() == [0, 1 / 8, 2 / 8, 3 / 8, 2 / 8, 0]


def test_an_already_padded_histogram_is_not_padded_twice():
    once = padded_reference(REF)
    again = padded_reference({"hist": [once.counts.tolist(), once.edges.tolist()]})
    assert again.edges.tolist() == once.edges.tolist()


def test_no_histogram_means_no_reference():
    assert padded_reference({"type": "categorical", "frequencies": {"a": 1}}) is None
    assert padded_reference({"type": "numeric", "count": 0, "hist": None}) is None


@pytest.mark.parametrize(
    "hist",
    [
        [[1, 2], [0.0, 1.0]],  # one edge short
        [[1, 2], [0.0, 2.0, 1.0]],  # decreasing edges
        [[0, 0], [0.0, 1.0, 2.0]],  # no counts
        [[1, -1], [0.0, 1.0, 2.0]],  # negative count
        [[1, 1], [0.0, float("inf"), 2.0]],
        "nonsense",
    ],
)
def test_a_malformed_histogram_is_refused_with_what_is_expected(hist):
    with pytest.raises(InvalidRequestError, match="x: hist must be"):
        padded_reference({"hist": hist}, "x")


def test_values_outside_the_training_range_land_in_the_outer_bins():
    ref = padded_reference(REF)
    counts, n = window_counts(np.array([-5.0, 0.5, 3.5, 4.5, 1e300, np.nan]), ref)
    assert n == 5  # the NaN is not counted
    assert counts.tolist() == [1, 1, 0, 0, 1, 2]


def test_the_training_max_falls_into_the_outer_bin_as_in_mlrun():
    # np.histogram on the padded edges: [4.0, float_max] is the last (closed) bin, so x == 4.0 is "outside"
    ref = padded_reference(REF)
    counts, _ = window_counts(np.array([4.0, 0.0]), ref)
    assert counts.tolist() == [0, 1, 0, 0, 0, 1]
    assert counts.tolist() == np.histogram([4.0, 0.0], bins=ref.edges)[0].tolist()


def test_infinities_are_counted_in_the_outer_bins():
    ref = padded_reference(REF)
    counts, n = window_counts(np.array([-np.inf, np.inf, 2.5]), ref)
    assert (n, counts.tolist()) == (3, [1, 0, 0, 1, 0, 1])


def test_window_distribution_divides_by_the_non_null_count():
    ref = padded_reference(REF)
    p = window_distribution(np.array([0.5, 0.5, 2.5, np.nan]), ref)
    assert p.tolist() == [0, 2 / 3, 0, 1 / 3, 0, 0]
    assert window_distribution(np.array([np.nan]), ref) is None


def test_same_data_no_drift_and_shifted_data_full_drift():
    train = np.linspace(0, 10, 1001)
    ref = padded_reference(compute_feature_stats(pd.DataFrame({"x": train}))["x"])
    same = window_distribution(train, ref)
    assert tvd(same, ref.probabilities) < 0.002  # only the max moves to the outer bin
    far = window_distribution(np.full(50, 99.0), ref)
    assert tvd(far, ref.probabilities) == 1.0
    assert hellinger(far, ref.probabilities) == 1.0


finite = st.floats(-1e6, 1e6, allow_nan=False)


@given(
    st.lists(finite, min_size=0, max_size=200),
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=2, max_size=30, unique=True),
)
def test_binning_equals_numpy_histogram(values, edges):
    edges_array = np.array(sorted(edges))
    data = np.array(values, dtype=float)
    assert bin_counts(data, edges_array).tolist() == np.histogram(data, bins=edges_array)[0].tolist()
    padded = np.concatenate(([-FLOAT_MAX], edges_array, [FLOAT_MAX]))
    ref = padded_reference({"hist": [[1] * (len(padded) - 1), padded.tolist()]})
    assert window_counts(data, ref)[0].tolist() == np.histogram(data, bins=padded)[0].tolist()


def test_sample_df_stats_rebins_the_window_on_the_reference_edges():
    feature_stats = {"x": REF, "c": {"type": "categorical", "frequencies": {"a": 3}}}
    window = pd.DataFrame({"x": [0.5, 2.5, 9.0, None], "c": ["a", "b", "a", None], "other": [1, 2, 3, 4]})
    stats = sample_df_stats(window, feature_stats)
    assert set(stats) == {"x", "c"}  # only what the reference profile knows
    x = stats["x"]
    assert x["hist"][0] == [0, 1, 0, 1, 0, 1]
    assert x["hist"][1] == padded_reference(REF).edges.tolist()
    assert (x["count"], x["missing"], x["min"], x["max"]) == (3, 1, 0.5, 9.0)
    assert stats["c"]["frequencies"] == {"a": 2, "b": 1}


def test_sample_df_stats_without_a_reference_histogram_profiles_the_window():
    stats = sample_df_stats(pd.DataFrame({"x": [1.0, 2.0, np.inf]}), {"x": {"type": "numeric", "hist": None}})
    assert (stats["x"]["count"], stats["x"]["infinite"], stats["x"]["max"]) == (3, 1, 2.0)
    assert sum(stats["x"]["hist"][0]) == 2


def test_sample_df_stats_names_missing_columns():
    with pytest.raises(InvalidRequestError, match=r"\['y'\] are not in the window"):
        sample_df_stats(pd.DataFrame({"x": [1.0]}), {"x": REF}, columns=["y"])
