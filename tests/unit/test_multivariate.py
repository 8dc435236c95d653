"""Joint drift: the encoding, PCA reconstruction error and the domain classifier, on small data with known
answers, and always the pair "same distribution: no drift / changed correlation: detected"."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from driftline.errors import ConfigurationError, InvalidRequestError
from driftline.schemas import ResultKind, ResultStatus
from driftline.stats.multivariate import (
    ClassifierReference,
    FeatureEncoder,
    ReconstructionReference,
    band,
    classifier_drift,
    fit_classifier_reference,
    fit_encoder,
    fit_reconstruction,
    reconstruction_drift,
)
from driftline.stats.reference import compute_reference_profile


def correlated(rng: np.random.Generator, n: int, rho: float, shift: float = 0.0) -> pd.DataFrame:
    """Two features with correlation ``rho`` and standard normal marginals whatever ``rho`` is, plus two
    independent ones and a categorical: flipping ``rho`` changes nothing any single feature shows."""
    a = rng.normal(size=n)
    b = rho * a + np.sqrt(1 - rho**2) * rng.normal(size=n)
    return pd.DataFrame(
        {
            "a": a + shift,
            "b": b,
            "c": rng.normal(size=n),
            "d": rng.uniform(-1, 1, size=n),
            "colour": rng.choice(["red", "green", "blue"], size=n),
        }
    )


@pytest.fixture(scope="module")
def reference_frame() -> pd.DataFrame:
    return correlated(np.random.default_rng(0), 4000, 0.9)


@pytest.fixture(scope="module")
def pca(reference_frame: pd.DataFrame) -> ReconstructionReference:
    return fit_reconstruction(reference_frame, seed=1)


# ------------------------------------------------------------------------------------------------- encoding


def test_encoding_known_values_missing_and_unseen():
    ref = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "k": ["a", "a", "b", "b"]})
    encoder = fit_encoder(ref)
    assert encoder.width == 1 + 3  # x; a, b, other
    x = encoder.columns[0]
    assert (x.mean, x.std) == (2.5, pytest.approx(np.sqrt(1.25)))
    window = pd.DataFrame({"x": [2.5, np.nan, 4.0], "k": ["b", None, "zebra"]})
    encoded = encoder.encode(window)
    # a missing number gets the reference mean (0 once standardised); a missing category the mode ("a")
    assert encoded.matrix[1, 0] == 0.0
    assert encoded.missing == {"x": 1, "k": 1}
    assert encoded.unseen == {"k": 1}
    scale = np.sqrt(0.25 + 0.25)  # sum p (1 - p) over a, b (other: p = 0)
    np.testing.assert_allclose(encoded.matrix[0, 1:], np.array([-0.5, 0.5, 0.0]) / scale)
    np.testing.assert_allclose(encoded.matrix[1, 1:], np.array([0.5, -0.5, 0.0]) / scale)
    np.testing.assert_allclose(encoded.matrix[2, 1:], np.array([-0.5, -0.5, 1.0]) / scale)


def test_categorical_block_has_unit_variance_on_the_reference():
    rng = np.random.default_rng(2)
    ref = pd.DataFrame({"k": rng.choice(list("abcdefghij"), 5000, p=np.linspace(1, 10, 10) / 55)})
    matrix = fit_encoder(ref).encode(ref).matrix
    assert matrix.var(axis=0).sum() == pytest.approx(1.0, rel=1e-9)


def test_encoder_uses_the_profile_categories_and_caps_them():
    ref = pd.DataFrame({"k": ["a"] * 5 + ["b"] * 3 + ["c"] * 2})
    profile = compute_reference_profile(ref)
    encoder = fit_encoder(ref, feature_stats=profile, max_categories=2)
    assert encoder.columns[0].categories == ("a", "b")  # type: ignore[union-attr]
    assert encoder.encode(pd.DataFrame({"k": ["c"]})).unseen == {"k": 1}  # beyond the cap: the other slot
    back = FeatureEncoder.from_dict(json.loads(json.dumps(encoder.to_dict())))
    assert back.to_dict() == encoder.to_dict()


def test_encoder_refuses_bad_input_clearly():
    with pytest.raises(InvalidRequestError, match="no values"):
        fit_encoder(pd.DataFrame({"x": [np.nan, np.nan], "y": [1.0, 2.0]}))
    with pytest.raises(InvalidRequestError, match="lacks the columns"):
        fit_encoder(pd.DataFrame({"x": [1.0]}), columns=["x", "nope"])
    encoder = fit_encoder(pd.DataFrame({"x": [1.0, 2.0], "y": [3.0, 4.0]}))
    with pytest.raises(InvalidRequestError, match=r"lack the features \['y'\]"):
        encoder.encode(pd.DataFrame({"x": [1.0]}))
    with pytest.raises(InvalidRequestError, match="not numbers"):
        encoder.encode(pd.DataFrame({"x": ["one"], "y": [1.0]}))
    with pytest.raises(InvalidRequestError, match="infinite"):
        encoder.encode(pd.DataFrame({"x": [np.inf], "y": [1.0]}))
    with pytest.raises(InvalidRequestError, match="malformed"):
        FeatureEncoder.from_dict({"v": 99, "columns": []})


# ------------------------------------------------------------------------------------------------- PCA


def test_pca_keeps_the_components_for_the_variance_share():
    rng = np.random.default_rng(3)
    # one strong direction (a = b) and two weak independent ones: 65 % needs exactly the first component
    a = rng.normal(size=2000)
    df = pd.DataFrame({"a": a, "b": a + 0.01 * rng.normal(size=2000), "c": rng.normal(size=2000)})
    fitted = fit_reconstruction(df, variance_share=0.65, seed=0)
    assert fitted.components.shape == (1, 3)
    assert fitted.explained_share == pytest.approx(2 / 3, abs=0.02)
    # the residual of a row on the kept (a + b) direction is its part off it
    row = pd.DataFrame({"a": [1.0], "b": [-1.0], "c": [0.0]})
    assert fitted.row_errors(row)[0] > fitted.row_errors(pd.DataFrame({"a": [1.0], "b": [1.0], "c": [0.0]}))[0]


def test_same_distribution_no_drift_changed_correlation_detected(pca):
    rng = np.random.default_rng(10)
    same = reconstruction_drift(pca, correlated(rng, 2000, 0.9))
    flipped = reconstruction_drift(pca, correlated(rng, 2000, -0.9))
    assert same.status == ResultStatus.no_detection
    assert same.band[0] <= same.value <= same.band[1]
    assert flipped.status == ResultStatus.detected
    assert flipped.value > flipped.band[1]
    # the two features whose relation changed carry the extra residual
    assert {c["feature"] for c in flipped.contributions[:2]} == {"a", "b"}


def test_each_marginal_unchanged_so_per_feature_tests_see_nothing(pca):
    from driftline.stats.drift import assess
    from driftline.stats.reference import references_from_profile, window_sketches

    rng = np.random.default_rng(11)
    profile = compute_reference_profile(correlated(rng, 4000, 0.9))
    flipped = correlated(rng, 2000, -0.9)
    refs = references_from_profile(profile)
    verdicts, _ = assess(refs, window_sketches(flipped, refs))
    assert all(v.status == ResultStatus.no_detection for v in verdicts)
    assert reconstruction_drift(pca, flipped).status == ResultStatus.detected


def test_band_narrows_with_rows_and_the_reference_error_sits_inside(pca):
    small, large = band(pca, 50, 0.01), band(pca, 50_000, 0.01)
    assert small[0] < large[0] <= pca.error_mean <= large[1] < small[1]
    # the held-out mean is known only to sigma / sqrt(m): even an infinite window keeps that much width
    infinite = band(pca, 10**12, 0.01)
    assert infinite[1] - infinite[0] == pytest.approx(2 * 2.5758 * pca.error_std / np.sqrt(pca.holdout_rows), rel=1e-3)


def test_false_alarms_stay_near_the_stated_rate(pca):
    rng = np.random.default_rng(12)
    flagged = sum(reconstruction_drift(pca, correlated(rng, 300, 0.9)).p_value <= 0.05 for _ in range(100))
    assert flagged <= 12  # binomial(100, 0.05): P(X > 12) < 0.2 %


def test_constant_inputs_are_a_change_too(pca):
    constant = pd.DataFrame({"a": [0.5] * 200, "b": [0.5] * 200, "c": [0.5] * 200, "d": [0.5] * 200})
    verdict = reconstruction_drift(pca, constant.assign(colour="red"))
    assert verdict.status != ResultStatus.no_detection


def test_result_is_mlrun_shaped_and_json(pca):
    verdict = reconstruction_drift(pca, correlated(np.random.default_rng(13), 500, -0.9))
    result = verdict.result("multivariate_drift")
    assert result.kind == ResultKind.data_drift
    assert result.status == ResultStatus.detected
    extra = json.loads(json.dumps(result.extra_data))
    assert extra["method"] == "pca_reconstruction_error"
    assert set(extra) >= {"threshold", "false_alarm_rate", "n_rows", "contributions", "p_value", "components"}
    assert extra["n_rows"] == 500


def test_reconstruction_round_trip_gives_the_same_verdict(pca):
    back = ReconstructionReference.from_dict(json.loads(json.dumps(pca.to_dict())))
    window = correlated(np.random.default_rng(14), 300, 0.5)
    assert reconstruction_drift(back, window).value == pytest.approx(reconstruction_drift(pca, window).value)
    with pytest.raises(InvalidRequestError, match="malformed"):
        ReconstructionReference.from_dict({**pca.to_dict(), "components": [[1.0]]})


def test_reconstruction_input_checks(reference_frame, pca):
    with pytest.raises(InvalidRequestError, match="at least 100"):
        fit_reconstruction(reference_frame.head(50))
    with pytest.raises(InvalidRequestError, match="variance_share"):
        fit_reconstruction(reference_frame, variance_share=0.0)
    with pytest.raises(InvalidRequestError, match="lack the features"):
        reconstruction_drift(pca, reference_frame.drop(columns=["b"]))
    with pytest.raises(InvalidRequestError, match="no rows"):
        reconstruction_drift(pca, reference_frame.head(0))
    with pytest.raises(InvalidRequestError, match="constant"):
        fit_reconstruction(pd.DataFrame({"x": [1.0] * 200, "y": [2.0] * 200}))


def test_fit_is_reproducible_with_a_seed(reference_frame):
    one = fit_reconstruction(reference_frame, seed=5)
    two = fit_reconstruction(reference_frame, seed=np.random.default_rng(5))
    assert one.error_mean == two.error_mean


# ------------------------------------------------------------------------------------------------- classifier


@pytest.fixture(scope="module")
def classifier_reference(reference_frame: pd.DataFrame) -> ClassifierReference:
    return fit_classifier_reference(reference_frame, max_rows=600, seed=2)


def test_classifier_same_distribution_no_drift_changed_correlation_detected(classifier_reference):
    rng = np.random.default_rng(20)
    options = {"max_rows": 600, "folds": 3, "max_iter": 20}
    same = classifier_drift(classifier_reference, correlated(rng, 600, 0.9), seed=1, **options)
    flipped = classifier_drift(classifier_reference, correlated(rng, 600, -0.9), seed=1, **options)
    assert same.status == ResultStatus.no_detection
    assert same.contributions == []  # importances are computed only when there is something to explain
    assert flipped.status == ResultStatus.detected
    assert flipped.value > 0.7
    assert {c["feature"] for c in flipped.contributions[:2]} == {"a", "b"}
    assert flipped.details["row_cap"] == 600


def test_a_linear_classifier_cannot_see_a_flipped_correlation(classifier_reference):
    rng = np.random.default_rng(21)
    flipped = correlated(rng, 600, -0.9)
    linear = classifier_drift(classifier_reference, flipped, model="logistic", max_rows=600, folds=3, seed=1)
    shifted = classifier_drift(
        classifier_reference, correlated(rng, 600, 0.9, shift=1.0), model="logistic", max_rows=600, folds=3, seed=1
    )
    assert linear.status == ResultStatus.no_detection
    assert shifted.status == ResultStatus.detected


def test_classifier_subsamples_to_the_cap(classifier_reference):
    big = correlated(np.random.default_rng(22), 5000, 0.9)
    verdict = classifier_drift(classifier_reference, big, max_rows=300, folds=3, max_iter=10, seed=0)
    assert verdict.details["window_rows_used"] == 300
    assert verdict.details["reference_rows_used"] == 300
    assert verdict.rows == 5000


def test_classifier_round_trip_and_checks(classifier_reference, reference_frame):
    back = ClassifierReference.from_dict(json.loads(json.dumps(classifier_reference.to_dict())))
    np.testing.assert_array_equal(back.sample, classifier_reference.sample)
    with pytest.raises(ConfigurationError, match="model"):
        classifier_drift(classifier_reference, reference_frame, model="forest")
    with pytest.raises(InvalidRequestError, match="at least 20"):
        classifier_drift(classifier_reference, reference_frame.head(5))
    with pytest.raises(InvalidRequestError, match="malformed"):
        ClassifierReference.from_dict({**classifier_reference.to_dict(), "rows": 7})
