from __future__ import annotations

import hashlib
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from driftline.applications.data import read_window, window_hours
from driftline.aws.artifacts import Artifacts, app_source_key
from driftline.aws.endpoints import Endpoints
from driftline.aws.invoke import RecordingInvoker
from driftline.aws.registry import Registry
from driftline.errors import ApplicationError, InvalidRequestError
from driftline.records import AppRecord, EndpointRecord, ModelRecord
from driftline.schemas import AppOutputs, ResultKind, ResultStatus, WindowRequest, endpoint_id_for
from driftline.stats.profile import compute_feature_stats

PROJECT = "p"
MODEL = "m"
ENDPOINT_ID = endpoint_id_for(PROJECT, "serving", MODEL)
FEATURES = ["f1", "f2"]
START = datetime(2026, 11, 26, 17, 0, tzinfo=UTC)
END = START + timedelta(minutes=10)
TRAIN = pd.DataFrame({"f1": np.linspace(0, 10, 500), "f2": np.linspace(-1, 1, 500)})
DEMO_APP = Path(__file__).resolve().parents[2] / "apps" / "demo_app.py"

USER_APP = b"""
from driftline.applications import (
    ModelMonitoringApplicationBase, ModelMonitoringApplicationResult, ResultKindApp, ResultStatusApp,
)


class RowCounter(ModelMonitoringApplicationBase):
    def do_tracking(self, monitoring_context):
        rows = len(monitoring_context.sample_df)
        too_many = rows > self.application_kwargs["max_rows"]
        status = ResultStatusApp.detected if too_many else ResultStatusApp.no_detection
        return [
            ModelMonitoringApplicationResult(
                name="too_many_rows", value=rows, kind=ResultKindApp.mm_app_anomaly, status=status
            ),
            ModelMonitoringApplicationResult(
                name="f1_max", value=float(monitoring_context.sample_df["f1"].max()),
                kind=ResultKindApp.data_drift, status=ResultStatusApp.irrelevant,
            ),
        ]
"""


def events_table(rows: pd.DataFrame) -> pa.Table:
    """The documented event parquet schema (docs/architecture.md)."""
    n = len(rows)
    return pa.table(
        {
            "timestamp": pa.array(list(rows["timestamp"]), pa.timestamp("us", tz="UTC")),
            "request_id": pa.array(rows.get("request_id", [f"r{i}" for i in range(n)]), pa.string()),
            "row_index": pa.array([0] * n, pa.int32()),
            "latency": pa.array(rows.get("latency", [1500] * n), pa.int64()),
            "model_version": pa.array(["1"] * n, pa.string()),
            "effective_sample_count": pa.array([1] * n, pa.int64()),
            "f1": pa.array(rows["f1"], pa.float64()),
            "f2": pa.array(rows["f2"], pa.float64()),
            "prediction": pa.array([0] * n, pa.int64()),
        }
    )


def write_events(clients, rows: pd.DataFrame, shard: str = "shardId-000000000000", endpoint_id: str = ENDPOINT_ID):
    """One parquet object per hour partition, at the stream's deterministic key layout."""
    hour = rows["timestamp"].dt.floor("h")
    for (when,), group in rows.groupby([hour]):
        buffer = io.BytesIO()
        pq.write_table(events_table(group.reset_index(drop=True)), buffer)
        key = (
            f"events/endpoint_id={endpoint_id}/date={when:%Y-%m-%d}/hour={when:%H}/"
            f"{shard}-{int(group['timestamp'].iloc[0].timestamp() * 1e6)}.parquet"
        )
        clients.s3.put_object(Bucket=clients.settings.bucket, Key=key, Body=buffer.getvalue())


def rows_between(start: datetime, count: int, f1, f2, step_seconds: float = 5.0) -> pd.DataFrame:
    stamps = pd.Series([start + timedelta(seconds=step_seconds * i) for i in range(count)], dtype="datetime64[us, UTC]")
    return pd.DataFrame({"timestamp": stamps, "f1": f1, "f2": f2})


