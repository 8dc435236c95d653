"""The one configuration parser (environment, settings documents, CDK context) and the installation's settings
apart from the serving function's identity."""

from __future__ import annotations

import pytest

from driftline import layout
from driftline.config import (
    CONTEXT,
    ENVIRONMENT,
    Credentials,
    ServingIdentity,
    Settings,
    document_source,
    parse_fields,
    parse_value,
)
from driftline.errors import ConfigurationError


@pytest.mark.parametrize(
    ("raw", "annotation", "expected"),
    [
        ("true", "bool", True),
        (" Off ", "bool", False),
        (True, "bool", True),
        ("42", "int", 42),
        (7, "int", 7),
        ("x", "str | None", "x"),
        ("a, b", "tuple[str, ...]", ("a", "b")),
        ('["a", "b"]', "tuple[str, ...]", ("a", "b")),
        (["a"], "tuple[str, ...]", ("a",)),
        ("", "tuple[str, ...]", ()),
    ],
)
def test_text_and_typed_json_parse_to_the_same_value(raw, annotation, expected):
    assert parse_value(raw, annotation, "somewhere") == expected


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (ENVIRONMENT, "environment variable DRIFTLINE_TIMESTREAM_ENABLED: expected true or false, got 'maybe'"),
        (CONTEXT, "context timestream_enabled: expected true or false, got 'maybe'"),
        (
            document_source("SSM parameter /driftline/x/settings"),
            "SSM parameter /driftline/x/settings: timestream_enabled: expected true or false, got 'maybe'",
        ),
    ],
)
def test_an_error_names_the_source_the_key_and_what_was_expected(source, message):
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_values({"timestream_enabled": "maybe"}, source)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (True, "expected a whole number, got True"),  # a bool is no number of seconds
        ("1.5", "expected a whole number, got '1.5'"),
        (3, "expected a string, got 3"),
    ],
)
def test_typed_values_of_the_wrong_type_are_refused(raw, message):
    key = "stale_claim_seconds" if "number" in message else "bucket"
    with pytest.raises(ConfigurationError, match=message):
        Settings.from_values({key: raw}, document_source("doc"))


def test_an_empty_variable_is_unset_but_an_empty_context_value_is_a_value():
    assert parse_fields(Settings, {"bucket": ""}, ENVIRONMENT) == {}
    assert parse_fields(Settings, {"bucket": ""}, CONTEXT) == {"bucket": ""}


def test_the_environment_round_trips_and_names_every_table_and_queue_of_the_layout():
    settings = Settings(
        region="eu-west-1",
        tables={"registry": "r"},
        queue_urls={"async-failures": "https://q/a"},
        timestream_enabled=False,
        endpoint_url="http://127.0.0.1:5000",
        max_rows_per_request=5,
    )
    env = settings.to_env()
    for role, table in layout.TABLES.items():
        assert env[f"DRIFTLINE_{table.settings_key.upper()}"] == settings.table(role)
    assert env["DRIFTLINE_REGISTRY_TABLE"] == "r"
    assert env["DRIFTLINE_ASYNC_FAILURES_QUEUE_URL"] == "https://q/a"
    assert "DRIFTLINE_STREAM_FAILURES_QUEUE_URL" not in env  # no such queue: not set
    assert Settings.from_env(env) == settings


def test_the_installation_carries_no_serving_identity():
    env = Settings(api_serves=ServingIdentity("p", "f")).to_env()
    assert "DRIFTLINE_PROJECT" not in env
    assert "DRIFTLINE_SERVING_FUNCTION" not in env
    assert Settings.from_env({"DRIFTLINE_PROJECT": "p"}).api_serves is None


def test_the_serving_function_reads_its_identity_from_its_environment():
    identity = ServingIdentity.from_env({"DRIFTLINE_PROJECT": "iris", "DRIFTLINE_SERVING_FUNCTION": "srv"})
    assert identity == ServingIdentity("iris", "srv")
    assert ServingIdentity.from_env({}) == ServingIdentity("default", "serving")
    assert identity.to_env() == {"DRIFTLINE_PROJECT": "iris", "DRIFTLINE_SERVING_FUNCTION": "srv"}


def test_a_settings_document_round_trips_with_what_its_api_serves_and_credentials():
    settings = Settings(
        bucket="b",
        api_url="https://api",
        api_serves=ServingIdentity("iris"),
        credentials=Credentials("AK", "SK", "T"),
    )
    doc = settings.to_document(credentials=True)
    assert (doc["project"], doc["serving_function"]) == ("iris", "serving")  # the keys a deployed stack writes
    assert Settings.from_document(doc, document_source("doc")) == settings
    assert "credentials" not in settings.to_document()


def test_the_default_names_are_the_default_stacks():
    names = layout.Names()
    defaults = Settings()
    assert defaults.tables == names.tables()
    assert (defaults.stream_name, defaults.schedule_group) == (names.stream, names.schedule_group)


def test_a_table_or_queue_outside_the_layout_is_refused():
    with pytest.raises(ConfigurationError, match=r"not in driftline\.layout"):
        Settings(tables={"nope": "x"})
    with pytest.raises(ConfigurationError, match="no table 'nope'"):
        Settings().table("nope")
    with pytest.raises(ConfigurationError, match="no queue 'nope'"):
        Settings().queue_url("nope")
