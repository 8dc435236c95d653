"""The local runtime's pieces without sockets: event builders, answer mapping, retries, schedules."""

from __future__ import annotations

import base64
import json
import threading
import time
from datetime import UTC, datetime

import pytest

from driftline import clock
from driftline.aws.schedules import Schedule
from driftline.config import Settings
from driftline.local.apigw import build_http_event, http_answer
from driftline.local.async_invoke import AsyncInvoker
from driftline.local.functions import FunctionTable, Outcome, function_name_from
from driftline.local.kinesis_source import PollerConfig, build_kinesis_event, failed_sequence
from driftline.local.scheduler import ScheduleRunner
from tests.conftest import load_event

NOW = datetime(2026, 11, 26, 17, 0, 0, 123000, tzinfo=UTC)


def _http(**overrides):
    kwargs = {
        "method": "post",
        "target": "/v2/models/iris/infer?x=1&x=2&name=a%20b",
        "headers": [("Content-Type", "application/json"), ("X-Dup", "1"), ("x-dup", "2"), ("Cookie", "a=1; b=2")],
        "body": b'{"inputs": [[1]]}',
        "source_ip": "127.0.0.1",
        "protocol": "HTTP/1.1",
        "now": NOW,
        "request_id": "rid-1",
    }
    return build_http_event(**(kwargs | overrides))


def test_http_event_has_the_real_envelope_fields():
    real = load_event("http-api-v2-event")
    event = _http()
    # every field the real envelope has, except those a $default route without authoriser does not carry
    absent_here = {"pathParameters", "stageVariables"}
    assert set(real) - absent_here <= set(event)
    assert set(real["requestContext"]) - {"authentication", "authorizer"} <= set(event["requestContext"])
    assert set(real["requestContext"]["http"]) == set(event["requestContext"]["http"])
    assert (event["version"], event["routeKey"], event["rawPath"]) == ("2.0", "$default", "/v2/models/iris/infer")
    assert event["rawQueryString"] == "x=1&x=2&name=a%20b"
    assert event["queryStringParameters"] == {"x": "1,2", "name": "a b"}
    assert event["headers"]["content-type"] == "application/json"
    assert event["headers"]["x-dup"] == "1,2"
    assert "cookie" not in event["headers"]
    assert event["cookies"] == ["a=1", "b=2"]
    ctx = event["requestContext"]
    assert ctx["http"] == {
        "method": "POST",
        "path": "/v2/models/iris/infer",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "",
    }
    assert (ctx["requestId"], ctx["stage"], ctx["routeKey"]) == ("rid-1", "$default", "$default")
    assert ctx["timeEpoch"] == 1795712400123
    assert ctx["time"] == "26/Nov/2026:17:00:00 +0000"
    assert (event["body"], event["isBase64Encoded"]) == ('{"inputs": [[1]]}', False)


def test_http_event_base64_for_binary_and_no_body_when_empty():
    binary = _http(body=b"\xff\x00\xfe")
    assert binary["isBase64Encoded"] is True
    assert base64.b64decode(binary["body"]) == b"\xff\x00\xfe"
    empty = _http(body=b"", target="/", headers=[])
    assert "body" not in empty
    assert empty["isBase64Encoded"] is False
    assert "queryStringParameters" not in empty
    assert "cookies" not in empty


def test_http_answer_maps_lambda_results_like_api_gateway():
    result = {"statusCode": 404, "headers": {"X-A": "b"}, "body": '{"error": "no"}', "cookies": ["c=1"]}
    full = http_answer(result | {"isBase64Encoded": False})
    assert full.status == 404
    assert ("X-A", "b") in full.headers
    assert ("Set-Cookie", "c=1") in full.headers
    assert full.body == b'{"error": "no"}'
    binary = http_answer({"statusCode": 200, "body": base64.b64encode(b"\x00\x01").decode(), "isBase64Encoded": True})
    assert binary.body == b"\x00\x01"
    inferred = http_answer({"outputs": [1]})
    assert (inferred.status, json.loads(inferred.body)) == (200, {"outputs": [1]})
    for broken in ({"statusCode": "abc"}, {"statusCode": 200, "body": {"not": "a string"}}, {"statusCode": 700}):
        assert http_answer(broken).status == 500