@pytest.fixture
def registered(clients):
    registry = Registry(clients)
    registry.put_model(
        ModelRecord(
            project=PROJECT,
            name=MODEL,
            version="1",
            uri=f"store://models/{PROJECT}/{MODEL}:1",
            artifact_key="artifacts/p/models/m/1/model.pkl",
            feature_names=FEATURES,
            label_names=["prediction"],
            feature_stats=compute_feature_stats(TRAIN),
        )
    )
    Endpoints(clients).put_identity(
        EndpointRecord(
            endpoint_id=ENDPOINT_ID,
            project=PROJECT,
            name=MODEL,
            function_name="serving",
            model_uri=f"store://models/{PROJECT}/{MODEL}:latest",
            model_version="1",
            feature_names=FEATURES,
            label_names=["prediction"],
        )
    )
    registry.put_app(
        AppRecord(
            PROJECT,
            "histogram-data-drift",
            "HistogramDataDriftApplication",
            {"kind": "builtin", "name": "histogram_data_drift"},
            deployed=True,
        )
    )
    # the example user app, registered as the SDK registers a user's file: its source uploaded to S3
    demo = DEMO_APP.read_bytes()
    demo_sha = hashlib.sha256(demo).hexdigest()
    Artifacts(clients).put(app_source_key(PROJECT, "demo", demo_sha), demo)
    registry.put_app(
        AppRecord(
            PROJECT,
            "demo",
            "DemoMonitoringApp",
            {"kind": "s3", "key": app_source_key(PROJECT, "demo", demo_sha), "sha256": demo_sha},
            {"latency_threshold_ms": 1},
        )
    )
    return registry


@pytest.fixture
def app(lambda_env):
    module = lambda_env("app")
    module.deps().invoker = RecordingInvoker()
    return module


def window(app_name: str = "histogram-data-drift", start: datetime = START, end: datetime = END) -> dict:
    return WindowRequest(PROJECT, ENDPOINT_ID, app_name, start.isoformat(), end.isoformat(), 10).to_dict()


def emf_metrics(stdout: str) -> dict[str, float]:
    """Metric name -> value from the EMF blobs Powertools printed."""
    out: dict[str, float] = {}
    for line in stdout.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            blob = json.loads(line)
            for definition in blob["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
                value = blob[definition["Name"]]
                out[definition["Name"]] = sum(value) if isinstance(value, list) else value
    return out


def test_builtin_drift_app_sends_mlruns_numbers_and_per_feature_results_to_the_writer(
    app, registered, clients, aws, lambda_context
):
    # f1 moved far beyond the training range, f2 is a sample of the training data
    write_events(clients, rows_between(START, 100, f1=[50.0] * 100, f2=TRAIN["f2"].iloc[::5].to_numpy()))
    answer = app.handler(window(), lambda_context)
    assert answer["sent_to_writer"] is True
    [(function, payload)] = app.deps().invoker.calls
    assert function == aws.writer_function
    outputs = AppOutputs.from_dict(payload)
    assert (outputs.project, outputs.endpoint_id, outputs.application_name) == (
        PROJECT,
        ENDPOINT_ID,
        "histogram-data-drift",
    )
    assert outputs.start_infer_time == "2026-11-26T17:00:00.000000+00:00"
    results = {r.name: r for r in outputs.results}
    metrics = {m.name: m.value for m in outputs.metrics}
    assert set(results) == {"general_drift", "f1_drift", "f2_drift"}
    assert set(metrics) == {"tvd_mean", "hellinger_mean", "kld_mean"}
    assert results["f1_drift"].value == 1.0
    assert results["f1_drift"].status == ResultStatus.detected
    assert results["f2_drift"].status == ResultStatus.no_detection
    general = results["general_drift"]
    assert general.kind == ResultKind.data_drift
    assert general.value == pytest.approx((metrics["tvd_mean"] + metrics["hellinger_mean"]) / 2)
    assert general.extra_data["drifted_features"] == ["f1"]


def test_user_app_from_s3_runs_with_its_kwargs(app, registered, clients, lambda_context):
    key = app_source_key(PROJECT, "row-counter", hashlib.sha256(USER_APP).hexdigest())
    Artifacts(clients).put(key, USER_APP)
    registered.put_app(
        AppRecord(
            PROJECT,
            "row-counter",
            "RowCounter",
            {"kind": "s3", "key": key, "sha256": hashlib.sha256(USER_APP).hexdigest()},
            {"max_rows": 10},
        )
    )
    write_events(clients, rows_between(START + timedelta(minutes=9), 12, f1=np.arange(12.0), f2=0.0))
    app.handler(window("row-counter"), lambda_context)
    [(_, payload)] = app.deps().invoker.calls
    results = {r["name"]: r for r in payload["results"]}
    assert results["too_many_rows"]["value"] == 12  # 17:09:00 .. 17:09:55, all inside the window
    assert results["too_many_rows"]["status"] == int(ResultStatus.detected)
    assert results["f1_max"]["value"] == 11.0


def test_only_rows_inside_the_window_reach_the_app(app, registered, clients, lambda_context):
    rows = rows_between(START - timedelta(minutes=5), 40, f1=1.0, f2=0.0, step_seconds=30)  # 16:55 .. 17:14:30
    rows["latency"] = 2000
    write_events(clients, rows)
    app.handler(window("demo"), lambda_context)
    [(_, payload)] = app.deps().invoker.calls
    metrics = {m["name"]: m["value"] for m in payload["metrics"]}
    assert metrics == {"row_count": 20, "mean_latency_ms": 2.0}  # 17:00:00 .. 17:09:30
    [latency] = payload["results"]
    assert (latency["name"], latency["kind"], latency["status"]) == ("latency_p95", 3, int(ResultStatus.detected))


def test_an_empty_window_calls_no_app_and_sends_nothing(app, registered, clients, lambda_context):
    write_events(clients, rows_between(START + timedelta(minutes=20), 5, f1=1.0, f2=0.0))  # same hour, later
    answer = app.handler(window(), lambda_context)
    assert answer == answer | {"results": 0, "metrics": 0, "sent_to_writer": False}
    assert app.deps().invoker.calls == []


def test_a_model_without_training_set_gives_a_clear_warning_and_no_results(
    app, registered, clients, lambda_context, caplog
):
    registered.put_model(
        ModelRecord(PROJECT, MODEL, "2", f"store://models/{PROJECT}/{MODEL}:2", "k", feature_names=FEATURES)
    )
    endpoint = Endpoints(clients).get(ENDPOINT_ID)
    endpoint.model_version = "2"
    Endpoints(clients).put_identity(endpoint)
    write_events(clients, rows_between(START, 10, f1=1.0, f2=0.0))
    assert app.handler(window(), lambda_context)["sent_to_writer"] is False
    assert app.deps().invoker.calls == []
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1
    assert "training_set=" in warnings[0].getMessage()


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("not a dict", "expected a JSON object"),
        ({"project": PROJECT}, "missing field"),
        (window() | {"start_infer_time": "yesterday"}, "expected an ISO 8601 time"),
        (window() | {"end_infer_time": START.isoformat()}, "start_infer_time must be before end_infer_time"),
        (window() | {"application_name": "Not_Valid"}, "expected lowercase letters"),
    ],
)
def test_a_bad_payload_is_refused_clearly(app, payload, message, lambda_context, capsys):
    with pytest.raises(InvalidRequestError, match=message):
        app.handler(payload, lambda_context)
    assert emf_metrics(capsys.readouterr().out)["InvalidWindowRequests"] == 1


