"""SDK monitoring applications against moto: file and class checks, the content-addressed upload, records."""

from __future__ import annotations

import hashlib
import logging
import textwrap

import pytest

from driftline.aws.artifacts import Artifacts
from driftline.aws.registry import Registry
from driftline.errors import ApplicationError, ConflictError, InvalidRequestError, NotFoundError
from driftline.sdk.project import get_or_create_project

APP_SOURCE = textwrap.dedent(
    """
    from dataclasses import dataclass

    from driftline.applications import ModelMonitoringApplicationBase


    @dataclass
    class Helper:  # a dataclass makes the import need its module in sys.modules
        x: int = 1


    class DemoMonitoringApp(ModelMonitoringApplicationBase):
        def __init__(self, threshold: float = 0.5, columns: list | None = None) -> None:
            super().__init__(threshold=threshold, columns=columns)
            self.threshold = threshold

        def do_tracking(self, monitoring_context):
            return {"rows": 1.0}


    class Unfinished(ModelMonitoringApplicationBase):
        pass


    class NotAnApp:
        pass
    """
)


@pytest.fixture
def project(aws):
    return get_or_create_project("iris", settings=aws)


@pytest.fixture
def app_file(tmp_path):
    path = tmp_path / "demo_app.py"
    path.write_text(APP_SOURCE)
    return path


def test_set_uploads_the_source_by_sha_and_registers_an_undeployed_app(project, clients, app_file):
    app = project.set_model_monitoring_function(
        func=str(app_file), application_class="DemoMonitoringApp", name="demo-app", threshold=0.3
    )
    sha = hashlib.sha256(app_file.read_bytes()).hexdigest()
    key = f"artifacts/iris/apps/demo-app/{sha}.py"
    assert app.source == {"kind": "s3", "key": key, "sha256": sha}
    assert Artifacts(clients).get(key) == app_file.read_bytes()
    record = Registry(clients).get_app("iris", "demo-app")
    assert (record.application_class, record.application_kwargs, record.deployed) == (
        "DemoMonitoringApp",
        {"threshold": 0.3},
        False,  # monitoring does not start until the function is deployed
    )
    assert app.registered is True


def test_name_defaults_to_the_class_name_normalised_and_says_so(project, app_file, caplog):
    caplog.set_level(logging.WARNING)
    app = project.set_model_monitoring_function(func=app_file, application_class="DemoMonitoringApp")
    assert app.name == "demomonitoringapp"
    seed = project.set_model_monitoring_function(func=app_file, application_class="DemoMonitoringApp", name="myApp")
    assert seed.name == "myapp"
    said = [r for r in caplog.records if "normalised" in r.getMessage()]
    assert [(r.requested_name, r.application_name) for r in said] == [
        ("DemoMonitoringApp", "demomonitoringapp"),
        ("myApp", "myapp"),
    ]
    assert sorted(f.name for f in project.list_model_monitoring_functions()) == ["demomonitoringapp", "myapp"]


def test_deploy_marks_deployed_and_setting_identical_code_again_keeps_it(project, clients, app_file):
    app = project.set_model_monitoring_function(func=app_file, application_class="DemoMonitoringApp", name="a")
    deployed = project.deploy_function(app)
    assert deployed.deployed is True
    assert Registry(clients).get_app("iris", "a").deployed is True

    project.set_model_monitoring_function(func=app_file, application_class="DemoMonitoringApp", name="a")
    assert Registry(clients).get_app("iris", "a").deployed is True  # nothing changed: still running

    project.set_model_monitoring_function(func=app_file, application_class="DemoMonitoringApp", name="a", threshold=1)
    record = Registry(clients).get_app("iris", "a")
    assert (record.deployed, record.application_kwargs) == (False, {"threshold": 1})  # new arguments: redeploy
    app_file.write_text(APP_SOURCE + "\n# changed\n")
    newer = project.set_model_monitoring_function(func=app_file, application_class="DemoMonitoringApp", name="a")
    assert newer.source != app.source
    with pytest.raises(ConflictError, match="deploy the current one"):
        project.deploy_function(app)  # the stale object: its code is no longer the registered one
    assert project.deploy_function("a").deployed is True  # by name: the registered code


def test_list_get_remove_and_the_112_delete_alias(project, clients, app_file):
    for name in ("a", "b", "c"):
        project.set_model_monitoring_function(func=app_file, application_class="DemoMonitoringApp", name=name)
    assert [f.name for f in project.list_model_monitoring_functions(name="b")] == ["b"]
    assert project.get_function("b").application_class == "DemoMonitoringApp"
    assert project.remove_model_monitoring_function("a") == ["a"]
    with pytest.raises(NotFoundError, match=r"\['ghost'\]"):
        project.delete_model_monitoring_function(["b", "ghost"])
    assert sorted(a.name for a in Registry(clients).list_apps("iris")) == ["b", "c"]  # nothing removed
    assert project.delete_model_monitoring_function(["b", "c"]) == ["b", "c"]
    assert project.list_model_monitoring_functions() == []


