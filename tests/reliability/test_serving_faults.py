"""The serving Lambda under Kinesis faults: throttles and 5xx are retried (botocore, then the adapter's own
backoff) and every accepted request is tracked once; a stream that stays down never fails the prediction, and
the loss is counted (``TrackingEventsLost``) and logged, never silent."""

from __future__ import annotations

from collections import Counter

import pytest
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier

from driftline.aws import kinesis
from tests.functional.test_serving_handler import MODEL, PROJECT, Serving, deploy, log_model
from tests.reliability.conftest import diff_counts


@pytest.fixture(scope="module")
def iris():
    x, y = load_iris(return_X_y=True)
    return RandomForestClassifier(n_estimators=3, random_state=0).fit(x, y), x


@pytest.fixture
def serving(lambda_env, clients, iam, lambda_context, monkeypatch, iris) -> Serving:
    iam.become("serving", monkeypatch)  # the handler's own clients act as the serving role
    monkeypatch.setenv("DRIFTLINE_PROJECT", PROJECT)
    monkeypatch.setenv("DRIFTLINE_SERVING_FUNCTION", "serving")
    monkeypatch.setattr(kinesis.time, "sleep", lambda _s: None)  # the adapter's own backoff, made instant
    log_model(clients, MODEL, iris[0])
    deploy(clients, [MODEL])
    return Serving(handler=lambda_env("serving"), clients=clients, context=lambda_context)


def _tracked(serving: Serving) -> Counter:
    return Counter(e["request_id"] for e in serving.events())


@pytest.mark.parametrize(("kind", "times"), [("throttle", 3), ("5xx", 7)])
def test_kinesis_faults_are_retried_and_every_request_is_tracked_once(serving, faults, ledger, iris, kind, times):
    """``times=7`` outlasts botocore's five attempts, so the adapter's own retry is what saves the event."""
    x = iris[1]
    handler_clients = serving.handler.deps().clients
    faults.inject(handler_clients.kinesis, "PutRecord", kind, times=times, after=1)
    accepted = Counter()
    for i in range(4):
        status, body = serving.infer({"inputs": x[i : i + 2].tolist()})
        assert status == 200
        accepted[body["id"]] += 1
    lost, duplicated = diff_counts(accepted, _tracked(serving))
    ledger.record(injected=faults.injected, lost=lost, duplicated=duplicated)
    assert (lost, duplicated) == (0, 0)


def test_a_stream_down_answers_the_prediction_and_counts_the_loss(serving, faults, iris, caplog, monkeypatch):
    from driftline.serving import tracking

    counted = []
    original = tracking.metrics.add_metric

    def add_metric(**kw):
        counted.append((kw["name"], kw["value"]))
        return original(**kw)

    monkeypatch.setattr(tracking.metrics, "add_metric", add_metric)
    handler_clients = serving.handler.deps().clients
    faults.inject(handler_clients.kinesis, "PutRecord", "5xx", times=None)
    status, body = serving.infer({"inputs": iris[1][:3].tolist()})
    assert status == 200
    assert len(body["outputs"][0]["data"]) == 3
    assert _tracked(serving) == Counter()
    lost = [r for r in caplog.records if r.getMessage() == "tracking event lost"]
    assert [r.request_id for r in lost] == [body["id"]]
    assert ("TrackingEventsLost", 1) in counted