def test_a_source_whose_sha256_does_not_match_is_refused(app, registered, clients, lambda_context, capsys, caplog):
    key = app_source_key(PROJECT, "row-counter", "0" * 64)
    Artifacts(clients).put(key, USER_APP)
    registered.put_app(AppRecord(PROJECT, "row-counter", "RowCounter", {"kind": "s3", "key": key, "sha256": "0" * 64}))
    write_events(clients, rows_between(START, 3, f1=1.0, f2=0.0))
    with pytest.raises(ApplicationError, match="sha256 mismatch"):
        app.handler(window("row-counter"), lambda_context)
    assert emf_metrics(capsys.readouterr().out)["AppFailures"] == 1
    [failure] = [r for r in caplog.records if r.getMessage() == "monitoring application failed"]
    assert failure.levelname == "ERROR"
    assert failure.window["application_name"] == "row-counter"
    assert failure.window["start_infer_time"] == START.isoformat()
    assert app.deps().invoker.calls == []


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (AppRecord(PROJECT, "x", "Nope", {"kind": "builtin", "name": "histogram_data_drift"}), "no class 'Nope'"),
        (AppRecord(PROJECT, "x", "A", {"kind": "builtin", "name": "../../etc"}), "is not a module name"),
        (AppRecord(PROJECT, "x", "A", {"kind": "builtin", "name": "missing_app"}), "not found"),
        (AppRecord(PROJECT, "x", "A", {"kind": "ftp"}), "expected 'builtin' or 's3'"),
        (
            AppRecord(
                PROJECT,
                "x",
                "HistogramDataDriftApplication",
                {"kind": "builtin", "name": "histogram_data_drift"},
                {"bogus": 1, "detected_threshold": 9},
            ),
            "expected application_kwargs",
        ),
    ],
)
def test_broken_app_records_fail_with_what_was_expected(app, registered, clients, lambda_context, record, message):
    registered.put_app(record)
    write_events(clients, rows_between(START, 3, f1=1.0, f2=0.0))
    with pytest.raises(ApplicationError, match=message):
        app.handler(window("x"), lambda_context)


