"""An app that fails inside after Lambda's retries: its on-failure record in the async-failures queue becomes
``mm-app-failed`` and the app's last error (``apps list``, ``monitoring status``), once per failed invocation,
with IAM enforced (the controller drains the queue with its own role)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from driftline import clock
from driftline.aws.invoke import RecordingInvoker
from driftline.cli import main
from driftline.controller.failures import parse_failure
from driftline.controller.run import run_controller
from driftline.local.async_invoke import failure_record
from driftline.local.functions import Outcome
from driftline.sdk.project import get_or_create_project

NOW = datetime(2026, 11, 26, 10, 30, tzinfo=UTC)
WINDOW = {
    "project": "p",
    "endpoint_id": "e1",
    "application_name": "my-app",
    "start_infer_time": "2026-11-26T10:00:00+00:00",
    "end_infer_time": "2026-11-26T10:10:00+00:00",
    "base_period_minutes": 10,
}
ERROR = "ApplicationError: application 'my-app': item 1 of the returned list is str 'rows'; expected ..."


def record(settings, function: str, request_id: str, payload=None) -> dict:
    outcome = Outcome(
        ok=False,
        request_id=request_id,
        error_type="ApplicationError",
        error_message=ERROR.split(": ", 1)[1],
    )
    arn = f"arn:aws:lambda:{settings.region}:123456789012:function:{function}"
    return failure_record(arn, payload or WINDOW, outcome, 3, NOW)


@pytest.fixture
def stack(iam, monkeypatch, tmp_path):
    monkeypatch.setattr(clock, "now", lambda: NOW)
    sdk = iam.clients("sdk")
    project = get_or_create_project("p", settings=sdk.settings)
    app = tmp_path / "my_app.py"
    app.write_text(
        "from driftline.applications import ModelMonitoringApplicationBase\n"
        "class MyApp(ModelMonitoringApplicationBase):\n"
        "    def do_tracking(self, monitoring_context):\n"
        "        return None\n"
    )
    project.set_model_monitoring_function(func=str(app), application_class="MyApp", name="my-app")
    admin = iam.admin
    sqs = admin.client("sqs")
    url = iam.settings.queue_url("async-failures")
    inbox = sqs.create_queue(QueueName="bus-inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bus = iam.settings.event_bus_name
    admin.events.put_rule(Name="all", EventBusName=bus, EventPattern=json.dumps({"source": ["driftline"]}))
    admin.events.put_targets(Rule="all", EventBusName=bus, Targets=[{"Id": "q", "Arn": arn}])

    class Stack:
        settings = iam.settings

        @staticmethod
        def fail(function: str, request_id: str, payload=None) -> None:
            # sent with the app's role, as Lambda's on-failure destination does
            iam.clients("app").sqs.send_message(
                QueueUrl=url, MessageBody=json.dumps(record(iam.settings, function, request_id, payload))
            )

        @staticmethod
        def run() -> dict:
            controller = iam.clients("controller")
            return run_controller(controller, RecordingInvoker(), "p", NOW).to_dict()["app_failures"]

        @staticmethod
        def events() -> list[dict]:
            out = []
            while got := sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10).get("Messages", []):
                for m in got:
                    out.append(json.loads(m["Body"]))
                    sqs.delete_message(QueueUrl=inbox, ReceiptHandle=m["ReceiptHandle"])
            return out

        @staticmethod
        def depth() -> int:
            attributes = sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
            )["Attributes"]
            return sum(int(v) for v in attributes.values())

    project.enable_model_monitoring(base_period=10, deploy_histogram_data_drift_app=False)
    yield Stack, project
    assert iam.ledger.report()["denied"] == []


def test_a_failure_after_retries_becomes_mm_app_failed_and_the_apps_last_error(stack, iam, monkeypatch, capsys):
    s, project = stack
    s.fail(s.settings.app_function, "req-1")
    s.fail(s.settings.app_function, "req-1")  # SQS delivers at least once: the same record twice
    s.fail(s.settings.writer_function, "req-w")  # the writer's own failure: left for operators
    report = s.run()
    assert (report["app_failures"], report["alerts"], report["left"]) == (1, 1, 1)
    (event,) = s.events()
    assert event["detail-type"] == "mm-app-failed"
    assert event["detail"]["application_name"] == "my-app"
    assert event["detail"]["error"] == ERROR
    assert event["detail"]["start_infer_time"] == WINDOW["start_infer_time"]
    (app,) = project.list_model_monitoring_functions()
    assert (app.record.failures, app.record.last_error) == (1, ERROR)
    assert app.record.last_error_window["endpoint_id"] == "e1"
    status = project.monitoring_status()
    assert status["applications"][0]["last_error"] == ERROR
    assert status["applications"][0]["last_error_at"].startswith("2026-11-26T10:30")
    assert s.depth() == 1  # the writer's record stays

    # a second failure of another window counts again; a run with nothing new does nothing
    s.fail(f"{s.settings.app_function}-my-app", "req-2", WINDOW | {"start_infer_time": "2026-11-26T10:10:00+00:00"})
    assert s.run()["app_failures"] == 1
    assert len(s.events()) == 1
    assert project.list_model_monitoring_functions()[0].record.failures == 2

    for key, value in iam.clients("sdk").settings.to_env().items():  # the CLI as the SDK's principal
        monkeypatch.setenv(key, value)
    iam.become("sdk", monkeypatch)
    assert main(["apps", "list", "p"]) == 0
    out = capsys.readouterr().out
    assert "LAST_ERROR" in out
    assert "ApplicationError: application 'my-app': item 1 of the returned list" in out  # cut to one line
    assert main(["apps", "list", "p", "--json"]) == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert (listed["failures"], listed["last_error"]) == (2, ERROR)


def test_an_alert_that_could_not_be_sent_is_sent_by_the_next_run(stack, monkeypatch):
    from driftline.aws.alerts import Alerts
    from driftline.errors import StorageError

    s, project = stack
    s.fail(s.settings.app_function, "req-1")
    original = Alerts.raise_operational

    def refuse(self, alert_type, detail):
        raise StorageError("EventBridge refused")

    monkeypatch.setattr(Alerts, "raise_operational", refuse)
    first = s.run()
    assert (first["app_failures"], first["alerts"]) == (1, 0)
    monkeypatch.setattr(Alerts, "raise_operational", original)
    # the message was left in the queue; once visible again, the next run sends the alert, counting nothing twice
    _make_visible()
    second = s.run()
    assert (second["app_failures"], second["alerts"]) == (0, 1)
    assert [e["detail-type"] for e in s.events()] == ["mm-app-failed"]
    assert project.list_model_monitoring_functions()[0].record.failures == 1
    assert s.depth() == 0


def _make_visible() -> None:
    """moto keeps the message hidden for the run's visibility timeout: end it, as time would."""
    from moto.sqs.models import sqs_backends

    for backend in sqs_backends.values():
        for region in backend.values():
            for queue in region.queues.values():
                for message in queue._messages:
                    message.change_visibility(0)


def test_records_of_other_functions_or_shapes_are_not_app_failures(stack):
    s, _ = stack
    prefix = s.settings.app_function
    assert parse_failure("not json", prefix) is None
    assert parse_failure(json.dumps(record(s.settings, s.settings.controller_function, "r")), prefix) is None
    assert parse_failure(json.dumps(record(s.settings, f"{prefix}x", "r")), prefix) is None  # another prefix
    assert parse_failure(json.dumps(record(s.settings, prefix, "r", {"project": 1})), prefix) is None
    parsed = parse_failure(json.dumps(record(s.settings, f"{prefix}-my-app", "r")), prefix)
    assert parsed is not None
    assert (parsed.application_name, parsed.request_id, parsed.attempts) == ("my-app", "r", 3)
