"""POST /v2/models/{name}/events: rows a model served elsewhere scored, through the real serving handler (moto),
onto the stream as the same inference events, stored once by the stream's real processing."""

# ruff: noqa: F811  (the serving handler tests' fixtures are imported and then named as parameters)

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from driftline.aws.registry import Registry, model_uri
from driftline.ingest import IngestTarget, parse_ingest
from driftline.records import ModelRecord
from driftline.schemas import endpoint_id_for
from tests.functional.test_serving_handler import (  # noqa: F401 (fixtures)
    FEATURES,
    FUNCTION,
    MODEL,
    PROJECT,
    _stream_the_events,
    iris,
    serving,
)

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def _document(x: np.ndarray, model, n: int = 6, **more) -> dict:
    rows = x[:n].tolist()
    return {
        "inputs": rows,
        "outputs": model.predict(x[:n]).tolist(),
        "timestamps": [(T0 + timedelta(minutes=7 * i)).isoformat().replace("+00:00", "Z") for i in range(n)],
        **more,
    }


def events_path(model: str = MODEL) -> str:
    return f"/v2/models/{model}/events"


def test_ingested_rows_are_stored_with_their_own_times_scores_and_derived_ids(serving, clients, iris):
    model, x = iris
    scores = model.predict_proba(x[:6]).tolist()
    document = _document(x, model, scores=scores, classes=[0, 1, 2])
    status, answer = serving.call("POST", events_path(), document)
    assert status == 200, answer
    endpoint = endpoint_id_for(PROJECT, FUNCTION, MODEL)
    assert answer | {"digest": ""} == {
        "model_name": MODEL,
        "model_version": "1",
        "endpoint_id": endpoint,
        "rows": 6,
        "requests": 6,  # each row its own time: its own request
        "digest": "",
        "duplicate": False,
    }
    events = serving.events()
    assert len(events) == 6
    assert {e["endpoint_id"] for e in events} == {endpoint}
    assert all(e["request_id"].startswith("ingest-") and e["received"] for e in events)
    assert {tuple(e["score_names"]) for e in events} == {("proba_0", "proba_1", "proba_2")}

    stored = _stream_the_events(clients, serving).sort_values("timestamp", ignore_index=True)
    assert [t.to_pydatetime() for t in stored["timestamp"]] == [T0 + timedelta(minutes=7 * i) for i in range(6)]
    assert stored[FEATURES].to_numpy().tolist() == x[:6].tolist()
    assert stored["label"].tolist() == document["outputs"]
    assert stored[["proba_0", "proba_1", "proba_2"]].to_numpy().tolist() == scores
    assert stored["latency"].tolist() == [0] * 6


def test_an_ingest_sent_again_is_answered_from_its_receipt_and_puts_nothing(serving, iris):
    model, x = iris
    document = _document(x, model, request_ids=[f"r-{i}" for i in range(6)])
    first = serving.call("POST", events_path(), document)
    again = serving.call("POST", events_path(), dict(reversed(document.items())))  # keys in another order
    assert first[0] == again[0] == 200
    assert again[1] == first[1] | {"duplicate": True, "received": again[1]["received"]}
    assert len(serving.events()) == 6
    assert [e["request_id"] for e in serving.events()] == [f"r-{i}" for i in range(6)]


def test_rows_sharing_an_id_and_time_are_one_request(serving, iris):
    _, x = iris
    document = {
        "inputs": x[:4].tolist(),
        "predictions": [0, 0, 1, 1],
        "timestamps": "2026-11-20T09:00:00+00:00",
        "request_ids": ["a", "a", "b", "b"],
    }
    status, answer = serving.call("POST", events_path(), document)
    assert (status, answer["requests"]) == (200, 2)
    events = serving.events()
    assert [(e["request_id"], e["outputs"]) for e in events] == [("a", [0, 0]), ("b", [1, 1])]