def test_a_writer_that_cannot_be_reached_fails_the_window_and_is_counted(
    app, registered, clients, lambda_context, capsys, caplog
):
    class Unreachable:
        def invoke_async(self, function_name, payload):
            raise ConnectionError("writer unreachable")

    app.deps().invoker = Unreachable()
    write_events(clients, rows_between(START, 10, f1=50.0, f2=0.0))
    with pytest.raises(ConnectionError):
        app.handler(window(), lambda_context)
    counted = emf_metrics(capsys.readouterr().out)
    assert counted["WriterInvokeFailures"] == 1
    assert "AppFailures" not in counted  # the app itself ran: Lambda's retry runs it again, the writer keeps one
    [failure] = [r for r in caplog.records if r.getMessage() == "could not hand the outputs to the writer"]
    assert failure.writer == clients.settings.writer_function


def test_unknown_app_or_endpoint_is_not_found(app, registered, lambda_context):
    from driftline.errors import NotFoundError

    with pytest.raises(NotFoundError, match="not registered"):
        app.handler(window("ghost"), lambda_context)


# ------------------------------------------------------------------------------------------ read_window


def test_read_window_reads_only_the_overlapping_hours(clients):
    inside = rows_between(START, 4, f1=[1.0, 2.0, 3.0, 4.0], f2=0.0, step_seconds=60)
    write_events(clients, inside)
    # a file misfiled under hour 15 with times inside the window: not in the window's partitions, never read
    misfiled = rows_between(START + timedelta(seconds=30), 1, f1=99.0, f2=0.0)
    buffer = io.BytesIO()
    pq.write_table(events_table(misfiled), buffer)
    clients.s3.put_object(
        Bucket=clients.settings.bucket,
        Key=f"events/endpoint_id={ENDPOINT_ID}/date=2026-11-26/hour=15/x.parquet",
        Body=buffer.getvalue(),
    )
    write_events(clients, rows_between(START, 2, f1=77.0, f2=0.0), endpoint_id="other")
    df = read_window(clients, ENDPOINT_ID, START, END)
    assert df["f1"].tolist() == [1.0, 2.0, 3.0, 4.0]
    assert "endpoint_id" not in df.columns
    assert "hour" not in df.columns
    assert df["f1"].dtype == np.float64
    assert str(df["timestamp"].dtype) == "datetime64[us, UTC]"


def test_read_window_spans_midnight_and_sorts(clients):
    late = datetime(2026, 11, 26, 23, 58, tzinfo=UTC)
    rows = rows_between(late, 6, f1=np.arange(6.0), f2=0.0, step_seconds=60)  # 23:58 .. 00:03
    write_events(clients, rows.iloc[::-1])  # written out of order
    df = read_window(clients, ENDPOINT_ID, late, late + timedelta(minutes=4))
    assert df["f1"].tolist() == [0.0, 1.0, 2.0, 3.0]


def test_read_window_empty_cases(clients):
    assert read_window(clients, ENDPOINT_ID, START, END).shape == (0, 0)  # no files at all
    write_events(clients, rows_between(START + timedelta(minutes=30), 2, f1=1.0, f2=0.0))
    df = read_window(clients, ENDPOINT_ID, START, END)
    assert df.empty
    assert {"timestamp", "f1", "latency"} <= set(df.columns)  # the dataset's columns, no rows


@pytest.mark.parametrize("bad", ["a/b", "x*", ""])
def test_read_window_refuses_ids_that_would_change_the_path(clients, bad):
    with pytest.raises(InvalidRequestError, match="endpoint id"):
        read_window(clients, bad, START, END)


def test_window_hours():
    assert window_hours(START, END) == [("2026-11-26", "17")]
    assert window_hours(START - timedelta(minutes=1), START + timedelta(hours=1)) == [
        ("2026-11-26", "16"),
        ("2026-11-26", "17"),
    ]


def test_read_window_follows_the_configured_endpoint_url():
    """Against a moto server on loopback (as the local runtime runs): awswrangler's clients must go there."""
    from moto.server import ThreadedMotoServer

    from driftline.aws.clients import Clients
    from driftline.aws.provision import provision
    from driftline.config import Settings

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        settings = provision(Settings(endpoint_url=f"http://{host}:{port}", timestream_enabled=False))
        clients = Clients(settings)
        write_events(clients, rows_between(START, 3, f1=[5.0, 6.0, 7.0], f2=0.0))
        assert read_window(clients, ENDPOINT_ID, START, END)["f1"].tolist() == [5.0, 6.0, 7.0]
    finally:
        server.stop()
