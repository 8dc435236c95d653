"""The CLI in-process against moto: DRIFTLINE_* environment (as `driftline local up` users get through the state
file), human and JSON output, exit codes, and errors as one line on stderr with no traceback."""

from __future__ import annotations

import io
import json
import textwrap
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd
import pytest

from driftline import cli
from driftline.aws.registry import Registry
from driftline.aws.results import Results
from driftline.schemas import AppOutputs, AppResult, ResultKind, ResultStatus, endpoint_id_for
from tests.models import model_bytes

APP = textwrap.dedent(
    """
    from driftline.applications import ModelMonitoringApplicationBase

    class MyApp(ModelMonitoringApplicationBase):
        def __init__(self, threshold=0.5):
            super().__init__(threshold=threshold)

        def do_tracking(self, monitoring_context):
            return None
    """
)


@pytest.fixture
def env(aws, monkeypatch, tmp_path):
    monkeypatch.setenv("DRIFTLINE_HOME", str(tmp_path / "home"))  # no local stack state file is read
    for key, value in aws.to_env().items():
        monkeypatch.setenv(key, value)
    return aws


@pytest.fixture
def files(tmp_path):
    train = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": [4.0, 3.0, 2.0, 1.0], "label": [0, 1, 0, 1]})
    csv = tmp_path / "train.csv"
    train.to_csv(csv, index=False)
    model = tmp_path / "model.pkl"
    model.write_bytes(model_bytes(train, "label"))
    app = tmp_path / "my_app.py"
    app.write_text(APP)
    return {"csv": str(csv), "model": str(model), "app": str(app)}


def run(*argv):
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def ok(*argv):
    code, out, err = run(*argv)
    assert code == 0, err
    return out, err


