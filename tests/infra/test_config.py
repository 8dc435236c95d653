"""The user's knobs: cdk.json context (typed JSON) and `-c key=value` (strings) give the same configuration, and
bad values are refused with a message naming the knob and what it expects."""

from __future__ import annotations

import pytest

from driftline.errors import ConfigurationError
from infra.config import AppFunctionConfig, StackConfig, Subscription
from tests.infra.conftest import cdk_json_context


def test_cdk_json_documents_every_knob_with_its_default():
    context = cdk_json_context()
    knobs = {name for name in StackConfig.__dataclass_fields__ if name != "extra"}
    documented = knobs & set(context)
    # every knob a user is likely to turn is spelled out in cdk.json
    assert {"project", "base_period", "timestream", "api_auth", "kinesis_shards", "log_retention_days"} <= documented
    assert {"alert_emails", "alert_subscriptions", "apps", "monitoring_enabled"} <= documented
    assert StackConfig.from_context(context) == StackConfig()


def test_command_line_strings_are_coerced():
    config = StackConfig.from_context(
        {
            "timestream": "false",
            "base_period": "5",
            "kinesis_shards": "3",
            "alert_emails": "a@example.com, b@example.com",
            "apps": '[{"name": "my-app", "memory_mb": 4096}]',
            "alert_subscriptions": '[{"protocol": "https", "endpoint": "https://x.example.com"}]',
        }
    )
    assert config.timestream is False
    assert (config.base_period, config.kinesis_shards, config.kinesis_on_demand) == (5, 3, False)
    assert config.alert_emails == ("a@example.com", "b@example.com")
    assert config.apps == (AppFunctionConfig("my-app", 4096, 300),)
    assert config.alert_subscriptions == (Subscription("https", "https://x.example.com"),)


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"timestream": "perhaps"}, "context timestream: expected true or false"),
        ({"base_period": 0}, "base_period must be 1..1440 minutes (one minute to one day), got 0"),
        ({"base_period": 100000}, "base_period must be 1..1440 minutes (one minute to one day), got 100000"),
        ({"base_period": "ten"}, "context base_period: expected a whole number"),
        ({"api_auth": "basic"}, "api_auth 'basic': expected one of iam, jwt, none"),
        ({"api_auth": "jwt"}, "needs jwt_issuer"),
        ({"api_auth": "jwt", "jwt_issuer": "http://x", "jwt_audience": ["a"]}, "expected an https:// URL"),
        ({"kinesis_shards": -1}, "kinesis_shards must be 0"),
        ({"log_retention_days": 10}, "log_retention_days 10: expected one of"),
        ({"stack_name": "Driftline_Prod"}, "stack_name 'Driftline_Prod': expected lowercase"),
        ({"apps": [{"name": "Bad Name"}]}, "application name 'Bad Name'"),
        ({"apps": [{"name": "a", "cpu": 2}]}, "unknown app keys"),
        ({"apps": ["a", "a"]}, "each application name once"),
        ({"alert_subscriptions": [{"protocol": "carrier-pigeon", "endpoint": "x"}]}, "expected one of"),
        ({"alert_emails": "[not json"}, "expected a JSON list"),
        ({"events_cold_after_days": 30}, "events_cold_after_days 30: expected 0 (events stay in S3 Standard) or fewer"),
        ({"events_cold_after_days": -1}, "events_cold_after_days -1: expected 0"),
    ],
)
def test_bad_knobs_are_refused_by_name(context, message):
    with pytest.raises(ConfigurationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        StackConfig.from_context(context)


def test_names_derive_from_the_stack_and_match_the_settings_defaults():
    from driftline.config import Settings

    names = StackConfig().names
    defaults = Settings()
    assert names.stream == defaults.stream_name
    assert names.tables() == defaults.tables
    assert names.event_bus == defaults.event_bus_name
    assert names.schedule_prefix == defaults.schedule_prefix
    assert names.function("controller") == defaults.controller_function
    assert names.app_function() == defaults.app_function
    assert names.timestream_database == defaults.timestream_database
    assert names.schedule == "driftline-controller-default"
    other = StackConfig(stack_name="prod", project="churn").names
    assert (other.schedule, other.app_function("x"), other.settings_parameter) == (
        "prod-controller-churn",
        "prod-app-x",
        "/driftline/prod/settings",
    )


def test_every_knob_is_in_the_one_table_of_infra_readme():
    import re

    from tests.infra.conftest import ROOT

    readme = (ROOT / "infra" / "README.md").read_text()
    table = readme.split("## Knobs", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`([a-z_]+)`", "\n".join(line.split("|")[1] for line in table.splitlines()[3:])))
    knobs = {name for name in StackConfig.__dataclass_fields__ if name != "extra"}
    assert knobs - {"jwt_issuer", "jwt_audience"} <= documented, knobs - documented  # those two: in api_auth's row
    assert documented <= knobs, documented - knobs
    # README.md points there rather than keeping a second list
    deploying = (ROOT / "README.md").read_text().split("## Deploying to AWS", 1)[1].split("\n## ", 1)[0]
    assert "infra/README.md" in deploying
    assert "`kinesis_retention_hours`" not in deploying