def test_a_model_logged_without_being_served_takes_ingests(serving, clients):
    Registry(clients).put_model(
        ModelRecord(
            project=PROJECT,
            name="churn",
            version="1",
            uri=model_uri(PROJECT, "churn", "1"),
            artifact_key="",
            feature_names=["tenure", "plan"],
            label_names=["churned"],
            score_names=["proba_False", "proba_True"],
        )
    )
    document = {
        "inputs": [{"tenure": 3, "plan": "gold"}, {"plan": "basic", "tenure": 40}],
        "outputs": [True, False],
        "scores": [[0.2, 0.8], [0.9, 0.1]],
    }
    status, answer = serving.call("POST", events_path("churn"), document)
    assert status == 200, answer
    assert answer["endpoint_id"] == endpoint_id_for(PROJECT, FUNCTION, "churn")
    (event,) = serving.events()  # no timestamps: one request at the arrival time
    assert event["inputs"] == [[3, "gold"], [40, "basic"]]
    assert event["outputs"] == [1, 0]
    assert event["when"] == event["received"]
    assert event["score_names"] == ["proba_False", "proba_True"]


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        ({"outputs": None}, 400, "missing 'outputs'"),
        ({"outputs": [0]}, 400, "outputs: expected 6 predictions (one per row of inputs), got 1 values"),
        ({"inputs": [[1.0, 2.0]] * 6}, 400, "inputs[0] has 2 values; the model's 4 features are sepal_length_cm"),
        ({"timestamps": ["yesterday"] * 6}, 400, "timestamps[0]: expected an ISO 8601 time"),
        ({"timestamps": ["2026-11-20T09:00:00"] * 6}, 400, "expected a time with a UTC offset"),
        ({"scores": [[0.5, 0.5]] * 6}, 400, "the model's classes are unknown; send 'classes'"),
        ({"scores": [[0.5, 0.5]] * 6, "classes": [0, 1, 2]}, 400, "scores[0]: expected 3 numbers"),
        ({"request_ids": ["x"]}, 400, "request_ids: expected 6 strings"),
        ({"labels": [1]}, 400, "unknown fields ['labels']"),
        ({"model_version": "9"}, 404, "version 9 not found"),
    ],
)
def test_bad_documents_are_refused_saying_what_was_expected(serving, iris, change, status, message):
    model, x = iris
    document = {k: v for k, v in (_document(x, model) | change).items() if v is not None}
    got, answer = serving.call("POST", events_path(), document)
    assert (got, message in answer["error"]) == (status, True), answer
    assert serving.events() == []


def test_an_unknown_model_is_404_naming_log_model(serving, iris):
    model, x = iris
    status, answer = serving.call("POST", events_path("ghost"), _document(x, model))
    assert status == 404
    assert "log_model('ghost', training_set=...)" in answer["error"]


def test_a_body_over_the_limit_is_413(serving, iris, monkeypatch):
    model, x = iris
    monkeypatch.setenv("DRIFTLINE_MAX_REQUEST_BYTES", "2000")
    serving.handler.deps.cache_clear()
    status, answer = serving.call("POST", events_path(), _document(x, model, n=40))
    assert status == 413
    assert "over the limit of 2000" in answer["error"]


def test_many_rows_make_records_under_the_kinesis_limit():
    target = IngestTarget("p", "serving", "m", "1", "e" * 32, tuple(f"f{i}" for i in range(50)), ("label",))
    rows = [[float(i)] * 50 for i in range(3000)]
    ingest = parse_ingest({"inputs": rows, "outputs": [0] * 3000}, target, received=T0, rows_per_event=500)
    from driftline.ingest import encode_records

    records = encode_records(ingest, target.endpoint_id)
    assert [len(e.inputs) for e in ingest.events] == [500] * 6
    assert all(len(r) < 1024 * 1024 for r in records)
    assert len({e.request_id for e in ingest.events}) == 6
    again = parse_ingest({"inputs": rows, "outputs": [0] * 3000}, target, received=T0 + timedelta(hours=1))
    assert [e.request_id for e in again.events] != [e.request_id for e in ingest.events]  # other arrival time
