"""The stream Lambda under faults, on the real Kinesis envelope against moto: throttling and 5xx from S3,
DynamoDB and SQS, duplicate and out-of-order deliveries, a batch failing half-way and redelivered, a process
that dies mid-batch, malformed, truncated and oversized records. After each scenario the parquet dataset holds
exactly the accepted rows and the live figures exactly the accepted requests."""

from __future__ import annotations

import base64
import json

import pytest

from driftline.aws.dead_letters import DeadLetters
from driftline.inference_event import InferenceEvent
from driftline.observability import get_metrics
from driftline.stream import SERVICE
from driftline.stream.testing import inference_event, kinesis_event, kinesis_record, sequence_number, sub_batch
from tests.conftest import load_event
from tests.reliability.conftest import diff_counts
from tests.reliability.helpers import (
    T0,
    ProcessDied,
    accepted_rows,
    bucket_requests,
    expected_figures,
    stored_figures,
    stored_rows,
    traffic,
)

TEMPLATE = load_event("kinesis-stream-event")["Records"][0]


@pytest.fixture(autouse=True)
def _no_pending_metrics():
    get_metrics(SERVICE).clear_metrics()
    yield
    get_metrics(SERVICE).clear_metrics()


@pytest.fixture
def role(iam):
    """What the stream function's code runs with: its role's credentials, IAM enforced."""
    return iam.clients("stream")


@pytest.fixture
def stream(lambda_env, role, monkeypatch):
    module = lambda_env("stream")
    monkeypatch.setattr(module, "deps", lambda: module.Deps(clients=role))
    return module


@pytest.fixture
def check(clients, faults, ledger):
    """Compare what is stored with what was accepted, record the outcome in the ledger, assert exactness."""

    def run(events, *, injected: int | None = None) -> None:
        lost, duplicated = diff_counts(accepted_rows(events), stored_rows(clients))
        ledger.record(injected=faults.injected if injected is None else injected, lost=lost, duplicated=duplicated)
        assert (lost, duplicated) == (0, 0)
        expected = expected_figures(events)
        assert stored_figures(clients, expected) == expected
        assert bucket_requests(clients, expected) == sum(f[0] for f in expected.values())

    return run


def _batch(events, **kwargs):
    return kinesis_event(events, template=TEMPLATE, **kwargs)


def _failed(response) -> list[str]:
    return [f["itemIdentifier"] for f in response["batchItemFailures"]]


@pytest.mark.parametrize("reached", [False, True], ids=["not-reached", "answer-lost"])
@pytest.mark.parametrize("kind", ["throttle", "5xx"])
@pytest.mark.parametrize(
    ("service", "operation"),
    [("s3", "PutObject"), ("s3", "GetObject"), ("dynamodb", "TransactWriteItems"), ("dynamodb", "BatchGetItem")],
)
def test_transient_faults_are_absorbed_by_retries(
    stream, clients, role, faults, lambda_context, check, kind, service, operation, reached
):
    """Two failed attempts, then success; with ``answer-lost`` the failed attempts were applied by the service."""
    events = traffic(15)
    state = faults.inject(role.client(service), operation, kind, times=2, reached=reached)
    assert stream.handler(_batch(events), lambda_context) == {"batchItemFailures": []}
    assert state["failed"] == 2
    check(events)


@pytest.mark.parametrize(
    ("service", "operation"),
    [("s3", "PutObject"), ("s3", "GetObject"), ("dynamodb", "TransactWriteItems"), ("dynamodb", "BatchGetItem")],
)
def test_a_service_down_fails_the_batch_from_its_first_record_and_the_redelivery_is_exact(
    stream, clients, role, faults, lambda_context, check, service, operation
):
    events = traffic(15)
    event = _batch(events)
    faults.inject(role.client(service), operation, "5xx", times=None)
    assert _failed(stream.handler(event, lambda_context)) == [sequence_number(0)]
    faults.clear()
    assert stream.handler(event, lambda_context) == {"batchItemFailures": []}
    check(events)


def test_a_batch_failing_half_way_is_redelivered_whole_then_bisected(
    stream, clients, role, faults, lambda_context, check
):
    """Writes of some objects succeed before S3 fails; Kinesis retries the whole batch (fails again, after more
    objects), then bisects it: halves in order, the second one twice."""
    events = traffic(30)
    event = _batch(events)
    faults.inject(role.s3, "PutObject", "5xx", times=None, after=2)
    assert _failed(stream.handler(event, lambda_context)) == [sequence_number(0)]
    faults.clear()
    faults.inject(role.dynamodb, "TransactWriteItems", "5xx", times=None, after=1)
    assert _failed(stream.handler(event, lambda_context)) == [sequence_number(0)]
    faults.clear()
    for part in (sub_batch(event, 0, 15), sub_batch(event, 15), sub_batch(event, 15)):
        assert stream.handler(part, lambda_context) == {"batchItemFailures": []}
    check(events)