def test_kinesis_event_has_the_real_envelope_fields():
    real = load_event("kinesis-stream-event")["Records"][0]
    arrival = datetime(2026, 11, 26, 17, 0, 1, 500000, tzinfo=UTC)
    records = [
        {"Data": b'{"a": 1}', "PartitionKey": "e1", "SequenceNumber": "7", "ApproximateArrivalTimestamp": arrival},
        {"Data": b"\xff", "PartitionKey": "e2", "SequenceNumber": "9", "ApproximateArrivalTimestamp": arrival},
    ]
    arn = "arn:aws:kinesis:us-east-1:123456789012:stream/driftline-events"
    event = build_kinesis_event(records, "shardId-000000000001", arn, "us-east-1")
    first = event["Records"][0]
    assert set(first) == set(real)
    assert set(first["kinesis"]) == set(real["kinesis"])
    assert first["eventID"] == "shardId-000000000001:7"
    assert (first["eventSource"], first["eventName"], first["eventSourceARN"]) == (
        "aws:kinesis",
        "aws:kinesis:record",
        arn,
    )
    assert base64.b64decode(first["kinesis"]["data"]) == b'{"a": 1}'
    assert first["kinesis"]["approximateArrivalTimestamp"] == pytest.approx(arrival.timestamp())
    assert base64.b64decode(event["Records"][1]["kinesis"]["data"]) == b"\xff"


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (None, None),
        ({"batchItemFailures": []}, None),
        ({"batchItemFailures": [{"itemIdentifier": "12"}, {"itemIdentifier": "11"}]}, "11"),
        ({"batchItemFailures": [{"itemIdentifier": "99"}]}, "10"),  # not in the batch: the whole batch failed
        ({"batchItemFailures": [{"itemIdentifier": None}]}, "10"),
        ({"batchItemFailures": [{}]}, "10"),
    ],
)
def test_failed_sequence_follows_lambda_rules(answer, expected):
    records = [{"SequenceNumber": s} for s in ("10", "11", "12")]
    assert failed_sequence(answer, records) == expected


def test_poller_config_checks_and_backoff():
    cfg = PollerConfig(backoff_base=0.5, backoff_max=1.5)
    assert [cfg.backoff(n) for n in (1, 2, 3, 4)] == [0.5, 1.0, 1.5, 1.5]
    with pytest.raises(ValueError, match="batch_size must be between 1 and 10000"):
        PollerConfig(batch_size=0)
    with pytest.raises(ValueError, match="max_retries must be >= 0"):
        PollerConfig(max_retries=-1)


@pytest.mark.parametrize(
    ("identifier", "name"),
    [
        ("driftline-writer", "driftline-writer"),
        ("driftline-writer:$LATEST", "driftline-writer"),
        ("123456789012:function:driftline-writer", "driftline-writer"),
        ("arn:aws:lambda:us-east-1:123456789012:function:driftline-writer:prod", "driftline-writer"),
    ],
)
def test_function_names_in_every_form_lambda_accepts(identifier, name):
    assert function_name_from(identifier) == name


def test_function_table_routes_names_and_counts_errors():
    def boom(event, context):
        raise ValueError("bad window")

    table = FunctionTable(Settings(), {"writer": boom, "app": lambda e, c: {"echo": e, "fn": c.function_name}})
    assert table.key_for("driftline-controller") == "controller"
    assert table.key_for("arn:aws:lambda:us-east-1:123456789012:function:driftline-writer") == "writer"
    assert table.key_for("driftline-app") == table.key_for("driftline-app-custom") == "app"
    assert table.key_for("someone-else") is None
    ok = table.invoke("app", {"a": 1}, "driftline-app-custom")
    assert (ok.ok, ok.result) == (True, {"echo": {"a": 1}, "fn": "driftline-app-custom"})
    failed = table.invoke("writer", {})
    assert (failed.ok, failed.error_type, failed.error_message) == (False, "ValueError", "bad window")
    assert failed.error_payload()["errorType"] == "ValueError"
    assert table.stats()["writer"] == {"calls": 1, "errors": 1}
    assert table.stats()["app"] == {"calls": 1, "errors": 0}
    with pytest.raises(KeyError, match="expected some of"):
        FunctionTable(Settings(), {"nope": boom})


