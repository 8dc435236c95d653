"""The controller against moto: endpoints with live figures and minute buckets written directly, apps in the
registry, the app invoke replaced by a RecordingInvoker."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime

import pytest

from driftline import clock
from driftline.aws.checkpoints import Checkpoints
from driftline.aws.clients import Clients
from driftline.aws.dynamo import to_item
from driftline.aws.endpoints import Endpoints, minute_key
from driftline.aws.invoke import RecordingInvoker
from driftline.aws.registry import Registry
from driftline.controller.run import SERVICE, run_controller
from driftline.errors import InvalidRequestError, StorageError
from driftline.observability import get_metrics
from driftline.records import AppRecord, EndpointRecord, ProjectConfig
from driftline.schemas import WindowRequest, endpoint_id_for, to_iso
from tests.conftest import load_event

FIRST = datetime(2026, 11, 26, 10, 0, 7, tzinfo=UTC)
LAST = datetime(2026, 11, 26, 10, 47, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def fresh_metrics():
    """Powertools keeps one metric set per process; a run called without the handler leaves its metrics there."""
    get_metrics(SERVICE).clear_metrics()
    yield
    get_metrics(SERVICE).clear_metrics()


def at(hh_mm_ss: str) -> datetime:
    return datetime.fromisoformat(f"2026-11-26T{hh_mm_ss}+00:00")


def add_project(clients, name="p", enabled=True, base_period=10):
    Registry(clients).put_project(ProjectConfig(name=name, base_period_minutes=base_period, monitoring_enabled=enabled))


def add_app(clients, project="p", name="drift", deployed=True, function_name=""):
    Registry(clients).put_app(
        AppRecord(
            project,
            name,
            "HistogramDataDriftApplication",
            {"kind": "builtin", "name": "histogram_data_drift"},
            function_name=function_name,
            deployed=deployed,
        )
    )


def add_endpoint(clients, endpoint_id="e1", project="p", last=LAST, minutes=(), monitoring=True):
    """An endpoint as the stream leaves it: identity, live figures and per-minute buckets."""
    eps = Endpoints(clients)
    eps.put_identity(
        EndpointRecord(
            endpoint_id, project, "m", "serving", f"store://models/{project}/m:latest", monitoring=monitoring
        )
    )
    clients.dynamodb.update_item(
        TableName=eps.table,
        Key={"endpoint_id": {"S": endpoint_id}, "sk": {"S": "meta"}},
        UpdateExpression="SET first_request = :f, last_request = :l, prediction_count = :n",
        ExpressionAttributeValues={":f": {"S": to_iso(FIRST)}, ":l": {"S": to_iso(last)}, ":n": {"N": "9"}},
    )
    for minute in minutes:
        put_bucket(clients, endpoint_id, minute)


def put_bucket(clients, endpoint_id, minute: datetime, predictions=3):
    item = {
        "endpoint_id": endpoint_id,
        "sk": minute_key(minute),
        "requests": 1,
        "predictions": predictions,
        "errors": 0,
        "latency_sum_us": 1000,
    }
    clients.dynamodb.put_item(TableName=clients.settings.table("endpoints"), Item=to_item(item))


def windows_sent(invoker: RecordingInvoker) -> list[tuple[str, str, str]]:
    out = []
    for function, payload in invoker.calls:
        request = WindowRequest.from_dict(payload)  # every payload is a valid WindowRequest
        out.append((function, request.application_name, request.start_infer_time))
    return out


@pytest.fixture
def seeded(clients):
    """Project p (10-minute base period), one deployed app, endpoint e1 with traffic from 10:00:07 to 10:47.
    Buckets at 10:00, 10:15, 10:35: windows [10:00:07, 10:10:07), [10:10:07, ...) and [10:30:07, ...) have
    predictions, [10:20:07, 10:30:07) has none."""
    add_project(clients)
    add_app(clients)
    add_endpoint(clients, minutes=(at("10:00:00"), at("10:15:00"), at("10:35:00")))
    return clients


def test_each_window_with_predictions_is_sent_once_and_the_checkpoint_follows(seeded, tick):
    invoker = RecordingInvoker()
    report = tick(seeded, invoker, "p", at("10:47:10"))  # stop = 10:46:30: four complete windows
    assert windows_sent(invoker) == [
        ("driftline-app", "drift", to_iso(at("10:00:07"))),
        ("driftline-app", "drift", to_iso(at("10:10:07"))),
        ("driftline-app", "drift", to_iso(at("10:30:07"))),
    ]
    assert invoker.calls[0][1] == {
        "project": "p",
        "endpoint_id": "e1",
        "application_name": "drift",
        "start_infer_time": "2026-11-26T10:00:07.000000+00:00",
        "end_infer_time": "2026-11-26T10:10:07.000000+00:00",
        "base_period_minutes": 10,
    }
    pair = report.pair("e1", "drift")
    assert (pair.sent, pair.empty, pair.skipped, pair.failed, pair.conflict) == (3, 1, 0, 0, False)
    assert Checkpoints(seeded).get("e1", "drift") == at("10:40:07")

    # the next run at the same time finds nothing new; a later one only the new window
    again = RecordingInvoker()
    assert tick(seeded, again, "p", at("10:47:10")).sent == 0
    assert again.calls == []
    put_bucket(seeded, "e1", at("10:41:00"))
    add_endpoint(seeded, last=at("10:52:00"))
    later = RecordingInvoker()
    tick(seeded, later, "p", at("10:52:00"))
    assert windows_sent(later) == [("driftline-app", "drift", to_iso(at("10:40:07")))]


def test_empty_windows_advance_the_checkpoint_without_an_app_call(clients, tick):
    add_project(clients)
    add_app(clients)
    add_endpoint(clients)  # live figures, no buckets with predictions
    put_bucket(clients, "e1", at("10:05:00"), predictions=0)  # requests that all failed
    invoker = RecordingInvoker()
    report = tick(clients, invoker, "p", at("10:47:10"))
    assert invoker.calls == []
    assert (report.empty, report.sent) == (4, 0)
    assert Checkpoints(clients).get("e1", "drift") == at("10:40:07")


def test_an_edge_minute_counts_for_both_windows_it_overlaps(clients, tick):
    add_project(clients)
    add_app(clients)
    add_endpoint(clients, minutes=(at("10:10:00"),))  # the minute [10:10, 10:11) straddles 10:10:07
    invoker = RecordingInvoker()
    tick(clients, invoker, "p", at("10:47:10"))
    assert [start for _, _, start in windows_sent(invoker)] == [to_iso(at("10:00:07")), to_iso(at("10:10:07"))]


def test_each_app_gets_its_own_function_and_checkpoint(seeded, tick):
    add_app(seeded, name="custom", function_name="driftline-app-custom")
    Checkpoints(seeded).advance("e1", "custom", None, at("10:30:07"))
    invoker = RecordingInvoker()
    tick(seeded, invoker, "p", at("10:47:10"))
    assert windows_sent(invoker) == [
        ("driftline-app-custom", "custom", to_iso(at("10:30:07"))),
        ("driftline-app", "drift", to_iso(at("10:00:07"))),
        ("driftline-app", "drift", to_iso(at("10:10:07"))),
        ("driftline-app", "drift", to_iso(at("10:30:07"))),
    ]


def test_overlapping_runs_never_send_a_window_twice(seeded, tick):
    """Run B starts while run A is between its first claim and its first invoke's return: B sees A's pending
    claim and leaves the pair to A, which sends the remaining windows itself."""
    calls: list[tuple[str, dict]] = []

    class Concurrent(RecordingInvoker):
        started = False

        def invoke_async(self, function_name, payload):
            super().invoke_async(function_name, payload)
            calls.append((function_name, payload))
            if not Concurrent.started:
                Concurrent.started = True
                run_b.append(tick(seeded, self, "p", at("10:47:10")))

    run_b: list = []
    run_a = tick(seeded, Concurrent(), "p", at("10:47:10"))
    starts = [payload["start_infer_time"] for _, payload in calls]
    assert starts == [to_iso(at("10:00:07")), to_iso(at("10:10:07")), to_iso(at("10:30:07"))]
    assert len(set(starts)) == len(starts)
    a, b = run_a.pair("e1", "drift"), run_b[0].pair("e1", "drift")
    assert (a.sent, a.empty, a.conflict) == (3, 1, False)
    assert (b.sent, b.empty, b.skipped) == (0, 0, 3)  # the windows after the one A had claimed
    assert Checkpoints(seeded).get("e1", "drift") == at("10:40:07")
    assert Checkpoints(seeded).pending("e1", "drift") is None  # every claim confirmed


def test_a_run_that_read_a_stale_checkpoint_stops_at_its_first_claim(seeded, monkeypatch, tick):
    Checkpoints(seeded).advance("e1", "drift", None, at("10:20:07"))  # another run got there first
    monkeypatch.setattr(Checkpoints, "get_many", lambda self, pairs: {})  # ... after this run read it
    invoker = RecordingInvoker()
    report = tick(seeded, invoker, "p", at("10:47:10"))
    assert invoker.calls == []
    assert (report.pair("e1", "drift").conflict, report.skipped) == (True, 4)
    monkeypatch.undo()
    assert Checkpoints(seeded).get("e1", "drift") == at("10:20:07")


class FailingOn(RecordingInvoker):
    def __init__(self, failing_call: int) -> None:
        super().__init__()
        self.failing_call = failing_call
        self.attempts = 0

    def invoke_async(self, function_name, payload):
        self.attempts += 1
        if self.attempts == self.failing_call:
            raise StorageError("async invoke of driftline-app answered 500, expected 202")
        super().invoke_async(function_name, payload)


def test_a_failing_invoke_hands_the_window_back_for_the_next_run(seeded, tick):
    report = tick(seeded, FailingOn(2), "p", at("10:47:10"))
    pair = report.pair("e1", "drift")
    assert (pair.sent, pair.failed, pair.skipped, pair.error) == (1, 1, 2, None)
    assert Checkpoints(seeded).get("e1", "drift") == at("10:10:07")  # the failed window's start
    retry = RecordingInvoker()
    tick(seeded, retry, "p", at("10:47:10"))
    assert [start for _, _, start in windows_sent(retry)] == [to_iso(at("10:10:07")), to_iso(at("10:30:07"))]


def test_a_failing_first_invoke_leaves_the_checkpoint_at_the_first_window(seeded, tick):
    tick(seeded, FailingOn(1), "p", at("10:47:10"))
    assert Checkpoints(seeded).get("e1", "drift") == at("10:00:07")
    retry = RecordingInvoker()
    tick(seeded, retry, "p", at("10:47:10"))
    assert len(retry.calls) == 3


@pytest.mark.parametrize(
    "setup",
    [
        lambda c: (add_project(c, enabled=False), add_app(c), add_endpoint(c, minutes=(at("10:01:00"),))),
        lambda c: (add_project(c), add_app(c, deployed=False), add_endpoint(c, minutes=(at("10:01:00"),))),
        lambda c: (add_project(c), add_app(c), add_endpoint(c, minutes=(at("10:01:00"),), monitoring=False)),
        lambda c: (add_project(c), add_app(c)),  # no endpoint
    ],
    ids=["monitoring-disabled", "app-not-deployed", "endpoint-not-monitored", "no-endpoint"],
)
def test_nothing_to_monitor_means_no_call_and_no_checkpoint(clients, setup, tick):
    setup(clients)
    invoker = RecordingInvoker()
    report = tick(clients, invoker, "p", at("10:47:10"))
    assert invoker.calls == []
    assert report.sent == 0
    assert Checkpoints(clients).get("e1", "drift") is None


def test_an_endpoint_without_requests_yet_is_left_alone(clients, tick):
    add_project(clients)
    add_app(clients)
    Endpoints(clients).put_identity(EndpointRecord("e0", "p", "m", "serving", "store://models/p/m:latest"))
    assert tick(clients, RecordingInvoker(), "p", at("10:47:10")).pairs == []


def test_unknown_and_disabled_projects_are_reported(clients, tick):
    add_project(clients, name="off", enabled=False)
    report = tick(clients, RecordingInvoker(), "nope", at("10:47:10"))
    assert report.ignored_projects == {"nope": "not found"}
    assert tick(clients, RecordingInvoker(), "off", at("10:47:10")).ignored_projects == {"off": "monitoring disabled"}


# ---------------------------------------------------------------------------------------------------- handler


@pytest.fixture
def controller(lambda_env, aws, monkeypatch):
    """The handler module as a fresh container loads it, its app invoke recorded, the clock fixed."""
    module = lambda_env("controller")
    invoker = RecordingInvoker()
    monkeypatch.setattr(module, "deps", lambda: module.Deps(clients=Clients(aws), invoker=invoker))
    monkeypatch.setattr(clock, "now", lambda: at("10:47:10"))
    module.invoker = invoker
    return module


def scheduled_event() -> dict:
    """An EventBridge rule's schedule envelope, built on the real envelope."""
    event = load_event("eventbridge-event")
    event.update({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}, "resources": []})
    return event


