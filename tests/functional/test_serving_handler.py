"""The serving Lambda in-process against moto, on the real API Gateway HTTP API v2 envelope."""

from __future__ import annotations

import base64
import io
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import joblib
import numpy as np
import pytest
from botocore.stub import Stubber
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier

from driftline import clock
from driftline.aws.artifacts import Artifacts, model_key
from driftline.aws.registry import Registry, model_uri
from driftline.inference_event import InferenceEvent
from driftline.records import FunctionSpec, ModelRecord, ModelRoute
from driftline.schemas import endpoint_id_for, parse_time
from tests.conftest import load_event

PROJECT = "iris"
FUNCTION = "serving"
MODEL = "RandomForestClassifier"
FEATURES = ["sepal_length_cm", "sepal_width_cm", "petal_length_cm", "petal_width_cm"]


class RaisingModel:
    n_features_in_ = 4

    def predict(self, x: Any) -> Any:
        raise ValueError("cannot predict on these petals")


class SlowModel:
    n_features_in_ = 4

    def predict(self, x: Any) -> Any:
        time.sleep(1.2)
        return np.zeros(len(x), dtype=np.int64)


class WideModel:
    n_features_in_ = 100

    def predict(self, x: Any) -> Any:
        return np.zeros(len(x))


class WideRaisingModel(WideModel):
    def predict(self, x: Any) -> Any:
        raise RuntimeError("out of memory")


@pytest.fixture(scope="module")
def iris() -> tuple[RandomForestClassifier, np.ndarray]:
    x, y = load_iris(return_X_y=True)
    return RandomForestClassifier(n_estimators=5, random_state=0).fit(x, y), x


def log_model(clients, name: str, model: Any, version: str = "1", features: list[str] | None = None) -> None:
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    key = model_key(PROJECT, name, version, "model.pkl")
    Artifacts(clients).put(key, buffer.getvalue())
    Registry(clients).put_model(
        ModelRecord(
            project=PROJECT,
            name=name,
            version=version,
            uri=model_uri(PROJECT, name, version),
            artifact_key=key,
            framework="sklearn",
            model_file="model.pkl",
            feature_names=features or FEATURES,
            label_names=["label"],
        )
    )


def deploy(clients, models: list[str], tracking: bool = True, sampling: float = 100.0) -> None:
    routes = {m: ModelRoute(name=m, model_path=f"store://models/{PROJECT}/{m}:latest") for m in models}
    Registry(clients).put_function(
        FunctionSpec(project=PROJECT, name=FUNCTION, models=routes, tracking=tracking, sampling_percentage=sampling)
    )
    from driftline.aws.endpoints import Endpoints
    from driftline.records import EndpointRecord
    from driftline.schemas import endpoint_id_for

    for m in models:  # what the SDK's deploy_function writes beside the spec
        record = Registry(clients).get_model(PROJECT, m)
        Endpoints(clients).put_identity(
            EndpointRecord(
                endpoint_id_for(PROJECT, FUNCTION, m),
                PROJECT,
                m,
                FUNCTION,
                record.uri,
                feature_names=record.feature_names,
                label_names=record.label_names,
            )
        )


def http_event(
    method: str, path: str, body: str | None = None, *, encode: bool = False, headers: dict | None = None
) -> dict:
    event = load_event("http-api-v2-event")
    event["headers"].update(headers or {})
    event["rawPath"] = path
    event["routeKey"] = "$default"
    event["requestContext"]["http"]["method"] = method
    event["requestContext"]["http"]["path"] = path
    event["requestContext"]["routeKey"] = "$default"
    event["isBase64Encoded"] = encode
    event["body"] = base64.b64encode(body.encode()).decode() if encode and body is not None else body
    return event


