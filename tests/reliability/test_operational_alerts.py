"""Operational alerts from the controller, read back from the alerts bus (an EventBridge rule into an SQS queue):
``mm-lag-detected`` when monitoring falls behind traffic by more than the threshold, ``mm-app-failed`` when a
window's application could not be invoked (the window is handed back and retried)."""

from __future__ import annotations

import json

import pytest

from driftline.aws.clients import Clients
from driftline.aws.invoke import RecordingInvoker
from driftline.observability import get_metrics
from tests.reliability.test_controller_writer_faults import NOW, seeded  # noqa: F401 - the fixture


@pytest.fixture(autouse=True)
def _fresh_metrics():
    get_metrics("driftline-controller").clear_metrics()
    yield
    get_metrics("driftline-controller").clear_metrics()


@pytest.fixture
def bus(clients):
    sqs = clients.client("sqs")
    url = sqs.create_queue(QueueName="ops-inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    name = clients.settings.event_bus_name
    pattern = json.dumps({"source": ["driftline"], "detail-type": [{"prefix": "mm-"}]})
    clients.events.put_rule(Name="ops", EventBusName=name, EventPattern=pattern)
    clients.events.put_targets(Rule="ops", EventBusName=name, Targets=[{"Id": "q", "Arn": arn}])

    def drain() -> list[dict]:
        out = []
        while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            for m in messages:
                out.append(json.loads(m["Body"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return out

    return drain


class Failing(RecordingInvoker):
    def invoke_async(self, function_name, payload):
        raise RuntimeError("Lambda 503 after retries")


def _with(seeded, **changes) -> Clients:  # noqa: F811 - the fixture's value
    return Clients(seeded.settings.replace(**changes))


def test_monitoring_behind_traffic_raises_mm_lag_detected_per_pair(seeded, bus, tick):  # noqa: F811
    """Every invoke fails: the checkpoints stay at 10:00 while traffic reached 12:00 (2 h behind, threshold
    10 min + 30 min). Each pair reports its lag; the app failures are alerted too."""
    report = tick(_with(seeded, lag_alert_seconds=1800), Failing(), "p", NOW)
    alerts = bus()
    lag = [a for a in alerts if a["detail-type"] == "mm-lag-detected"]
    failed = [a for a in alerts if a["detail-type"] == "mm-app-failed"]
    assert len(lag) == 6  # 3 endpoints x 2 apps
    assert {(a["detail"]["endpoint_id"], a["detail"]["application_name"]) for a in lag} == {
        (p.endpoint_id, p.application_name) for p in report.pairs
    }
    assert all(a["detail"]["lag_seconds"] == 7200.0 for a in lag)
    assert all(a["detail"]["threshold_seconds"] == 600 + 1800 for a in lag)
    assert all(a["source"] == "driftline" for a in alerts)
    assert report.to_dict()["lag_alerts"] == 6
    assert len(failed) == 6  # each pair stops at its first failed window, handed back
    assert {a["detail"]["start_infer_time"] for a in failed} == {"2026-11-26T10:00:00.000000+00:00"}
    assert all(a["detail"]["handed_back"] is True for a in failed)


def test_a_run_that_catches_up_raises_no_lag_alert(seeded, bus, tick):  # noqa: F811
    invoker = RecordingInvoker()
    report = tick(_with(seeded, lag_alert_seconds=1800), invoker, "p", NOW)
    assert len(invoker.calls) == 72
    assert bus() == []
    assert {p.lag_seconds for p in report.pairs} == {0.0}  # checkpoint at 12:00, the last request


def test_lag_below_the_threshold_or_alert_off_is_quiet(seeded, bus, tick):  # noqa: F811
    tick(_with(seeded, lag_alert_seconds=3 * 3600), Failing(), "p", NOW)
    assert [a["detail-type"] for a in bus()] == ["mm-app-failed"] * 6
    tick(_with(seeded, lag_alert_seconds=0), Failing(), "p", NOW)
    assert [a["detail-type"] for a in bus()] == ["mm-app-failed"] * 6


def test_an_alert_that_cannot_be_sent_does_not_stop_the_run(seeded, faults, bus, tick):  # noqa: F811
    clients = _with(seeded, lag_alert_seconds=60)
    faults.inject(clients.events, "PutEvents", "5xx", times=None)
    invoker = RecordingInvoker()
    report = tick(clients, invoker, "p", NOW)
    assert report.errors == 0
    assert len(invoker.calls) == 72
