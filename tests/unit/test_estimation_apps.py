"""The built-in multivariate-drift and performance-estimation apps: offline (``evaluate``, artefacts fitted from
the reference DataFrame) and live-shaped (a context reading the artefacts log_model stored, by key and digest)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from driftline.applications.builtin.multivariate_drift import MultivariateDriftApplication
from driftline.applications.builtin.performance_estimation import PerformanceEstimationApplication
from driftline.applications.context import MonitoringApplicationContext
from driftline.applications.evaluate import evaluate
from driftline.errors import ConfigurationError, InvalidRequestError
from driftline.records import EndpointRecord, ModelRecord
from driftline.schemas import ResultKind, ResultStatus
from driftline.scores import score_columns
from driftline.stats import model_artefacts
from driftline.stats.reference import compute_reference_profile

FEATURES = ["a", "b", "c", "d"]


def pair(rng: np.random.Generator, n: int, rho: float) -> pd.DataFrame:
    """A correlated pair (each marginal N(0, 1) whatever rho), an independent number and a category."""
    z = rng.normal(size=n)
    return pd.DataFrame(
        {
            "a": z,
            "b": rho * z + np.sqrt(1 - rho * rho) * rng.normal(size=n),
            "c": rng.normal(size=n),
            "d": rng.choice(["x", "y", "z"], size=n),
        }
    )


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return pair(np.random.default_rng(1), 4000, 0.8)


def by_name(evaluation) -> dict:
    frame = evaluation.results_frame()
    return {row.result_name: row for row in frame.itertuples()}


# ------------------------------------------------------------------------------------------ multivariate


def test_flipped_correlation_with_unchanged_marginals_is_detected_by_both_methods(reference):
    window = pair(np.random.default_rng(2), 2000, -0.8)
    results = by_name(evaluate("multivariate_drift", window, reference, application_kwargs={"seed": 0}))
    assert set(results) == {"pca_reconstruction_error", "domain_classifier_auc"}
    pca = results["pca_reconstruction_error"]
    assert pca.result_status == ResultStatus.detected
    assert pca.result_kind == ResultKind.data_drift
    extra = pca.result_extra_data
    assert extra["method"] == "pca_reconstruction_error"
    assert pca.result_value > extra["band_upper"] == extra["threshold"][1]
    # the pair carries the change: its features lead the contributions
    assert {c["feature"] for c in extra["contributions"][:2]} == {"a", "b"}
    assert extra["components"]
    auc = results["domain_classifier_auc"]
    assert auc.result_status == ResultStatus.detected
    assert auc.result_value > 0.6
    assert auc.result_extra_data["contributions"]
    assert auc.result_extra_data["window_rows_used"] == 2000


def test_same_distribution_is_not_detected(reference):
    window = pair(np.random.default_rng(3), 2000, 0.8)
    results = by_name(evaluate("multivariate_drift", window, reference, application_kwargs={"seed": 0}))
    assert {r.result_status for r in results.values()} == {ResultStatus.no_detection}
    pca = results["pca_reconstruction_error"]
    assert pca.result_extra_data["band_lower"] <= pca.result_value <= pca.result_extra_data["band_upper"]


def test_pca_only_and_bounded_classifier_rows(reference):
    window = pair(np.random.default_rng(4), 3000, -0.8)
    pca_only = by_name(evaluate("multivariate_drift", window, reference, application_kwargs={"methods": ["pca"]}))
    assert list(pca_only) == ["pca_reconstruction_error"]
    capped = by_name(
        evaluate(
            "multivariate_drift",
            window,
            reference,
            application_kwargs={"methods": ["classifier"], "max_rows": 500, "max_iter": 10, "seed": 1},
        )
    )
    extra = capped["domain_classifier_auc"].result_extra_data
    assert (extra["window_rows_used"], extra["reference_rows_used"], extra["max_iter"]) == (500, 500, 10)


@pytest.mark.parametrize(
    "kwargs",
    [{"methods": ["mmd"]}, {"methods": []}, {"false_alarm_rate": 1.5}, {"max_rows": 3}, {"colour": "red"}],
)
def test_bad_settings_are_refused_with_what_was_expected(kwargs):
    with pytest.raises(ConfigurationError, match="multivariate drift"):
        MultivariateDriftApplication(**kwargs)


class Recorder(logging.Logger):
    def __init__(self) -> None:
        super().__init__("recorder")
        self.records: list[tuple[str, dict]] = []

    def _log(self, level, msg, args, exc_info=None, extra=None, **kwargs):
        self.records.append((msg, dict(extra or {})))


def live_context(model: ModelRecord | None, window: pd.DataFrame, store: dict[str, bytes], logger=None):
    endpoint = EndpointRecord(
        endpoint_id="ep1",
        project="p",
        name="m",
        function_name="serving",
        model_uri="store://models/p/m:1",
        feature_names=FEATURES,
        label_names=["label"],
    )
    return MonitoringApplicationContext(
        application_name="multivariate-drift",
        project_name="p",
        start_infer_time=datetime(2026, 1, 1, tzinfo=UTC),
        end_infer_time=datetime(2026, 1, 1, 1, tzinfo=UTC),
        model_endpoint=endpoint,
        model=model,
        sample_df_loader=lambda: window,
        logger=logger or Recorder(),
        artefact_reader=store.__getitem__,
    )


def stored_model(fitted: model_artefacts.Fitted, store: dict[str, bytes]) -> ModelRecord:
    entries: dict = {}
    for kind, obj in fitted.objects.items():
        body = model_artefacts.to_bytes(obj)
        key = f"artifacts/p/models/m/1/{model_artefacts.artefact_file(kind)}"
        store[key] = body
        entries[kind] = model_artefacts.describe(key, body)
    entries["skipped"] = dict(fitted.skipped)
    return ModelRecord(
        project="p",
        name="m",
        version="1",
        uri="store://models/p/m:1",
        artifact_key="artifacts/p/models/m/1/model.pkl",
        feature_names=FEATURES,
        label_names=["label"],
        monitoring_artefacts=entries,
    )


def test_live_context_reads_the_stored_artefacts_once_and_checks_their_digest(reference):
    store: dict[str, bytes] = {}
    fitted = model_artefacts.fit_feature_artefacts(reference, compute_reference_profile(reference), seed=5)
    model = stored_model(fitted, store)
    window = pair(np.random.default_rng(6), 1500, -0.8)
    reads: list[str] = []
    original = store.__getitem__

    def counting(key: str) -> bytes:
        reads.append(key)
        return original(key)

    app = MultivariateDriftApplication(methods=["pca"])
    for _ in range(2):
        ctx = live_context(model, window, store)
        ctx._read_artefact = counting
        [result] = app.do_tracking(ctx)
        assert result.status == ResultStatus.detected
    assert reads.count(model.monitoring_artefacts["reconstruction"]["key"]) <= 1  # cached per process

    tampered = dict(store)
    key = model.monitoring_artefacts["reconstruction"]["key"]
    tampered[key] = store[key].replace(b'"error_mean":', b'"error_mean": ')
    other = ModelRecord(**{**model.__dict__, "version": "2"})
    other.monitoring_artefacts = {
        "reconstruction": {**model.monitoring_artefacts["reconstruction"], "key": key + ".v2"}
    }
    tampered[key + ".v2"] = tampered.pop(key)
    with pytest.raises(InvalidRequestError, match="does not match the digest"):
        app.do_tracking(live_context(other, window, tampered))


def test_no_artefact_or_missing_features_log_why_and_report_nothing(reference):
    log = Recorder()
    plain = ModelRecord(project="p", name="m", version="1", uri="u", artifact_key="k", feature_names=FEATURES)
    assert MultivariateDriftApplication().do_tracking(live_context(plain, reference, {}, log)) == []
    reasons = [extra["reason"] for _, extra in log.records]
    assert len(reasons) == 2
    assert all("without monitoring artefacts" in r for r in reasons)

    store: dict[str, bytes] = {}
    model = stored_model(model_artefacts.fit_feature_artefacts(reference, seed=0), store)
    log = Recorder()
    window = reference.drop(columns=["b"]).iloc[:500]
    assert MultivariateDriftApplication().do_tracking(live_context(model, window, store, log)) == []
    assert all("lack the features ['b']" in extra["reason"] for _, extra in log.records)


# ------------------------------------------------------------------------------------------ estimation


@pytest.fixture(scope="module")
def classifier(reference):
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(7)
    x = reference[["a", "b", "c"]]
    y = (x["a"] + x["b"] + rng.normal(size=len(x)) > 0).astype(int)
    return LogisticRegression().fit(x, y), y


def scored_window(model, rng: np.random.Generator, n: int, shift: float = 0.0) -> tuple[pd.DataFrame, np.ndarray]:
    """A window as serving with score capture writes it: features, the prediction, proba_<class> per class."""
    frame = pair(rng, n, 0.8)
    frame["a"] += shift  # covariate shift: P(y | x) unchanged
    x = frame[["a", "b", "c"]]
    truth = (x["a"] + x["b"] + rng.normal(size=n) > 0).astype(int).to_numpy()
    scores = model.predict_proba(x)
    for i, column in enumerate(score_columns(model.classes_)):
        frame[column] = scores[:, i]
    frame["label"] = model.predict(x).astype(float)  # numeric predictions are float64 in the event parquet
    frame["request_id"] = [f"r{i}" for i in range(n)]
    frame["row_index"] = 0
    return frame, truth


def reference_with_scores(reference, classifier) -> pd.DataFrame:
    model, y = classifier
    out = reference.assign(label=y)
    scores = model.predict_proba(reference[["a", "b", "c"]])
    for i, column in enumerate(score_columns(model.classes_)):
        out[column] = scores[:, i]
    return out


def test_cbpe_estimate_with_band_and_the_realized_value_beside_it(reference, classifier):
    model, _ = classifier
    window, truth = scored_window(model, np.random.default_rng(8), 2000, shift=0.7)
    labels = pd.DataFrame({"request_id": window["request_id"], "row_index": 0, "label": truth})
    evaluation = evaluate(
        "performance_estimation",
        window,
        reference_with_scores(reference, classifier),
        feature_names=["a", "b", "c"],
        label_names=["label"],
        ground_truth=labels,
        application_kwargs={"seed": 0},
    )
    results = by_name(evaluation)
    assert set(results) == {"estimated_accuracy", "estimated_f1", "estimated_roc_auc"}
    accuracy = results["estimated_accuracy"]
    extra = accuracy.result_extra_data
    assert accuracy.result_kind == ResultKind.model_performance
    assert extra["method"] == "cbpe"
    assert extra["band_lower"] < accuracy.result_value < extra["band_upper"]
    realized = float(np.mean(window["label"].to_numpy() == truth))
    assert extra["realized"] == pytest.approx(realized)
    assert abs(accuracy.result_value - realized) < 0.03
    assert extra["realized_in_band"] is True
    assert extra["labelled_rows"] == 2000
    metrics = dict(zip(evaluation.metrics_frame().metric_name, evaluation.metrics_frame().metric_value, strict=True))
    assert metrics["rows_with_scores"] == 2000
    assert metrics["realized_accuracy"] == pytest.approx(realized)


def test_partial_labels_compare_with_the_estimate_of_those_rows(reference, classifier):
    model, _ = classifier
    window, truth = scored_window(model, np.random.default_rng(9), 1500)
    labels = pd.DataFrame({"request_id": window["request_id"], "row_index": 0, "label": truth}).iloc[:400]
    evaluation = evaluate(
        "performance_estimation",
        window,
        reference_with_scores(reference, classifier),
        feature_names=["a", "b", "c"],
        label_names=["label"],
        ground_truth=labels,
    )
    extra = by_name(evaluation)["estimated_accuracy"].result_extra_data
    assert (extra["n_rows"], extra["realized_rows"], extra["labelled_rows"]) == (1500, 400, 400)
    assert extra["realized"] == pytest.approx(float(np.mean(window["label"].to_numpy()[:400] == truth[:400])))
    low, high = extra["labelled_band"]
    assert high - low > extra["band_upper"] - extra["band_lower"]  # fewer rows, a wider band


def test_a_window_without_score_columns_reports_no_scored_rows_and_says_why(reference, classifier):
    model, _ = classifier
    window, _ = scored_window(model, np.random.default_rng(10), 300)
    window = window.drop(columns=score_columns(model.classes_))
    evaluation = evaluate(
        "performance_estimation",
        window,
        reference_with_scores(reference, classifier),
        feature_names=["a", "b", "c"],
        label_names=["label"],
    )
    assert evaluation.results_frame().empty
    assert evaluation.metrics_frame()[["metric_name", "metric_value"]].values.tolist() == [["rows_with_scores", 0]]


def test_dle_estimates_a_regressor_offline_from_its_reference_predictions(reference):
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(11)
    x = reference[["a", "b", "c"]]
    noise = 0.5 + 1.5 * (x["c"] > 0)  # heteroscedastic: the loss model has something to learn
    y = 2 * x["a"] - x["b"] + noise * rng.normal(size=len(x))
    model = LinearRegression().fit(x, y)
    ref = reference[["a", "b", "c"]].assign(target=y, predicted=model.predict(x))
    window = pair(rng, 2000, 0.8)[["a", "b", "c"]]
    window_truth = 2 * window["a"] - window["b"] + (0.5 + 1.5 * (window["c"] > 0)) * rng.normal(size=2000)
    window["target"] = model.predict(window)
    evaluation = evaluate(
        "performance_estimation",
        window,
        ref,
        feature_names=["a", "b", "c"],
        label_names=["target"],
        application_kwargs={"reference_prediction_column": "predicted"},
    )
    results = by_name(evaluation)
    assert set(results) == {"estimated_mae", "estimated_rmse"}
    mae = results["estimated_mae"]
    realized = float(np.mean(np.abs(window["target"] - window_truth)))
    assert mae.result_extra_data["method"] == "dle"
    assert mae.result_extra_data["band_lower"] <= realized <= mae.result_extra_data["band_upper"]


def test_no_calibration_logs_both_reasons(reference):
    log = Recorder()
    model = ModelRecord(
        project="p",
        name="m",
        version="1",
        uri="u",
        artifact_key="k",
        monitoring_artefacts={"skipped": {"cbpe": "no labels", "dle": "no labels"}},
    )
    assert PerformanceEstimationApplication().do_tracking(live_context(model, reference, {}, log)) == []
    [(_, extra)] = log.records
    assert extra["cbpe"] == extra["dle"] == "log_model did not fit it: no labels"


# ------------------------------------------------------------------------------------------ fitting


def test_log_model_fits_cbpe_for_a_classifier_and_dle_for_a_regressor(reference, classifier):
    from sklearn.tree import DecisionTreeRegressor

    model, y = classifier
    features = reference[["a", "b", "c"]]
    profile = compute_reference_profile(features)
    fitted = model_artefacts.fit_model_artefacts(features, profile, pd.Series(y), model)
    assert set(fitted.objects) == {"reconstruction", "classifier", "cbpe"}
    assert fitted.objects["cbpe"].classes == (0, 1)
    assert "CBPE" in fitted.skipped["dle"]
    regressor = DecisionTreeRegressor(max_depth=3).fit(features, features["a"] * 2)
    fitted = model_artefacts.fit_model_artefacts(features, profile, features["a"] * 2 + 0.1, regressor)
    assert "dle" in fitted.objects
    assert "predict_proba" in fitted.skipped["cbpe"]
    # round trip through the stored JSON
    again = model_artefacts.from_bytes("dle", model_artefacts.to_bytes(fitted.objects["dle"]))
    assert again.reference_metrics == fitted.objects["dle"].reference_metrics
    no_labels = model_artefacts.fit_model_artefacts(features, profile)
    assert set(no_labels.objects) == {"reconstruction", "classifier"}
    assert "label_column" in no_labels.skipped["cbpe"]
    small = model_artefacts.fit_model_artefacts(features.iloc[:50], profile, pd.Series(y[:50]), model)
    assert "at least 100" in small.skipped["reconstruction"]
    broken = model_artefacts.fit_model_artefacts(features, profile, pd.Series(y), object())
    assert "predict_proba" in broken.skipped["cbpe"]


def test_score_column_classes_take_the_labels_type():
    assert model_artefacts.classes_of_columns(["proba_0", "proba_1"], pd.Series([0, 1])) == [0, 1]
    assert model_artefacts.classes_of_columns(["proba_cat", "proba_dog"], pd.Series(["cat"])) == ["cat", "dog"]


def test_live_results_are_logged_on_the_line_the_cloudwatch_widgets_read(reference):
    from driftline.applications.builtin.multivariate_drift import LOG_MESSAGE

    store: dict[str, bytes] = {}
    model = stored_model(model_artefacts.fit_feature_artefacts(reference, seed=0), store)
    log = Recorder()
    [result] = MultivariateDriftApplication(methods=["pca"]).do_tracking(
        live_context(model, pair(np.random.default_rng(12), 800, -0.8), store, log)
    )
    [(message, extra)] = log.records
    assert message == LOG_MESSAGE
    assert (extra["result_name"], extra["value"]) == ("pca_reconstruction_error", result.value)
    assert extra["band_upper"] == result.extra_data["band_upper"]