@dataclass
class Serving:
    handler: Any
    clients: Any
    context: Any

    def call(
        self, method: str, path: str, body: Any = None, *, encode: bool = False, headers: dict | None = None
    ) -> tuple[int, dict]:
        text = body if body is None or isinstance(body, str) else json.dumps(body)
        self.last = self.handler.handler(http_event(method, path, text, encode=encode, headers=headers), self.context)
        assert self.last["headers"]["Content-Type"] == "application/json"
        return self.last["statusCode"], json.loads(self.last["body"])

    def infer(self, body: Any, model: str = MODEL, version: str | None = None, **kw: Any) -> tuple[int, dict]:
        path = f"/v2/models/{model}" + (f"/versions/{version}" if version else "") + "/infer"
        return self.call("POST", path, body, **kw)

    def events(self) -> list[dict]:
        kinesis = self.clients.kinesis
        stream = self.clients.settings.stream_name
        found = []
        for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
            iterator = kinesis.get_shard_iterator(
                StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            found += [json.loads(r["Data"]) for r in kinesis.get_records(ShardIterator=iterator)["Records"]]
        return found


@pytest.fixture
def serving(lambda_env, clients, lambda_context, monkeypatch, iris) -> Serving:
    monkeypatch.setenv("DRIFTLINE_PROJECT", PROJECT)
    monkeypatch.setenv("DRIFTLINE_SERVING_FUNCTION", FUNCTION)
    log_model(clients, MODEL, iris[0])
    deploy(clients, [MODEL])
    return Serving(handler=lambda_env("serving"), clients=clients, context=lambda_context)


def test_seed_body_answers_in_oip_form_and_tracks_one_event(serving, iris):
    model, x = iris
    rows = x[[0, 60, 120]].tolist()
    status, body = serving.infer({"inputs": rows})
    assert status == 200
    expected = model.predict(np.asarray(rows)).tolist()
    assert body["model_name"] == MODEL
    assert body["model_version"] == "1"
    assert body["outputs"] == [{"name": "label", "shape": [3], "datatype": "INT64", "data": expected}]
    assert len(body["id"]) == 36  # a new uuid4 when the body has none

    (event,) = serving.events()
    parsed = InferenceEvent.from_dict(event)  # the documented schema, validated
    assert parsed.request_id == body["id"]
    assert parsed.endpoint_id == endpoint_id_for(PROJECT, FUNCTION, MODEL)
    assert (parsed.project, parsed.function_name, parsed.model_name, parsed.model_version) == (
        PROJECT,
        FUNCTION,
        MODEL,
        "1",
    )
    assert parsed.inputs == rows
    assert parsed.outputs == expected
    assert parsed.feature_names == FEATURES
    assert parsed.label_names == ["label"]
    assert (parsed.sampling_percentage, parsed.effective_sample_count, parsed.error) == (100.0, 3, None)
    assert parsed.latency_us > 0
    assert abs((clock.now() - parse_time(parsed.when)).total_seconds()) < 60


@pytest.mark.parametrize(
    "inputs",
    [
        pytest.param(
            lambda r: [{"name": "x", "shape": [2, 4], "datatype": "FP64", "data": [v for row in r for v in row]}],
            id="flat",
        ),
        pytest.param(lambda r: [{"name": "x", "shape": [2, 4], "datatype": "FP32", "data": r}], id="nested"),
        pytest.param(
            lambda r: [
                {"name": f, "shape": [2], "datatype": "FP64", "data": [row[j] for row in r]}
                for j, f in reversed(list(enumerate(FEATURES)))
            ],
            id="per-feature",
        ),
    ],
)
def test_tensor_bodies_predict_like_the_model_and_echo_the_id(serving, iris, inputs):
    model, x = iris
    rows = x[[10, 140]].tolist()
    status, body = serving.infer({"id": "req-42", "inputs": inputs(rows), "parameters": {"content_type": "np"}})
    assert status == 200, body
    assert body["id"] == "req-42"
    assert body["outputs"][0]["data"] == model.predict(np.asarray(rows)).tolist()
    (event,) = serving.events()
    assert event["request_id"] == "req-42"
    assert event["inputs"] == rows  # in the model's feature order, whatever order the tensors came in


def test_base64_encoded_body_is_decoded(serving):
    status, body = serving.infer({"inputs": [[5.1, 3.5, 1.4, 0.2]]}, encode=True)
    assert status == 200, body
    assert len(serving.events()) == 1


WIDE = [f"f{i}" for i in range(100)]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ("", 400, "empty request body"),
        ("{'inputs': [[1, 2, 3, 4]]}", 400, "not valid JSON"),
        ('{"inputs": [[NaN, 1, 2, 3]]}', 400, "NaN is not a number"),
        ('{"inputs": [[Infinity, 1, 2, 3]]}', 400, "Infinity is not a number"),
        ('{"inputs": [[1e999, 1, 2, 3]]}', 400, "expected a finite number"),
        ("[[1, 2, 3, 4]]", 400, "expected a JSON object"),
        ({"rows": [[1, 2, 3, 4]]}, 400, "missing 'inputs'"),
        ({"inputs": []}, 400, "inputs is empty"),
        ({"inputs": [[1, 2, 3]]}, 400, "has 3 values; the model expects 4 features"),
        ({"inputs": [[1, 2, 3, 4, 5]]}, 400, "has 5 values; the model expects 4 features"),
        ({"inputs": [[1, 2, "3", 4]]}, 400, "feature 'petal_length_cm' is numeric; expected a number"),
        ({"inputs": [[1, 2, True, 4]]}, 400, "expected a number, got a JSON boolean"),
        ({"inputs": [[1, 2, None, 4]]}, 400, "expected a number, got a JSON null"),
        ({"inputs": [1, 2, 3, 4]}, 400, "expected a list of rows"),
        ({"id": 7, "inputs": [[1, 2, 3, 4]]}, 400, "id: expected a non-empty string"),
        (
            {"inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP64", "data": [1, 2, 3, 4]}]},
            400,
            "needs 8 values, data has 4",
        ),
        (
            {"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP64", "data": [1, 2, 3]}]},
            400,
            "so shape [n_rows, 4]",
        ),
        (
            {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP128", "data": [1, 2, 3, 4]}]},
            400,
            "datatype 'FP128' is not supported",
        ),
        (
            {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "BYTES", "data": ["a", "b", "c", "d"]}]},
            400,
            "numeric features: use FP64",
        ),
        (
            {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "INT64", "data": [1, 2, 3.5, 4]}]},
            400,
            "INT64 expects integers",
        ),
        (
            {"inputs": [{"name": "x", "shape": [1, 4], "data": [1, 2, 3, 4]}]},
            400,
            "missing datatype",
        ),
        (
            {"inputs": [{"name": f, "shape": [1], "datatype": "FP64", "data": [1.0]} for f in FEATURES[:3]]},
            400,
            "missing petal_width_cm",
        ),
    ],
)
def test_bad_input_is_refused_with_what_was_expected_and_not_tracked(serving, body, status, message):
    got, answer = serving.infer(body)
    assert got == status
    assert message in answer["error"]
    assert serving.events() == []


