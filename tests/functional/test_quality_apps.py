"""The new built-in apps in the app Lambda against moto: feature drift (with prediction drift), data quality and
model performance on ground truth, each on a window of event parquet written in the documented layout."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from driftline.aws.endpoints import Endpoints
from driftline.aws.invoke import RecordingInvoker
from driftline.aws.registry import Registry
from driftline.ground_truth import ingest
from driftline.records import AppRecord, EndpointRecord, ModelRecord
from driftline.schemas import AppOutputs, ResultKind, ResultStatus, WindowRequest, endpoint_id_for
from driftline.stats.reference import compute_reference_profile

PROJECT = "quality"
MODEL = "clf"
ENDPOINT_ID = endpoint_id_for(PROJECT, "serving", MODEL)
START = datetime(2026, 11, 26, 17, 0, tzinfo=UTC)
END = START + timedelta(minutes=10)
RNG = np.random.default_rng(42)
TRAIN = pd.DataFrame(
    {
        "x": RNG.normal(0, 1, 4000),
        "color": RNG.choice(["red", "green", "blue"], 4000),
        "label": RNG.integers(0, 2, 4000),
    }
)


def events(n: int, x, color, prediction, start: datetime = START) -> pa.Table:
    stamps = [start + timedelta(seconds=i * 500 / n) for i in range(n)]
    return pa.table(
        {
            "timestamp": pa.array(stamps, pa.timestamp("us", tz="UTC")),
            "request_id": pa.array([f"req-{i}" for i in range(n)], pa.string()),
            "row_index": pa.array([0] * n, pa.int32()),
            "latency": pa.array([1000] * n, pa.int64()),
            "model_version": pa.array(["1"] * n, pa.string()),
            "effective_sample_count": pa.array([1] * n, pa.int64()),
            "x": pa.array(np.asarray(x, dtype=float), pa.float64()),
            "color": pa.array(list(color), pa.string()),
            "label": pa.array(np.asarray(prediction), pa.int64()),
        }
    )


def put_events(clients, table: pa.Table, start: datetime = START) -> None:
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    key = f"events/endpoint_id={ENDPOINT_ID}/date={start:%Y-%m-%d}/hour={start:%H}/shardId-000-{start:%M}.parquet"
    clients.s3.put_object(Bucket=clients.settings.bucket, Key=key, Body=buffer.getvalue())


@pytest.fixture
def registered(clients):
    registry = Registry(clients)
    registry.put_model(
        ModelRecord(
            project=PROJECT,
            name=MODEL,
            version="1",
            uri=f"store://models/{PROJECT}/{MODEL}:1",
            artifact_key=f"artifacts/{PROJECT}/models/{MODEL}/1/model.pkl",
            feature_names=["x", "color"],
            label_names=["label"],
            feature_stats=compute_reference_profile(TRAIN[["x", "color"]]),
            label_stats=compute_reference_profile(TRAIN[["label"]]),
        )
    )
    Endpoints(clients).put_identity(
        EndpointRecord(
            endpoint_id=ENDPOINT_ID,
            project=PROJECT,
            name=MODEL,
            function_name="serving",
            model_uri=f"store://models/{PROJECT}/{MODEL}:latest",
            model_version="1",
            feature_names=["x", "color"],
            label_names=["label"],
        )
    )
    for name, cls, module, kwargs in (
        ("feature-drift", "FeatureDriftApplication", "feature_drift", {"features": {"x": {"threshold": 0.3}}}),
        ("data-quality", "DataQualityApplication", "data_quality", {}),
        (
            "model-performance",
            "ModelPerformanceApplication",
            "model_performance",
            {"thresholds": {"accuracy": [0.9, 0.7]}},
        ),
    ):
        registry.put_app(AppRecord(PROJECT, name, cls, {"kind": "builtin", "name": module}, kwargs, deployed=True))
    return registry


@pytest.fixture
def app(lambda_env):
    module = lambda_env("app")
    module.deps().invoker = RecordingInvoker()
    return module


def run(app, name: str, lambda_context) -> AppOutputs:
    request = WindowRequest(PROJECT, ENDPOINT_ID, name, START.isoformat(), END.isoformat(), 10).to_dict()
    app.handler(request, lambda_context)
    [(_, payload)] = app.deps().invoker.calls
    return AppOutputs.from_dict(payload)


def test_feature_drift_flags_the_shifted_features_and_the_predictions(app, registered, clients, lambda_context):
    n = 1500
    put_events(
        clients,
        events(n, RNG.normal(1.0, 1, n), RNG.choice(["red", "green", "blue"], n), np.ones(n, dtype=int)),
    )
    outputs = run(app, "feature-drift", lambda_context)
    results = {r.name: r for r in outputs.results}
    assert set(results) == {"dataset_drift", "prediction_drift", "x_drift", "color_drift"}
    x = results["x_drift"]
    assert x.status == ResultStatus.detected
    assert x.kind == ResultKind.data_drift
    assert {"feature", "method", "statistic", "p_value", "effect", "threshold"} <= set(x.extra_data)
    assert x.extra_data["threshold"] == 0.3  # per-feature configuration from application_kwargs
    assert x.extra_data["method"] == "ks"
    assert results["color_drift"].status == ResultStatus.no_detection
    assert results["color_drift"].extra_data["method"] == "chi2"
    prediction = results["prediction_drift"]
    assert prediction.status == ResultStatus.detected  # every prediction is 1, training labels are half 0
    assert prediction.kind == ResultKind.concept_drift
    dataset = results["dataset_drift"]
    assert dataset.extra_data["drifted_features"] == ["x"]
    assert dataset.value == pytest.approx(0.5)
    assert dataset.status == ResultStatus.detected
    assert {m.name: m.value for m in outputs.metrics}["drifted_features"] == 1


def test_data_quality_reports_missing_out_of_range_and_unseen_values(app, registered, clients, lambda_context):
    n = 400
    # inside the training range (4,000 standard normals reach beyond +-2), so only the planted values are out
    x = np.clip(RNG.normal(0, 1, n), -2.0, 2.0)
    x[:40] = np.nan  # 10 % missing
    x[40:60] = 100.0  # 5 % far beyond the training maximum
    color = np.array(RNG.choice(["red", "green", "blue"], n), dtype=object)
    color[:8] = "purple"  # 2 % never seen in training
    put_events(clients, events(n, x, color, RNG.integers(0, 2, n)))
    outputs = run(app, "data-quality", lambda_context)
    results = {r.name: r for r in outputs.results}
    assert set(results) == {"data_quality", "x_quality", "color_quality"}
    xq = results["x_quality"].extra_data
    assert xq["missing_rate"] == pytest.approx(0.1)
    assert xq["above_range"] == 20
    assert results["x_quality"].status == ResultStatus.detected
    cq = results["color_quality"]
    assert cq.extra_data["unseen_categories"] == {"purple": 8}
    assert cq.status == ResultStatus.potential_detection  # 2 %: over 1 %, under 5 %
    summary = results["data_quality"]
    assert summary.extra_data["problem_features"] == ["x"]
    assert summary.extra_data["suspect_features"] == ["color"]
    assert summary.kind == ResultKind.mm_app_anomaly


def test_model_performance_joins_labels_by_request_id(app, registered, clients, lambda_context):
    n = 200
    predictions = np.array([1] * 100 + [0] * 100)
    put_events(clients, events(n, RNG.normal(0, 1, n), ["red"] * n, predictions))
    truth = predictions.copy()
    truth[:30] = 0  # 30 false positives among the labelled rows
    labels = pd.DataFrame({"request_id": [f"req-{i}" for i in range(150)], "label": truth[:150]})
    assert ingest(clients, PROJECT, ENDPOINT_ID, labels, received=START + timedelta(minutes=5)) == 150
    outputs = run(app, "model-performance", lambda_context)
    metrics = {m.name: m.value for m in outputs.metrics}
    assert metrics["labelled_rows"] == 150
    assert metrics["label_coverage"] == pytest.approx(0.75)
    results = {r.name: r for r in outputs.results}
    assert set(results) == {"accuracy", "precision", "recall", "f1"}
    assert results["accuracy"].value == pytest.approx(120 / 150)
    assert results["precision"].value == pytest.approx(70 / 100)
    assert results["recall"].value == pytest.approx(1.0)
    assert results["accuracy"].status == ResultStatus.potential_detection  # 0.8: under 0.9, over 0.7
    assert results["precision"].status == ResultStatus.irrelevant  # no threshold configured
    assert results["accuracy"].kind == ResultKind.model_performance


def test_model_performance_without_labels_yet_reports_coverage_only(app, registered, clients, lambda_context):
    put_events(clients, events(50, RNG.normal(0, 1, 50), ["red"] * 50, np.ones(50, dtype=int)))
    outputs = run(app, "model-performance", lambda_context)
    assert outputs.results == ()
    assert {m.name: m.value for m in outputs.metrics} == {"labelled_rows": 0, "label_coverage": 0}


def test_model_performance_with_a_label_delay_reads_the_earlier_window(app, registered, clients, lambda_context):
    earlier = START - timedelta(minutes=10)
    predictions = np.array([1, 0] * 50)
    put_events(clients, events(100, RNG.normal(0, 1, 100), ["red"] * 100, predictions, start=earlier), start=earlier)
    labels = pd.DataFrame({"request_id": [f"req-{i}" for i in range(100)], "label": predictions})
    ingest(clients, PROJECT, ENDPOINT_ID, labels, received=START)
    registered.put_app(
        AppRecord(
            PROJECT,
            "model-performance",
            "ModelPerformanceApplication",
            {"kind": "builtin", "name": "model_performance"},
            {"label_delay_minutes": 10},
            deployed=True,
        )
    )
    put_events(clients, events(10, RNG.normal(0, 1, 10), ["red"] * 10, np.ones(10, dtype=int)))  # this window's
    outputs = run(app, "model-performance", lambda_context)
    results = {r.name: r for r in outputs.results}
    assert results["accuracy"].value == 1.0
    assert results["accuracy"].extra_data["predictions_start"] == earlier.isoformat()
    assert {m.name: m.value for m in outputs.metrics}["labelled_rows"] == 100


def test_evidently_app_in_the_lambda_keeps_its_report_in_s3(app, registered, clients, lambda_context, monkeypatch):
    from driftline.applications.evidently import _artifacts
    from tests.unit.test_evaluate import fake_evidently

    _artifacts.cache_clear()  # built once per container: this test's moto, not an earlier one's
    fake_evidently(monkeypatch)
    buffer = io.BytesIO()
    TRAIN[["x"]].to_parquet(buffer)
    clients.s3.put_object(Bucket=clients.settings.bucket, Key="reference/train.parquet", Body=buffer.getvalue())
    registered.put_app(
        AppRecord(
            PROJECT,
            "evidently",
            "EvidentlyDataDriftApplication",
            {"kind": "builtin", "name": "evidently_app"},
            {"reference_data": f"s3://{clients.settings.bucket}/reference/train.parquet"},
            deployed=True,
        )
    )
    n = 300
    put_events(clients, events(n, RNG.normal(2.0, 1, n), ["red"] * n, np.ones(n, dtype=int)))
    outputs = run(app, "evidently", lambda_context)
    results = {r.name: r for r in outputs.results}
    assert results["x_evidently_drift"].status == ResultStatus.detected
    assert results["evidently_dataset_drift"].extra_data["drifted_features"] == ["x"]
    key = f"artifacts/{PROJECT}/monitoring/evidently/{ENDPOINT_ID}/data_drift_report-20261126T170000Z.html"
    body = clients.s3.get_object(Bucket=clients.settings.bucket, Key=key)["Body"].read()
    assert body == b"<html>report</html>"