def test_function_table_reports_unserialisable_answers_and_sandboxes_that_cannot_start():
    def sandboxes(key, name):
        raise FileNotFoundError(f"the package of {name} is missing")

    table = FunctionTable(Settings(), {"app": lambda e, c: {"x": float("nan")}}, sandboxes=sandboxes)
    assert table.invoke("app", {}).error_type == "Runtime.MarshalError"
    missing = table.invoke("writer", {})
    assert (missing.ok, missing.error_type, missing.error_message) == (
        False,
        "Runtime.Unknown",
        "the package of driftline-writer is missing",
    )
    assert table.stats()["writer"] == {"calls": 1, "errors": 1}


def test_async_invoker_retries_twice_then_dead_letters():
    attempts = []

    def flaky(event, context):
        attempts.append(context.aws_request_id)
        raise RuntimeError("writer is down")

    table = FunctionTable(Settings(), {"writer": flaky, "app": lambda e, c: None})
    letters = []
    invoker = AsyncInvoker(table, lambda record, rid, error: letters.append((record, rid, error)), retry_delays=(0, 0))
    invoker.start()
    try:
        rid = invoker.submit("writer", "driftline-writer", {"window": 1})
        invoker.submit("app", "driftline-app", {"ok": True})
        assert invoker.wait_idle(10)
    finally:
        invoker.stop()
    assert attempts == [rid, rid, rid]  # one request id across the retries, as Lambda keeps it
    assert len(letters) == 1
    record, letter_rid, error = letters[0]
    assert letter_rid == rid
    assert error == "RuntimeError: writer is down"
    assert record["requestContext"]["functionArn"].endswith(":function:driftline-writer:$LATEST")
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestPayload"] == {"window": 1}
    assert record["responsePayload"]["errorMessage"] == "writer is down"
    assert (invoker.retried, invoker.dead_lettered) == (2, 1)
    assert table.stats()["app"] == {"calls": 1, "errors": 0}


def test_async_invoker_waits_for_retry_delays_and_reports_depth():
    gate = threading.Event()
    table = FunctionTable(Settings(), {"app": lambda e, c: gate.wait(10)})
    invoker = AsyncInvoker(table, lambda *a: None, workers=2)
    invoker.start()
    try:
        invoker.submit("app", "driftline-app", {})
        assert not invoker.wait_idle(0.05)  # the handler is still running
        assert invoker.depth()["running"] == 1
        gate.set()
        assert invoker.wait_idle(10)
        assert invoker.depth() == {"queued": 0, "waiting_retry": 0, "running": 0}
    finally:
        invoker.stop()
    with pytest.raises(ValueError, match="workers must be between"):
        AsyncInvoker(table, lambda *a: None, workers=0)


@pytest.fixture
def fresh_clock():
    clock.reset()
    yield
    clock.reset()


def test_scheduler_fires_enabled_schedules_when_the_clock_passes_their_rate(fresh_clock):
    payload = {"source": "driftline.schedule", "project": "p"}
    schedules = {"a": Schedule("a", "p", 10, True, payload), "b": Schedule("b", "q", 10, False, {"project": "q"})}
    fired: list[dict] = []
    runner = ScheduleRunner(lambda: list(schedules.values()), lambda s: fired.append(s.payload))

    assert runner.tick() == []  # first seen enabled: the rate starts now
    clock.advance(9 * 60)
    assert runner.tick() == []
    clock.advance(61)
    assert runner.tick() == ["a"]
    assert fired == [payload]
    assert runner.tick() == []  # not twice for the same period
    clock.advance(35 * 60)  # three missed periods collapse into one fire
    assert runner.tick() == ["a"]
    clock.advance(4 * 60)  # 49 min after the first sighting: the next grid point (50 min) is not reached
    assert runner.tick() == []
    clock.advance(60)
    assert runner.tick() == ["a"]
    assert len(fired) == 3

    schedules["a"] = Schedule("a", "p", 10, False, payload)  # disabled: forgotten
    clock.advance(3600)
    assert runner.tick() == []
    schedules["a"] = Schedule("a", "p", 10, True, payload)  # re-enabled: starts again from now
    assert runner.tick() == []
    clock.advance(600)
    assert runner.tick() == ["a"]
    assert "b" not in runner.status()


