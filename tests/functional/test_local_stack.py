"""The local stack with fake handlers injected: each emulated trigger delivers the real AWS envelope, with
Lambda's failure semantics, and the stack leaves nothing behind when it stops."""

from __future__ import annotations

import base64
import json
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from collections import defaultdict

import pytest
from botocore.exceptions import ClientError

from driftline import clock
from driftline.aws.schedules import Schedules
from driftline.errors import ConfigurationError
from driftline.local.kinesis_source import PollerConfig
from driftline.local.runtime import LocalStack
from driftline.sdk.discovery import StackRunning, read_local_state, resolve_settings, state_path


class Fakes:
    """Fake handlers that record every event they get; behaviour per key can be swapped in a test."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.events: dict[str, list] = defaultdict(list)
        self.contexts: dict[str, list] = defaultdict(list)
        self.behaviour = {
            "serving": lambda e: {"statusCode": 200, "headers": {"x-fake": "serving"}, "body": json.dumps({"ok": 1})},
            "stream": lambda e: {"batchItemFailures": []},
            "controller": lambda e: {"windows": 0},
            "writer": lambda e: None,
            "app": lambda e: {"app": "done"},
        }

    def handler(self, key):
        def run(event, context):
            with self.lock:
                self.events[key].append(event)
                self.contexts[key].append(context)
            return self.behaviour[key](event)

        return run

    def table(self):
        return {key: self.handler(key) for key in self.behaviour}


@pytest.fixture
def fakes():
    return Fakes()


@pytest.fixture
def make_stack(tmp_path, monkeypatch, fakes):
    monkeypatch.setenv("DRIFTLINE_HOME", str(tmp_path))
    clock.reset()
    started = []

    def make(**options):
        options.setdefault("port", 0)
        options.setdefault("handlers", fakes.table())
        options.setdefault("retry_delays", (0.05, 0.1))
        options.setdefault(
            "kinesis", PollerConfig(batching_window=0.05, backoff_base=0.02, backoff_max=0.1, max_retries=2)
        )
        options.setdefault("schedule_interval", 0.1)
        stack = LocalStack(**options)
        started.append(stack)
        stack.start()
        return stack

    yield make
    for stack in started:
        stack.stop()
    clock.reset()


def _request(url, method="GET", body=None, headers=None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def _post_json(url, payload):
    status, _, body = _request(url, "POST", json.dumps(payload).encode(), {"Content-Type": "application/json"})
    return status, json.loads(body)


# HTTP API ---------------------------------------------------------------------------------------------------
def test_http_request_reaches_serving_as_a_v2_event_and_its_answer_comes_back(make_stack, fakes):
    stack = make_stack()
    status, headers, body = _request(
        f"{stack.api_url}/v2/models/iris/infer?tag=a&tag=b",
        "POST",
        b'{"inputs": [[5.1, 3.5]]}',
        {"Content-Type": "application/json", "User-Agent": "pytest-agent", "X-Trace": "t1", "Cookie": "s=1"},
    )
    assert (status, headers["x-fake"], json.loads(body)) == (200, "serving", {"ok": 1})
    [event] = fakes.events["serving"]
    assert (event["version"], event["routeKey"], event["rawPath"]) == ("2.0", "$default", "/v2/models/iris/infer")
    assert event["rawQueryString"] == "tag=a&tag=b"
    assert event["queryStringParameters"] == {"tag": "a,b"}
    assert event["headers"]["x-trace"] == "t1"
    assert event["headers"]["content-type"] == "application/json"
    assert event["cookies"] == ["s=1"]
    assert (event["body"], event["isBase64Encoded"]) == ('{"inputs": [[5.1, 3.5]]}', False)
    ctx = event["requestContext"]
    assert ctx["http"] == {
        "method": "POST",
        "path": "/v2/models/iris/infer",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "pytest-agent",
    }
    assert ctx["requestId"] == headers["Apigw-Requestid"]
    assert (ctx["stage"], ctx["accountId"], ctx["domainName"]) == ("$default", "123456789012", "127.0.0.1")
    assert abs(ctx["timeEpoch"] / 1000 - clock.now().timestamp()) < 60
    assert fakes.contexts["serving"][0].function_name == "driftline-serving"


def test_http_binary_body_oversized_body_and_failing_handler(make_stack, fakes):
    stack = make_stack()
    _request(f"{stack.api_url}/bin", "PUT", b"\x00\xff\x10", {"Content-Type": "application/octet-stream"})
    assert fakes.events["serving"][0]["isBase64Encoded"] is True
    assert base64.b64decode(fakes.events["serving"][0]["body"]) == b"\x00\xff\x10"

    status, _, body = _request(f"{stack.api_url}/big", "POST", b"x" * (10 * 1024 * 1024 + 1))
    assert (status, json.loads(body)) == (413, {"message": "Request Entity Too Large"})
    assert len(fakes.events["serving"]) == 1  # refused before the handler

    def boom(event):
        raise RuntimeError("model exploded")

    fakes.behaviour["serving"] = boom
    status, _, body = _request(f"{stack.api_url}/v2/models/iris/infer", "POST", b"{}")
    assert (status, json.loads(body)) == (500, {"message": "Internal Server Error"})
    assert stack.status()["functions"]["serving"] == {"calls": 2, "errors": 1}


# Kinesis ----------------------------------------------------------------------------------------------------
def _records(fakes):
    return [r for event in fakes.events["stream"] for r in event["Records"]]


def test_kinesis_records_reach_stream_in_order_per_shard_exactly_once(make_stack, fakes):
    stack = make_stack()
    kinesis = stack.clients.kinesis
    sent = [(f"key-{i % 7}", f"record-{i}") for i in range(260)]
    for start in range(0, len(sent), 100):
        kinesis.put_records(
            StreamName=stack.settings.stream_name,
            Records=[{"PartitionKey": k, "Data": d.encode()} for k, d in sent[start : start + 100]],
        )
    assert stack.drain(timeout=60)

    delivered = _records(fakes)
    datas = [base64.b64decode(r["kinesis"]["data"]).decode() for r in delivered]
    assert sorted(datas) == sorted(d for _, d in sent)  # each exactly once
    assert all(len(event["Records"]) <= 100 for event in fakes.events["stream"])
    by_shard = defaultdict(list)
    by_key = defaultdict(list)
    for record, data in zip(delivered, datas, strict=True):
        shard, _, seq = record["eventID"].partition(":")
        assert seq == record["kinesis"]["sequenceNumber"]
        assert record["eventSourceARN"] == stack.kinesis_source.stream_arn
        assert (record["eventSource"], record["awsRegion"]) == ("aws:kinesis", "us-east-1")
        by_shard[shard].append(int(seq))
        by_key[record["kinesis"]["partitionKey"]].append(int(data.split("-")[1]))
    assert len(by_shard) == 2
    assert all(seqs == sorted(seqs) for seqs in by_shard.values())
    assert all(order == sorted(order) for order in by_key.values())
    status = stack.status()["shards"]
    assert sum(s["records_delivered"] for s in status.values()) == 260
    assert all(s["behind"] == 0 for s in status.values())


def _put(stack, *datas):
    stack.clients.kinesis.put_records(
        StreamName=stack.settings.stream_name, Records=[{"PartitionKey": "k", "Data": d.encode()} for d in datas]
    )


def _data(record):
    return base64.b64decode(record["kinesis"]["data"]).decode()


def test_batch_item_failures_redeliver_from_the_failed_record(make_stack, fakes):
    stack = make_stack(shard_count=1)
    failed_once = set()

    def fail_r3_once(event):
        for record in event["Records"]:
            if _data(record) == "r3" and "r3" not in failed_once:
                failed_once.add("r3")
                return {"batchItemFailures": [{"itemIdentifier": record["kinesis"]["sequenceNumber"]}]}
        return {"batchItemFailures": []}

    fakes.behaviour["stream"] = fail_r3_once
    _put(stack, *(f"r{i}" for i in range(6)))
    assert stack.drain(timeout=30)
    batches = [[_data(r) for r in event["Records"]] for event in fakes.events["stream"]]
    assert batches == [["r0", "r1", "r2", "r3", "r4", "r5"], ["r3", "r4", "r5"]]
    [shard] = stack.status()["shards"].values()
    assert (shard["retries"], shard["records_delivered"], shard["skipped_records"]) == (1, 6, 0)


def test_a_raising_stream_handler_gets_the_whole_batch_again(make_stack, fakes):
    stack = make_stack(shard_count=1)
    calls = []

    def raise_once(event):
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("S3 unavailable")
        return None

    fakes.behaviour["stream"] = raise_once
    _put(stack, "a", "b", "c")
    assert stack.drain(timeout=30)
    batches = [[_data(r) for r in event["Records"]] for event in fakes.events["stream"]]
    assert batches == [["a", "b", "c"], ["a", "b", "c"]]
    assert stack.status()["functions"]["stream"] == {"calls": 2, "errors": 1}


def _dead_letters(stack, queue="async-failures"):
    sqs = stack.clients.client("sqs")
    answer = sqs.receive_message(
        QueueUrl=stack.settings.queue_url(queue), MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    )
    return answer.get("Messages", [])


def test_a_record_failing_past_the_retries_is_skipped_and_its_range_dead_lettered(make_stack, fakes):
    stack = make_stack(shard_count=1)

    def always_fail_bad(event):
        bad = [r for r in event["Records"] if _data(r) == "bad"]
        return {"batchItemFailures": [{"itemIdentifier": r["kinesis"]["sequenceNumber"]} for r in bad]}

    fakes.behaviour["stream"] = always_fail_bad
    _put(stack, "ok", "bad", "after")
    assert stack.drain(timeout=30)
    _put(stack, "later")
    assert stack.drain(timeout=30)
    batches = [[_data(r) for r in event["Records"]] for event in fakes.events["stream"]]
    # first delivery, then max_retries=2 retries from "bad", then the batch is skipped and reading goes on
    assert batches == [["ok", "bad", "after"], ["bad", "after"], ["bad", "after"], ["later"]]
    assert _dead_letters(stack) == []  # the mapping's on-failure destination is the stream-failures queue
    [message] = _dead_letters(stack, "stream-failures")
    info = json.loads(message["Body"])["KinesisBatchInfo"]
    assert (info["shardId"], info["batchSize"], info["streamArn"]) == (
        "shardId-000000000000",
        2,
        stack.kinesis_source.stream_arn,
    )
    seqs = [r["kinesis"]["sequenceNumber"] for r in fakes.events["stream"][1]["Records"]]
    assert (info["startSequenceNumber"], info["endSequenceNumber"]) == (seqs[0], seqs[-1])
    assert "batchItemFailures" in message["MessageAttributes"]["ErrorMessage"]["StringValue"]
    [shard] = stack.status()["shards"].values()
    assert shard["skipped_records"] == 2


# Lambda Invoke API ------------------------------------------------------------------------------------------
def test_async_invoke_through_boto3_runs_the_handler(make_stack, fakes):
    stack = make_stack()
    lam = stack.clients.lambda_
    answer = lam.invoke(
        FunctionName=stack.settings.writer_function, InvocationType="Event", Payload=json.dumps({"results": [1]})
    )
    assert answer["StatusCode"] == 202
    answer = lam.invoke(FunctionName="driftline-app-drift", InvocationType="Event", Payload=b'{"window": 2}')
    assert answer["StatusCode"] == 202
    assert stack.drain(timeout=30)
    assert fakes.events["writer"] == [{"results": [1]}]
    assert fakes.events["app"] == [{"window": 2}]
    assert fakes.contexts["app"][0].function_name == "driftline-app-drift"


def test_a_failing_async_invoke_is_retried_twice_then_dead_lettered(make_stack, fakes):
    stack = make_stack()

    def broken(event):
        raise ValueError("feature 'x' missing from the window")

    fakes.behaviour["app"] = broken
    answer = stack.clients.lambda_.invoke(
        FunctionName="driftline-app-drift", InvocationType="Event", Payload=b'{"endpoint_id": "e1"}'
    )
    assert answer["StatusCode"] == 202
    assert stack.drain(timeout=30)
    assert fakes.events["app"] == [{"endpoint_id": "e1"}] * 3
    [message] = _dead_letters(stack)
    record = json.loads(message["Body"])
    assert record["requestContext"]["functionArn"].endswith(":function:driftline-app-drift:$LATEST")
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestPayload"] == {"endpoint_id": "e1"}
    assert record["responsePayload"]["errorType"] == "ValueError"
    assert message["MessageAttributes"]["ErrorMessage"]["StringValue"] == (
        "ValueError: feature 'x' missing from the window"
    )
    assert message["MessageAttributes"]["RequestID"]["StringValue"] == record["requestContext"]["requestId"]
    assert stack.status()["async"]["dead_lettered"] == 1


def test_sync_invoke_answers_result_or_function_error_and_unknown_is_404(make_stack, fakes):
    stack = make_stack()
    lam = stack.clients.lambda_
    answer = lam.invoke(FunctionName=stack.settings.controller_function, Payload=b'{"project": "p"}')
    assert (answer["StatusCode"], json.loads(answer["Payload"].read())) == (200, {"windows": 0})
    assert "FunctionError" not in answer

    def broken(event):
        raise KeyError("results")

    fakes.behaviour["writer"] = broken
    answer = lam.invoke(FunctionName=stack.settings.writer_function, Payload=b"{}")
    assert answer["FunctionError"] == "Unhandled"
    assert json.loads(answer["Payload"].read())["errorType"] == "KeyError"

    with pytest.raises(ClientError) as missing:
        lam.invoke(FunctionName="not-a-driftline-function", Payload=b"{}")
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert "not-a-driftline-function" in missing.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as bad:
        lam.invoke(FunctionName=stack.settings.writer_function, Payload=b"{not json")
    assert bad.value.response["Error"]["Code"] == "InvalidRequestContentException"


# schedules and admin ----------------------------------------------------------------------------------------
def test_scheduler_fires_the_controller_on_clock_advance_only_when_enabled(make_stack, fakes):
    stack = make_stack()
    schedules = Schedules(stack.clients)
    schedules.put("p1", 1, enabled=True)
    schedules.put("p2", 1, enabled=False)
    stack.scheduler.tick()  # first sighting: the rate counts from now
    assert stack.drain(timeout=10)
    assert fakes.events["controller"] == []

    status, answer = _post_json(f"{stack.api_url}/_local/clock/advance", {"seconds": 61})
    assert status == 200
    assert answer["offset_seconds"] == pytest.approx(61)
    assert stack.drain(timeout=30)
    assert fakes.events["controller"] == [{"source": "driftline.schedule", "project": "p1"}]
    assert fakes.contexts["controller"][0].function_name == "driftline-controller"

    schedules.set_state("p1", enabled=False)
    stack.advance_clock(120)
    assert stack.drain(timeout=30)
    assert len(fakes.events["controller"]) == 1


def test_drain_waits_for_running_async_work(make_stack, fakes):
    stack = make_stack()
    gate = threading.Event()
    fakes.behaviour["writer"] = lambda event: gate.wait(30)
    try:
        stack.clients.lambda_.invoke(FunctionName=stack.settings.writer_function, InvocationType="Event", Payload=b"{}")
        status, _, answer = _request(f"{stack.api_url}/_local/drain?timeout=0.3", "POST")
        assert (status, json.loads(answer)["drained"]) == (504, False)
        depth = stack.status()["async"]
        assert depth["running"] + depth["queued"] == 1
    finally:
        gate.set()
    status, _, answer = _request(f"{stack.api_url}/_local/drain?timeout=30", "POST")
    assert (status, json.loads(answer)["drained"]) == (200, True)
    assert stack.status()["functions"]["writer"] == {"calls": 1, "errors": 0}


def test_admin_routes(make_stack, fakes):
    stack = make_stack()
    status, body = _post_json(f"{stack.api_url}/_local/controller/run", {"project": "iris"})
    assert (status, body) == (200, {"project": "iris", "result": {"windows": 0}})
    assert fakes.events["controller"] == [{"source": "driftline.schedule", "project": "iris"}]
    status, body = _post_json(f"{stack.api_url}/_local/controller/run", {})
    assert status == 200
    assert (fakes.events["controller"][1]["detail-type"], fakes.events["controller"][1]["detail"]) == (
        "Scheduled Event",
        {},
    )

    status, _, raw = _request(f"{stack.api_url}/_local/status")
    report = json.loads(raw)
    assert status == 200
    assert report["settings"]["api_url"] == stack.api_url
    assert report["settings"]["endpoint_url"] == stack.moto_url
    assert report["functions"]["controller"] == {"calls": 2, "errors": 0}
    assert set(report["shards"]) == {"shardId-000000000000", "shardId-000000000001"}
    assert report["async"]["queued"] == 0

    status, body = _post_json(f"{stack.api_url}/_local/clock/advance", {"seconds": "soon"})
    assert status == 400
    assert "seconds" in body["message"]
    status, body = _post_json(f"{stack.api_url}/_local/nope", {})
    assert status == 404
    assert "GET /_local/status" in body["routes"]

    def broken(event):
        raise RuntimeError("registry unreadable")

    fakes.behaviour["controller"] = broken
    status, body = _post_json(f"{stack.api_url}/_local/controller/run", {"project": "iris"})
    assert status == 500
    assert "registry unreadable" in body["message"]


# lifecycle --------------------------------------------------------------------------------------------------
def _refused(port):
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def test_state_file_and_clean_stop(tmp_path, monkeypatch, fakes):
    monkeypatch.setenv("DRIFTLINE_HOME", str(tmp_path))
    before = {t.ident for t in threading.enumerate()}
    stack = LocalStack(port=0, handlers=fakes.table())
    try:
        settings = stack.start()
        assert state_path().exists()
        found = read_local_state()
        assert (found.api_url, found.endpoint_url) == (settings.api_url, settings.endpoint_url)
        assert resolve_settings(environ={}).lambda_endpoint_url == settings.api_url
        # the SDK's principal: its keys are in the file (for other shells), readable by its owner only
        assert found.credentials == settings.credentials
        assert found.credentials.access_key_id != "driftline-local"
        assert state_path().stat().st_mode & 0o077 == 0
        # the functions run in processes of their own: nothing of theirs leaks into this one
        assert "DRIFTLINE_ENDPOINT_URL" not in os.environ
        assert os.environ["AWS_ACCESS_KEY_ID"] == "driftline-local"  # a key moto does not know: no stray access
        # traffic on both servers, so keep-alive connections exist when it stops
        _request(f"{stack.api_url}/ping")
        stack.clients.s3.list_buckets()
    finally:
        stack.stop()
    assert not state_path().exists()
    assert "DRIFTLINE_ENDPOINT_URL" not in os.environ
    assert "AWS_ENDPOINT_URL" not in os.environ
    assert os.environ["AWS_ACCESS_KEY_ID"] == "testing"  # conftest's value is back
    api_port = int(settings.api_url.rsplit(":", 1)[1])
    moto_port = int(settings.endpoint_url.rsplit(":", 1)[1])
    assert _refused(api_port)
    assert _refused(moto_port)
    deadline = time.monotonic() + 10
    while {t.ident for t in threading.enumerate()} - before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [t.name for t in threading.enumerate() if t.ident not in before] == []
    stack.stop()  # idempotent


def test_a_second_stack_in_the_same_home_is_refused_and_the_first_keeps_its_state_file(tmp_path, monkeypatch, fakes):
    monkeypatch.setenv("DRIFTLINE_HOME", str(tmp_path))
    first = LocalStack(port=0, handlers=fakes.table())
    try:
        settings = first.start()
        second = LocalStack(port=0, handlers=fakes.table())
        with pytest.raises(StackRunning, match=r"already runs .*DRIFTLINE_HOME="):
            second.start()
        assert read_local_state().api_url == settings.api_url  # not overwritten, not removed
    finally:
        first.stop()
    assert not state_path().exists()


def test_a_second_stack_starts_empty(make_stack, fakes):
    first = make_stack(shard_count=1)
    _put(first, "left over")
    first.stop()
    fakes.events.clear()
    second = make_stack(shard_count=1)
    assert second.drain(timeout=30)
    assert fakes.events["stream"] == []


def test_a_busy_port_is_a_clear_error_and_leaves_nothing_running(tmp_path, monkeypatch, fakes):
    monkeypatch.setenv("DRIFTLINE_HOME", str(tmp_path))
    before = {t.ident for t in threading.enumerate()}
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        stack = LocalStack(port=port, handlers=fakes.table())
        with pytest.raises(ConfigurationError, match=f"cannot listen on 127.0.0.1:{port}.*--port 0"):
            stack.start()
    assert not state_path().exists()
    assert "AWS_ENDPOINT_URL" not in os.environ
    assert [t.name for t in threading.enumerate() if t.ident not in before] == []
