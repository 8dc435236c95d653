"""``project.report`` against moto: results stored by the writer's adapter, rows in the events dataset as the stream
lays them out, the model's profile from ``log_model``; the report shows them for the range asked for."""

from __future__ import annotations

import io
import pickle
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from driftline.aws.results import Results
from driftline.errors import InvalidRequestError
from driftline.schemas import AppMetric, AppOutputs, AppResult, ResultKind, ResultStatus, endpoint_id_for
from driftline.sdk.project import get_or_create_project
from driftline.sdk.serving import import_function
from tests.report_html import integer_ticks, read_report

EID = endpoint_id_for("shop", "serving", "clf")


def _window(hour: int) -> tuple[str, str]:
    return (f"2026-11-26T{hour:02d}:00:00.000000+00:00", f"2026-11-26T{hour:02d}:10:00.000000+00:00")


def _model(training: pd.DataFrame) -> bytes:
    """A real model of the training set (log_model loads it and predicts a few rows): the channel one-hot."""
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    encode = make_column_transformer((OneHotEncoder(), ["channel"]), remainder="passthrough")
    return pickle.dumps(make_pipeline(encode, LogisticRegression()).fit(training[["amount", "channel"]], training["y"]))


@pytest.fixture
def project(aws, clients, tmp_path):
    rng = np.random.default_rng(3)
    project = get_or_create_project("shop", settings=aws)
    training = pd.DataFrame(
        {"amount": rng.normal(50, 10, 500), "channel": rng.choice(["web", "store"], 500), "y": rng.integers(0, 2, 500)}
    )
    (tmp_path / "m.pkl").write_bytes(_model(training))
    project.log_model("clf", model_file=tmp_path / "m.pkl", training_set=training, label_column="y")
    fn = import_function("hub://v2_model_server", project="shop", new_name="serving")
    fn.add_model("clf")
    project.deploy_function(fn)
    results = Results(clients)
    for hour, drift in ((10, 0.9), (11, 0.1)):
        start, end = _window(hour)
        status = ResultStatus.detected if drift > 0.5 else ResultStatus.no_detection
        results.store(
            AppOutputs(
                project="shop",
                endpoint_id=EID,
                application_name="histogram-data-drift",
                start_infer_time=start,
                end_infer_time=end,
                results=(
                    AppResult("general_drift", drift, ResultKind.data_drift, status, {"threshold": {"detected": 0.7}}),
                    AppResult("amount_drift", drift, ResultKind.data_drift, status, {"feature": "amount"}),
                    AppResult("channel_drift", drift, ResultKind.data_drift, status, {"feature": "channel"}),
                ),
                metrics=(AppMetric("rows", 40.0),),
            )
        )
    # the stream's layout: events/endpoint_id=/date=/hour=/...parquet, 40 rows in each window
    for hour, shift in ((10, 40.0), (11, 0.0)):
        rows = pd.DataFrame(
            {
                "timestamp": pd.date_range(f"2026-11-26T{hour:02d}:00:00Z", periods=40, freq="10s"),
                "request_id": [f"r{hour}-{i}" for i in range(40)],
                "latency": rng.integers(1_000, 9_000, 40),
                "amount": rng.normal(50 + shift, 10, 40),
                "channel": ["app"] * 40 if shift else ["web"] * 40,
                "y": rng.integers(0, 2, 40).astype(float),
            }
        )
        body = io.BytesIO()
        rows.to_parquet(body, index=False)
        clients.s3.put_object(
            Bucket=aws.bucket,
            Key=f"events/endpoint_id={EID}/date=2026-11-26/hour={hour:02d}/shard-{hour}.parquet",
            Body=body.getvalue(),
        )
    return project


def test_the_report_of_an_endpoint_over_a_range(project, tmp_path):
    path = project.report(
        tmp_path / "report.html",
        model="clf",
        start=datetime(2026, 11, 26, 9, tzinfo=UTC),
        end=datetime(2026, 11, 26, 12, tzinfo=UTC),
    )
    read = read_report(path.read_text())
    assert read.scripts == 0
    assert read.urls == []
    predictions = read.chart("Predictions over time: y")
    assert integer_ticks(predictions.y_ticks)
    assert [int(t) for t in predictions.y_ticks] == [0, 1]
    assert predictions.points == 80
    general = read.chart("histogram-data-drift / general_drift")
    assert (general.x_title, general.y_title, general.points, general.hlines) == (
        "window end (UTC)",
        "general_drift (no unit)",
        2,
        1,
    )
    assert read.chart("histogram-data-drift / rows").y_title == "rows (no unit)"
    amount = next(c for c in read.charts if c.container == "feature-amount")
    assert amount.x_title.startswith("amount (reference bins")
    assert amount.bars == 44  # reference and window on the 20 bins and the two outer ones
    channel = next(c for c in read.charts if c.container == "feature-channel")
    assert channel.x_title == "channel (category)"
    assert "app" in channel.x_ticks  # a category the training set never had


def test_a_range_keeps_only_its_windows(project, tmp_path):
    path = project.report(tmp_path / "r.html", endpoint=EID, start="2026-11-26T11:00:00Z", end="2026-11-26T12:00:00Z")
    read = read_report(path.read_text())
    assert read.chart("histogram-data-drift / general_drift").points == 1
    assert not any(i.startswith("feature-") for i in read.ids)  # the window in range did not drift
    assert "No feature drifted in this range." in path.read_text()


def test_bad_arguments_say_what_was_expected(project, tmp_path):
    with pytest.raises(InvalidRequestError, match="expected model"):
        project.report(tmp_path / "x.html")
    with pytest.raises(InvalidRequestError, match="must be before"):
        project.report(tmp_path / "x.html", model="clf", start="2026-11-26T12:00:00Z", end="2026-11-26T11:00:00Z")
    with pytest.raises(InvalidRequestError, match="serves model 'clf', not 'other'"):
        project.report(tmp_path / "x.html", model="other", endpoint=EID)
