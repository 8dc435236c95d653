"""Two-sample tests, effect sizes, correction and the status rule, on tiny hand-built data with known answers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon as scipy_js

from driftline.applications import result_name_for
from driftline.errors import ConfigurationError, InvalidRequestError
from driftline.schemas import ResultStatus
from driftline.stats.correction import adjust, benjamini_hochberg, bonferroni
from driftline.stats.drift import DriftConfig, assess, status_for, summary
from driftline.stats.reference import (
    categorical_reference,
    categorical_window,
    compute_reference_profile,
    numeric_reference,
    numeric_window,
    references_from_profile,
    window_sketches,
)
from driftline.stats.registry import REGISTRY, Direction, Role, Score, TestScore
from driftline.stats.stattests import (
    chi2,
    contingency,
    hellinger,
    jensenshannon,
    ks,
    ks_p_value,
    psi,
    tvd,
    wasserstein,
)


def pair(ref, cur):
    r = numeric_reference(np.asarray(ref, dtype=float))
    return r, numeric_window(np.asarray(cur, dtype=float), r)


def cat_pair(ref, cur):
    r = categorical_reference(pd.Series(ref, dtype=object))
    return r, categorical_window(pd.Series(cur, dtype=object))


# ------------------------------------------------------------------------------------------------- KS


def test_ks_statistic_by_hand():
    # F_ref at 1,2,3,4 = .25 .5 .75 1 ; F_cur = 0 0 .25 1 -> D = 0.5
    outcome = ks(*pair([1, 2, 3, 4], [3, 4, 4, 4]))
    assert outcome.statistic == pytest.approx(0.5)


def test_ks_equals_scipy_on_discrete_data():
    rng = np.random.default_rng(1)
    ref, cur = rng.poisson(3, 400).astype(float), rng.poisson(3.4, 150).astype(float)
    cur = cur[np.isin(cur, ref)]  # only values the reference has: then the edge statistic is the exact one
    outcome = ks(*pair(ref, cur))
    expected = stats.ks_2samp(ref, cur, method="asymp")
    assert outcome.statistic == pytest.approx(expected.statistic)
    assert outcome.p_value == pytest.approx(expected.pvalue)


def test_ks_same_data_no_drift_shifted_data_drift():
    rng = np.random.default_rng(2)
    ref = rng.normal(0, 1, 5000)
    assert ks(*pair(ref, ref)).p_value == 1.0
    assert ks(*pair(ref, rng.normal(0, 1, 2000))).p_value > 0.01
    assert ks(*pair(ref, rng.normal(0.5, 1, 2000))).p_value < 1e-10


def test_ks_on_quantile_bins_never_exceeds_the_exact_statistic():
    rng = np.random.default_rng(3)
    ref, cur = rng.normal(0, 1, 20_000), rng.normal(0.1, 1.2, 3000)
    r, w = pair(ref, cur)
    assert r.source == "quantiles"
    exact = stats.ks_2samp(ref, cur).statistic
    assert exact - 0.02 <= ks(r, w).statistic <= exact + 1e-12


def test_large_sample_ks_p_value_agrees_with_scipy():
    assert ks_p_value(0.02, 100_000, 10_000) == pytest.approx(stats.kstwo.sf(0.02, round(1e9 / 110_000)), rel=0.05)
    assert ks_p_value(0.0, 10, 10) == 1.0


def test_ks_refuses_categorical_and_empty_windows():
    r, w = cat_pair(["a", "b"], ["a"])
    with pytest.raises(InvalidRequestError, match="numeric"):
        ks(r, w)
    ref = numeric_reference(np.array([1.0, 2.0]))
    with pytest.raises(InvalidRequestError, match="no values"):
        ks(ref, numeric_window(np.array([np.nan]), ref))


# ------------------------------------------------------------------------------------------------- chi-square


def test_chi2_is_the_homogeneity_test_on_the_2xk_table():
    ref = ["a"] * 30 + ["b"] * 50 + ["c"] * 20
    cur = ["a"] * 20 + ["b"] * 20 + ["c"] * 10 + ["d"] * 5  # d: never seen in training
    r, w = cat_pair(ref, cur)
    table = contingency(r, w)
    # categories in training frequency order (b, a, c), then the unseen column
    assert table.tolist() == [[50, 30, 20, 0], [20, 20, 10, 5]]
    outcome = chi2(r, w)
    expected = stats.chi2_contingency(table, correction=False)
    assert outcome.statistic == pytest.approx(expected.statistic)
    assert outcome.p_value == pytest.approx(expected.pvalue)
    assert outcome.dof == 3


def test_chi2_same_frequencies_is_not_significant():
    r, w = cat_pair(["a"] * 100 + ["b"] * 100, ["a"] * 10 + ["b"] * 10)
    assert chi2(r, w).statistic == pytest.approx(0.0)
    assert chi2(r, w).p_value == pytest.approx(1.0)


def test_chi2_single_category_cannot_drift():
    r, w = cat_pair(["a"] * 5, ["a"] * 3)
    assert chi2(r, w).p_value == 1.0


def test_chi2_on_numeric_uses_the_fine_bins():
    r, w = pair([0, 0, 1, 1], [1, 1, 1, 1])
    outcome = chi2(r, w)
    expected = stats.chi2_contingency([[2, 2], [0, 4]], correction=False)
    assert outcome.statistic == pytest.approx(expected.statistic)


# ------------------------------------------------------------------------------------------------- effects


def test_wasserstein_by_hand_and_against_scipy():
    # ref {0, 1}: std 0.5. cur {1, 1}: W1 = 0.5 -> normed 1.0
    assert wasserstein(*pair([0, 1], [1, 1])) == pytest.approx(1.0)
    # values above the training maximum: the tail is exact. W1([0,1],[3,3]) = 2.5 -> 5.0
    assert wasserstein(*pair([0, 1], [3, 3])) == pytest.approx(5.0)
    rng = np.random.default_rng(4)
    ref, cur = rng.poisson(4, 300).astype(float), rng.poisson(5, 200).astype(float)
    cur = cur[np.isin(cur, ref) | (cur > ref.max())]  # between training values the window's CDF is a step too
    expected = stats.wasserstein_distance(ref, cur) / ref.std()
    assert wasserstein(*pair(ref, cur)) == pytest.approx(expected)


def test_wasserstein_on_quantile_bins_is_close_to_the_exact_value():
    rng = np.random.default_rng(5)
    ref, cur = rng.normal(0, 1, 50_000), rng.normal(0.5, 1, 5000)
    expected = stats.wasserstein_distance(ref, cur) / ref.std()
    assert wasserstein(*pair(ref, cur)) == pytest.approx(expected, rel=0.05)
    assert wasserstein(*pair(ref, ref)) == pytest.approx(0.0, abs=1e-12)


def test_jensenshannon_psi_hellinger_tvd_by_hand():
    # disjoint categories: JS distance (base 2) is 1, TVD is 1, Hellinger is 1
    r, w = cat_pair(["a"] * 10, ["b"] * 10)
    assert jensenshannon(r, w) == pytest.approx(1.0)
    assert tvd(r, w) == pytest.approx(1.0)
    assert hellinger(r, w) == pytest.approx(1.0)
    # q = (.5, .5), p = (.25, .75): PSI = -.25 ln .5 + .25 ln 1.5
    r, w = cat_pair(["a", "b"] * 50, ["a"] * 25 + ["b"] * 75)
    assert psi(r, w) == pytest.approx(-0.25 * math.log(0.5) + 0.25 * math.log(1.5))
    assert tvd(r, w) == pytest.approx(0.25)
    assert jensenshannon(r, w) == pytest.approx(scipy_js([0.5, 0.5, 0], [0.25, 0.75, 0], base=2))


def test_effects_of_identical_data_are_zero():
    rng = np.random.default_rng(6)
    x = rng.lognormal(0, 1, 3000)
    [verdict], _ = assess({"x": pair(x, x)[0]}, {"x": pair(x, x)[1]})
    effects = verdict.effects
    assert set(effects) == {"wasserstein", "jensenshannon", "psi", "hellinger", "tvd"}
    assert all(v == pytest.approx(0.0, abs=1e-9) for v in effects.values())


def test_numeric_coarse_binning_counts_values_beyond_the_training_range():
    r, w = pair(np.arange(100.0), [1000.0] * 10)
    assert tvd(r, w) == pytest.approx(1.0)


# ------------------------------------------------------------------------------------------------- registry


def test_registry_descriptors_state_direction_types_and_binning():
    assert REGISTRY.get("ks", Role.TEST).direction is Direction.LOWER
    assert REGISTRY.get("wasserstein", Role.EFFECT).direction is Direction.HIGHER
    assert "decile" in REGISTRY.get("psi", Role.EFFECT).binning
    assert REGISTRY.get("chi2", Role.TEST, "categorical").name == "chi2"
    with pytest.raises(ConfigurationError, match="does not accept categorical"):
        REGISTRY.get("ks", Role.TEST, "categorical")
    with pytest.raises(ConfigurationError, match="unknown effect"):
        REGISTRY.get("ks", Role.EFFECT, "numeric")


# ------------------------------------------------------------------------------------------------- correction


def test_bonferroni_and_benjamini_hochberg_by_hand():
    p = [0.01, 0.04, 0.03, 0.5]
    assert bonferroni(p) == pytest.approx([0.04, 0.16, 0.12, 1.0])
    assert benjamini_hochberg(p) == pytest.approx([0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.5])
    assert adjust(p, "none") == p
    assert adjust([], "bh") == []
    with pytest.raises(ConfigurationError, match="expected one of"):
        adjust(p, "holm")
    with pytest.raises(ConfigurationError, match=r"\[0, 1\]"):
        adjust([1.5], "bh")


# ------------------------------------------------------------------------------------------------- status rule


@pytest.mark.parametrize(
    ("p", "effect", "expected"),
    [
        (0.001, 0.5, ResultStatus.detected),
        (0.001, 0.01, ResultStatus.potential_detection),
        (0.2, 0.5, ResultStatus.no_detection),
        (0.2, 0.01, ResultStatus.no_detection),
    ],
)
def test_status_needs_significance_and_uses_the_effect(p, effect, expected):
    test = TestScore("ks", 0.0, Direction.LOWER, 0.05, p_value=p)
    assert status_for(test, Score("wasserstein", effect, Direction.HIGHER, 0.1)) == expected


def test_config_is_checked_and_per_feature_overrides_apply():
    config = DriftConfig(threshold=0.3, features={"b": {"effect": "psi", "threshold": 0.2}})
    assert config.policy("a", "numeric") == ("ks", "wasserstein", 0.3)
    assert config.policy("b", "numeric") == ("ks", "psi", 0.2)
    assert DriftConfig().policy("c", "categorical") == ("chi2", "jensenshannon", 0.1)
    with pytest.raises(ConfigurationError, match="alpha"):
        DriftConfig(alpha=2)
    with pytest.raises(ConfigurationError, match="correction"):
        DriftConfig(correction="holm")
    with pytest.raises(ConfigurationError, match="keys among"):
        DriftConfig(features={"a": {"thresh": 1}})
    with pytest.raises(ConfigurationError, match="does not accept"):
        DriftConfig(features={"a": {"test": "ks"}}).policy("a", "categorical")


def make_frame(rng, n, shift=0.0, p_a=0.5):
    return pd.DataFrame(
        {
            "x": rng.normal(shift, 1, n),
            "y": rng.exponential(1, n),
            "c": rng.choice(["a", "b"], n, p=[p_a, 1 - p_a]),
        }
    )


def test_assess_pairs_no_drift_and_drift():
    rng = np.random.default_rng(7)
    refs = references_from_profile(compute_reference_profile(make_frame(rng, 5000)))
    same, _ = assess(refs, window_sketches(make_frame(rng, 2000), refs))
    assert all(v.status == ResultStatus.no_detection for v in same)
    shifted, skipped = assess(refs, window_sketches(make_frame(rng, 2000, shift=1.0, p_a=0.8), refs))
    by_name = {v.feature: v for v in shifted}
    assert by_name["x"].status == ResultStatus.detected
    assert by_name["c"].status == ResultStatus.detected
    assert by_name["y"].status == ResultStatus.no_detection
    assert skipped == {}
    extra = by_name["x"].extra_data()
    assert {"feature", "method", "statistic", "p_value", "effect", "threshold"} <= set(extra)
    assert extra["method"] == "ks"
    assert extra["effect_method"] == "wasserstein"
    info = summary(shifted)
    assert info["drifted_features"] == ["x", "c"]
    assert info["status"] == ResultStatus.detected


def test_assess_skips_absent_and_too_small_columns():
    rng = np.random.default_rng(8)
    refs = references_from_profile(compute_reference_profile(make_frame(rng, 500)))
    window = make_frame(rng, 3).drop(columns=["y"])
    verdicts, skipped = assess(refs, window_sketches(window, refs))
    assert verdicts == []
    assert skipped["y"] == "not in the window's columns"
    assert "at least 5" in skipped["x"]


def test_false_alarms_stay_rare_over_windows_without_drift():
    """A small version of the benchmark's property: over 40 windows with no drift, 10 features each, the share
    of windows with any feature detected stays within the family's alpha (BH)."""
    rng = np.random.default_rng(9)
    train = pd.DataFrame({f"f{i}": rng.normal(0, 1, 5000) for i in range(8)})
    train["c1"] = rng.choice(list("abcd"), 5000)
    train["c2"] = rng.choice(list("xy"), 5000)
    refs = references_from_profile(compute_reference_profile(train))
    alarms = 0
    for _ in range(40):
        window = pd.DataFrame({f"f{i}": rng.normal(0, 1, 500) for i in range(8)})
        window["c1"] = rng.choice(list("abcd"), 500)
        window["c2"] = rng.choice(list("xy"), 500)
        verdicts, _ = assess(refs, window_sketches(window, refs))
        alarms += any(v.status == ResultStatus.detected for v in verdicts)
    assert alarms <= 2


def test_result_names_are_keys_and_unique():
    taken = {"dataset_drift"}
    assert result_name_for("sepal length (cm)", taken) == "sepal_length__cm__drift"
    assert result_name_for("sepal length (cm)", taken) == "sepal_length__cm__drift_2"
    assert result_name_for("1x", taken) == "f_1x_drift"
