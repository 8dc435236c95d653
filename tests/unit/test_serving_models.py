from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from driftline.config import ServingIdentity
from driftline.errors import NotFoundError, ServiceUnavailableError, StorageError
from driftline.records import FunctionSpec, ModelRecord, ModelRoute
from driftline.schemas import endpoint_id_for
from driftline.serving.models import (
    ModelLoadError,
    ModelStore,
    is_string_feature,
    signature_for,
)

IDENTITY = ServingIdentity(project="p", serving_function="serving")


class Model:
    n_features_in_ = 2

    def __init__(self, tag: str = "") -> None:
        self.tag = tag

    def predict(self, x: Any) -> Any:
        return np.zeros(len(x))


class NamedModel(Model):
    feature_names_in_ = np.array(["x1", "x2"], dtype=object)


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 26, 17, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class FakeRegistry:
    def __init__(self) -> None:
        self.spec = FunctionSpec(
            "p", "serving", models={"m": ModelRoute("m", "store://models/p/m:latest")}, tracking=True
        )
        self.latest = "1"
        self.calls: list[str] = []
        self.failing: Exception | None = None

    def _call(self, what: str) -> None:
        self.calls.append(what)
        if self.failing is not None:
            raise self.failing

    def get_function(self, project: str, name: str) -> FunctionSpec:
        self._call("function")
        if (project, name) != ("p", "serving"):
            raise NotFoundError(f"serving function {name!r} is not deployed in project {project!r}")
        return self.spec

    def _record(self, version: str) -> ModelRecord:
        if version not in {"1", "2"}:
            raise NotFoundError(f"model 'm' version {version} not found in project 'p'")
        key = f"artifacts/p/models/m/{version}/model.pkl"
        uri = f"store://models/p/m:{version}"
        return ModelRecord("p", "m", version, uri, key, feature_names=["a", "b"], label_names=["y"])

    def get_model(self, project: str, name: str, tag: str = "latest") -> ModelRecord:
        self._call(f"model:{tag}")
        return self._record(self.latest if tag == "latest" else tag)

    def get_model_by_uri(self, uri: str) -> ModelRecord:
        self._call(f"uri:{uri}")
        return self._record(self.latest)

    def list_models(self, project: str) -> list[ModelRecord]:
        return [self._record("2"), self._record("1")]


class FakeArtifacts:
    bucket = "own-bucket"

    def __init__(self) -> None:
        self.gets: list[str] = []

    def get(self, key: str) -> bytes:
        self.gets.append(key)
        if "missing" in key:
            raise NotFoundError(f"s3://own-bucket/{key} does not exist")
        if "junk" in key:
            return b"not a pickle"
        return pickle.dumps(Model(tag=key))


@pytest.fixture
def parts():
    registry, artifacts, now = FakeRegistry(), FakeArtifacts(), FakeClock()
    store = ModelStore(IDENTITY, registry, artifacts, ttl_seconds=30, now=now, loader=pickle.loads)
    return store, registry, artifacts, now


def test_spec_and_resolution_are_read_once_per_ttl(parts):
    store, registry, artifacts, now = parts
    for _ in range(5):
        assert store.spec().tracking is True
        served = store.get("m")
    assert registry.calls == ["function", "uri:store://models/p/m:latest"]
    assert artifacts.gets == ["artifacts/p/models/m/1/model.pkl"]
    assert served.endpoint_id == endpoint_id_for("p", "serving", "m")
    assert (served.version, served.uri, served.project) == ("1", "store://models/p/m:1", "p")
    assert served.signature.feature_names == ("a", "b")
    now.advance(29)
    store.get("m")
    assert len(registry.calls) == 2
    now.advance(2)
    store.get("m")
    assert registry.calls[2:] == ["function", "uri:store://models/p/m:latest"]
    assert len(artifacts.gets) == 1  # the same version is never loaded twice


def test_serve_gives_the_spec_and_the_model_on_one_reading_of_the_clock(parts):
    store, registry, _, now = parts
    readings: list[datetime] = []
    store._now = lambda: readings.append(now()) or now()
    spec, served = store.serve("m")
    assert (spec, served) == (store.spec(), store.get("m"))
    readings.clear()
    assert store.serve("m") == (spec, served)
    assert len(readings) == 1  # warm: one reading for both entries (spec() then get() took three)
    registry.latest = "2"
    now.advance(31)
    spec, served = store.serve("m")
    assert (spec.tracking, served.version) == (True, "2")
    with pytest.raises(NotFoundError, match="served models: m"):
        store.serve("other")


def test_a_moved_latest_tag_is_picked_up_after_the_ttl(parts):
    store, registry, _, now = parts
    assert store.get("m").version == "1"
    registry.latest = "2"
    assert store.get("m").version == "1"
    now.advance(31)
    served = store.get("m")
    assert served.version == "2"
    assert served.model.tag == "artifacts/p/models/m/2/model.pkl"


def test_a_redeployed_spec_is_picked_up_after_the_ttl(parts):
    store, registry, _, now = parts
    assert store.model_names() == ["m"]
    registry.spec = FunctionSpec("p", "serving", models={"n": ModelRoute("n", "store://models/p/m:1")})
    now.advance(31)
    assert store.model_names() == ["n"]
    assert store.spec().tracking is False
    with pytest.raises(NotFoundError, match="model 'm' is not served by function 'serving' of project 'p'; served"):
        store.get("m")