def emf_metrics(output: str) -> dict[str, float]:
    found: dict[str, float] = {}
    for line in output.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            record = json.loads(line)
            for definition in record["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
                value = record[definition["Name"]]
                found[definition["Name"]] = sum(value) if isinstance(value, list) else value
    return found


def test_handler_runs_the_scheduled_project(controller, seeded, lambda_context, capsys):
    add_project(seeded, name="other")
    add_app(seeded, project="other")
    add_endpoint(seeded, endpoint_id="e2", project="other", minutes=(at("10:01:00"),))
    answer = controller.handler({"source": "driftline.schedule", "project": "p"}, lambda_context)
    assert answer["projects"] == ["p"]
    assert answer["windows"] == {"sent": 3, "empty": 1, "skipped": 0, "failed": 0}
    assert json.loads(json.dumps(answer)) == answer  # Lambda serialises the answer
    assert {p["endpoint_id"] for _, p in controller.invoker.calls} == {"e1"}
    assert emf_metrics(capsys.readouterr().out)["WindowsSent"] == 3


def test_handler_scheduled_event_envelope_means_every_enabled_project(controller, seeded, lambda_context):
    add_project(seeded, name="off", enabled=False)
    add_app(seeded, project="off")
    add_endpoint(seeded, endpoint_id="e3", project="off", minutes=(at("10:01:00"),))
    add_project(seeded, name="q")
    add_app(seeded, project="q")
    add_endpoint(seeded, endpoint_id="e2", project="q", minutes=(at("10:01:00"),))
    answer = controller.handler(scheduled_event(), lambda_context)
    assert answer["projects"] == ["p", "q"]
    assert sorted({p["endpoint_id"] for _, p in controller.invoker.calls}) == ["e1", "e2"]


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (load_event("eventbridge-event"), "got source 'aws.ec2', detail-type 'EC2 Instance State-change"),
        ({"source": "driftline.schedule"}, "field 'project' must be a non-empty project name"),
        ({"source": "driftline.schedule", "project": ""}, "field 'project' must be a non-empty project name"),
        ({"source": "aws.events", "detail-type": "Scheduled Event", "detail": "x"}, "detail must be an object"),
        ([1, 2], "got list"),
    ],
    ids=["ec2-envelope", "no-project", "empty-project", "bad-detail", "not-an-object"],
)
def test_handler_refuses_anything_else_saying_what_it_expects(controller, lambda_context, capsys, event, message):
    with pytest.raises(InvalidRequestError, match="expected the schedule input") as caught:
        controller.handler(event, lambda_context)
    assert message in str(caught.value)
    assert controller.invoker.calls == []
    assert emf_metrics(capsys.readouterr().out)["InvalidTriggers"] == 1