def test_duplicate_and_out_of_order_deliveries_count_once(stream, clients, role, lambda_context, check):
    """Batch A (records 0-19), then B (20-39); then A again after B (a stale duplicate), B again."""
    events = traffic(40)
    a = _batch(events[:20])
    b = _batch(events[20:], start=20)
    for delivery in (a, b, a, b, a):
        assert stream.handler(delivery, lambda_context) == {"batchItemFailures": []}
    check(events, injected=3)  # three redeliveries


def test_a_failed_batch_retried_smaller_then_continued_is_exact(stream, clients, role, faults, lambda_context, check):
    """Lambda may retry a failed batch with fewer records (same first record) and continue from the checkpoint."""
    events = traffic(30)
    event = _batch(events)
    faults.inject(role.dynamodb, "TransactWriteItems", "5xx", times=None, after=1)
    assert _failed(stream.handler(event, lambda_context)) == [sequence_number(0)]
    faults.clear()
    for part in (sub_batch(event, 0, 11), sub_batch(event, 11)):
        assert stream.handler(part, lambda_context) == {"batchItemFailures": []}
    check(events)


def test_two_shards_interleaved_count_each_once(stream, clients, role, lambda_context, check):
    events = traffic(20)
    one = _batch(events[:10], shard_id="shardId-000000000001")
    two = _batch(events[10:], shard_id="shardId-000000000002")
    for delivery in (two, one, two, one):
        assert stream.handler(delivery, lambda_context) == {"batchItemFailures": []}
    check(events, injected=2)


@pytest.mark.parametrize(
    ("service", "operation", "after"), [("s3", "PutObject", 1), ("dynamodb", "TransactWriteItems", 0)]
)
def test_a_process_dying_mid_batch_then_redelivered_leaves_exactly_the_batch(
    stream, clients, role, lambda_context, monkeypatch, check, service, operation, after
):
    """A timeout: the handler's process stops after some writes (no except clause runs); Lambda redelivers."""
    events = traffic(24)
    event = _batch(events)
    client = role.client(service)
    calls = {"n": 0}

    def die(request, **_):
        calls["n"] += 1
        if calls["n"] > after:
            raise ProcessDied(f"timed out in {operation}")

    event_name = f"before-send.{client.meta.service_model.service_id.hyphenize()}.{operation}"
    client.meta.events.register_first(event_name, die)
    with pytest.raises(ProcessDied):
        stream.handler(event, lambda_context)
    client.meta.events.unregister(event_name, die)
    assert stream.handler(event, lambda_context) == {"batchItemFailures": []}
    check(events, injected=1)


def test_a_process_dying_after_the_figures_counts_nothing_twice(
    stream, clients, role, lambda_context, monkeypatch, check
):
    """Parquet and live figures done, the process dies while dead-lettering: the redelivery skips the counted
    records (shard guard) and sends the dead letter again (at least once)."""
    events = traffic(10)
    event = _batch(events)
    event["Records"].append(kinesis_record("not base64 !", sequence_number(10), template=TEMPLATE))

    def die(*_args, **_kwargs):
        raise ProcessDied("timed out while dead-lettering")

    monkeypatch.setattr(DeadLetters, "send", die)
    with pytest.raises(ProcessDied):
        stream.handler(event, lambda_context)
    monkeypatch.undo()
    monkeypatch.setattr(stream, "deps", lambda: stream.Deps(clients=role))
    assert stream.handler(event, lambda_context) == {"batchItemFailures": []}
    check(events, injected=1)
    assert len(_dead_letters(clients)) == 1


def test_sqs_faults_while_dead_lettering(stream, clients, role, faults, lambda_context, check):
    events = traffic(8)
    event = _batch(events)
    event["Records"].append(kinesis_record(b"{truncated", sequence_number(8), template=TEMPLATE))
    faults.inject(role.client("sqs"), "SendMessage", "throttle", times=2)
    assert stream.handler(event, lambda_context) == {"batchItemFailures": []}
    faults.clear()
    faults.inject(role.client("sqs"), "SendMessage", "5xx", times=None)
    assert _failed(stream.handler(event, lambda_context)) == [sequence_number(0)]
    faults.clear()
    assert stream.handler(event, lambda_context) == {"batchItemFailures": []}
    check(events)
    letters = _dead_letters(clients)
    assert len(letters) == 2  # at least once: the first delivery's letter and the retry's
    assert {m["sequence_number"] for m in letters} == {sequence_number(8)}


