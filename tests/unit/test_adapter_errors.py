"""Every adapter turns a failed AWS call into StorageError saying what it was doing: a call AWS refused
(ClientError) and one that got no answer (BotoCoreError) alike. The clients here fail every call."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from driftline.aws import events_store, recent_requests
from driftline.aws.alerts import Alerts
from driftline.aws.artifacts import Artifacts
from driftline.aws.checkpoints import Checkpoints
from driftline.aws.clients import Clients
from driftline.aws.dead_letters import DeadLetters
from driftline.aws.endpoints import Endpoints
from driftline.aws.ground_truth import GroundTruthStore
from driftline.aws.invoke import LambdaInvoker
from driftline.aws.registry import Registry
from driftline.aws.results import Results
from driftline.aws.schedules import Schedules
from driftline.aws.timestream import Timestream
from driftline.config import Settings
from driftline.errors import StorageError
from driftline.schemas import AppOutputs, AppResult, ResultKind, ResultStatus

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = datetime(2026, 1, 1, 0, 10, tzinfo=UTC)


class _Failing:
    """A boto3 client of which every operation (and every paginator's pages) raises ``error``."""

    def __init__(self, error: Exception) -> None:
        self._error = error

    def get_paginator(self, _name: str) -> Any:
        failing = self

        class Paginator:
            def paginate(self, **_kwargs: Any) -> Any:
                raise failing._error

        return Paginator()

    def __getattr__(self, name: str) -> Any:
        def call(**_kwargs: Any) -> Any:
            raise self._error

        return call


class FailingClients(Clients):
    def __init__(self, error: Exception) -> None:
        super().__init__(
            Settings(alerts_topic_arn="arn:aws:sns:us-east-1:1:t", queue_urls={"stream-failures": "https://q/s"})
        )
        self._error = error

    def client(self, service: str) -> Any:
        return _Failing(self._error)


OUTPUTS = AppOutputs(
    project="p",
    endpoint_id="e1",
    application_name="app",
    start_infer_time=T0.isoformat(),
    end_infer_time=T1.isoformat(),
    results=(AppResult("drift", 0.9, ResultKind.data_drift, ResultStatus.detected),),
)

# (what is called, words the message must hold)
CALLS = {
    "registry.get_project": (lambda c: Registry(c).get_project("p"), "project#p config from driftline-registry"),
    "registry.list_projects": (lambda c: Registry(c).list_projects(), "listing the projects in driftline-registry"),
    "endpoints.get": (lambda c: Endpoints(c).get("e1"), "reading endpoint e1 from driftline-endpoints"),
    "endpoints.list": (lambda c: Endpoints(c).list("p"), "endpoints of project 'p' in driftline-endpoints"),
    "endpoints.minute_buckets": (lambda c: Endpoints(c).minute_buckets("e1", T0, T1), "minute buckets of endpoint"),
    "checkpoints.get": (lambda c: Checkpoints(c).get("e1", "app"), "checkpoint of e1/app from driftline-checkpoints"),
    "checkpoints.advance": (lambda c: Checkpoints(c).advance("e1", "app", None, T1), "moving the checkpoint of e1/app"),
    "results.store": (lambda c: Results(c).store(OUTPUTS), "storing e1 r#app#drift#"),
    "results.query_results": (lambda c: Results(c).query_results("e1"), "querying e1 r#* in driftline-results"),
    "artifacts.get": (lambda c: Artifacts(c).get("artifacts/x"), "reading s3://driftline-data/artifacts/x"),
    "artifacts.put_new": (
        lambda c: Artifacts(c).put_new("artifacts/x", b""),
        "writing s3://driftline-data/artifacts/x",
    ),
    "ground_truth.keys": (lambda c: GroundTruthStore(c).keys("e1", ["2026-01-01"]), "listing s3://driftline-data/"),
    "events_store.list_keys": (lambda c: events_store.list_keys(c, "e1"), "listing s3://driftline-data/events/"),
    "recent_requests.load": (lambda c: recent_requests.load(c, "shard-1"), "reading s3://driftline-data/state/"),
    "alerts.raise_alerts": (lambda c: Alerts(c).raise_alerts(OUTPUTS, OUTPUTS.results), "on the EventBridge bus"),
    "invoke.invoke_async": (lambda c: LambdaInvoker(c).invoke_async("fn", {}), "invoking fn asynchronously"),
    "schedules.get": (lambda c: Schedules(c).get("p"), "reading schedule driftline/driftline-controller-p"),
    "schedules.put": (lambda c: Schedules(c).put("p", 10, True), "writing schedule driftline/driftline-controller-p"),
    "schedules.list": (lambda c: Schedules(c).list(), "listing the schedules driftline/driftline-controller*"),
    "dead_letters.send": (lambda c: DeadLetters(c).send({"event_id": "x"}), "sending a poison record to https://q/s"),
    "timestream.write_outputs": (lambda c: Timestream(c).write_outputs(OUTPUTS), "Timestream driftline.app_results"),
}
ERRORS = {
    "refused": ClientError({"Error": {"Code": "InternalServerError", "Message": "try later"}}, "Op"),
    "unanswered": EndpointConnectionError(endpoint_url="https://aws.example"),
}


@pytest.mark.parametrize("error", sorted(ERRORS))
@pytest.mark.parametrize("call", sorted(CALLS))
def test_a_failed_aws_call_is_a_storage_error_saying_what_was_being_done(call, error):
    run, words = CALLS[call]
    with pytest.raises(StorageError) as caught:
        run(FailingClients(ERRORS[error]))
    assert words in str(caught.value)
    assert caught.value.__cause__ is ERRORS[error]  # the AWS error stays attached for the logs


def test_an_expected_answer_is_not_a_failure():
    """A condition that failed is the adapter's answer (another run moved the checkpoint), not a StorageError."""
    lost = ClientError({"Error": {"Code": "ConditionalCheckFailedException", "Message": "no"}}, "UpdateItem")
    assert Checkpoints(FailingClients(lost)).take_over_pending("e1", "app", _pending(), T1) is False


def _pending() -> Any:
    from driftline.aws.checkpoints import Pending

    return Pending(start=T0, end=T1, since=T0)
