"""Alert configurations, end to end through the writer with IAM enforced (the writer and the SDK act as their own
principals, with driftline.deploy's statements): the default (one alert when a result enters detected), N of the
last M windows, cool-down, the reset policies, redelivered writer invocations, and every target (the stack's
bus and topic, the account's default bus, a webhook on a local HTTP server with its secret header from SSM)."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from driftline import clock
from driftline.aws.alert_state import AlertStates
from driftline.aws.provision import ALERTS_QUEUE
from driftline.errors import InvalidRequestError, NotFoundError
from driftline.schemas import AppOutputs, to_iso
from driftline.sdk.project import get_or_create_project
from driftline.writer.run import write_outputs

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
STEP = timedelta(minutes=10)
NOW = T0 + timedelta(days=1)


def outputs(i: int, status: int, *, result: str = "general_drift", app: str = "drift", endpoint: str = "e1"):
    start = T0 + i * STEP
    return AppOutputs.from_dict(
        {
            "project": "p",
            "endpoint_id": endpoint,
            "application_name": app,
            "start_infer_time": start.isoformat(),
            "end_infer_time": (start + STEP).isoformat(),
            "results": [{"name": result, "value": 0.5 + status / 10, "kind": 0, "status": status, "extra_data": {}}],
            "metrics": [],
        }
    )


@pytest.fixture
def stack(iam):
    """The writer's and the SDK's clients under IAM, and inboxes for the stack's bus, the default bus and the
    topic."""
    admin = iam.admin
    sqs = admin.client("sqs")

    def inbox(bus: str, name: str) -> str:
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        admin.events.put_rule(Name=f"to-{name}", EventBusName=bus, EventPattern=json.dumps({"source": ["driftline"]}))
        admin.events.put_targets(Rule=f"to-{name}", EventBusName=bus, Targets=[{"Id": "q", "Arn": arn}])
        return url

    urls = {
        "bus": inbox(iam.settings.event_bus_name, "stack-bus-inbox"),
        "default": inbox("default", "default-bus-inbox"),
        "sns": sqs.get_queue_url(QueueName=ALERTS_QUEUE)["QueueUrl"],
    }

    def drain(which: str) -> list[dict]:
        out = []
        while messages := sqs.receive_message(QueueUrl=urls[which], MaxNumberOfMessages=10).get("Messages", []):
            for m in messages:
                out.append(json.loads(m["Body"]))
                sqs.delete_message(QueueUrl=urls[which], ReceiptHandle=m["ReceiptHandle"])
        return out

    class Stack:
        writer = iam.clients("writer")
        project = get_or_create_project("p", settings=iam.clients("sdk").settings)

        @staticmethod
        def write(*deliveries: AppOutputs, now: datetime = NOW) -> list[list[str]]:
            return [write_outputs(Stack.writer, d, now).alerts for d in deliveries]

        @staticmethod
        def alerts(which: str = "bus") -> list[dict]:
            return drain(which)

    yield Stack
    assert iam.ledger.report()["denied"] == []


def fired(reports: list[list[str]]) -> list[int]:
    """The windows (positions) at which an alert went out."""
    return [i for i, alerts in enumerate(reports) if alerts]


def test_default_is_one_alert_when_a_result_enters_detected(stack):
    statuses = [2, 2, 2, 0, 2, 1, 2]  # detected x3 (one episode), clear, detected, potential, detected
    reports = stack.write(*(outputs(i, s) for i, s in enumerate(statuses)))
    assert fired(reports) == [0, 4, 6]
    events = stack.alerts("bus")
    assert [e["detail"]["start_infer_time"] for e in events] == [to_iso(T0 + i * STEP) for i in (0, 4, 6)]
    assert {e["detail-type"] for e in events} == {"data-drift-detected"}
    assert len(stack.alerts("sns")) == 3


def test_n_of_the_last_m_windows(stack):
    stack.project.set_alert("two-of-three", results=["general_drift"], count=2, windows=3)
    statuses = [2, 0, 2, 2, 0, 0, 0, 2]
    # 0: 1 of 1 seen -> no; 2: 2 of 3 -> fires; 3: held at 2 already -> no (auto); 4: [0,2,2] still 2 -> no;
    # 5: [0,0,2] -> 1; 6: 0; 7: [2,0,0] -> 1 -> no
    assert fired(stack.write(*(outputs(i, s) for i, s in enumerate(statuses)))) == [2]
    (event,) = stack.alerts("bus")
    assert event["detail"]["alert_name"] == "two-of-three"
    assert event["detail"]["criteria"] == {"count": 2, "windows": 3}


def test_cooldown_and_the_always_policy(stack):
    stack.project.set_alert("every", reset_policy="always", cooldown_minutes=25)
    # every detected window qualifies; the cool-down (window time) lets one through per 25 minutes
    assert fired(stack.write(*(outputs(i, 2) for i in range(7)))) == [0, 3, 6]


def test_manual_policy_fires_once_until_reset(stack, monkeypatch):
    monkeypatch.setattr(clock, "now", lambda: NOW)  # the reset's time, on the writer's clock
    stack.project.set_alert("once", reset_policy="manual")
    before = NOW - timedelta(minutes=1)
    assert fired(stack.write(outputs(0, 2), outputs(1, 0), outputs(2, 2), now=before)) == [0]
    stack.project.reset_alert("once")
    assert fired(stack.write(outputs(3, 2), outputs(4, 0), outputs(5, 2), now=NOW + timedelta(minutes=1))) == [0]


def test_a_redelivered_invocation_never_doubles_an_alert(stack):
    first = outputs(1, 2)
    assert stack.write(first, first) == [["data-drift-detected general_drift (default)"], []]
    # a late, earlier window arrives in between (writers run concurrently, so windows are decided out of order):
    # it joins window 1's episode and sends nothing; the stored decision stands, the redelivery sends nothing
    assert stack.write(outputs(0, 2)) == [[]]
    assert stack.write(first) == [[]]
    assert len(stack.alerts("bus")) == 1  # one episode, one alert
    states = [s for s in AlertStates(stack.writer).list_states("e1") if "fire" in s]
    assert sorted((s["start_infer_time"], s["fire"]) for s in states) == [
        (to_iso(T0), False),
        (to_iso(T0 + STEP), True),
    ]
    [fired] = [s for s in states if s["fire"]]
    assert "pending" not in fired
    assert sorted(fired["sent"]) == ["eventbridge:stack", "sns"]


def test_a_target_that_failed_is_sent_by_the_retry_and_only_it(stack, monkeypatch):
    from driftline.aws.alerts import Alerts
    from driftline.errors import StorageError

    original = Alerts._publish

    def refuse(self, alert):
        raise StorageError("publishing to the topic failed: InternalError")

    monkeypatch.setattr(Alerts, "_publish", refuse)
    with pytest.raises(StorageError):
        stack.write(outputs(0, 2))
    monkeypatch.setattr(Alerts, "_publish", original)
    assert stack.write(outputs(0, 2)) == [["data-drift-detected general_drift (default)"]]
    assert len(stack.alerts("bus")) == 1  # sent by the first delivery, not again
    assert len(stack.alerts("sns")) == 1  # sent by the retry


class Hook:
    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.received: list[tuple[dict, dict]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                hook.received.append((dict(self.headers), body))
                self.send_response(hook.status)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook():
    h = Hook()
    yield h
    h.close()


def test_webhook_gets_the_alert_with_its_secret_header_from_ssm(stack, iam, hook):
    name = "/driftline/driftline/webhooks/ops"
    iam.admin.ssm.put_parameter(Name=name, Value="s3cr3t", Type="SecureString")
    stack.project.set_alert(
        "hook", targets=[{"kind": "webhook", "url": hook.url, "secret_parameter": name}, "eventbridge:default"]
    )
    stack.write(outputs(0, 2), outputs(0, 2))
    ((headers, body),) = hook.received
    assert headers["X-Driftline-Secret"] == "s3cr3t"
    assert (body["detail-type"], body["detail"]["result_name"], body["detail"]["alert_name"]) == (
        "data-drift-detected",
        "general_drift",
        "hook",
    )
    assert [e["detail"]["alert_name"] for e in stack.alerts("default")] == ["hook"]
    assert stack.alerts("bus") == []
    assert stack.alerts("sns") == []
    stored = stack.project.get_alert("hook")
    assert "s3cr3t" not in json.dumps(stored.to_dict())  # the secret never reaches DynamoDB


def test_a_failing_webhook_is_counted_logged_and_not_retried(stack, caplog):
    down = Hook(status=503)
    stack.project.set_alert("hook", targets=[down.url, "sns"])
    try:
        writer_report = write_outputs(stack.writer, outputs(0, 2), NOW)
        again = write_outputs(stack.writer, outputs(0, 2), NOW)  # a redelivery does not try it again
    finally:
        down.close()
    assert writer_report.webhook_failures == 1
    assert again.webhook_failures == 0
    assert len(down.received) == 1
    assert len(stack.alerts("sns")) == 1
    (state,) = AlertStates(stack.writer).list_states("e1")
    assert state["sent"] == ["sns"]
    assert state["failed"] == [f"webhook:{down.url}: webhook {down.url} answered 503 Service Unavailable"]
    assert "alert webhook failed; not retried" in caplog.text


def test_a_configuration_selects_results_and_default_covers_the_rest(stack):
    stack.project.set_alert("quiet-latency", results=["latency*"], targets=[])  # silences latency results
    stack.project.set_alert("default", statuses=["potential_detection", "detected"])
    reports = stack.write(outputs(0, 2, result="latency_p95"), outputs(0, 1, result="x_drift"))
    assert reports == [[], ["data-drift-suspected x_drift (default)"]]
    assert [c.name for c in stack.project.list_alerts()] == ["default", "quiet-latency"]
    stack.project.delete_alert("quiet-latency")
    with pytest.raises(NotFoundError, match="alerts: \\['default'\\]"):
        stack.project.delete_alert("quiet-latency")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"count": 3, "windows": 2}, "can never hold"),
        ({"statuses": ["no_detection"]}, "never notifies"),
        ({"reset_policy": "sometimes"}, "expected one of \\['auto', 'manual', 'always'\\]"),
        ({"targets": ["http://example.com/hook"]}, "expected an https:// URL"),
        ({"targets": ["eventbridge:other-bus"]}, "the writer may put events on these two only"),
        ({"targets": [{"kind": "webhook", "url": "https://x.test", "secret": "s"}]}, "unknown field"),
        ({"applications": ["nope"]}, "no monitoring application \\['nope'\\]"),
        ({"cooldown_minutes": -1}, "expected an integer 0.."),
    ],
)
def test_bad_configurations_are_refused_with_what_was_expected(stack, kwargs, message):
    with pytest.raises((InvalidRequestError, NotFoundError), match=message):
        stack.project.set_alert("bad", **kwargs)