def test_unknown_model_is_404_and_not_tracked(serving):
    status, body = serving.infer({"inputs": [[1, 2, 3, 4]]}, model="nope")
    assert status == 404
    assert "model 'nope' is not served" in body["error"]
    assert MODEL in body["error"]
    assert serving.events() == []


def test_limits_on_rows_and_bytes_are_413(serving, monkeypatch):
    monkeypatch.setenv("DRIFTLINE_MAX_ROWS_PER_REQUEST", "5")
    monkeypatch.setenv("DRIFTLINE_MAX_REQUEST_BYTES", "2000")
    serving.handler.deps.cache_clear()  # a new container sees the new settings
    status, body = serving.infer({"inputs": [[1, 2, 3, 4]] * 6})
    assert status == 413
    assert "the request has 6 rows, over the limit of 5 per request; split it" in body["error"]
    status, body = serving.infer({"inputs": [[1.0, 2.0, 3.0, 4.0]], "parameters": {"pad": "x" * 3000}})
    assert status == 413
    assert "over the limit of 2000" in body["error"]
    assert serving.events() == []


def test_event_over_the_kinesis_record_limit_is_413_not_silently_untracked(serving, clients):
    log_model(clients, "wide", WideModel(), features=WIDE)
    deploy(clients, [MODEL, "wide"])
    clock.advance(31)  # past the spec cache's TTL
    try:
        row = [1.2345678901234567] * 100
        status, body = serving.infer({"inputs": [row] * 600}, model="wide")
        assert status == 413
        assert "split the request" in body["error"]
        assert serving.events() == []
        status, _ = serving.infer({"inputs": [row] * 10}, model="wide")
        assert status == 200
        assert len(serving.events()) == 1
    finally:
        clock.reset()


