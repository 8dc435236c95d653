"""The stream Lambda in-process against moto, on the real Kinesis envelope (tests/events/kinesis-stream-event.json)
with inference events as data: rows land exactly once, redeliveries (whole or bisected) change nothing, storage
failures are retried exactly, poison goes to the dead-letter queue, live figures and minute buckets add up."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import awswrangler as wr
import boto3
import pandas as pd
import pytest
from botocore.exceptions import ClientError

from driftline.aws import events_store
from driftline.aws.clients import Clients
from driftline.aws.dead_letters import DeadLetters
from driftline.aws.endpoints import Endpoints
from driftline.errors import StorageError
from driftline.observability import get_metrics
from driftline.records import EndpointRecord
from driftline.stream import SERVICE
from driftline.stream.decode.batch import decode_batch
from driftline.stream.decode.envelope import records_from_event
from driftline.stream.live import apply_live_figures
from driftline.stream.process import process_records
from driftline.stream.testing import inference_event, kinesis_event, sequence_number, sub_batch
from tests.conftest import load_event

T0 = datetime(2026, 11, 26, 17, 58, 0, tzinfo=UTC)
TEMPLATE = load_event("kinesis-stream-event")["Records"][0]


def _batch(payloads, **kwargs):
    return kinesis_event(payloads, template=TEMPLATE, **kwargs)


@pytest.fixture(autouse=True)
def _no_pending_metrics():
    """Tests that call the logic without the handler leave metrics unflushed (Powertools keeps them per
    process); start and end every test with none."""
    get_metrics(SERVICE).clear_metrics()
    yield
    get_metrics(SERVICE).clear_metrics()


@pytest.fixture
def stream(lambda_env, clients, monkeypatch):
    """The handler module, wired to the test's clients (so tests can inject failures into them)."""
    module = lambda_env("stream")
    monkeypatch.setattr(module, "deps", lambda: module.Deps(clients=clients))
    return module


def _objects(clients) -> dict[str, bytes]:
    s3 = clients.s3
    return {
        key: s3.get_object(Bucket=clients.settings.bucket, Key=key)["Body"].read()
        for key in events_store.list_keys(clients)
    }


def _rows(clients, tmp_path: Path) -> pd.DataFrame:
    """The dataset as pandas reads a folder: objects copied to tmp_path under their keys."""
    objects = _objects(clients)
    if not objects:
        return pd.DataFrame()
    for key, body in objects.items():
        target = tmp_path / key
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(body)
    return pd.read_parquet(tmp_path / "events")


def _traffic(n: int = 12) -> list:
    """Two endpoints, requests every 20 s from 17:58 (so across the 18:00 hour boundary), 1-2 rows each."""
    events = []
    for i in range(n):
        rows = 1 + i % 2
        events.append(
            inference_event(
                model_name="ab"[i % 2],
                when=T0 + timedelta(seconds=20 * i),
                latency_us=1000 + 10 * i,
                inputs=[[float(i), float(-i)]] * rows,
                outputs=[i % 3] * rows,
            )
        )
    return events


# awswrangler 3.17 reads tz-aware columns through Series.values, which pandas 3.1 deprecates (its warning, not ours)
@pytest.mark.filterwarnings("ignore:Series.values returning an ndarray that drops timezone")
def test_rows_land_exactly_once_and_read_back_as_one_partitioned_dataset(stream, clients, lambda_context, tmp_path):
    events = _traffic()
    response = stream.handler(_batch(events), lambda_context)
    assert response == {"batchItemFailures": []}

    keys = events_store.list_keys(clients)
    assert len(keys) == 4  # 2 endpoints x 2 hours
    assert all(k.startswith("events/endpoint_id=") and "/date=2026-11-26/hour=" in k for k in keys)
    df = _rows(clients, tmp_path)
    assert len(df) == sum(len(e.inputs) for e in events) == 18
    assert sorted(df.groupby("request_id").size().to_dict().items()) == sorted(
        (e.request_id, len(e.inputs)) for e in events
    )
    assert {"endpoint_id", "date", "hour"} <= set(df.columns)
    assert str(df["timestamp"].dtype).startswith("datetime64")
    assert str(df["timestamp"].dt.tz) == "UTC"
    assert set(df["hour"].astype(int)) == {17, 18}

    s3_df = wr.s3.read_parquet(events_store.dataset_uri(clients), dataset=True, boto3_session=boto3.Session())
    assert len(s3_df) == 18
    assert sorted(s3_df["request_id"]) == sorted(df["request_id"])


