"""The writer against moto: results and metrics in DynamoDB (read back through the SDK's query API), Timestream
records (moto's backend), alerts on the EventBridge bus (rule -> SQS) and SNS (the provisioned inbox queue)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.timestreamwrite.models import timestreamwrite_backends

from driftline import clock
from driftline.aws.alerts import Alerts
from driftline.aws.clients import Clients
from driftline.aws.provision import ALERTS_QUEUE
from driftline.aws.results import Results
from driftline.errors import InvalidRequestError, StorageError
from driftline.observability import get_metrics
from driftline.schemas import AppOutputs
from driftline.writer.run import SERVICE, write_outputs

NOW = datetime(2026, 11, 26, 10, 12, tzinfo=UTC)
W1 = ("2026-11-26T10:00:07.000000+00:00", "2026-11-26T10:10:07.000000+00:00")
W2 = ("2026-11-26T10:10:07.000000+00:00", "2026-11-26T10:20:07.000000+00:00")


@pytest.fixture(autouse=True)
def fresh_metrics():
    get_metrics(SERVICE).clear_metrics()
    yield
    get_metrics(SERVICE).clear_metrics()


def payload(window=W1, drift=0.75, status=2, app="drift", endpoint="e1", extra=None) -> dict:
    return {
        "project": "p",
        "endpoint_id": endpoint,
        "application_name": app,
        "start_infer_time": window[0],
        "end_infer_time": window[1],
        "results": [
            {"name": "general_drift", "value": drift, "kind": 0, "status": status, "extra_data": extra or {"n": 3}},
            {"name": "latency_ok", "value": 0.1, "kind": 3, "status": 0, "extra_data": {}},
        ],
        "metrics": [{"name": "tvd_mean", "value": 0.8}, {"name": "hellinger_mean", "value": 0.7}],
    }


@pytest.fixture
def inboxes(clients):
    """Read-back for alerts: an EventBridge rule on the alerts bus targeting an SQS queue, and the SNS topic's
    provisioned SQS inbox."""
    sqs = clients.client("sqs")
    bus_queue = sqs.create_queue(QueueName="bus-inbox")["QueueUrl"]
    bus_arn = sqs.get_queue_attributes(QueueUrl=bus_queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bus = clients.settings.event_bus_name
    clients.events.put_rule(Name="all-alerts", EventBusName=bus, EventPattern=json.dumps({"source": ["driftline"]}))
    clients.events.put_targets(Rule="all-alerts", EventBusName=bus, Targets=[{"Id": "q", "Arn": bus_arn}])
    sns_queue = sqs.get_queue_url(QueueName=ALERTS_QUEUE)["QueueUrl"]

    def drain(url: str) -> list[dict]:
        out = []
        while True:
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
            messages = got.get("Messages", [])
            if not messages:
                return out
            for m in messages:
                out.append(m)
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])

    return {"bus": lambda: [json.loads(m["Body"]) for m in drain(bus_queue)], "sns": lambda: drain(sns_queue)}


def timestream_records(table: str) -> list[dict]:
    backend = timestreamwrite_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
    return backend.databases["driftline"].tables[table].records


def emf_metrics(output: str) -> dict[str, float]:
    found: dict[str, float] = {}
    for line in output.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            record = json.loads(line)
            for definition in record["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
                value = record[definition["Name"]]
                found[definition["Name"]] = sum(value) if isinstance(value, list) else value
    return found


@pytest.fixture
def writer(lambda_env, monkeypatch):
    module = lambda_env("writer")
    monkeypatch.setattr(clock, "now", lambda: NOW)
    return module


def test_handler_stores_results_with_mlruns_columns(writer, clients, lambda_context, inboxes):
    answer = writer.handler(payload(), lambda_context)
    assert (answer["results_new"], answer["metrics_new"], answer["alerts_raised"]) == (2, 2, 1)
    assert json.loads(json.dumps(answer)) == answer

    rows = Results(clients).query_results("e1")
    assert rows == [
        {
            "endpoint_id": "e1",
            "application_name": "drift",
            "result_name": "general_drift",
            "result_value": 0.75,
            "result_kind": 0,
            "result_status": 2,
            "result_extra_data": {"n": 3},
            "start_infer_time": W1[0],
            "end_infer_time": W1[1],
        },
        {
            "endpoint_id": "e1",
            "application_name": "drift",
            "result_name": "latency_ok",
            "result_value": 0.1,
            "result_kind": 3,
            "result_status": 0,
            "result_extra_data": {},
            "start_infer_time": W1[0],
            "end_infer_time": W1[1],
        },
    ]
    metrics = Results(clients).query_metrics("e1")
    assert [(m["metric_name"], m["metric_value"]) for m in metrics] == [("hellinger_mean", 0.7), ("tvd_mean", 0.8)]
    assert set(metrics[0]) == {
        "endpoint_id",
        "application_name",
        "metric_name",
        "metric_value",
        "start_infer_time",
        "end_infer_time",
    }


def test_handler_writes_timestream_records(writer, lambda_context):
    writer.handler(payload(), lambda_context)
    results = timestream_records("app_results")
    assert len(results) == 2
    by_name = {next(d["Value"] for d in r["Dimensions"] if d["Name"] == "result_name"): r for r in results}
    measures = {m["Name"]: m["Value"] for m in by_name["general_drift"]["MeasureValues"]}
    assert (measures["result_value"], measures["result_status"], measures["result_extra_data"]) == (
        "0.75",
        "2",
        '{"n":3}',
    )
    assert by_name["general_drift"]["Time"] == "1795687807000000"  # 10:10:07 in microseconds
    assert len(timestream_records("metrics")) == 2


def test_alerts_reach_the_bus_and_the_topic(writer, lambda_context, inboxes, capsys):
    writer.handler(payload(), lambda_context)
    (event,) = inboxes["bus"]()
    assert (event["source"], event["detail-type"]) == ("driftline", "data-drift-detected")
    assert event["detail"] == {
        "project": "p",
        "endpoint_id": "e1",
        "application_name": "drift",
        "result_name": "general_drift",
        "result_value": 0.75,
        "result_status": 2,
        "result_kind": 0,
        "start_infer_time": W1[0],
        "end_infer_time": W1[1],
        "entity_id": "e1.drift.result.general_drift",
        "alert_name": "default",  # no configuration: the built-in default (enters detected, 1 of 1)
        "criteria": {"count": 1, "windows": 1},
        "reset_policy": "auto",
    }
    (message,) = inboxes["sns"]()
    body = json.loads(message["Body"])
    assert (body["alert_type"], body["entity_id"], body["result_value"]) == (
        "data-drift-detected",
        "e1.drift.result.general_drift",
        0.75,
    )
    attributes = {k: v.get("StringValue") for k, v in message.get("MessageAttributes", {}).items()}
    assert attributes["alert_type"] == "data-drift-detected"
    assert attributes["result_status"] == "2"
    figures = emf_metrics(capsys.readouterr().out)
    assert (figures["ResultsWritten"], figures["AlertsRaised"], figures["ResultsDetected"]) == (2, 1, 1)
    assert (figures["ResultsNoDetection"], figures["ResultsPotentialDetection"]) == (1, 0)


def test_potential_detection_is_suspected(writer, clients, lambda_context, inboxes):
    writer.handler(payload(status=1, drift=0.55, app="other"), lambda_context)
    assert inboxes["bus"]() == []  # the default configuration notifies on detected only
    from driftline.sdk.project import get_or_create_project

    get_or_create_project("p", settings=clients.settings).set_alert("suspects", statuses=["potential_detection"])
    writer.handler(payload(status=1, drift=0.55), lambda_context)
    assert [e["detail-type"] for e in inboxes["bus"]()] == ["data-drift-suspected"]
    assert len(inboxes["sns"]()) == 1


def test_a_repeated_delivery_is_stored_once_and_alerts_once(writer, clients, lambda_context, inboxes):
    writer.handler(payload(), lambda_context)
    again = writer.handler(payload(drift=0.99), lambda_context)  # an app re-run that computed another value
    assert (again["results_new"], again["results_duplicate"], again["alerts_raised"]) == (0, 2, 0)
    assert (again["metrics_new"], again["metrics_duplicate"]) == (0, 2)
    rows = Results(clients).query_results("e1")
    assert [(r["result_name"], r["result_value"]) for r in rows] == [("general_drift", 0.75), ("latency_ok", 0.1)]
    assert len(inboxes["bus"]()) == 1
    assert len(inboxes["sns"]()) == 1
    # Timestream gets the stored (first) value again, which it accepts as the same record
    values = [
        next(m["Value"] for m in r["MeasureValues"] if m["Name"] == "result_value")
        for r in timestream_records("app_results")
        if any(d["Value"] == "general_drift" for d in r["Dimensions"])
    ]
    assert values == ["0.75", "0.75"]


def test_an_alert_that_failed_is_raised_by_the_retry(writer, clients, lambda_context, inboxes, monkeypatch):
    def refuse(self, alerts, bus=None):
        raise StorageError("EventBridge bus driftline-alerts refused 1 alert(s): InternalFailure")

    monkeypatch.setattr(Alerts, "_put_events", refuse)
    with pytest.raises(StorageError, match="refused"):
        writer.handler(payload(), lambda_context)
    monkeypatch.undo()
    monkeypatch.setattr(clock, "now", lambda: NOW)
    retry = writer.handler(payload(), lambda_context)  # Lambda's async retry of the same delivery
    assert (retry["results_new"], retry["alerts_raised"]) == (0, 1)
    assert len(inboxes["bus"]()) == 1
    third = writer.handler(payload(), lambda_context)
    assert third["alerts_raised"] == 0
    assert inboxes["bus"]() == []


def test_latest_holds_the_newest_window_whatever_the_arrival_order(clients):
    write_outputs(clients, AppOutputs.from_dict(payload(window=W2, drift=0.2, status=0)), NOW)
    write_outputs(clients, AppOutputs.from_dict(payload(window=W1, drift=0.75)), NOW)
    latest = Results(clients).latest_results("e1")
    assert [(r["result_name"], r["end_infer_time"], r["result_value"]) for r in latest] == [
        ("general_drift", W2[1], 0.2),
        ("latency_ok", W2[1], 0.1),
    ]
    assert {m["metric_name"] for m in Results(clients).latest_metrics("e1")} == {"tvd_mean", "hellinger_mean"}


def test_queries_filter_by_window_and_application_and_sort(clients):
    results = Results(clients)
    for window in (W2, W1):
        write_outputs(clients, AppOutputs.from_dict(payload(window=window, app="zeta")), NOW)
        write_outputs(clients, AppOutputs.from_dict(payload(window=window, app="alpha")), NOW)
    write_outputs(clients, AppOutputs.from_dict(payload(endpoint="other")), NOW)
    rows = results.query_results("e1")
    assert [(r["start_infer_time"], r["application_name"], r["result_name"]) for r in rows] == [
        (W1[0], "alpha", "general_drift"),
        (W1[0], "alpha", "latency_ok"),
        (W1[0], "zeta", "general_drift"),
        (W1[0], "zeta", "latency_ok"),
        (W2[0], "alpha", "general_drift"),
        (W2[0], "alpha", "latency_ok"),
        (W2[0], "zeta", "general_drift"),
        (W2[0], "zeta", "latency_ok"),
    ]
    w2_start = datetime.fromisoformat(W2[0])
    assert {r["start_infer_time"] for r in results.query_results("e1", start=w2_start)} == {W2[0]}
    assert {r["end_infer_time"] for r in results.query_results("e1", end=datetime.fromisoformat(W1[1]))} == {W1[1]}
    only = results.query_metrics("e1", application_name="zeta", start=w2_start)
    assert {(m["application_name"], m["start_infer_time"]) for m in only} == {("zeta", W2[0])}
    assert results.query_results("e1", application_name="zet") == []  # a prefix of a name is not the name
    assert results.query_results("nobody") == []
    with pytest.raises(InvalidRequestError, match="expected a time with a UTC offset"):
        results.query_results("e1", start=datetime(2026, 11, 26))


def test_timestream_off_still_works_and_writes_nothing_there(aws, monkeypatch, lambda_context, lambda_env, inboxes):
    monkeypatch.setenv("DRIFTLINE_TIMESTREAM_ENABLED", "false")
    monkeypatch.setenv("DRIFTLINE_TIMESTREAM_DATABASE", "does-not-exist")  # a write there would fail
    module = lambda_env("writer")
    answer = module.handler(payload(), lambda_context)
    assert (answer["results_new"], answer["timestream_records"], answer["alerts_raised"]) == (2, 0, 1)
    assert timestream_records("app_results") == []
    assert len(Results(Clients(aws)).query_results("e1")) == 2
    assert len(inboxes["bus"]()) == 1


def test_invalid_payload_is_refused_and_nothing_is_stored(writer, clients, lambda_context, capsys):
    bad = payload()
    bad["results"][0]["status"] = 5
    with pytest.raises(InvalidRequestError, match=r"results\[0\]\.status must be one of \[-1, 0, 1, 2\]"):
        writer.handler(bad, lambda_context)
    assert Results(clients).query_results("e1") == []
    assert emf_metrics(capsys.readouterr().out) == {"InvalidPayloads": 1}


def test_duplicate_names_in_one_delivery_are_refused(clients):
    bad = payload()
    bad["metrics"].append({"name": "tvd_mean", "value": 0.1})
    with pytest.raises(InvalidRequestError, match="metric 'tvd_mean' appears twice"):
        write_outputs(clients, AppOutputs.from_dict(bad), NOW)


def test_extra_data_beyond_a_dynamodb_item_is_refused_before_anything_is_stored(clients):
    big = payload()
    big["results"][1]["extra_data"] = {"blob": "x" * 400_000}  # the second result: the first is not stored either
    with pytest.raises(InvalidRequestError, match=r"extra_data is \d+ bytes as JSON; expected at most 350000"):
        write_outputs(clients, AppOutputs.from_dict(big), NOW)
    assert Results(clients).query_results("e1") == []