def test_create_checks_and_uploads_but_does_not_register(project, clients, app_file):
    app = project.create_model_monitoring_function(func=app_file, application_class="DemoMonitoringApp", name="t")
    assert app.registered is False
    assert Artifacts(clients).get(app.source["key"]) == app_file.read_bytes()
    assert Registry(clients).list_apps("iris") == []
    with pytest.raises(NotFoundError, match="call set_model_monitoring_function first"):
        project.deploy_function(app)


def test_a_builtin_app_is_registered_by_name_with_nothing_uploaded(project, clients):
    """A plain install registers a built-in (no checkout, no file): the record names the module."""
    app = project.set_model_monitoring_function(func="builtin:feature_drift", alpha=0.01)
    assert (app.name, app.application_class, app.source, app.application_kwargs) == (
        "feature-drift",
        "FeatureDriftApplication",
        {"kind": "builtin", "name": "feature_drift"},
        {"alpha": 0.01},
    )
    assert clients.s3.list_objects_v2(Bucket=project.settings.bucket).get("KeyCount", 0) == 0
    assert project.deploy_function(app).deployed is True
    again = project.set_model_monitoring_function(func="builtin:feature_drift", alpha=0.01)
    assert again.deployed is True  # the same module and arguments: still running
    quality = project.set_model_monitoring_function(
        func="builtin:data_quality", application_class="DataQualityApplication", name="dq"
    )
    assert quality.source == {"kind": "builtin", "name": "data_quality"}
    with pytest.raises(InvalidRequestError, match="expected one of"):
        project.set_model_monitoring_function(func="builtin:nope")
    with pytest.raises(InvalidRequestError, match="reserved for the built-in"):
        project.set_model_monitoring_function(func="builtin:histogram_data_drift")
    # registered by the user, so the user's to remove with the user applications
    assert sorted(project.disable_model_monitoring(delete_user_applications=True)) == ["dq", "feature-drift"]


@pytest.mark.parametrize(
    ("cls", "kwargs", "error", "match"),
    [
        ("Missing", {}, ApplicationError, r"defines no class 'Missing'.*DemoMonitoringApp"),
        ("NotAnApp", {}, ApplicationError, "not a subclass of ModelMonitoringApplicationBase"),
        ("Unfinished", {}, ApplicationError, "does not implement do_tracking"),
        (
            "DemoMonitoringApp",
            {"treshold": 0.3},
            InvalidRequestError,
            r"unknown parameter\(s\) \['treshold'\]; DemoMonitoringApp takes: threshold: float = 0.5",
        ),
        ("DemoMonitoringApp", {"threshold": {1, 2}}, InvalidRequestError, "JSON-serialisable"),
    ],
)
def test_bad_classes_and_kwargs_are_refused_before_anything_is_written(
    project, clients, app_file, cls, kwargs, error, match
):
    with pytest.raises(error, match=match):
        project.set_model_monitoring_function(func=app_file, application_class=cls, name="x", **kwargs)
    assert Registry(clients).list_apps("iris") == []
    assert clients.s3.list_objects_v2(Bucket=project.settings.bucket).get("KeyCount", 0) == 0


def test_bad_files_and_names(project, tmp_path, app_file):
    with pytest.raises(NotFoundError, match="no such file"):
        project.set_model_monitoring_function(func=tmp_path / "nope.py", application_class="X")
    text = tmp_path / "app.txt"
    text.write_text(APP_SOURCE)
    with pytest.raises(InvalidRequestError, match=r"expected a \.py file"):
        project.set_model_monitoring_function(func=text, application_class="DemoMonitoringApp")
    broken = tmp_path / "broken.py"
    broken.write_text("import does_not_exist_anywhere\n")
    with pytest.raises(ApplicationError, match=r"could not import .*ModuleNotFoundError"):
        project.set_model_monitoring_function(func=broken, application_class="X")
    with pytest.raises(InvalidRequestError, match="reserved for the built-in"):
        project.set_model_monitoring_function(
            func=app_file, application_class="DemoMonitoringApp", name="histogram-data-drift"
        )
    with pytest.raises(InvalidRequestError, match="application name"):
        project.set_model_monitoring_function(func=app_file, application_class="DemoMonitoringApp", name="---")
    with pytest.raises(InvalidRequestError, match="func"):
        project.set_model_monitoring_function(application_class="DemoMonitoringApp")


@pytest.mark.parametrize(
    ("given", "expected"),
    [("myApp", "myapp"), ("Demo_App 2", "demo-app-2"), ("__x__", "x"), ("a" * 70, "a" * 63), ("ok-name", "ok-name")],
)
def test_normalise_app_name(given, expected):
    from driftline.sdk.names import normalise_app_name

    assert normalise_app_name(given) == expected


def test_normalise_app_name_refuses_what_leaves_nothing():
    from driftline.sdk.names import normalise_app_name

    with pytest.raises(InvalidRequestError, match="application name ''"):
        normalise_app_name("_-_")
