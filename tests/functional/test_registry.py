from __future__ import annotations

import pytest

from driftline.aws.endpoints import Endpoints
from driftline.aws.registry import Registry, parse_model_uri
from driftline.aws.schedules import Schedules
from driftline.errors import ConflictError, NotFoundError
from driftline.records import AppRecord, EndpointRecord, ModelRecord, ProjectConfig


def _model(version: str) -> ModelRecord:
    return ModelRecord(
        project="p",
        name="m",
        version=version,
        uri=f"store://models/p/m:{version}",
        artifact_key=f"artifacts/p/models/m/{version}/model.pkl",
        feature_names=["a", "b"],
        feature_stats={"a": {"mean": 1.5, "hist": [[1, 2], [0.0, 1.0, 2.0]]}},
    )


def test_model_versions_tags_and_immutability(clients):
    reg = Registry(clients)
    assert reg.next_model_version("p", "m") == "1"
    reg.put_model(_model("1"))
    reg.put_model(_model("2"))
    assert reg.next_model_version("p", "m") == "3"
    assert reg.get_model("p", "m").version == "2"  # latest moved
    assert reg.get_model("p", "m", "1").feature_stats["a"]["hist"][1] == [0.0, 1.0, 2.0]
    assert reg.get_model_by_uri("store://models/p/m:latest").version == "2"
    with pytest.raises(ConflictError, match="immutable"):
        reg.put_model(_model("2"))
    with pytest.raises(NotFoundError, match="no tag 'prod'"):
        reg.get_model("p", "m", "prod")


@pytest.mark.parametrize("uri", ["s3://x/y", "store://models/p", "store://models//m", "store://models/p/m/extra"])
def test_bad_model_uris_say_what_is_expected(uri):
    with pytest.raises(NotFoundError, match="expected store://models/<project>/<name>"):
        parse_model_uri(uri)


def test_apps_and_projects_round_trip(clients):
    reg = Registry(clients)
    reg.put_project(ProjectConfig(name="p", base_period_minutes=3, monitoring_enabled=True))
    assert reg.get_project("p").base_period_minutes == 3
    assert reg.get_project("nope") is None
    app = AppRecord("p", "my-app", "Cls", {"kind": "s3", "key": "k", "sha256": "x"}, {"threshold": 0.3})
    reg.put_app(app)
    assert reg.list_apps("p") == [app]
    assert reg.delete_app("p", "my-app") is True
    assert reg.delete_app("p", "my-app") is False


def test_endpoint_identity_update_keeps_live_figures(clients):
    eps = Endpoints(clients)
    rec = EndpointRecord("e1", "p", "m", "serving", "store://models/p/m:latest", feature_names=["a"])
    eps.put_identity(rec)
    clients.dynamodb.update_item(
        TableName=eps.table,
        Key={"endpoint_id": {"S": "e1"}, "sk": {"S": "meta"}},
        UpdateExpression="SET request_count = :n",
        ExpressionAttributeValues={":n": {"N": "7"}},
    )
    eps.put_identity(EndpointRecord("e1", "p", "m", "serving", "store://models/p/m:2", feature_names=["a"]))
    got = eps.get("e1")
    assert (got.request_count, got.model_uri) == (7, "store://models/p/m:2")
    assert [e.endpoint_id for e in eps.list("p")] == ["e1"]
    assert eps.list("other") == []


def test_schedule_enable_disable_and_change_period(clients):
    sch = Schedules(clients)
    assert sch.get("p") is None
    sch.put("p", 10, enabled=True)
    assert (sch.get("p").base_period_minutes, sch.get("p").enabled) == (10, True)
    sch.set_state("p", enabled=False)
    sch.put("p", 1, enabled=True)
    got = sch.get("p")
    assert (got.base_period_minutes, got.enabled, got.project) == (1, True, "p")
    assert [s.name for s in sch.list()] == ["driftline-controller-p"]