def test_an_unreachable_registry_serves_the_cached_entries(parts):
    store, registry, _, now = parts
    store.get("m")
    registry.failing = ConnectionError("registry down")
    now.advance(31)
    assert store.get("m").version == "1"
    assert store.spec().tracking is True


def test_a_registry_adapter_failure_is_a_hiccup_not_an_answer(parts):
    """The registry adapter raises StorageError (a DriftlineError) when DynamoDB fails: the cached entry is served
    as for any other failure, never a 5xx over it; with nothing cached, 503 names what failed underneath."""
    store, registry, _, now = parts
    store.get("m")
    underneath = ConnectionError("registry down")
    failure = StorageError("reading project#p function#serving failed")
    failure.__cause__ = underneath
    registry.failing = failure
    now.advance(31)
    assert store.get("m").version == "1"
    fresh = ModelStore(IDENTITY, registry, parts[2])
    with pytest.raises(ServiceUnavailableError, match=r"the registry cannot be read \(ConnectionError\)"):
        fresh.spec()


def test_an_unreachable_registry_with_nothing_cached_is_503(parts):
    store, registry, _, _ = parts
    registry.failing = ConnectionError("registry down")
    with pytest.raises(ServiceUnavailableError, match="the registry cannot be read") as caught:
        store.spec()
    assert caught.value.status_code == 503


def test_explicit_versions_and_their_errors(parts):
    store, _, _, _ = parts
    assert store.get("m", "2").version == "2"
    assert store.get("m").version == "1"
    with pytest.raises(NotFoundError, match="version 7 not found"):
        store.get("m", "7")
    assert store.versions("m") == ["1", "2"]


@pytest.mark.parametrize(
    ("key", "message"),
    [("artifacts/missing.pkl", "does not exist"), ("artifacts/junk.pkl", "UnpicklingError")],
)
def test_unloadable_models_are_503(parts, key, message):
    store, registry, _, _ = parts
    registry.spec = FunctionSpec("p", "serving", models={"m": ModelRoute("m", f"s3://own-bucket/{key}")})
    with pytest.raises(ModelLoadError, match=message) as caught:
        store.get("m")
    assert caught.value.status_code == 503


def test_s3_routes_load_only_from_the_installations_bucket(parts):
    store, registry, _, _ = parts
    registry.spec = FunctionSpec("p", "serving", models={"m": ModelRoute("m", "s3://own-bucket/models/m.pkl")})
    served = store.get("m")
    assert (served.version, served.uri) == ("", "s3://own-bucket/models/m.pkl")
    assert served.signature.feature_names == ("feature_0", "feature_1")  # from n_features_in_
    with pytest.raises(NotFoundError, match="has no versions"):
        store.get("m", "1")
    registry.spec = FunctionSpec("p", "serving", models={"x": ModelRoute("x", "s3://elsewhere/m.pkl")})
    store._spec = None
    with pytest.raises(ModelLoadError, match="only models from that bucket are loaded"):
        store.get("x")


def test_objects_without_predict_are_refused():
    store = ModelStore(IDENTITY, FakeRegistry(), FakeArtifacts(), loader=lambda data: object())
    with pytest.raises(ModelLoadError, match="has no predict"):
        store.get("m")


def test_loaded_models_are_evicted_least_recently_used_first(parts):
    registry, artifacts, now = FakeRegistry(), FakeArtifacts(), FakeClock()
    store = ModelStore(IDENTITY, registry, artifacts, now=now, loader=pickle.loads, max_loaded=1)
    store.get("m", "1")
    store.get("m", "2")
    now.advance(31)
    store.get("m", "1")
    assert artifacts.gets == [f"artifacts/p/models/m/{v}/model.pkl" for v in ("1", "2", "1")]


def test_signature_from_the_record_and_from_the_model():
    stats = {"b": {"count": 3, "unique": 2, "top": "x", "freq": 2}}
    record = ModelRecord("p", "m", "1", "u", "k", feature_names=["a", "b"], label_names=["y"], feature_stats=stats)
    signature = signature_for(record, Model(), "m")
    assert (signature.feature_names, signature.label_names, signature.string_features) == (("a", "b"), ("y",), {1})
    assert signature_for(None, NamedModel(), "m").feature_names == ("x1", "x2")
    record.feature_names = ["a", "b", "c"]
    with pytest.raises(ModelLoadError, match="lists 3 features but the model was fitted on 2"):
        signature_for(record, Model(), "m")
    with pytest.raises(ModelLoadError, match="features are unknown"):
        signature_for(None, object(), "m")


@pytest.mark.parametrize(
    ("stats", "expected"),
    [
        ({"mean": 1.0, "hist": [[1], [0, 1]]}, False),
        ({"count": 3, "unique": 2, "top": "a"}, True),
        ({"type": "string"}, True),
        ({"dtype": "float64", "top": "odd"}, False),
        (None, False),
    ],
)
def test_string_features_are_told_by_their_reference_statistics(stats, expected):
    assert is_string_feature(stats) is expected


def test_model_input_is_a_matrix_or_a_frame_with_the_fitted_names(parts):
    store, *_ = parts
    served = store.get("m")
    matrix = served.model_input([[1, 2], [3, 4.5]])
    assert matrix.dtype == np.float64
    assert matrix.tolist() == [[1.0, 2.0], [3.0, 4.5]]
    named = type(served)(**{**served.__dict__, "model": NamedModel()})
    frame = named.model_input([[1, 2]])
    assert list(frame.columns) == ["x1", "x2"]
    assert named.event_label_names == ["y"]
