"""Typos and bad values are refused where they are typed, as a user meets them (SDK and CLI, IAM enforced, the CLI
acting as the SDK's principal): app parameters, model files and training sets, base periods, result queries,
and an app's return value (the same message offline in `driftline evaluate` as in the app function)."""

from __future__ import annotations

import io
import pickle
import re

import pandas as pd
import pytest

from driftline import cli
from driftline.errors import InvalidRequestError
from driftline.sdk.project import get_or_create_project
from driftline.sdk.serving import import_function
from tests.models import model_bytes

TRAIN = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0, 5.0], "b": [5.0, 3.0, 2.0, 1.0, 0.5], "label": [0, 1, 0, 1, 1]})
MY_APP = """
from driftline.applications import (
    ModelMonitoringApplicationBase, ModelMonitoringApplicationResult, ResultKindApp, ResultStatusApp,
)

class MyApp(ModelMonitoringApplicationBase):
    def __init__(self, max_p95_ms: float = 50.0):
        self.max_p95_ms = max_p95_ms

    def do_tracking(self, monitoring_context):
        result = ModelMonitoringApplicationResult(
            name="latency_p95", value=1.0, kind=ResultKindApp.system_performance,
            status=ResultStatusApp.no_detection,
        )
        return [result, "rows"]
"""