def test_malformed_truncated_and_oversized_records_are_dead_lettered_and_do_not_block_the_shard(
    stream, clients, role, lambda_context, check, ledger
):
    events = traffic(12)
    good = [e.to_json() for e in events]
    whole = json.loads(good[0])
    big = dict(whole, request_id="big", inputs=[[1.0, 2.0]] * 40_000, outputs=[0] * 40_000)
    big["effective_sample_count"] = 40_000
    events.append(InferenceEvent.from_dict(big))  # near Kinesis's 1 MiB record limit, valid: accepted
    bad = [
        "%%% not base64 %%%",  # malformed envelope data
        base64.b64encode(good[1][: len(good[1]) // 2]).decode(),  # truncated JSON
        base64.b64encode(b"\xff\xfe\x00garbage").decode(),  # not UTF-8
        base64.b64encode(json.dumps(dict(whole, schema_version=99)).encode()).decode(),  # unknown schema
        base64.b64encode(json.dumps({k: v for k, v in whole.items() if k != "request_id"}).encode()).decode(),
        base64.b64encode(json.dumps(dict(whole, inputs="rows")).encode()).decode(),  # wrong type
        base64.b64encode(b"[" * 300_000).decode(),  # oversized garbage: dead-lettered cut, with its digest
        "",  # empty
    ]
    records = [kinesis_record(e, sequence_number(i), template=TEMPLATE) for i, e in enumerate(events)]
    records += [kinesis_record(d, sequence_number(len(events) + i), template=TEMPLATE) for i, d in enumerate(bad)]
    response = stream.handler({"Records": records}, lambda_context)
    assert response == {"batchItemFailures": []}
    check(events, injected=len(bad))
    letters = _dead_letters(clients)
    assert sorted(m["sequence_number"] for m in letters) == sorted(
        sequence_number(len(events) + i) for i in range(len(bad))
    )
    assert all(m["reason"] for m in letters)
    big = next(m for m in letters if m["sequence_number"] == sequence_number(len(events) + 6))
    assert big.get("data_truncated") is True
    assert big.get("data_sha256")


def _dead_letters(clients) -> list[dict]:
    sqs = clients.client("sqs")
    url = clients.settings.queue_url("stream-failures")
    out = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=300)
        if not got.get("Messages"):
            return out
        out.extend(json.loads(m["Body"]) for m in got["Messages"])


def _shard_with_copies(events, copies: dict[int, int]) -> list:
    """The shard's records: ``events`` in order, plus for each ``i: j`` a second put of ``events[i]`` right
    after ``events[j]`` (a retried put whose first answer was lost)."""
    out = []
    for j, event in enumerate(events):
        out.append(event)
        out += [events[i] for i, after in copies.items() if after == j]
    return out


def test_requests_put_twice_are_stored_and_counted_once_across_batches_and_redeliveries(
    stream, clients, role, faults, lambda_context, check
):
    """Copies in the same batch, in the next batch, of an error event, and in a batch that fails half-way
    and is bisected: every request is stored and counted once. A request every 2 s: each copy comes within the
    serving timeout of its request, as a retried put does."""
    events = traffic(24, spread_seconds=2)
    events.insert(5, inference_event(model_name="a", when=T0, error={"type": "ValueError", "message": "bad input"}))
    shard = _shard_with_copies(events, {2: 3, 5: 9, 8: 16, 20: 20, 22: 24})
    assert len(shard) == len(events) + 5
    first, second = _batch(shard[:12]), _batch(shard[12:], start=12)
    assert stream.handler(first, lambda_context) == {"batchItemFailures": []}
    faults.inject(role.dynamodb, "TransactWriteItems", "5xx", times=None, after=1)
    assert _failed(stream.handler(second, lambda_context)) == [sequence_number(12)]
    faults.clear()
    middle = len(second["Records"]) // 2
    for part in (sub_batch(second, 0, middle), sub_batch(second, middle), sub_batch(second, middle)):
        assert stream.handler(part, lambda_context) == {"batchItemFailures": []}
    check(events, injected=5)