def test_an_oversized_error_event_is_still_sent_without_its_rows(serving, clients):
    log_model(clients, "wide-broken", WideRaisingModel(), features=WIDE)
    deploy(clients, [MODEL, "wide-broken"])
    serving.handler.deps.cache_clear()
    status, body = serving.infer({"inputs": [[1.2345678901234567] * 100] * 600}, model="wide-broken")
    assert status == 500
    assert "out of memory" in body["error"]
    (event,) = serving.events()
    assert (event["inputs"], event["effective_sample_count"]) == ([], 600)
    assert event["error"] == {"type": "RuntimeError", "message": "out of memory"}


def test_model_that_raises_is_500_with_an_error_event(serving, clients):
    log_model(clients, "broken", RaisingModel())
    deploy(clients, [MODEL, "broken"])
    serving.handler.deps.cache_clear()
    status, body = serving.infer({"id": "r1", "inputs": [[1, 2, 3, 4], [5, 6, 7, 8]]}, model="broken")
    assert status == 500
    assert "cannot predict on these petals" in body["error"]
    (event,) = serving.events()
    assert event["error"] == {"type": "ValueError", "message": "cannot predict on these petals"}
    assert event["inputs"] == [[1, 2, 3, 4], [5, 6, 7, 8]]
    assert event["outputs"] == []
    assert event["effective_sample_count"] == 2
    assert InferenceEvent.from_dict(event).kind == "error"


def test_failed_kinesis_put_still_answers_and_counts_the_loss(serving, capsys, monkeypatch):
    lost: list[dict] = []
    tracking = __import__("driftline.serving.tracking", fromlist=["logger"])
    monkeypatch.setattr(tracking.logger, "error", lambda msg, extra: lost.append({"msg": msg, **extra}))
    monkeypatch.setattr("driftline.aws.kinesis.time.sleep", lambda s: None)
    kinesis = serving.handler.deps().clients.kinesis
    with Stubber(kinesis) as stub:
        for _ in range(3):  # every attempt of the adapter fails
            stub.add_client_error("put_record", "ProvisionedThroughputExceededException", http_status_code=400)
        capsys.readouterr()
        status, body = serving.infer({"id": "lost-1", "inputs": [[5.1, 3.5, 1.4, 0.2]]})
        stub.assert_no_pending_responses()
    assert status == 200
    assert body["outputs"][0]["data"] in ([0], [1], [2])
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [m.get("TrackingEventsLost") for m in emf] == [[1.0]]
    assert lost == [
        {
            "msg": "tracking event lost",
            "request_id": "lost-1",
            "endpoint_id": endpoint_id_for(PROJECT, FUNCTION, MODEL),
            "model_name": MODEL,
            "rows": 1,
            "error": lost[0]["error"],
        }
    ]
    assert "after 3 attempts" in lost[0]["error"]
    assert serving.events() == []