@pytest.fixture
def user(iam, monkeypatch, tmp_path):
    """A project, files on disk, and the CLI in a shell whose credentials are the SDK principal's."""
    sdk = iam.clients("sdk")
    for key, value in sdk.settings.to_env().items():
        monkeypatch.setenv(key, value)
    iam.become("sdk", monkeypatch)
    project = get_or_create_project("iris", settings=sdk.settings)
    files = {
        "model": tmp_path / "model.pkl",
        "csv": tmp_path / "train.csv",
        "app": tmp_path / "my_app.py",
        "junk": tmp_path / "not-a-pickle.pkl",
        "sample": tmp_path / "sample.parquet",
    }
    files["model"].write_bytes(model_bytes(TRAIN, "label"))
    TRAIN.to_csv(files["csv"], index=False)
    files["app"].write_text(MY_APP)
    files["junk"].write_text("this is not a model\n")
    TRAIN.drop(columns="label").to_parquet(files["sample"])

    def run(*argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        code = cli.main(list(argv), stdout=out, stderr=err)
        return code, out.getvalue(), err.getvalue()

    yield project, files, run
    assert iam.ledger.report()["denied"] == []


def test_unknown_or_ill_typed_app_parameters_are_refused_with_the_valid_ones(user):
    project, files, run = user
    with pytest.raises(InvalidRequestError, match=r"unknown parameter\(s\) \['thresold'\].*threshold: float \| None"):
        project.set_model_monitoring_function(func="builtin:feature_drift", thresold=0.3)
    with pytest.raises(InvalidRequestError, match=r"\['potential_treshold'\].*potential_threshold: float = 0.5"):
        project.set_model_monitoring_function(func="builtin:histogram_data_drift", name="h", potential_treshold=0.3)
    with pytest.raises(InvalidRequestError, match=r"parameter threshold='high' \(str\) is not float \| None"):
        project.set_model_monitoring_function(func="builtin:feature_drift", threshold="high")
    with pytest.raises(InvalidRequestError, match=r"refused: .*no test statistic 'nope'|refused: .*'nope'"):
        project.set_model_monitoring_function(func="builtin:feature_drift", numeric_test="nope")
    assert project.list_model_monitoring_functions() == []  # nothing was registered

    code, _, err = run(
        "apps", "set", "iris", "--file", str(files["app"]), "--class", "MyApp", "--kwarg", "max_p95_ms=abc"
    )
    assert code == 2
    assert "parameter max_p95_ms='abc' (str) is not float; MyApp takes: max_p95_ms: float = 50.0" in err
    code, _, err = run("apps", "set", "iris", "--file", str(files["app"]), "--class", "MyApp", "--kwarg", "max_p95=1")
    assert code == 2
    assert "unknown parameter(s) ['max_p95']; MyApp takes: max_p95_ms: float = 50.0" in err
    code, out, _ = run(
        "apps", "set", "iris", "--file", str(files["app"]), "--class", "MyApp", "--kwarg", "max_p95_ms=20"
    )
    assert code == 0, out
    assert project.get_function("myapp").application_kwargs == {"max_p95_ms": 20}


def test_model_files_and_training_sets_are_checked_at_log_model(user):
    project, files, run = user
    code, _, err = run("models", "log", "iris", "m", "--file", str(files["junk"]))
    assert code == 2
    assert re.search(r"not-a-pickle.pkl' could not be loaded \(\w+: .*\); expected a model saved with pickle", err)

    (files["model"].parent / "dict.pkl").write_bytes(pickle.dumps({"weights": [1, 2]}))
    with pytest.raises(InvalidRequestError, match="holds a dict, which has no predict"):
        project.log_model("m", model_file=files["model"].parent / "dict.pkl", training_set=TRAIN, label_column="label")

    other = TRAIN.rename(columns={"b": "c"})
    with pytest.raises(InvalidRequestError, match=r"fitted on columns \['a', 'b'\] but the training set's features"):
        project.log_model("m", model_file=files["model"], training_set=other, label_column="label")
    # without the label column the label is taken for a feature: three columns for a two-feature model
    code, _, err = run("models", "log", "iris", "m", "--file", str(files["model"]), "--training-set", str(files["csv"]))
    assert code == 2
    assert "the training set's features are ['a', 'b', 'label']" in err
    assert project.list_models() == []  # nothing was uploaded or registered

    code, out, _ = run(
        "models", "log", "iris", "m", "--file", str(files["model"]), "--training-set", str(files["csv"]),
        "--label-column", "label",
    )  # fmt: skip
    assert code == 0, out


@pytest.mark.parametrize("period", ["100000", "1441"])
def test_out_of_range_base_periods_are_refused_with_the_bounds(user, period, capsys):
    _, _, run = user
    assert run("monitoring", "enable", "iris", "--base-period", "10")[0] == 0
    code, _, err = run("monitoring", "update", "iris", "--base-period", period)
    assert code == 2
    assert f"base_period must be 1..1440 minutes (one minute to one day), got {period}" in err
    # argparse's own refusal (it prints on the process's stderr)
    assert run("monitoring", "update", "iris", "--base-period", "0")[0] == 2
    assert "expected a whole number of minutes >= 1, got '0'" in capsys.readouterr().err
    assert run("monitoring", "update", "iris", "--base-period", "1440")[0] == 0


def test_results_for_an_unknown_app_or_an_inverted_range_are_errors(user):
    project, files, run = user
    project.log_model("m", model_file=files["model"], training_set=TRAIN, label_column="label")
    project.enable_model_monitoring(base_period=10)
    fn = import_function("hub://v2_model_server", project="iris", new_name="serving")
    fn.add_model("m")
    project.deploy_function(fn)  # the endpoint exists; no window has been analysed yet
    code, _, err = run("results", "iris", "m", "--app", "nope")
    assert code == 2
    assert "project 'iris' has no monitoring application 'nope'; applications: ['histogram-data-drift']" in err
    code, out, _ = run("results", "iris", "m", "--app", "histogram-data-drift")
    assert code == 0
    assert "no results" in out
    code, _, err = run("results", "iris", "m", "--since", "1h", "--until", "2h")
    assert code == 2
    assert "--since 1h" in err
    assert "is after --until 2h" in err
    with pytest.raises(InvalidRequestError, match=r"start 2026-11-26T12:00:00.000000\+00:00 is after end"):
        project.get_results("m", start="2026-11-26T12:00:00Z", end="2026-11-26T11:00:00Z")


def test_evaluate_refuses_a_bad_return_value_with_the_runners_message(user, capsys):
    from driftline.applications.base import normalise_outputs
    from driftline.errors import ApplicationError

    _, files, run = user
    code, _, _ = run("evaluate", f"{files['app']}:MyApp", "--sample", str(files["sample"]))
    err = capsys.readouterr().err  # evaluate prints on the process's stderr
    assert code == 2
    expected = "item 1 of the returned list is str 'rows'; expected do_tracking to return"
    assert expected in err
    # the app function's runner normalises with the very same function: same words
    with pytest.raises(ApplicationError, match=re.escape(expected)):
        normalise_outputs([_result(), "rows"], "myapp")
    code, _, _ = run("evaluate", f"{files['app']}:MyApp", "--sample", str(files["sample"]), "--kwargs", '{"x": 1}')
    assert code == 2
    assert "unknown parameter(s) ['x']; MyApp takes: max_p95_ms: float = 50.0" in capsys.readouterr().err


def _result():
    from driftline.applications import ModelMonitoringApplicationResult, ResultKindApp, ResultStatusApp

    return ModelMonitoringApplicationResult(
        name="r", value=1.0, kind=ResultKindApp.data_drift, status=ResultStatusApp.no_detection
    )
