"""SDK serving functions against moto: import_function, add_model, set_tracking, deploy_function (FunctionSpec
and endpoint records), get_function, and invoke against a loopback HTTP server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd
import pytest

import driftline
from driftline.aws.endpoints import Endpoints
from driftline.aws.registry import Registry
from driftline.config import ServingIdentity
from driftline.errors import (
    ConfigurationError,
    InvalidRequestError,
    ModelError,
    NotFoundError,
    PayloadTooLargeError,
)
from driftline.schemas import endpoint_id_for
from driftline.sdk.apps import MonitoringFunction
from driftline.sdk.project import get_or_create_project
from driftline.sdk.serving import ServingFunction, import_function
from tests.models import model_bytes

TRAIN = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": [0.5, 0.1, 0.2, 0.3], "label": [0, 1, 0, 1]})


@pytest.fixture
def project(aws, tmp_path):
    project = get_or_create_project("iris", settings=aws)
    model = tmp_path / "model.pkl"
    model.write_bytes(model_bytes(TRAIN, "label"))
    project.log_model("clf", model_file=model, training_set=TRAIN, label_column="label")
    return project


def test_import_function_knows_only_the_v2_model_server(project):
    fn = driftline.import_function("hub://v2_model_server", project="iris", new_name="serving")
    assert isinstance(fn, ServingFunction)
    assert (fn.name, fn.project, fn.tracking, fn.models) == ("serving", "iris", False, {})
    with pytest.raises(NotFoundError, match=r"unknown function 'hub://sklearn_server'.*hub://v2_model_server"):
        import_function("hub://sklearn_server")
    with pytest.raises(InvalidRequestError, match="function name 'Serving'"):
        import_function("hub://v2_model_server", new_name="Serving")


def test_add_model_validates_the_store_uri_and_defaults_to_latest(project):
    fn = import_function("hub://v2_model_server", project=project, new_name="serving")
    route = fn.add_model("clf", class_name="mlrun.frameworks.sklearn.SklearnModelServer")
    assert route.model_path == "store://models/iris/clf:latest"
    fn.add_model("other", model_path="store://models/iris/clf:1")
    assert sorted(fn.models) == ["clf", "other"]
    for bad in ("s3://bucket/model.pkl", "store://models/iris", "store://models/iris/clf:a/b", "clf"):
        with pytest.raises(InvalidRequestError, match="store://models"):
            fn.add_model("x", model_path=bad)
    with pytest.raises(ConfigurationError, match="model_path is required"):
        import_function("hub://v2_model_server").add_model("clf")
    with pytest.raises(InvalidRequestError, match="model name 'a b'"):
        fn.add_model("a b", model_path="store://models/iris/clf")


@pytest.mark.parametrize("bad", [0, -1, 100.5, float("nan"), True, "50", None])
def test_set_tracking_sampling_must_be_in_0_100(bad):
    fn = import_function("hub://v2_model_server", project="iris")
    with pytest.raises(InvalidRequestError, match="sampling_percentage"):
        fn.set_tracking(sampling_percentage=bad)
    assert fn.tracking is False


def test_deploy_writes_the_function_spec_and_one_endpoint_per_model(project, clients):
    fn = import_function("hub://v2_model_server", project="iris", new_name="serving")
    fn.add_model("clf", model_path="store://models/iris/clf:latest")
    fn.set_tracking(sampling_percentage=50)
    fn.spec.build.requirements = ["scikit-learn"]
    project.deploy_function(fn)

    spec = Registry(clients).get_function("iris", "serving")
    assert (spec.tracking, spec.sampling_percentage) == (True, 50.0)
    assert spec.models["clf"].model_path == "store://models/iris/clf:1"  # pinned to what latest resolved to
    assert spec.deployed
    endpoint_id = endpoint_id_for("iris", "serving", "clf")
    record = Endpoints(clients).get(endpoint_id)
    assert (record.project, record.name, record.function_name, record.model_uri, record.model_version) == (
        "iris",
        "clf",
        "serving",
        "store://models/iris/clf:1",
        "1",
    )
    assert (record.feature_names, record.label_names, record.monitoring) == (["a", "b"], ["label"], True)
    assert fn.endpoint_ids() == {"clf": endpoint_id}

    served = project.get_function("serving")
    assert isinstance(served, ServingFunction)
    assert (served.models["clf"].model_path, served.tracking, served.sampling_percentage) == (
        "store://models/iris/clf:1",
        True,
        50.0,
    )


def test_an_unresolvable_model_writes_nothing(project, clients):
    fn = import_function("hub://v2_model_server", project="iris", new_name="serving")
    fn.add_model("clf")
    fn.add_model("ghost", model_path="store://models/iris/ghost:latest")
    with pytest.raises(NotFoundError, match=r"model 'ghost'.*Nothing was deployed"):
        project.deploy_function(fn)
    with pytest.raises(NotFoundError):
        Registry(clients).get_function("iris", "serving")
    assert Endpoints(clients).list("iris") == []
    with pytest.raises(ConfigurationError, match="routes no model"):
        project.deploy_function(import_function("hub://v2_model_server", project="iris", new_name="empty"))


def test_redeploy_keeps_endpoint_ids_and_stops_monitoring_dropped_models(project, clients, tmp_path):
    fn = import_function("hub://v2_model_server", project="iris", new_name="serving")
    fn.add_model("clf")
    fn.add_model("second", model_path="store://models/iris/clf:1")
    fn.set_tracking()
    project.deploy_function(fn)
    (tmp_path / "model.pkl").write_bytes(model_bytes(TRAIN, "label", seed=1))
    project.log_model("clf", model_file=tmp_path / "model.pkl", training_set=TRAIN, label_column="label")

    again = project.get_function("serving")
    again.remove_model("second")
    again.add_model("clf")  # back to latest, now version 2
    project.deploy_function(again)
    by_name = {e.name: e for e in Endpoints(clients).list("iris")}
    assert by_name["clf"].endpoint_id == endpoint_id_for("iris", "serving", "clf")
    assert (by_name["clf"].model_version, by_name["clf"].monitoring) == ("2", True)
    assert by_name["second"].monitoring is False  # history kept, no longer monitored


def test_get_function_returns_apps_too_and_explains_unknown_names(project, tmp_path):
    app_file = tmp_path / "app.py"
    app_file.write_text(
        "from driftline.applications import ModelMonitoringApplicationBase\n"
        "class A(ModelMonitoringApplicationBase):\n"
        "    def do_tracking(self, monitoring_context):\n"
        "        return None\n"
    )
    project.set_model_monitoring_function(func=app_file, application_class="A", name="a")
    assert isinstance(project.get_function("a"), MonitoringFunction)
    with pytest.raises(NotFoundError, match="has no function 'nope'"):
        project.get_function("nope")
    with pytest.raises(InvalidRequestError, match="expected a ServingFunction"):
        project.deploy_function(42)


# ------------------------------------------------------------------------------------------------ invoke


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.seen.append((self.path, self.headers.get("Content-Type"), body))
        status, answer = self.server.answers.get(self.path, (404, {"error": f"no route {self.path}"}))
        raw = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args):
        pass


@pytest.fixture
def api() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.seen = []
    server.answers = {}
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def _url(api) -> str:
    return f"http://127.0.0.1:{api.server_address[1]}"


def _deployed(project, api):
    fn = import_function("hub://v2_model_server", project="iris", new_name="serving")
    fn.add_model("clf")
    fn.set_tracking()
    served = project.settings.replace(api_url=_url(api) + "/", api_serves=ServingIdentity("iris"))
    project = get_or_create_project("iris", settings=served)
    project.deploy_function(fn)
    return project.get_function("serving")


def test_invoke_posts_json_and_returns_the_parsed_answer(project, api):
    serving = _deployed(project, api)
    api.answers["/v2/models/clf/infer"] = (200, {"model_name": "clf", "outputs": [1]})
    answer = serving.invoke("v2/models/clf/infer", json.dumps({"inputs": [[0.5, 0.5]]}))
    assert answer == {"model_name": "clf", "outputs": [1]}
    assert serving.invoke("/v2/models/clf/infer", {"inputs": [[1.0, 2.0]]}) == answer
    assert [(p, json.loads(b)) for p, _, b in api.seen] == [
        ("/v2/models/clf/infer", {"inputs": [[0.5, 0.5]]}),
        ("/v2/models/clf/infer", {"inputs": [[1.0, 2.0]]}),
    ]
    assert api.seen[0][1] == "application/json"


@pytest.mark.parametrize(
    ("status", "answer", "error", "match"),
    [
        (400, {"error": "inputs[0] must have 2 values"}, InvalidRequestError, "400: inputs\\[0\\] must have 2 values"),
        (404, {"message": "model 'x' is not served"}, NotFoundError, "404: model 'x' is not served"),
        (413, {"error": {"message": "too many rows"}}, PayloadTooLargeError, "413: too many rows"),
        (500, b"boom", ModelError, "500: boom"),
    ],
)
def test_invoke_errors_carry_the_servers_message(project, api, status, answer, error, match):
    serving = _deployed(project, api)
    api.answers["/v2/models/clf/infer"] = (status, answer)
    with pytest.raises(error, match=match):
        serving.invoke("v2/models/clf/infer", {"inputs": [[1, 2]]})


def test_invoke_without_an_api_or_with_nothing_listening_says_what_to_do(project, api):
    fn = import_function("hub://v2_model_server", project="iris", settings=project.settings)
    with pytest.raises(ConfigurationError, match="driftline local up"):
        fn.invoke("v2/models/clf/infer", {"inputs": [[1, 2]]})
    url = _url(api)
    api.shutdown()
    api.server_close()
    closed = import_function("hub://v2_model_server", settings=project.settings.replace(api_url=url))
    with pytest.raises(ConfigurationError, match="cannot reach"):
        closed.invoke("v2/models/clf/infer", {"inputs": [[1, 2]]}, timeout=2)
    with pytest.raises(InvalidRequestError, match="JSON-serialisable"):
        closed.invoke("v2/models/clf/infer", {"inputs": {1, 2}})