def test_a_redelivered_batch_changes_nothing(stream, clients, lambda_context):
    event = _batch(_traffic())
    stream.handler(event, lambda_context)
    objects = _objects(clients)
    figures = _figures(clients, _traffic()[0].endpoint_id)

    assert stream.handler(event, lambda_context) == {"batchItemFailures": []}
    assert _objects(clients) == objects  # same keys, same bytes
    assert _figures(clients, _traffic()[0].endpoint_id) == figures


def _figures(clients, endpoint_id):
    record = Endpoints(clients).get(endpoint_id)
    buckets = Endpoints(clients).minute_buckets(endpoint_id, T0 - timedelta(hours=1), T0 + timedelta(hours=1))
    return (
        record.request_count,
        record.prediction_count,
        record.error_count,
        record.latency_sum_us,
        record.latency_count,
        record.first_request,
        record.last_request,
        [(b["sk"], b["requests"], b["predictions"], b["errors"], b["latency_sum_us"]) for b in buckets],
    )


def _totals(clients, events):
    ids = {e.endpoint_id for e in events}
    records = [Endpoints(clients).get(i) for i in ids]
    return sum(r.request_count for r in records), sum(r.prediction_count for r in records)


@pytest.mark.parametrize("first_attempt", ["failed", "succeeded"])
def test_a_bisected_redelivery_leaves_exactly_the_same_rows_and_counts(
    stream, clients, lambda_context, monkeypatch, tmp_path, first_attempt
):
    events = _traffic(10)
    event = _batch(events)
    if first_attempt == "failed":
        # parquet is written, then DynamoDB fails: the batch is reported from its first record
        def fail(*args, **kwargs):
            raise StorageError("injected")

        with monkeypatch.context() as patch:
            patch.setattr(Endpoints, "transact_write", fail)
            response = stream.handler(event, lambda_context)
        assert response == {"batchItemFailures": [{"itemIdentifier": sequence_number(0)}]}
    else:
        stream.handler(event, lambda_context)

    for half in (sub_batch(event, 0, 5), sub_batch(event, 5)):  # Lambda's bisection of the batch
        assert stream.handler(half, lambda_context) == {"batchItemFailures": []}

    df = _rows(clients, tmp_path)
    assert len(df) == sum(len(e.inputs) for e in events)
    assert not df.duplicated(["request_id", "row_index"]).any()
    assert _totals(clients, events) == (10, sum(len(e.inputs) for e in events))


def test_an_s3_failure_mid_batch_is_retried_from_the_first_record_exactly(
    stream, clients, lambda_context, monkeypatch, tmp_path
):
    events = _traffic()
    event = _batch(events)
    put_object = clients.s3.put_object
    calls = []

    def flaky_put(**kwargs):
        calls.append(kwargs["Key"])
        if len(calls) == 2:
            raise ClientError({"Error": {"Code": "InternalError", "Message": "injected"}}, "PutObject")
        return put_object(**kwargs)

    monkeypatch.setattr(clients.s3, "put_object", flaky_put)
    response = stream.handler(event, lambda_context)
    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["kinesis"]["sequenceNumber"]}]}
    assert Endpoints(clients).get_raw(events[0].endpoint_id) is None  # nothing counted before parquet is safe

    monkeypatch.setattr(clients.s3, "put_object", put_object)
    assert stream.handler(event, lambda_context) == {"batchItemFailures": []}
    df = _rows(clients, tmp_path)
    assert len(df) == 18
    assert not df.duplicated(["request_id", "row_index"]).any()
    assert _totals(clients, events) == (12, 18)


