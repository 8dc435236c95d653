"""SDK results and metrics against moto: rows stored in the results table (the documented key layout, through
the writer's adapter and one item put by hand), read back as MLRun-shaped DataFrames by endpoint name or id."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pandas as pd
import pytest

from driftline.aws.dynamo import to_item
from driftline.aws.results import Results
from driftline.errors import InvalidRequestError, NotFoundError
from driftline.schemas import AppMetric, AppOutputs, AppResult, ResultKind, ResultStatus, endpoint_id_for
from driftline.sdk.project import get_or_create_project
from driftline.sdk.results import METRIC_COLUMNS, RESULT_COLUMNS, frame
from driftline.sdk.serving import import_function
from tests.models import model_bytes

EID = endpoint_id_for("iris", "serving", "clf")


def _window(hour: int) -> tuple[str, str]:
    return (f"2026-11-26T{hour:02d}:00:00.000000+00:00", f"2026-11-26T{hour:02d}:10:00.000000+00:00")


@pytest.fixture
def project(aws, clients, tmp_path):
    project = get_or_create_project("iris", settings=aws)
    train = pd.DataFrame({"a": [1.0, 2.0], "y": [0, 1]})
    (tmp_path / "m.pkl").write_bytes(model_bytes(train, "y"))
    project.log_model(
        "clf",
        model_file=tmp_path / "m.pkl",
        training_set=train,
        label_column="y",
    )
    fn = import_function("hub://v2_model_server", project="iris", new_name="serving")
    fn.add_model("clf")
    project.deploy_function(fn)
    results = Results(clients)
    for hour, value, status in ((10, 0.8, ResultStatus.detected), (11, 0.1, ResultStatus.no_detection)):
        start, end = _window(hour)
        results.store(
            AppOutputs(
                project="iris",
                endpoint_id=EID,
                application_name="histogram-data-drift",
                start_infer_time=start,
                end_infer_time=end,
                results=(AppResult("general_drift", value, ResultKind.data_drift, status, {"tvd": value / 2}),),
                metrics=(AppMetric("hellinger_mean", value / 3),),
            )
        )
    # one item put by hand per the documented layout: pk endpoint_id, sk r#{app}#{result}#{start_iso}
    start, end = _window(12)
    clients.dynamodb.put_item(
        TableName="driftline-results",
        Item=to_item(
            {
                "pk": EID,
                "sk": f"r#myapp#rows#{start}",
                "endpoint_id": EID,
                "application_name": "myapp",
                "result_name": "rows",
                "result_value": 150,
                "result_kind": 3,
                "result_status": -1,
                "result_extra_data": json.dumps({"note": "hand made"}),
                "start_infer_time": start,
                "end_infer_time": end,
            }
        ),
    )
    return project


def test_results_come_back_with_mlrun_columns_and_datetimes(project):
    df = project.get_results("clf")
    assert list(df.columns) == RESULT_COLUMNS
    assert len(df) == 3
    assert df["application_name"].tolist() == ["histogram-data-drift", "histogram-data-drift", "myapp"]
    assert df["result_value"].tolist() == pytest.approx([0.8, 0.1, 150.0])
    assert df["result_status"].tolist() == [2, 0, -1]
    assert df["result_kind"].tolist() == [0, 0, 3]
    assert df["result_extra_data"].tolist()[0] == {"tvd": 0.4}
    assert df["result_extra_data"].tolist()[2] == {"note": "hand made"}
    assert str(df["start_infer_time"].dtype).startswith("datetime64")
    assert df["start_infer_time"].iloc[0] == pd.Timestamp("2026-11-26T10:00:00Z")
    assert df["end_infer_time"].iloc[2] == pd.Timestamp("2026-11-26T12:10:00Z")


def test_filters_by_app_and_time_and_accepts_the_endpoint_id(project):
    only_app = project.get_results(EID, application_name="myapp")
    assert only_app["result_name"].tolist() == ["rows"]
    since = project.get_results("serving/clf", start="2026-11-26T11:00:00Z")
    assert since["start_infer_time"].dt.hour.tolist() == [11, 12]
    until = project.get_results("clf", end=datetime(2026, 11, 26, 11, 10, tzinfo=UTC))
    assert until["start_infer_time"].dt.hour.tolist() == [10, 11]
    assert project.get_results("clf", start="2026-11-27T00:00:00Z").empty
    assert list(project.get_results("clf", start="2026-11-27T00:00:00Z").columns) == RESULT_COLUMNS


def test_metrics_and_latest_results(project):
    metrics = project.get_metrics("clf")
    assert list(metrics.columns) == METRIC_COLUMNS
    assert metrics["metric_value"].tolist() == pytest.approx([0.8 / 3, 0.1 / 3])
    latest = project.get_latest_results("clf")
    assert latest[["application_name", "result_name"]].values.tolist() == [["histogram-data-drift", "general_drift"]]
    assert latest["result_value"].tolist() == pytest.approx([0.1])  # the newest window's value


def test_bad_endpoints_and_times_are_refused(project):
    with pytest.raises(NotFoundError, match="no model endpoint 'nope'"):
        project.get_results("nope")
    with pytest.raises(InvalidRequestError, match="ISO 8601"):
        project.get_results("clf", start="yesterday")
    with pytest.raises(InvalidRequestError, match="UTC offset"):
        project.get_results("clf", start="2026-11-26T10:00:00")


def test_frame_of_no_rows_has_the_columns_and_dtypes():
    df = frame([], RESULT_COLUMNS)
    assert list(df.columns) == RESULT_COLUMNS
    assert df.empty
    assert str(df["end_infer_time"].dtype).startswith("datetime64")
    assert df["result_value"].dtype == "float64"