def test_checkpoint_advance_is_conditional_on_the_value_read(clients):
    cp = Checkpoints(clients)
    t1, t2, t3 = at("10:10:07"), at("10:20:07"), at("10:30:07")
    assert cp.get("e1", "drift") is None
    assert cp.advance("e1", "drift", None, t1) is True
    assert cp.advance("e1", "drift", None, t2) is False  # someone created it first
    assert cp.advance("e1", "drift", t2, t3) is False  # stale previous value
    assert cp.advance("e1", "drift", t1, t2) is True
    assert cp.advance("e1", "drift", t2, t1) is True  # handing a claimed window back
    assert cp.get("e1", "drift") == t1
    assert cp.get("e1", "other-app") is None


def test_a_tick_over_many_endpoints_fans_out_and_each_shard_event_runs_in_the_handler(
    controller, clients, lambda_context
):
    """Five endpoints with hash-shaped ids and a shard size of two: the scheduled invocation counts them, sends
    three shard events to its own function and sends no window itself; the handler, given each shard event, sends
    the windows of that shard's endpoints: together every window exactly once."""
    add_project(clients)
    add_app(clients)
    ids = [endpoint_id_for("p", "serving", f"m{i}") for i in range(5)]
    for endpoint_id in ids:
        add_endpoint(clients, endpoint_id=endpoint_id, minutes=(at("10:00:00"), at("10:15:00"), at("10:35:00")))
    small = Clients(clients.settings.replace(controller_shard_size=2))
    controller.deps = lambda: controller.Deps(clients=small, invoker=controller.invoker)
    answer = controller.handler({"source": "driftline.schedule", "project": "p"}, lambda_context)
    shard_events = [payload for function, payload in controller.invoker.calls]
    assert [function for function, _ in controller.invoker.calls] == ["driftline-controller"] * 3
    assert answer["pairs"] == []
    assert answer["shards"] == shard_events
    assert [(e["shard"], e["shards"]) for e in shard_events] == [(0, 3), (1, 3), (2, 3)]
    controller.invoker.calls.clear()
    covered = []
    for event in shard_events:
        report = controller.handler(event, lambda_context)
        assert report["shard"] == event
        covered += [p["endpoint_id"] for p in report["pairs"]]
    assert sorted(covered) == sorted(ids)  # each endpoint in exactly one shard
    sent = Counter((p["endpoint_id"], p["start_infer_time"]) for _, p in controller.invoker.calls)
    assert len(sent) == 5 * 3
    assert set(sent.values()) == {1}


def test_a_shard_that_cannot_be_dispatched_is_reported_and_claims_nothing(clients):
    add_project(clients)
    add_app(clients)
    add_endpoint(clients, endpoint_id=endpoint_id_for("p", "serving", "m0"), minutes=(at("10:00:00"),))

    class ControllerDown(RecordingInvoker):
        def invoke_async(self, function_name, payload):
            if payload["shard"] == 1:
                raise StorageError("async invoke of driftline-controller answered 429, expected 202")
            super().invoke_async(function_name, payload)

    report = run_controller(clients, ControllerDown(), "p", at("10:47:10"), shards=2)
    assert len(report.shards) == 1
    assert len(report.shard_failures) == 1
    assert "shard 1/2 of p" in report.shard_failures[0]
    assert Checkpoints(clients).get(endpoint_id_for("p", "serving", "m0"), "drift") is None