def test_poison_records_go_to_the_dead_letter_queue_and_do_not_block_the_others(
    stream, clients, aws, lambda_context, tmp_path
):
    good = _traffic(3)
    bad_schema = json.loads(good[0].to_json()) | {"latency_us": "slow"}
    payloads = [good[0], "%%%not-base64%%%", good[1], b"{broken json", json.dumps(bad_schema).encode(), good[2]]
    event = _batch(payloads)
    assert stream.handler(event, lambda_context) == {"batchItemFailures": []}

    assert len(_rows(clients, tmp_path)) == sum(len(e.inputs) for e in good)
    messages = clients.client("sqs").receive_message(
        QueueUrl=aws.queue_url("stream-failures"), MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    )["Messages"]
    bodies = sorted((json.loads(m["Body"]) for m in messages), key=lambda b: b["sequence_number"])
    assert [b["event_id"] for b in bodies] == [event["Records"][i]["eventID"] for i in (1, 3, 4)]
    assert [b["data"] for b in bodies] == [event["Records"][i]["kinesis"]["data"] for i in (1, 3, 4)]
    assert "not valid base64" in bodies[0]["reason"]
    assert "invalid JSON" in bodies[1]["reason"]
    assert "field 'latency_us' must be int" in bodies[2]["reason"]
    assert all(m["MessageAttributes"]["event_id"]["StringValue"] for m in messages)


def test_without_a_queue_poison_is_logged_whole(lambda_env, lambda_context, monkeypatch, caplog):
    monkeypatch.setenv("DRIFTLINE_STREAM_FAILURES_QUEUE_URL", "")
    module = lambda_env("stream")
    assert module.handler(_batch(["@@@@"]), lambda_context) == {"batchItemFailures": []}
    logged = [r for r in caplog.records if r.getMessage() == "poison record not dead-lettered: no queue configured"]
    assert len(logged) == 1
    assert logged[0].record["data"] == "@@@@"
    assert "not valid base64" in logged[0].record["reason"]


def test_live_figures_and_minute_buckets_add_up(stream, clients, lambda_context):
    endpoint_events = [
        inference_event(when=T0 + timedelta(seconds=10), latency_us=1000, inputs=[[1.0, 1.0]], outputs=[0]),
        inference_event(
            when=T0 + timedelta(seconds=50), latency_us=3000, inputs=[[2.0, 2.0]], outputs=[1], effective_sample_count=4
        ),
        inference_event(when=T0 + timedelta(seconds=70), latency_us=2000, inputs=[[3.0, 3.0]], outputs=[2]),
        inference_event(when=T0 + timedelta(seconds=65), latency_us=9000, error={"type": "E", "message": "m"}),
    ]
    # the latest request arrives first: "last" means latest in time, not in the batch
    batch = [endpoint_events[2], endpoint_events[0], endpoint_events[1], endpoint_events[3]]
    assert stream.handler(_batch(batch), lambda_context) == {"batchItemFailures": []}

    endpoint_id = endpoint_events[0].endpoint_id
    record = Endpoints(clients).get(endpoint_id)
    assert (record.request_count, record.prediction_count, record.error_count) == (4, 6, 1)
    assert record.average_latency_us == 2000.0  # (1000 + 3000 + 2000) / 3: errors excluded
    assert record.first_request == "2026-11-26T17:58:10.000000+00:00"
    assert record.last_request == "2026-11-26T17:59:10.000000+00:00"
    assert (record.last_inputs, record.last_prediction) == ([3.0, 3.0], 2)
    raw = Endpoints(clients).get_raw(endpoint_id)
    assert raw["seq#shardId-000000000006"] == sequence_number(3).zfill(128)

    buckets = Endpoints(clients).minute_buckets(endpoint_id, T0, T0 + timedelta(minutes=2))
    assert [(b["sk"], b["requests"], b["predictions"], b["errors"], b["latency_sum_us"]) for b in buckets] == [
        ("minute#2026-11-26T17:58", 2, 5, 0, 4000),
        ("minute#2026-11-26T17:59", 2, 1, 1, 2000),
    ]
    assert all(b["expires_at"] > int(T0.timestamp()) for b in buckets)

    # a later batch moves last_* forward and adds to the same bucket
    later = inference_event(when=T0 + timedelta(seconds=80), latency_us=4000, inputs=[[9.0, 9.0]], outputs=[1])
    stream.handler(_batch([later], start=4), lambda_context)
    record = Endpoints(clients).get(endpoint_id)
    assert (record.request_count, record.last_inputs, record.latency_sum_us) == (5, [9.0, 9.0], 10000)
    assert record.first_request == "2026-11-26T17:58:10.000000+00:00"


