"""Performance before labels: CBPE and DLE on small data with known answers, and always the pair "same
distribution: realized ~ estimate / covariate shift: the estimate tracks the realized value". Realized metrics
come from the model-performance app's own functions (one metric code for both)."""

from __future__ import annotations

import json
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

from driftline.applications.builtin import model_performance
from driftline.errors import InvalidRequestError
from driftline.schemas import ResultKind, ResultStatus
from driftline.stats.performance_estimation import (
    Calibrator,
    CBPEReference,
    DLEReference,
    TreeEnsemble,
    estimate_classification,
    estimate_regression,
    fit_calibrator,
    fit_cbpe,
    fit_dle,
    with_realized,
)


@pytest.fixture(scope="module")
def perf() -> ModuleType:
    """The built-in model-performance app's module (its metric functions are the realized metrics)."""
    return model_performance


def realized(perf: ModuleType, truth: np.ndarray, predicted: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    values = perf.classification_metrics(truth, predicted)
    values["roc_auc"] = perf.roc_auc(truth == 1, scores)
    return values


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


def binary_rows(rng: np.random.Generator, n: int, shift: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A model whose scores are the true probabilities (calibrated by construction); ``shift`` moves the inputs
    (covariate shift), P(y | x) stays."""
    x = rng.normal(shift, 1.0, size=n)
    p = sigmoid(2.0 * x)
    y = (rng.random(n) < p).astype(np.int64)
    return p, y, (p >= 0.5).astype(np.int64)


# ------------------------------------------------------------------------------------------------- CBPE known answers


def test_expected_confusion_matrix_known_answers():
    reference = CBPEReference((0, 1), 1, (Calibrator("none"),), {}, {}, 4)
    scores = np.array([0.9, 0.8, 0.3, 0.1])
    estimate = estimate_classification(reference, scores, [1, 1, 0, 0], seed=0)
    # P(correct) = 0.9, 0.8, 0.7, 0.9; TP = 1.7, FP = 0.3, FN = 0.4
    assert estimate["accuracy"].value == pytest.approx(0.825)
    assert estimate["f1"].value == pytest.approx(3.4 / 4.1)
    tpr = np.r_[0, np.cumsum(scores) / scores.sum()]
    fpr = np.r_[0, np.cumsum(1 - scores) / (1 - scores).sum()]
    assert estimate["roc_auc"].value == pytest.approx(float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2)))


def test_accuracy_band_matches_the_poisson_binomial_closed_form():
    reference = CBPEReference((0, 1), 1, (Calibrator("none"),), {}, {}, 100)
    p = np.random.default_rng(1).uniform(0.5, 1.0, size=3000)
    estimate = estimate_classification(reference, p, np.ones(3000, dtype=int), draws=2000, seed=2)
    sd = np.sqrt(np.sum(p * (1 - p))) / p.size
    width = estimate["accuracy"].upper - estimate["accuracy"].lower
    assert width == pytest.approx(2 * 1.96 * sd, rel=0.1)


def test_calibrators_known_answers_and_round_trip():
    rng = np.random.default_rng(3)
    truth_p = rng.uniform(0.01, 0.99, 8000)
    outcome = (rng.random(truth_p.size) < truth_p).astype(float)
    overconfident = sigmoid(2.0 * np.log(truth_p / (1 - truth_p)))  # logit doubled
    platt = fit_calibrator(overconfident, outcome, "sigmoid")
    assert platt.a == pytest.approx(0.5, abs=0.06)
    assert platt.b == pytest.approx(0.0, abs=0.08)
    iso = fit_calibrator(overconfident, outcome, "isotonic")
    assert np.all(np.diff(iso.y) >= 0)
    assert np.abs(iso(overconfident) - truth_p).mean() < 0.04
    for calibrator in (platt, iso, Calibrator("none")):
        back = Calibrator.from_dict(json.loads(json.dumps(calibrator.to_dict())))
        np.testing.assert_allclose(back(overconfident[:50]), calibrator(overconfident[:50]))


def test_auto_calibration_repairs_an_overconfident_model(perf):
    rng = np.random.default_rng(4)
    p, y, _ = binary_rows(rng, 6000)
    overconfident = sigmoid(3.0 * np.log(p / (1 - p)))
    reference = fit_cbpe(overconfident, y, seed=0)
    assert reference.calibrators[0].method in ("isotonic", "sigmoid")
    p2, y2, _ = binary_rows(rng, 3000)
    scores = sigmoid(3.0 * np.log(p2 / (1 - p2)))
    predicted = (scores >= 0.5).astype(int)
    estimate = estimate_classification(reference, scores, predicted, seed=1)
    truth_acc = realized(perf, y2, predicted, scores)["accuracy"]
    assert abs(estimate["accuracy"].value - truth_acc) < 0.03
    # the raw scores would have claimed far more
    assert np.mean(np.maximum(scores, 1 - scores)) - truth_acc > 0.05


# ------------------------------------------------------------------------------------------------- CBPE pairs


@pytest.fixture(scope="module")
def binary_reference() -> CBPEReference:
    p, y, _ = binary_rows(np.random.default_rng(5), 5000)
    return fit_cbpe(p, y, seed=0)


def test_same_distribution_realized_within_the_band(binary_reference, perf):
    p, y, predicted = binary_rows(np.random.default_rng(6), 3000)
    estimate = with_realized(
        estimate_classification(binary_reference, p, predicted, seed=0), realized(perf, y, predicted, p)
    )
    for name in ("accuracy", "f1", "roc_auc"):
        metric = estimate[name]
        assert metric.lower <= metric.realized <= metric.upper, name
        assert metric.status == ResultStatus.no_detection


def test_covariate_shift_estimate_tracks_realized(binary_reference, perf):
    rng = np.random.default_rng(7)
    # inputs pushed toward the boundary: the model gets worse, and CBPE must say so without labels
    x = rng.normal(0.0, 0.25, 4000)
    p = sigmoid(2.0 * x)
    y = (rng.random(x.size) < p).astype(np.int64)
    predicted = (p >= 0.5).astype(np.int64)
    estimate = with_realized(
        estimate_classification(binary_reference, p, predicted, seed=0), realized(perf, y, predicted, p)
    )
    accuracy = estimate["accuracy"]
    assert accuracy.realized < binary_reference.reference_metrics["accuracy"] - 0.1
    assert abs(accuracy.value - accuracy.realized) < 0.03
    assert accuracy.lower <= accuracy.realized <= accuracy.upper
    assert accuracy.status == ResultStatus.detected


def test_multiclass_estimate_tracks_realized_and_renormalises(perf):
    rng = np.random.default_rng(8)

    def rows(n: int, shift: float) -> tuple[np.ndarray, np.ndarray]:
        logits = rng.normal(size=(n, 3)) * 1.5 + np.array([shift, 0.0, -shift])
        p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        y = (rng.random(n)[:, None] > np.cumsum(p, axis=1)).sum(axis=1)
        return p, y

    p, y = rows(6000, 0.0)
    reference = fit_cbpe(p, np.array(["a", "b", "c"])[y], classes=["a", "b", "c"], seed=0)
    assert len(reference.calibrators) == 3
    np.testing.assert_allclose(reference.probabilities(p).sum(axis=1), 1.0)
    for shift in (0.0, 1.5):
        p2, y2 = rows(3000, shift)
        names = np.array(["a", "b", "c"])
        predicted = names[p2.argmax(axis=1)]
        estimate = estimate_classification(reference, p2, predicted, seed=1)
        truth = perf.classification_metrics(names[y2], predicted)
        for metric in ("accuracy", "f1"):
            assert abs(estimate[metric].value - truth[metric]) < 0.03, (shift, metric)


def test_results_are_mlrun_shaped(binary_reference):
    p, _, predicted = binary_rows(np.random.default_rng(9), 500)
    results = with_realized(
        estimate_classification(binary_reference, p, predicted, seed=0), {"accuracy": 0.8}
    ).results()
    assert [r.name for r in results] == ["estimated_accuracy", "estimated_f1", "estimated_roc_auc"]
    assert all(r.kind == ResultKind.model_performance for r in results)
    extra = json.loads(json.dumps(results[0].extra_data))
    assert extra["realized"] == 0.8
    assert {"band", "coverage", "n_rows", "reference_value", "method"} <= set(extra)
    assert "realized" not in results[1].extra_data


def test_cbpe_round_trip(binary_reference):
    back = CBPEReference.from_dict(json.loads(json.dumps(binary_reference.to_dict())))
    p = np.linspace(0.01, 0.99, 200)
    one = estimate_classification(binary_reference, p, seed=3)
    two = estimate_classification(back, p, seed=3)
    assert one["accuracy"].value == pytest.approx(two["accuracy"].value)
    with pytest.raises(InvalidRequestError, match="malformed"):
        CBPEReference.from_dict({**binary_reference.to_dict(), "calibrators": []})


def test_cbpe_input_checks(binary_reference):
    p, y, _ = binary_rows(np.random.default_rng(10), 400)
    with pytest.raises(InvalidRequestError, match="expected probabilities"):
        fit_cbpe(p * 3 - 1, y)
    with pytest.raises(InvalidRequestError, match="missing values"):
        fit_cbpe(p, np.where(np.arange(400) < 5, np.nan, y))
    with pytest.raises(InvalidRequestError, match="at least 100"):
        fit_cbpe(p[:50], y[:50])
    with pytest.raises(InvalidRequestError, match="at least two classes"):
        fit_cbpe(p, np.ones(400, dtype=int))
    with pytest.raises(InvalidRequestError, match="not among the classes"):
        fit_cbpe(p, y, classes=[0, 2])
    with pytest.raises(InvalidRequestError, match="one probability per class"):
        fit_cbpe(np.column_stack([p, 1 - p, p]), y)
    with pytest.raises(InvalidRequestError, match="class set mismatch"):
        estimate_classification(binary_reference, p[:10], [0, 1, 2, 0, 1, 0, 1, 0, 1, 0])
    with pytest.raises(InvalidRequestError, match="NaN"):
        estimate_classification(binary_reference, np.array([0.2, np.nan]))
    with pytest.raises(InvalidRequestError, match="no rows"):
        estimate_classification(binary_reference, np.array([]))


# ------------------------------------------------------------------------------------------------- DLE


def regression_rows(
    rng: np.random.Generator, n: int, shift: float = 0.0
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """y = 2x + noise whose spread grows with |x|; the model predicts 2x, so its error is the noise."""
    x = rng.normal(shift, 1.0, n)
    noise = rng.normal(size=n) * (0.2 + np.abs(x))
    frame = pd.DataFrame({"x": x, "k": rng.choice(["p", "q"], n)})
    return frame, 2 * x + noise, 2 * x


@pytest.fixture(scope="module")
def dle() -> DLEReference:
    frame, truth, prediction = regression_rows(np.random.default_rng(11), 4000)
    return fit_dle(frame, prediction, truth, trees=40, depth=3, seed=0)


def test_dle_same_distribution_realized_near_estimate(dle, perf):
    frame, truth, prediction = regression_rows(np.random.default_rng(12), 3000)
    estimate = with_realized(estimate_regression(dle, frame, prediction), perf.regression_metrics(truth, prediction))
    for name in ("mae", "rmse"):
        metric = estimate[name]
        assert abs(metric.value - metric.realized) < 0.08 * metric.realized, name
        assert metric.status == ResultStatus.no_detection


def test_dle_covariate_shift_estimate_tracks_realized(dle, perf):
    frame, truth, prediction = regression_rows(np.random.default_rng(13), 3000, shift=1.0)
    estimate = with_realized(estimate_regression(dle, frame, prediction), perf.regression_metrics(truth, prediction))
    mae = estimate["mae"]
    assert mae.realized > 1.2 * dle.reference_metrics["mae"]  # the shifted rows are noisier
    assert abs(mae.value - mae.realized) < 0.1 * mae.realized
    assert mae.status != ResultStatus.no_detection


def test_tree_ensemble_predicts_as_scikit_learn():
    from sklearn.ensemble import GradientBoostingRegressor

    rng = np.random.default_rng(14)
    x = rng.normal(size=(500, 3))
    model = GradientBoostingRegressor(n_estimators=15, max_depth=3).fit(x, np.abs(x[:, 0]) + x[:, 1])
    trees = TreeEnsemble.from_sklearn(model)
    np.testing.assert_allclose(trees.predict(x), model.predict(x), atol=1e-9)
    back = TreeEnsemble.from_dict(json.loads(json.dumps(trees.to_dict())))
    np.testing.assert_allclose(back.predict(x), model.predict(x), atol=1e-6)


def test_dle_round_trip_and_checks(dle):
    back = DLEReference.from_dict(json.loads(json.dumps(dle.to_dict())))
    frame, _, prediction = regression_rows(np.random.default_rng(15), 200)
    assert estimate_regression(back, frame, prediction)["mae"].value == pytest.approx(
        estimate_regression(dle, frame, prediction)["mae"].value
    )
    with pytest.raises(InvalidRequestError, match="one number per row"):
        estimate_regression(dle, frame, prediction[:10])
    with pytest.raises(InvalidRequestError, match="lack the features"):
        estimate_regression(dle, frame.drop(columns=["k"]), prediction)
    with pytest.raises(InvalidRequestError, match="true value for every"):
        fit_dle(frame, prediction, np.full(200, np.nan))
    with pytest.raises(InvalidRequestError, match="malformed"):
        DLEReference.from_dict({**dle.to_dict(), "v": 7})


def test_the_band_carries_the_calibrations_own_uncertainty_from_bootstrap_refits():
    rng = np.random.default_rng(21)
    scores = rng.uniform(0.02, 0.98, size=3000)
    labels = (rng.uniform(size=3000) < scores).astype(int)
    with_boot = fit_cbpe(scores, labels, calibration="isotonic", bootstrap=20, seed=0)
    without = fit_cbpe(scores, labels, calibration="isotonic", bootstrap=0, seed=0)
    assert len(with_boot.bootstrap) == 20
    assert all(len(entry) == 1 and entry[0].method == "isotonic" for entry in with_boot.bootstrap)
    again = CBPEReference.from_dict(json.loads(json.dumps(with_boot.to_dict())))
    assert again.bootstrap == with_boot.bootstrap
    window = rng.uniform(0.02, 0.98, size=1000)
    wide = estimate_classification(with_boot, window, seed=1)
    narrow = estimate_classification(without, window, seed=1)
    for name in ("accuracy", "f1", "roc_auc"):
        assert wide.details["calibration_sd"][name] > 0
        assert wide[name].value == pytest.approx(narrow[name].value)
        assert wide[name].upper - wide[name].lower > narrow[name].upper - narrow[name].lower
    assert narrow.details["calibration_sd"] == {}
    # calibration "none" is bootstrapped with isotonic refits: how far the identity may be off
    plain = fit_cbpe(scores, labels, calibration="none", bootstrap=5, seed=0)
    assert {entry[0].method for entry in plain.bootstrap} == {"isotonic"}