def test_only_rare_events_publish_metrics(serving, capsys):
    """Request counts and latencies are API Gateway's and Lambda's own metrics: a served request publishes no EMF
    blob (and warns nothing: warnings fail the tests), a refused one publishes ``Errors``."""
    capsys.readouterr()
    assert serving.infer({"inputs": [[5.1, 3.5, 1.4, 0.2]]})[0] == 200
    assert capsys.readouterr().out.count('{"_aws"') == 0
    assert serving.infer({"inputs": [[5.1, 3.5]]})[0] == 400
    assert serving.call("GET", "/v3/models")[0] == 404
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    assert [m.get("Errors") for m in emf] == [[1.0], [1.0]]  # one EMF blob per invocation that added a metric
    assert not any("Requests" in m or "Latency" in m for m in emf)
    assert emf[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "driftline"
    assert emf[0]["service"] == "serving"


def test_log_lines_carry_the_invocation(serving, clients):
    from driftline.local.lambda_context import LocalLambdaContext

    log_model(clients, "broken", RaisingModel())
    deploy(clients, [MODEL, "broken"])
    serving.handler.deps.cache_clear()
    logger = serving.handler.logger
    output = io.StringIO()
    handler = logging.StreamHandler(output)  # the function's own JSON formatter, into a buffer of this test's
    handler.setFormatter(logger.registered_formatter)
    logger.addHandler(handler)
    try:
        for request_id in ("req-1", "req-2", "req-3"):
            serving.context = LocalLambdaContext(function_name="fn", memory_limit_in_mb=512, aws_request_id=request_id)
            assert serving.infer({"inputs": [[1, 2, 3, 4]]}, model="broken")[0] == 500  # logs "model raised"
    finally:
        logger.removeHandler(handler)
    lines = [json.loads(line) for line in output.getvalue().splitlines()]
    assert len(lines) >= 6  # each request: "model raised", "request failed"
    raised = [line for line in lines if line["message"] == "model raised"]
    assert [(line["function_request_id"], line["cold_start"]) for line in raised] == [
        ("req-1", True),
        ("req-2", False),
        ("req-3", False),
    ]
    for line in lines:
        assert (line["function_name"], line["function_memory_size"]) == ("fn", 512)
        assert line["function_arn"] == "arn:aws:lambda:us-east-1:123456789012:function:fn"
        assert line["service"] == "serving"


def test_sampling_zero_sends_an_event_without_rows(serving, clients):
    deploy(clients, [MODEL], sampling=0.0)
    serving.handler.deps.cache_clear()
    status, _ = serving.infer({"inputs": [[5.1, 3.5, 1.4, 0.2]] * 7})
    assert status == 200
    (event,) = serving.events()
    assert (event["inputs"], event["outputs"], event["effective_sample_count"]) == ([], [], 7)
    assert event["sampling_percentage"] == 0.0


def test_sampling_half_keeps_a_subset_of_rows_with_their_outputs(serving, clients, iris):
    _, x = iris
    deploy(clients, [MODEL], sampling=50.0)
    serving.handler.deps.cache_clear()
    rows = [list(r) for r in dict.fromkeys(map(tuple, x.tolist()))]  # iris's 147 distinct rows
    # keeping none or all of them at 50 % has probability 2 * 2**-147
    status, body = serving.infer({"inputs": rows})
    assert status == 200
    (event,) = serving.events()
    assert 0 < len(event["inputs"]) < len(rows)
    assert event["effective_sample_count"] == len(rows)
    predictions = dict(zip(map(tuple, rows), body["outputs"][0]["data"], strict=True))
    assert [predictions[tuple(r)] for r in event["inputs"]] == event["outputs"]
    positions = [rows.index(r) for r in event["inputs"]]
    assert positions == sorted(positions)  # kept in request order
    assert event["row_indices"] == positions  # each kept row's place in the request, for ground truth
    # and the stream stores them as row_index, so labels posted for (id, row_index) meet their row
    stored = _stream_the_events(clients, serving)
    assert stored["request_id"].unique().tolist() == [body["id"]]
    assert stored["row_index"].tolist() == positions
    assert [list(r) for r in stored[FEATURES].itertuples(index=False)] == event["inputs"]


def test_class_scores_of_the_kept_rows_are_tracked_and_stored_as_proba_columns(serving, clients, iris):
    """predict_proba on the sampled rows only, named by driftline.scores in classes_ order, and the stream
    stores them beside the prediction."""
    from driftline.scores import score_columns

    model, x = iris
    deploy(clients, [MODEL], sampling=50.0)
    serving.handler.deps.cache_clear()
    rows = [list(r) for r in dict.fromkeys(map(tuple, x.tolist()))]
    status, _ = serving.infer({"inputs": rows})
    assert status == 200
    (event,) = serving.events()
    names = score_columns(model.classes_)
    assert event["score_names"] == names == ["proba_0", "proba_1", "proba_2"]
    assert 0 < len(event["scores"]) == len(event["inputs"]) < len(rows)
    assert event["scores"] == model.predict_proba(np.asarray(event["inputs"])).tolist()
    stored = _stream_the_events(clients, serving)
    assert list(stored.columns[-3:]) == names
    assert stored[names].to_numpy().tolist() == event["scores"]


class NoScoresModel:
    n_features_in_ = 4
    classes_ = np.array([0, 1])

    def predict(self, x: Any) -> Any:
        return np.zeros(len(x), dtype=np.int64)


class FailingScoresModel(NoScoresModel):
    def predict_proba(self, x: Any) -> Any:
        raise RuntimeError("no probabilities today")


@pytest.mark.parametrize("model", [NoScoresModel(), FailingScoresModel()])
def test_a_model_without_working_scores_is_tracked_without_them(serving, clients, model):
    log_model(clients, "plain", model)
    deploy(clients, ["plain"])
    serving.handler.deps.cache_clear()
    status, _ = serving.infer({"inputs": [[1.0, 2.0, 3.0, 4.0]]}, model="plain")
    assert status == 200
    (event,) = serving.events()
    assert "scores" not in event
    assert ("score_names" in event) == isinstance(model, FailingScoresModel)
    assert event["outputs"] == [0]


def test_tracking_off_sends_nothing_and_a_redeploy_is_picked_up_after_the_ttl(serving, clients):
    deploy(clients, [MODEL], tracking=False)
    serving.handler.deps.cache_clear()
    assert serving.infer({"inputs": [[5.1, 3.5, 1.4, 0.2]]})[0] == 200
    assert serving.events() == []
    deploy(clients, [MODEL], tracking=True)
    assert serving.infer({"inputs": [[5.1, 3.5, 1.4, 0.2]]})[0] == 200
    assert serving.events() == []  # still within the TTL: no registry read per request
    clock.advance(31)
    try:
        assert serving.infer({"inputs": [[5.1, 3.5, 1.4, 0.2]]})[0] == 200
        assert len(serving.events()) == 1
    finally:
        clock.reset()


def test_a_redeployed_sampling_percentage_reaches_the_events_after_the_ttl(serving, clients):
    assert serving.infer({"inputs": [[5.1, 3.5, 1.4, 0.2]]})[0] == 200
    deploy(clients, [MODEL], sampling=0.0)
    clock.advance(31)
    try:
        assert serving.infer({"inputs": [[5.1, 3.5, 1.4, 0.2]] * 3})[0] == 200
    finally:
        clock.reset()
    before, after = serving.events()  # one endpoint, one shard: in order
    assert (before["sampling_percentage"], len(before["inputs"]), before["effective_sample_count"]) == (100.0, 1, 1)
    assert (after["sampling_percentage"], after["inputs"], after["effective_sample_count"]) == (0.0, [], 3)


def test_latency_is_the_true_wall_time(serving, clients):
    log_model(clients, "slow", SlowModel())
    deploy(clients, [MODEL, "slow"])
    serving.handler.deps.cache_clear()
    assert serving.infer({"inputs": [[1, 2, 3, 4]]}, model="slow")[0] == 200
    (event,) = serving.events()
    assert event["latency_us"] >= 1_200_000  # MLRun would report ~200_000 (microseconds modulo 1 s)


def test_health_metadata_and_ready_routes(serving, clients, iris):
    assert serving.call("GET", "/v2/health/live") == (200, {"live": True})
    assert serving.call("GET", "/v2/health/ready") == (200, {"ready": True, "models": [MODEL]})
    status, meta = serving.call("GET", f"/v2/models/{MODEL}")
    assert status == 200
    assert meta["name"] == MODEL
    assert meta["versions"] == ["1"]
    assert meta["platform"] == "sklearn"
    assert meta["inputs"] == [{"name": f, "datatype": "FP64", "shape": [-1]} for f in FEATURES]
    assert meta["outputs"] == [{"name": "label", "datatype": "INT64", "shape": [-1]}]
    assert serving.call("GET", f"/v2/models/{MODEL}/ready") == (200, {"name": MODEL, "version": "1", "ready": True})
    assert serving.call("GET", "/v2")[1]["name"] == "driftline"
    assert serving.call("GET", "/v2/models/nope/ready")[0] == 404


def test_version_routes_serve_that_version(serving, clients, iris):
    model, x = iris
    log_model(clients, MODEL, RaisingModel(), version="2")  # latest moves to 2
    serving.handler.deps.cache_clear()
    status, body = serving.infer({"inputs": [x[0].tolist()]}, version="1")
    assert (status, body["model_version"]) == (200, "1")
    assert body["outputs"][0]["data"] == model.predict(x[:1]).tolist()
    assert serving.infer({"inputs": [x[0].tolist()]})[0] == 500  # latest (2) raises
    assert [e["model_version"] for e in serving.events()] == ["1", "2"]
    assert serving.call("GET", f"/v2/models/{MODEL}/versions/1")[1]["versions"] == ["1"]
    assert serving.call("GET", f"/v2/models/{MODEL}")[1]["versions"] == ["1", "2"]
    assert serving.call("GET", f"/v2/models/{MODEL}/versions/1/ready")[0] == 200
    status, body = serving.infer({"inputs": [x[0].tolist()]}, version="9")
    assert status == 404
    assert "version 9 not found" in body["error"]


def test_unknown_route_lists_the_routes(serving):
    status, body = serving.call("GET", "/v2/models/x/explain")
    assert status == 404
    assert "POST /v2/models/{name}/infer" in body["routes"]
    assert "no route for GET /v2/models/x/explain" in body["error"]


def test_wrong_method_is_405_with_allow(serving):
    status, body = serving.call("GET", f"/v2/models/{MODEL}/infer")
    assert status == 405
    assert serving.last["headers"]["Allow"] == "POST"
    assert body["allowed"] == ["POST"]
    assert f"GET is not allowed on /v2/models/{MODEL}/infer" in body["error"]
    status, body = serving.call("DELETE", f"/v2/models/{MODEL}")
    assert (status, serving.last["headers"]["Allow"]) == (405, "GET")
    status, body = serving.call("PUT", f"/v2/models/{MODEL}/nope")
    assert status == 404


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"content-encoding": "gzip"}, "Content-Encoding 'gzip' is not supported"),
        ({"content-encoding": "deflate"}, "Content-Encoding 'deflate' is not supported"),  # names are lowercase
        ({"inference-header-content-length": "80"}, "binary tensor data extension (Inference-Header-Content-Length)"),
    ],
)
def test_unsupported_body_encodings_are_named(serving, headers, expected):
    import gzip
    import zlib

    raw = json.dumps({"inputs": [[5.1, 3.5, 1.4, 0.2]]}).encode()
    encoding = headers.get("content-encoding")
    if encoding:  # compressed bytes: API Gateway hands them over base64-encoded
        body = base64.b64encode(gzip.compress(raw) if encoding == "gzip" else zlib.compress(raw)).decode()
    else:  # the binary extension: a JSON header, then the tensors' bytes
        body = base64.b64encode(raw + bytes([0x8B, 0x00, 0xFF]) * 4).decode()
    event = http_event("POST", f"/v2/models/{MODEL}/infer", body, headers=headers)
    event["isBase64Encoded"] = True
    answer = serving.handler.handler(event, serving.context)
    assert answer["statusCode"] == 415
    assert expected in json.loads(answer["body"])["error"]
    assert "UTF-8" not in answer["body"]
    assert serving.events() == []  # nothing tracked
    identity = {"content-encoding": "identity"}
    status, _ = serving.call("POST", f"/v2/models/{MODEL}/infer", raw.decode(), headers=identity)
    assert status == 200