def test_error_events_count_as_errors_and_write_no_rows(stream, clients, lambda_context):
    errors = [inference_event(when=T0, error={"type": "ValueError", "message": "bad"}) for _ in range(3)]
    assert stream.handler(_batch(errors), lambda_context) == {"batchItemFailures": []}
    assert events_store.list_keys(clients) == []
    record = Endpoints(clients).get(errors[0].endpoint_id)
    assert (record.request_count, record.error_count, record.prediction_count, record.latency_count) == (3, 3, 0, 0)
    assert record.last_prediction is None


def test_an_endpoint_never_deployed_gets_its_item_and_a_deployed_one_keeps_its_identity(
    stream, clients, lambda_context
):
    deployed = inference_event(model_name="known", model_version="7")
    Endpoints(clients).put_identity(
        EndpointRecord(
            deployed.endpoint_id, "p", "known", "serving", "store://models/p/known:latest", feature_names=["x", "y"]
        )
    )
    unknown = inference_event(project="other", model_name="stray", function_name="fn", model_version="3")
    stream.handler(_batch([deployed, unknown]), lambda_context)

    kept = Endpoints(clients).get(deployed.endpoint_id)
    assert (kept.model_uri, kept.feature_names, kept.request_count) == ("store://models/p/known:latest", ["x", "y"], 1)
    created = Endpoints(clients).get(unknown.endpoint_id)
    assert (created.project, created.name, created.function_name, created.model_version) == (
        "other",
        "stray",
        "fn",
        "3",
    )
    assert created.model_uri == "store://models/other/stray:3"
    assert created.request_count == 1
    assert [e.endpoint_id for e in Endpoints(clients).list("other")] == [unknown.endpoint_id]


def test_a_concurrent_delivery_makes_the_transaction_retry_instead_of_double_counting(clients, monkeypatch):
    events = _traffic(4)
    batch = decode_batch(records_from_event(_batch(events)))
    apply_live_figures(clients, batch)  # another invocation got there first
    # what this invocation saw (its batched first read) before the other one committed: no meta items yet
    monkeypatch.setattr(Endpoints, "get_many_raw", lambda self, endpoint_ids: {})
    outcome = apply_live_figures(clients, batch)
    assert outcome.conflicts == 2  # one per endpoint
    assert (outcome.applied, outcome.skipped) == (0, 4)
    assert _totals(clients, events) == (4, 6)


def test_a_batch_touching_more_minutes_than_a_transaction_holds_is_chunked(clients):
    events = [inference_event(when=T0 + timedelta(minutes=i), latency_us=10) for i in range(150)]
    outcome = process_records(records_from_event(_batch(events)), clients)
    assert outcome.failed_sequence is None
    assert outcome.live.transactions == 2
    record = Endpoints(clients).get(events[0].endpoint_id)
    assert (record.request_count, record.latency_sum_us) == (150, 1500)
    buckets = Endpoints(clients).minute_buckets(events[0].endpoint_id, T0, T0 + timedelta(minutes=150))
    assert len(buckets) == 150
    assert {b["requests"] for b in buckets} == {1}


