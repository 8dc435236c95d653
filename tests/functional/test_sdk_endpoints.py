"""SDK model endpoints against moto: live figures and minute buckets written into the endpoints table directly
(as the stream function keeps them), read back by name, function/model or id, with MLRun's 5 m / 1 h figures."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pandas as pd
import pytest

from driftline import clock
from driftline.aws.dynamo import to_item
from driftline.aws.endpoints import minute_key
from driftline.errors import InvalidRequestError, NotFoundError
from driftline.schemas import endpoint_id_for
from driftline.sdk.endpoints import ModelEndpoint
from driftline.sdk.project import get_or_create_project
from driftline.sdk.serving import import_function
from tests.models import model_bytes

NOW = datetime(2026, 11, 26, 12, 30, 30, tzinfo=UTC)
TRAIN = pd.DataFrame({"a": [1.0, 2.0, 3.0], "label": [0, 1, 0]})


@pytest.fixture
def project(aws, tmp_path, monkeypatch):
    monkeypatch.setattr(clock, "now", lambda: NOW)
    project = get_or_create_project("iris", settings=aws)
    (tmp_path / "m.pkl").write_bytes(model_bytes(TRAIN, "label"))
    project.log_model("clf", model_file=tmp_path / "m.pkl", training_set=TRAIN, label_column="label")
    fn = import_function("hub://v2_model_server", project="iris", new_name="serving")
    fn.add_model("clf")
    fn.set_tracking()
    project.deploy_function(fn)
    return project


def _live(clients, endpoint_id, **values):
    names = {f"#k{i}": k for i, k in enumerate(values)}
    clients.dynamodb.update_item(
        TableName="driftline-endpoints",
        Key={"endpoint_id": {"S": endpoint_id}, "sk": {"S": "meta"}},
        UpdateExpression="SET " + ", ".join(f"#k{i} = :v{i}" for i in range(len(values))),
        ExpressionAttributeNames=names,
        ExpressionAttributeValues={f":v{i}": to_item({"v": v})["v"] for i, v in enumerate(values.values())},
    )


def _bucket(clients, endpoint_id, hh_mm, requests, predictions, errors, latency_sum_us, **extra):
    minute = datetime.fromisoformat(f"2026-11-26T{hh_mm}:00+00:00")
    item = {
        "endpoint_id": endpoint_id,
        "sk": minute_key(minute),
        "requests": requests,
        "predictions": predictions,
        "errors": errors,
        "latency_sum_us": latency_sum_us,
        "expires_at": 0,
    } | extra
    clients.dynamodb.put_item(TableName="driftline-endpoints", Item=to_item(item))


def test_endpoint_shows_identity_live_figures_and_windowed_figures(project, clients):
    eid = endpoint_id_for("iris", "serving", "clf")
    _live(
        clients,
        eid,
        request_count=10,
        prediction_count=20,
        error_count=1,
        latency_sum_us=50_000,
        latency_count=10,
        last_prediction=json.dumps([1]),
        first_request="2026-11-26T11:00:00.000000+00:00",
        last_request="2026-11-26T12:30:10.000000+00:00",
    )
    _bucket(clients, eid, "12:30", 2, 4, 0, 3_000)  # in both windows
    _bucket(clients, eid, "12:26", 1, 1, 1, 1_000)  # in both
    _bucket(clients, eid, "12:25", 3, 6, 0, 9_000)  # ends 12:26:00, after now - 5 m = 12:25:30: in both
    _bucket(clients, eid, "12:24", 4, 8, 0, 4_000)  # ends 12:25:00, before 12:25:30: the hour only
    _bucket(clients, eid, "11:30", 1, 2, 0, 500)  # ends 11:31:00, after now - 1 h = 11:30:30: the hour only
    _bucket(clients, eid, "11:29", 5, 5, 0, 5_000)  # older than an hour: in neither

    ep = project.get_model_endpoint("clf")
    assert isinstance(ep, ModelEndpoint)
    assert (ep.endpoint_id, ep.name, ep.function_name, ep.model_uri, ep.model_version) == (
        eid,
        "clf",
        "serving",
        "store://models/iris/clf:1",
        "1",
    )
    assert (ep.feature_names, ep.label_names, ep.monitoring) == (["a"], ["label"], True)
    assert (ep.requests, ep.predictions, ep.error_count, ep.average_latency_us) == (10, 20, 1, 5_000.0)
    assert ep.last_prediction == [1]
    assert ep.first_request == datetime(2026, 11, 26, 11, 0, tzinfo=UTC)
    assert ep.last_request == datetime(2026, 11, 26, 12, 30, 10, tzinfo=UTC)

    assert ep.predictions_count_5m == 4 + 1 + 6
    assert ep.latency_avg_5m == pytest.approx((3_000 + 1_000 + 9_000) / 6)
    assert ep.predictions_per_second == pytest.approx(11 / 300)
    assert ep.predictions_count_1h == 4 + 1 + 6 + 8 + 2
    assert ep.latency_avg_1h == pytest.approx(17_500 / 11)
    assert ep.as_of == NOW

    data = json.loads(json.dumps(ep.to_dict()))
    assert data["last_request"] == "2026-11-26T12:30:10.000000+00:00"
    assert data["predictions_count_1h"] == 21


def test_a_bucket_latency_count_is_used_when_present(project, clients):
    eid = endpoint_id_for("iris", "serving", "clf")
    _bucket(clients, eid, "12:30", 4, 4, 2, 6_000, latency_count=2)  # errors carry no latency
    assert project.get_model_endpoint(eid).latency_avg_5m == 3_000.0


def test_a_fresh_endpoint_has_zero_figures_and_no_averages(project):
    ep = project.get_model_endpoint("clf")
    assert (ep.requests, ep.predictions, ep.predictions_count_5m, ep.predictions_per_second) == (0, 0, 0, 0.0)
    assert (ep.average_latency_us, ep.latency_avg_5m, ep.latency_avg_1h, ep.first_request) == (None, None, None, None)


def test_lookup_by_id_name_and_function_slash_model(project, aws):
    eid = endpoint_id_for("iris", "serving", "clf")
    assert project.get_model_endpoint(eid).name == "clf"
    assert project.get_model_endpoint("serving/clf").endpoint_id == eid

    second = import_function("hub://v2_model_server", project="iris", new_name="canary")
    second.add_model("clf")
    project.deploy_function(second)
    assert [e.function_name for e in project.list_model_endpoints()] == ["canary", "serving"]
    assert [e.function_name for e in project.list_model_endpoints(function_name="canary")] == ["canary"]
    with pytest.raises(InvalidRequestError, match=r"matches 2 endpoints.*canary/clf"):
        project.get_model_endpoint("clf")
    assert project.get_model_endpoint("canary/clf").endpoint_id == endpoint_id_for("iris", "canary", "clf")

    with pytest.raises(NotFoundError, match=r"no model endpoint 'ghost'.*serving/clf"):
        project.get_model_endpoint("ghost")
    other = get_or_create_project("other", settings=aws)
    with pytest.raises(NotFoundError, match="no model endpoint"):
        other.get_model_endpoint(eid)  # an id of another project's endpoint
    with pytest.raises(InvalidRequestError, match="expected a model endpoint name or id"):
        project.get_model_endpoint("")


def test_list_without_figures_skips_the_bucket_queries(project, clients):
    _bucket(clients, endpoint_id_for("iris", "serving", "clf"), "12:30", 2, 4, 0, 3_000)
    [ep] = project.list_model_endpoints(with_figures=False)
    assert (ep.name, ep.predictions_count_5m) == ("clf", 0)
    [ep] = project.list_model_endpoints()
    assert ep.predictions_count_5m == 4
