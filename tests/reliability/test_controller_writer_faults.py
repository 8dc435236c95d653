"""The controller and the writer under faults against moto: concurrent controllers, DynamoDB throttling, 5xx and
lost answers on the checkpoint claims, Timestream and DynamoDB faults in the writer with Lambda's async retries.
Every window with predictions is sent exactly once; every result and metric is stored exactly once."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.timestreamwrite.models import timestreamwrite_backends

from driftline import clock
from driftline.aws.clients import Clients
from driftline.aws.dynamo import to_item
from driftline.aws.endpoints import Endpoints, minute_key
from driftline.aws.invoke import RecordingInvoker
from driftline.aws.registry import Registry
from driftline.aws.results import Results
from driftline.observability import get_metrics
from driftline.records import AppRecord, EndpointRecord, ProjectConfig
from driftline.schemas import WindowRequest, endpoint_id_for, to_iso
from driftline.writer.run import SERVICE as WRITER
from tests.reliability.conftest import diff_counts

FIRST = datetime(2026, 11, 26, 10, 0, 0, tzinfo=UTC)
LAST = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)
NOW = LAST + timedelta(minutes=5)
APPS = ("drift", "quality")
# hash-shaped ids as deployed endpoints have: with 4 controller shards they fall in shards 2, 1 and 3
ENDPOINTS = tuple(endpoint_id_for("p", "serving", model) for model in ("m0", "m1", "m3"))


@pytest.fixture(autouse=True)
def _fresh_metrics():
    get_metrics(WRITER).clear_metrics()
    get_metrics("driftline-controller").clear_metrics()
    yield
    get_metrics(WRITER).clear_metrics()
    get_metrics("driftline-controller").clear_metrics()


@pytest.fixture
def seeded(clients, iam):
    """Project p (10-minute windows), two deployed apps, three endpoints with a prediction every minute for two
    hours: 12 windows per pair, 72 windows to send. Seeded by the administrator; returns the clients the
    controller runs with (its role's)."""
    registry = Registry(clients)
    registry.put_project(ProjectConfig(name="p", base_period_minutes=10, monitoring_enabled=True))
    for app in APPS:
        registry.put_app(AppRecord("p", app, "C", {"kind": "builtin", "name": "histogram_data_drift"}, deployed=True))
    eps = Endpoints(clients)
    for endpoint_id in ENDPOINTS:
        eps.put_identity(EndpointRecord(endpoint_id, "p", "m", "serving", "store://models/p/m:latest"))
        clients.dynamodb.update_item(
            TableName=eps.table,
            Key={"endpoint_id": {"S": endpoint_id}, "sk": {"S": "meta"}},
            UpdateExpression="SET first_request = :f, last_request = :l, prediction_count = :n",
            ExpressionAttributeValues={":f": {"S": to_iso(FIRST)}, ":l": {"S": to_iso(LAST)}, ":n": {"N": "120"}},
        )
        for m in range(120):
            minute = FIRST + timedelta(minutes=m)
            item = {"endpoint_id": endpoint_id, "sk": minute_key(minute), "requests": 1, "predictions": 1}
            clients.dynamodb.put_item(TableName=eps.table, Item=to_item(item))
    return iam.clients("controller")


EXPECTED_WINDOWS = Counter(
    (e, a, to_iso(FIRST + timedelta(minutes=10 * i))) for e in ENDPOINTS for a in APPS for i in range(12)
)


def _sent(invoker: RecordingInvoker) -> Counter:
    out: Counter = Counter()
    for _function, payload in invoker.calls:
        r = WindowRequest.from_dict(payload)
        out[(r.endpoint_id, r.application_name, r.start_infer_time)] += 1
    return out


def _account(ledger, faults, expected: Counter, actual: Counter, injected: int | None = None) -> None:
    lost, duplicated = diff_counts(expected, actual)
    ledger.record(injected=faults.injected if injected is None else injected, lost=lost, duplicated=duplicated)
    assert (lost, duplicated) == (0, 0)


def test_concurrent_controllers_send_every_window_exactly_once(seeded, faults, ledger, tick):
    """Four controller runs at once (a slow run, the next schedule, manual runs), each with its own clients."""
    invoker = RecordingInvoker()
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            tick(Clients(seeded.settings), invoker, "p", NOW)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    _account(ledger, faults, EXPECTED_WINDOWS, _sent(invoker), injected=3)  # three racing runs


@pytest.mark.parametrize("reached", [False, True], ids=["not-reached", "answer-lost"])
@pytest.mark.parametrize("kind", ["throttle", "5xx"])
def test_checkpoint_claims_survive_transient_faults(seeded, faults, ledger, kind, reached, tick):
    """Every fourth checkpoint update fails twice; with answer-lost the failed attempt was applied by DynamoDB,
    so botocore's retry meets the run's own claim: the window must still be sent once."""
    invoker = RecordingInvoker()
    faults.inject(seeded.dynamodb, "UpdateItem", kind, times=2, reached=reached)
    report = tick(seeded, invoker, "p", NOW)
    assert report.errors == 0
    _account(ledger, faults, EXPECTED_WINDOWS, _sent(invoker))


def test_a_checkpoint_store_down_loses_no_window_and_the_next_run_catches_up(seeded, faults, ledger, tick):
    """Every checkpoint update fails after the 30th attempt. A claim that fails sends nothing (the next run sends
    the window). The store may also go down between a window's invoke and the clearing of its pending mark (the
    threads of a shard, and the shards, interleave their calls): that window was sent, but its mark, still young,
    makes the next run leave the pair alone; once the mark is older than ``stale_claim_seconds`` a run sends the
    window again (the writer stores a repeated window once). So: nothing lost, and a window sent twice only when
    its mark could not be cleared."""
    invoker = RecordingInvoker()
    faults.inject(seeded.dynamodb, "UpdateItem", "5xx", times=None, after=30)
    first = tick(seeded, invoker, "p", NOW)
    assert first.errors > 0
    uncleared = {
        (p.endpoint_id, p.application_name) for p in first.pairs if p.error and "clearing the pending" in p.error
    }
    faults.clear()
    tick(seeded, invoker, "p", NOW)
    tick(seeded, invoker, "p", NOW + timedelta(seconds=seeded.settings.stale_claim_seconds))
    sent = _sent(invoker)
    resent = Counter({key: n - 1 for key, n in sent.items() if n > 1})
    assert {(e, a) for e, a, _ in resent} <= uncleared  # only a window whose mark stayed is sent again
    assert all(n == 1 for n in resent.values())
    _account(ledger, faults, EXPECTED_WINDOWS, sent - resent)


def test_failed_invokes_are_handed_back_and_retried_once(seeded, faults, ledger, tick):
    class Flaky(RecordingInvoker):
        def __init__(self) -> None:
            super().__init__()
            self.n = 0

        def invoke_async(self, function_name, payload):
            self.n += 1
            if self.n % 5 == 0:
                raise RuntimeError("Lambda 503")
            super().invoke_async(function_name, payload)

    invoker = Flaky()
    for _ in range(8):
        tick(seeded, invoker, "p", NOW)
    _account(ledger, faults, EXPECTED_WINDOWS, _sent(invoker), injected=invoker.n // 5)


# ---------------------------------------------------------------------------------------------------- writer

W = [(FIRST + timedelta(minutes=10 * i), FIRST + timedelta(minutes=10 * (i + 1))) for i in range(4)]


def _outputs(i: int, endpoint: str = "e1") -> dict:
    start, end = W[i]
    return {
        "project": "p",
        "endpoint_id": endpoint,
        "application_name": "drift",
        "start_infer_time": to_iso(start),
        "end_infer_time": to_iso(end),
        "results": [
            {"name": "general_drift", "value": 0.5 + i / 10, "kind": 0, "status": 2, "extra_data": {}},
            {"name": "ok", "value": 0.1, "kind": 3, "status": 0, "extra_data": {}},
        ],
        "metrics": [{"name": "tvd", "value": 0.3}],
    }


@pytest.fixture
def writer(lambda_env, iam, monkeypatch):
    module = lambda_env("writer")
    monkeypatch.setattr(module, "deps", lambda: module.Deps(clients=iam.clients("writer")))
    monkeypatch.setattr(clock, "now", lambda: NOW)
    return module


def _deliver(writer, payload, lambda_context, attempts: int = 3) -> bool:
    """Lambda's async invoke: the first try and two retries; True once one succeeded."""
    for _ in range(attempts):
        try:
            writer.handler(payload, lambda_context)
            return True
        except Exception:
            continue
    return False


def _history(clients) -> Counter:
    out: Counter = Counter()
    for endpoint in ("e1", "e2"):
        for r in Results(clients).query_results(endpoint):
            out[(endpoint, "r", r["result_name"], r["start_infer_time"])] += 1
        for m in Results(clients).query_metrics(endpoint):
            out[(endpoint, "m", m["metric_name"], m["start_infer_time"])] += 1
    return out


def _expected_history(payloads) -> Counter:
    out: Counter = Counter()
    for p in payloads:
        for r in p["results"]:
            out[(p["endpoint_id"], "r", r["name"], p["start_infer_time"])] = 1
        for m in p["metrics"]:
            out[(p["endpoint_id"], "m", m["name"], p["start_infer_time"])] = 1
    return out


def _timestream(table: str) -> Counter:
    records = timestreamwrite_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].databases["driftline"].tables[table].records
    # Timestream keeps one record per (dimensions, time, measure name): a rewrite with equal values is an upsert
    return Counter({(tuple((d["Name"], d["Value"]) for d in r["Dimensions"]), r["Time"]): 1 for r in records})


@pytest.mark.parametrize(
    ("service", "operation", "kind", "reached"),
    [
        ("timestream-write", "WriteRecords", "throttle", False),
        ("timestream-write", "WriteRecords", "5xx", True),
        ("dynamodb", "PutItem", "throttle", True),
        ("dynamodb", "PutItem", "5xx", False),
        ("events", "PutEvents", "5xx", True),
    ],
)
def test_writer_survives_faults_with_lambdas_retries(
    writer, clients, iam, faults, ledger, lambda_context, service, operation, kind, reached
):
    """Each delivery's calls fail now and then (some beyond botocore's retries, so the handler raises and Lambda
    retries the delivery); each payload is also delivered twice. Stored once, alerts once per new detection."""
    payloads = [_outputs(i, e) for e in ("e1", "e2") for i in range(4)]
    faults.inject(iam.clients("writer").client(service), operation, kind, times=7, after=3)
    for p in payloads + payloads:
        assert _deliver(writer, p, lambda_context)
    _account(ledger, faults, _expected_history(payloads), _history(clients))
    assert sum(_timestream("app_results").values()) == 2 * len(payloads)
    assert sum(_timestream("metrics").values()) == len(payloads)