def test_every_listed_route_is_served(serving):
    from driftline.serving.service import ROUTES

    for route in ROUTES:
        method, path = route.split(" ")
        path = path.replace("{name}", MODEL).replace("{version}", "1")
        body = {"inputs": [[5.1, 3.5, 1.4, 0.2]]} if method == "POST" else None
        if path.endswith("/ground-truth"):
            body = {"labels": [{"request_id": "r-1", "row_index": 0, "label": 0}]}
        if path.endswith("/events"):
            body = {"inputs": [[5.1, 3.5, 1.4, 0.2]], "outputs": [0]}
        status, answer = serving.call(method, path, body)
        assert status == 200, (route, answer)


def test_function_not_deployed_is_404(lambda_env, clients, lambda_context, monkeypatch):
    monkeypatch.setenv("DRIFTLINE_PROJECT", "empty")
    serving = Serving(handler=lambda_env("serving"), clients=clients, context=lambda_context)
    status, body = serving.infer({"inputs": [[1, 2, 3, 4]]})
    assert status == 404
    assert "serving function 'serving' is not deployed in project 'empty'" in body["error"]
    assert serving.call("GET", "/v2/health/ready")[0] == 404


def test_ground_truth_route_stores_labels_keyed_by_the_answered_request_id(serving, clients):
    from datetime import timedelta

    from driftline import clock
    from driftline.ground_truth import load
    from driftline.schemas import endpoint_id_for

    started = clock.now() - timedelta(seconds=1)
    status, answer = serving.infer({"inputs": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]})
    assert status == 200
    rid = answer["id"]
    labels = {
        "labels": [{"request_id": rid, "row_index": 0, "label": 0}, {"request_id": rid, "row_index": 1, "label": 2}]
    }
    status, stored = serving.call("POST", f"/v2/models/{MODEL}/ground-truth", labels)
    assert (status, stored["stored"]) == (200, 2)
    got = load(clients, endpoint_id_for(PROJECT, FUNCTION, MODEL), started)
    assert sorted(zip(got["row_index"], got["label"], strict=True)) == [(0, 0), (1, 2)]
    assert set(got["request_id"]) == {rid}

    status, body = serving.call("POST", "/v2/models/nope/ground-truth", labels)
    assert status == 404
    status, body = serving.call("POST", f"/v2/models/{MODEL}/ground-truth", {"labels": []})
    assert status == 400
    assert "label" in body["error"]


def _stream_the_events(clients, serving) -> Any:
    """Run what Kinesis holds through the stream's processing and read back the rows it stored."""
    import pandas as pd
    import pyarrow.parquet as pq

    from driftline.aws import events_store
    from driftline.local.kinesis_source import build_kinesis_event
    from driftline.stream.decode.envelope import records_from_event
    from driftline.stream.process import process_records

    name = clients.settings.stream_name
    for shard in clients.kinesis.list_shards(StreamName=name)["Shards"]:
        iterator = clients.kinesis.get_shard_iterator(
            StreamName=name, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        if records := clients.kinesis.get_records(ShardIterator=iterator)["Records"]:
            event = build_kinesis_event(records, shard["ShardId"], f"arn:aws:kinesis:::stream/{name}", "us-east-1")
            assert process_records(records_from_event(event), clients).failed_sequence is None
    tables = [
        pq.read_table(io.BytesIO(clients.s3.get_object(Bucket=clients.settings.bucket, Key=key)["Body"].read()))
        for key in events_store.list_keys(clients)
    ]
    return pd.concat([t.to_pandas() for t in tables]).sort_values("row_index", ignore_index=True)