class _NoAdmin:
    def status(self):
        return {}

    def advance_clock(self, seconds):
        return {}

    def drain(self, timeout=30.0):
        return True

    def run_controller(self, project=None):
        return None


def test_invoke_api_edges_answer_like_lambda():
    from driftline.local.server import MAX_ASYNC_PAYLOAD, Dispatcher

    table = FunctionTable(Settings(), {"writer": lambda e, c: {"got": e}})
    invoker = AsyncInvoker(table, lambda *a: None)
    dispatcher = Dispatcher(table, invoker, _NoAdmin(), 8780)

    def invoke(body=b"{}", method="POST", name="driftline-writer", **headers):
        target = f"/2015-03-31/functions/{name}/invocations?Qualifier=%24LATEST"
        return dispatcher.dispatch(method, target, list(headers.items()), body, "127.0.0.1", "HTTP/1.1")

    def error_type(answer):
        return dict(answer.headers)["x-amzn-ErrorType"]

    ok = invoke(b'{"a": 1}')
    assert (ok.status, json.loads(ok.body)) == (200, {"got": {"a": 1}})
    assert json.loads(invoke(b"").body) == {"got": {}}  # an empty payload is an empty event
    dry = invoke(**{"X-Amz-Invocation-Type": "DryRun"})
    assert (dry.status, dry.body) == (204, b"")
    assert table.stats()["writer"]["calls"] == 2
    bad_type = invoke(**{"X-Amz-Invocation-Type": "Later"})
    assert (bad_type.status, error_type(bad_type)) == (400, "InvalidParameterValueException")
    big = invoke(b'"' + b"x" * MAX_ASYNC_PAYLOAD + b'"', **{"X-Amz-Invocation-Type": "Event"})
    assert (big.status, error_type(big)) == (413, "RequestTooLargeException")
    assert invoke(method="GET").status == 405
    other = dispatcher.dispatch("GET", "/2015-03-31/functions", [], b"", "127.0.0.1", "HTTP/1.1")
    assert (other.status, error_type(other)) == (404, "UnknownOperationException")
    invoker.stop()  # a stopping runtime refuses new async events instead of losing them
    refused = invoke(**{"X-Amz-Invocation-Type": "Event"})
    assert (refused.status, error_type(refused)) == (503, "ServiceException")


class _SlowSandbox:
    """A sandbox whose invocation takes a while; counts how many of its kind run at once."""

    lock = threading.Lock()
    running = 0
    peak = 0
    made = 0

    def __init__(self) -> None:
        with _SlowSandbox.lock:
            _SlowSandbox.made += 1

    def invoke(self, event, request_id=None):
        with _SlowSandbox.lock:
            _SlowSandbox.running += 1
            _SlowSandbox.peak = max(_SlowSandbox.peak, _SlowSandbox.running)
        time.sleep(0.2)
        with _SlowSandbox.lock:
            _SlowSandbox.running -= 1
        return Outcome(request_id or "rid", True, {"event": event})

    def stop(self) -> None:
        return None


@pytest.mark.parametrize("concurrency", [1, 3])
def test_async_invocations_of_one_function_run_in_parallel_up_to_the_concurrency(concurrency):
    """Eight async invocations of the controller (a tick's shards): at most ``concurrency`` sandboxes of it exist
    and run at once; each sandbox runs one invocation at a time."""
    _SlowSandbox.running = _SlowSandbox.peak = _SlowSandbox.made = 0
    table = FunctionTable(Settings(), sandboxes=lambda key, name: _SlowSandbox(), concurrency=concurrency)
    invoker = AsyncInvoker(table, lambda record, rid, error: None, workers=8, retry_delays=(0, 0))
    invoker.start()
    try:
        started = time.monotonic()
        for i in range(8):
            invoker.submit("controller", "driftline-controller", {"shard": i})
        assert invoker.wait_idle(10)
        took = time.monotonic() - started
    finally:
        invoker.stop()
    assert _SlowSandbox.peak == concurrency
    assert _SlowSandbox.made == concurrency
    assert len(table.sandboxes()) == concurrency
    assert table.stats()["controller"] == {"calls": 8, "errors": 0}
    assert took >= 0.2 * -(-8 // concurrency)  # never more than ``concurrency`` at a time