def _emf(stream, lambda_context, capsys) -> dict:
    stream.handler(_batch([*_traffic(2), "@@@@"]), lambda_context)
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    values: dict = {}
    for blob in blobs:
        for metric in blob["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
            values.setdefault(metric["Name"], []).append((*blob[metric["Name"]], blob.get("endpoint_id")))
    return values


def test_metrics_are_published_as_emf(stream, lambda_context, capsys):
    values = _emf(stream, lambda_context, capsys)
    assert values["RecordsReceived"] == [(3.0, None)]
    assert values["PoisonRecords"] == [(1.0, None)]
    assert values["BatchFailures"] == [(0.0, None)]
    # the function's total only: a series per endpoint is a custom metric per endpoint-month (docs/cost.md)
    assert values["RowsWritten"] == [(3.0, None)]


def test_rows_per_endpoint_when_switched_on(lambda_env, monkeypatch, lambda_context, capsys):
    monkeypatch.setenv("DRIFTLINE_PER_ENDPOINT_METRICS", "true")
    values = _emf(lambda_env("stream"), lambda_context, capsys)
    rows: dict[str | None, float] = {None: 3.0}  # the function's total, then one series per endpoint
    for event in _traffic(2):
        rows[event.endpoint_id] = rows.get(event.endpoint_id, 0) + len(event.inputs)
    assert sorted(values["RowsWritten"], key=str) == sorted(((n, e) for e, n in rows.items()), key=str)


def test_not_a_kinesis_batch_is_answered_without_failures(stream, lambda_context):
    assert stream.handler({"detail": {}}, lambda_context) == {"batchItemFailures": []}


def test_clients_are_built_once_per_container(lambda_env):
    module = lambda_env("stream")
    assert isinstance(module.deps().clients, Clients)
    assert module.deps() is module.deps()


def test_a_dead_letter_queue_failure_retries_the_batch_without_double_counting(
    stream, clients, lambda_context, monkeypatch
):
    good = _traffic(2)
    event = _batch([good[0], "@@@@", good[1]])

    def unavailable(self, message):
        raise StorageError("injected: SQS unavailable")

    with monkeypatch.context() as patch:
        patch.setattr(DeadLetters, "send", unavailable)
        assert stream.handler(event, lambda_context) == {"batchItemFailures": [{"itemIdentifier": sequence_number(0)}]}
    assert stream.handler(event, lambda_context) == {"batchItemFailures": []}
    assert _totals(clients, good) == (2, 3)


@pytest.mark.parametrize("threads", [1, 8])
def test_live_figures_of_many_endpoints_are_exact_at_any_concurrency(clients, threads):
    """120 records over 40 endpoints: one batched read of the meta items, the 40 transactions at once; then the
    same batch again (a redelivery), then a concurrent rival that read nothing yet: every count stays single."""
    events = [
        inference_event(model_name=f"m{i % 40}", when=T0 + timedelta(seconds=i), latency_us=100 + i) for i in range(120)
    ]
    batch = decode_batch(records_from_event(_batch(events)))
    first = apply_live_figures(clients, batch, threads=threads)
    assert (first.applied, first.skipped, first.transactions, len(first.endpoints)) == (120, 0, 40, 40)
    again = apply_live_figures(clients, batch, threads=threads)
    assert (again.applied, again.skipped, again.transactions) == (0, 120, 0)
    assert _totals(clients, events) == (120, 120)
    per_endpoint = {Endpoints(clients).get(e.endpoint_id).request_count for e in events}
    assert per_endpoint == {3}
