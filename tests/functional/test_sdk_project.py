"""SDK projects and the monitoring switch against moto: registry config, the controller's schedule in
EventBridge Scheduler, the built-in drift app, credentials."""

from __future__ import annotations

import json
import warnings

import pytest

import driftline
from driftline.aws.registry import Registry
from driftline.errors import ConfigurationError, InvalidRequestError, NotFoundError
from driftline.records import AppRecord
from driftline.sdk.project import get_or_create_project, get_project


@pytest.fixture
def project(aws):
    return get_or_create_project("iris", settings=aws)


def schedule(clients, project="iris"):
    raw = clients.scheduler.get_schedule(Name=f"driftline-controller-{project}", GroupName="driftline")
    return raw["State"], raw["ScheduleExpression"], json.loads(raw["Target"]["Input"])


def enable(project, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # short periods warn; tested on its own below
        return project.enable_model_monitoring(**kwargs)


def test_get_or_create_creates_once_and_get_project_finds_it(aws, clients):
    created = get_or_create_project("iris", settings=aws)
    config = Registry(clients).get_project("iris")
    assert (config.name, config.monitoring_enabled, config.base_period_minutes) == ("iris", False, 10)
    again = get_or_create_project("iris", settings=aws)
    assert again.config.created == created.config.created
    assert get_project("iris", settings=aws).name == "iris"
    assert driftline.get_project("iris", settings=aws).name == "iris"  # the lazy top-level export


def test_get_project_of_a_missing_project_says_how_to_create_it(aws):
    with pytest.raises(NotFoundError, match=r"get_or_create_project\('nope'\)"):
        get_project("nope", settings=aws)


@pytest.mark.parametrize("name", ["Iris", "iris_demo", "-iris", "iris-", "", "a" * 64, "iris demo"])
def test_project_names_are_lowercase_dns_like(aws, clients, name):
    with pytest.raises(InvalidRequestError, match="lowercase DNS-like"):
        get_or_create_project(name, settings=aws)
    assert Registry(clients).list_projects() == []


def test_enable_schedules_the_controller_and_registers_the_builtin_app(project, clients):
    config = project.enable_model_monitoring()
    assert (config.monitoring_enabled, config.base_period_minutes) == (True, 10)
    assert schedule(clients) == ("ENABLED", "rate(10 minutes)", {"source": "driftline.schedule", "project": "iris"})
    app = Registry(clients).get_app("iris", "histogram-data-drift")
    assert app == AppRecord(
        project="iris",
        name="histogram-data-drift",
        application_class="HistogramDataDriftApplication",
        source={"kind": "builtin", "name": "histogram_data_drift"},
        deployed=True,
        created=app.created,
    )
    assert app.created
    assert Registry(clients).get_project("iris").monitoring_enabled is True


def test_enable_under_ten_minutes_warns_not_for_production(project, clients):
    with pytest.warns(UserWarning, match="not for production"):
        project.enable_model_monitoring(base_period=1)
    assert schedule(clients)[:2] == ("ENABLED", "rate(1 minute)")


def test_enable_again_with_the_same_period_is_idempotent(project, clients):
    first = enable(project, base_period=10)
    created = Registry(clients).get_app("iris", "histogram-data-drift").created
    second = enable(project, base_period=10)
    assert first == second
    assert Registry(clients).get_app("iris", "histogram-data-drift").created == created


def test_changing_the_period_while_enabled_says_disable_first(project, clients):
    enable(project, base_period=10)
    with pytest.raises(ConfigurationError, match=r"disable_model_monitoring\(\) first"):
        enable(project, base_period=3)
    assert schedule(clients)[:2] == ("ENABLED", "rate(10 minutes)")
    assert project.config.base_period_minutes == 10


def test_disable_then_reenable_with_another_period(project, clients):
    enable(project, base_period=10)
    removed = project.disable_model_monitoring()
    assert removed == ["histogram-data-drift"]
    assert schedule(clients)[:2] == ("DISABLED", "rate(10 minutes)")  # kept, not deleted
    assert project.config.monitoring_enabled is False
    assert Registry(clients).list_apps("iris") == []

    enable(project, base_period=3)
    assert schedule(clients)[:2] == ("ENABLED", "rate(3 minutes)")
    assert (project.config.monitoring_enabled, project.config.base_period_minutes) == (True, 3)
    assert [a.name for a in Registry(clients).list_apps("iris")] == ["histogram-data-drift"]


def test_update_model_monitoring_controller_changes_the_period_in_place(project, clients):
    enable(project, base_period=10)
    config = project.update_model_monitoring_controller(base_period=15)
    assert config.base_period_minutes == 15
    assert schedule(clients)[:2] == ("ENABLED", "rate(15 minutes)")
    project.disable_model_monitoring()
    with pytest.raises(ConfigurationError, match="not enabled"):
        project.update_model_monitoring_controller(base_period=20)
    assert schedule(clients)[:2] == ("DISABLED", "rate(15 minutes)")


@pytest.mark.parametrize("period", [0, -5, 2.5, "10", True])
def test_bad_base_periods_are_refused(project, clients, period):
    with pytest.raises(ConfigurationError, match="base_period"):
        project.enable_model_monitoring(base_period=period)
    assert clients.scheduler.list_schedules()["Schedules"] == []


def test_enable_without_the_drift_app(project, clients):
    enable(project, deploy_histogram_data_drift_app=False)
    assert Registry(clients).list_apps("iris") == []
    assert schedule(clients)[0] == "ENABLED"


def _user_app(clients, name):
    Registry(clients).put_app(AppRecord("iris", name, "Cls", {"kind": "s3", "key": f"k/{name}", "sha256": "x"}))


def test_disable_keeps_user_apps_unless_asked_and_never_deletes_the_stream(project, clients):
    enable(project)
    _user_app(clients, "app-a")
    _user_app(clients, "app-b")
    with pytest.warns(UserWarning, match="stream .* is kept"):
        removed = project.disable_model_monitoring(delete_stream_function=True, delete_histogram_data_drift_app=False)
    assert removed == []
    assert sorted(a.name for a in Registry(clients).list_apps("iris")) == ["app-a", "app-b", "histogram-data-drift"]
    assert clients.kinesis.describe_stream_summary(StreamName="driftline-events")["StreamDescriptionSummary"]

    enable(project)
    removed = project.disable_model_monitoring(delete_user_applications=True, user_application_list=["app-b"])
    assert removed == ["histogram-data-drift", "app-b"]
    assert [a.name for a in Registry(clients).list_apps("iris")] == ["app-a"]

    with pytest.raises(NotFoundError, match=r"\['ghost'\]"):
        project.disable_model_monitoring(delete_user_applications=True, user_application_list=["ghost"])
    removed = project.disable_model_monitoring(delete_user_applications=True)
    assert removed == ["app-a"]


def test_disable_with_delete_resources_false_removes_nothing(project, clients):
    enable(project)
    assert project.disable_model_monitoring(delete_resources=False) == []
    assert [a.name for a in Registry(clients).list_apps("iris")] == ["histogram-data-drift"]
    assert schedule(clients)[0] == "DISABLED"


def test_monitoring_status(project):
    enable(project, base_period=12)
    status = project.monitoring_status()
    assert status["schedule"] == {"name": "driftline-controller-iris", "state": "ENABLED", "rate_minutes": 12}
    assert status["applications"] == [
        {
            "name": "histogram-data-drift",
            "class": "HistogramDataDriftApplication",
            "deployed": True,
            "failures": 0,
            "last_error": "",
            "last_error_at": None,
            "last_error_window": {},
        }
    ]
    assert (status["monitoring_enabled"], status["endpoints"]) == (True, 0)


def test_credentials_naming_the_installations_resources_are_recorded(aws, project):
    stored = project.set_model_monitoring_credentials(
        stream_name=aws.stream_name, bucket=aws.bucket, timestream_enabled=aws.timestream_enabled
    )
    assert stored == {
        "stream_name": aws.stream_name,
        "bucket": aws.bucket,
        "timestream_enabled": "true" if aws.timestream_enabled else "false",
    }
    assert (project.settings.stream_name, project.settings.bucket) == (aws.stream_name, aws.bucket)
    assert get_project("iris", settings=aws).config.credentials == stored


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ({"bucket": "iris-private"}, "bucket='iris-private' (the installation's: "),
        ({"stream_name": "other-stream"}, "stream_name='other-stream'"),
        ({"timestream_enabled": "flip"}, "timestream_enabled="),
        ({"results_table": "mine"}, "results_table='mine'"),
    ],
)
def test_credentials_the_functions_cannot_honour_are_refused_and_nothing_is_stored(aws, project, given, named):
    if given.get("timestream_enabled") == "flip":
        given = {"timestream_enabled": not aws.timestream_enabled}
    with pytest.raises(ConfigurationError, match="cannot use other resources") as caught:
        project.set_model_monitoring_credentials(**given)
    assert named in str(caught.value)
    assert "cdk deploy -c stack_name=" in str(caught.value)
    assert project.config.credentials == {}
    assert project.settings.bucket == aws.bucket


def test_credentials_bad_values_are_refused(project):
    with pytest.raises(ConfigurationError, match="at least one"):
        project.set_model_monitoring_credentials()
    with pytest.raises(InvalidRequestError, match="timestream_enabled"):
        project.set_model_monitoring_credentials(timestream_enabled="no")
    with pytest.raises(InvalidRequestError, match="bucket"):
        project.set_model_monitoring_credentials(bucket=" ")