def test_the_seed_flow_through_the_cli(env, clients, files):
    out, _ = ok("project", "create", "iris")
    assert "project 'iris' ready" in out

    out, _ = ok(
        "models", "log", "iris", "clf", "--file", files["model"], "--training-set", files["csv"], "--label-column",
        "label", "--framework", "sklearn",
    )  # fmt: skip
    assert "logged store://models/iris/clf:1" in out
    assert "features  a, b" in out
    listed = json.loads(ok("--json", "models", "list", "iris")[0])
    assert [(m["name"], m["version"], m["features"], m["training_rows"]) for m in listed] == [("clf", "1", 2, 4)]

    out, err = ok("monitoring", "enable", "iris", "--base-period", "5")
    assert "warning: base_period=5 minutes" in err
    assert "not for production" in err
    assert "ENABLED every 5 min" in out
    assert "histogram-data-drift" in out

    code, out, err = run("monitoring", "enable", "iris", "--base-period", "7")
    assert (code, out) == (2, "")
    assert err.startswith("error: model monitoring is already enabled")
    assert "disable_model_monitoring() first" in err
    assert "Traceback" not in err

    out, err = ok("apps", "set", "iris", "--file", files["app"], "--class", "MyApp", "--kwarg", "threshold=0.3")
    assert "warning: application name 'MyApp' is used as 'myapp'" in err
    assert "not deployed" in out
    out, _ = ok("apps", "deploy", "iris", "myapp")
    assert "deployed" in out
    apps = json.loads(ok("apps", "list", "iris", "--json")[0])
    assert [(a["name"], a["deployed"], a["application_kwargs"]) for a in apps] == [
        ("histogram-data-drift", True, {}),
        ("myapp", True, {"threshold": 0.3}),
    ]

    out, _ = ok("serving", "deploy", "iris", "--model", "clf", "--sampling", "50")
    eid = endpoint_id_for("iris", "serving", "clf")
    assert "tracking on, sampling 50%" in out
    assert eid in out
    assert Registry(clients).get_function("iris", "serving").sampling_percentage == 50.0

    out, _ = ok("endpoints", "list", "iris")
    assert out.splitlines()[0].split()[:3] == ["NAME", "FUNCTION", "ENDPOINT_ID"]
    assert out.splitlines()[2].split()[:3] == ["clf", "serving", eid]
    got = json.loads(ok("--json", "endpoints", "get", "iris", "clf")[0])
    assert (got["endpoint_id"], got["model_uri"], got["feature_names"]) == (
        eid,
        "store://models/iris/clf:1",
        ["a", "b"],
    )

    Results(clients).store(
        AppOutputs(
            project="iris",
            endpoint_id=eid,
            application_name="histogram-data-drift",
            start_infer_time="2026-11-26T10:00:00+00:00",
            end_infer_time="2026-11-26T10:05:00+00:00",
            results=(AppResult("general_drift", 0.75, ResultKind.data_drift, ResultStatus.detected),),
        )
    )
    out, _ = ok("results", "iris", "clf")
    assert out.splitlines()[2].split() == [
        "2026-11-26", "10:00:00", "2026-11-26", "10:05:00", "histogram-data-drift", "general_drift", "0.75",
        "detected", "data_drift",
    ]  # fmt: skip
    rows = json.loads(ok("results", "iris", eid, "--json", "--since", "2026-11-26T09:00:00Z")[0])
    assert rows[0]["result_value"] == 0.75
    assert rows[0]["start_infer_time"] == "2026-11-26T10:00:00+00:00"
    out, _ = ok("results", "iris", "clf", "--since", "2026-11-26T11:00:00Z")
    assert "(no results in that range)" in out

    out, _ = ok("monitoring", "disable", "iris")
    assert "DISABLED" in out
    assert "removed applications: histogram-data-drift" in out
    status = json.loads(ok("monitoring", "status", "iris", "--json")[0])
    assert (status["monitoring_enabled"], status["schedule"]["state"]) == (False, "DISABLED")
    ok("monitoring", "enable", "iris", "--base-period", "15")
    assert json.loads(ok("monitoring", "status", "iris", "--json")[0])["schedule"]["rate_minutes"] == 15

    out, _ = ok("apps", "remove", "iris", "myapp")
    assert "removed myapp" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ("models", "list", "ghost"),
            "project 'ghost' does not exist; create it with `driftline project create ghost`",
        ),
        (("project", "create", "Bad_Name"), "lowercase DNS-like"),
        (("models", "log", "iris", "m", "--file", "/nonexistent/model.pkl"), "no such file"),
        (("models", "log", "iris", "m", "--file", "{model}", "--label-column", "y"), "--label-column needs"),
        (("models", "log", "iris", "m", "--file", "{model}", "--training-set", "{csv}", "--label-column", "y"), "'y'"),
        (("apps", "set", "iris", "--file", "{app}", "--class", "Nope"), "defines no class 'Nope'"),
        (("apps", "set", "iris", "--file", "{app}", "--class", "MyApp", "--kwarg", "name=x"), "own parameters"),
        (("apps", "remove", "iris", "ghost"), "not registered"),
        (("apps", "deploy", "iris", "ghost"), "has no function 'ghost'"),
        (("serving", "deploy", "iris", "--model", "ghost"), "Nothing was deployed"),
        (("endpoints", "get", "iris", "ghost"), "no model endpoint 'ghost'"),
        (("results", "iris", "ghost"), "no model endpoint 'ghost'"),
        (("monitoring", "update", "iris", "--base-period", "3"), "not enabled"),
        (
            ("invoke", "iris", "clf", "--data", "[[1, 2]]"),
            "serving function 'serving' is not deployed in project 'iris'",
        ),
    ],
)
def test_driftline_errors_are_one_line_on_stderr_with_exit_2(env, files, argv, message):
    ok("project", "create", "iris")
    code, out, err = run(*(a.format(**files) for a in argv))
    assert code == 2
    assert out == ""
    assert err.splitlines()[-1].startswith("error: ")
    assert message in err
    assert "Traceback" not in err


def test_an_aws_failure_exits_1_with_a_hint(env, monkeypatch):
    monkeypatch.setenv("DRIFTLINE_REGISTRY_TABLE", "no-such-table")
    code, _out, err = run("project", "create", "iris")
    assert code == 1
    assert "an AWS call failed" in err
    assert "driftline local up" in err
    assert "Traceback" not in err


class _Serving(BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.seen.append((self.path, body))
        if self.path == "/v2/models/clf/infer":
            status, answer = 200, {"model_name": "clf", "model_version": "1", "outputs": [0] * len(body["inputs"])}
        else:
            status, answer = 404, {"error": "no model"}
        raw = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args):
        pass


def test_invoke_sends_rows_to_the_api(env, files, monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Serving)
    server.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("DRIFTLINE_API_URL", f"http://127.0.0.1:{server.server_address[1]}")
        monkeypatch.setenv("DRIFTLINE_PROJECT", "iris")  # the project this API serves
        ok("project", "create", "iris")
        ok(
            "models",
            "log",
            "iris",
            "clf",
            "--file",
            files["model"],
            "--training-set",
            files["csv"],
            "--label-column",
            "label",
        )
        ok("serving", "deploy", "iris", "--model", "clf")
        answer = json.loads(ok("invoke", "iris", "clf", "--data", "[[1, 2], [3, 4]]", "--json")[0])
        assert answer["outputs"] == [0, 0]
        assert server.seen == [("/v2/models/clf/infer", {"inputs": [[1, 2], [3, 4]]})]
        code, _, err = run("invoke", "iris", "other", "--data", "[[1, 2]]")
        assert code == 2
        assert "routes no model 'other'; it routes ['clf']" in err
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
