"""Discovery after deploy: the settings document the stack writes to SSM reads back as the Settings the functions
run with (the template's intrinsic functions resolved as CloudFormation would, into a moto SSM)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from moto import mock_aws

from driftline.errors import ConfigurationError
from driftline.sdk.deployed import read_deployed_settings, settings_parameter_name

# one worker synthesises once for the whole module set (pytest -n with --dist loadgroup)
pytestmark = pytest.mark.xdist_group("infra-synth")

PSEUDO = {
    "AWS::Region": "eu-west-1",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
}


def resolve(value: Any, template: dict[str, Any] | None = None, region: str = PSEUDO["AWS::Region"]) -> Any:
    """Enough of CloudFormation's intrinsics for the settings document, deployed in ``region``: Ref (a bucket's
    Ref is its name), GetAtt, Join, and If on the template's conditions."""
    template = template or {}
    resources = template.get("Resources", {})
    pseudo = PSEUDO | {"AWS::Region": region}
    if isinstance(value, dict):
        if "Ref" in value:
            target = resources.get(value["Ref"], {}).get("Properties", {})
            if "BucketName" in target:
                return resolve(target["BucketName"], template, region)
            return pseudo.get(value["Ref"], f"ref-{value['Ref']}")
        if "Fn::GetAtt" in value:
            return "getatt-" + "-".join(value["Fn::GetAtt"])
        if "Fn::Join" in value:
            separator, parts = value["Fn::Join"]
            return separator.join(str(resolve(p, template, region)) for p in parts)
        if "Fn::If" in value:
            name, when_true, when_false = value["Fn::If"]
            chosen = when_true if condition_holds(template, name, region) else when_false
            return resolve(chosen, template, region)
        return {k: resolve(v, template, region) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, template, region) for v in value]
    return value


def condition_holds(template: dict[str, Any], name: str, region: str) -> bool:
    """A condition of the template, evaluated as CloudFormation would in ``region``."""

    def holds(expression: dict[str, Any]) -> bool:
        ((function, arguments),) = expression.items()
        if function == "Condition":
            return holds(template["Conditions"][arguments])
        if function == "Fn::Equals":
            left, right = (resolve(a, template, region) for a in arguments)
            return left == right
        if function == "Fn::Or":
            return any(holds(a) for a in arguments)
        if function == "Fn::And":
            return all(holds(a) for a in arguments)
        if function == "Fn::Not":
            return not holds(arguments[0])
        raise AssertionError(f"condition function {function} is not evaluated here")

    return holds(template["Conditions"][name])


@pytest.fixture
def ssm():
    import boto3

    with mock_aws():
        yield boto3.client("ssm", region_name="eu-west-1")


def test_the_stack_document_reads_back_as_the_functions_settings(synth, ssm):
    parameter = next(
        r["Properties"]
        for r in synth.resources("AWS::SSM::Parameter").values()
        if r["Properties"]["Name"] == settings_parameter_name("driftline")
    )
    document = resolve(parameter["Value"], synth.template)
    json.loads(document)  # CloudFormation would store exactly this string
    ssm.put_parameter(Name=parameter["Name"], Value=document, Type="String")

    settings = read_deployed_settings("driftline", ssm)

    assert settings is not None
    assert settings.region == "eu-west-1"
    assert settings.bucket == "driftline-data-123456789012-eu-west-1"
    assert (settings.stream_name, settings.table("registry"), settings.table("results")) == (
        "driftline-events",
        "driftline-registry",
        "driftline-results",
    )
    assert settings.timestream_enabled is True
    assert settings.controller_arn == "arn:aws:lambda:eu-west-1:123456789012:function:driftline-controller"
    assert settings.scheduler_role_arn.startswith("getatt-Schedule")
    assert settings.api_url.endswith("-ApiEndpoint")  # the HTTP API endpoint ($default stage: no path)
    assert (settings.schedule_group, settings.schedule_prefix) == ("driftline", "driftline-controller")
    # the functions' environment says the same thing
    serving = next(
        r["Properties"]["Environment"]["Variables"]
        for r in synth.resources("AWS::Lambda::Function").values()
        if r["Properties"]["FunctionName"] == "driftline-serving"
    )
    assert resolve(serving["DRIFTLINE_BUCKET"], synth.template) == settings.bucket
    assert resolve(serving["DRIFTLINE_SCHEDULER_ROLE_ARN"], synth.template) == settings.scheduler_role_arn
    assert resolve(serving["DRIFTLINE_TIMESTREAM_ENABLED"], synth.template) == "true"


def test_no_deployed_stack_means_none(ssm):
    assert read_deployed_settings("nothing-here", ssm) is None


def test_unknown_keys_are_ignored_and_bad_values_named(ssm):
    name = settings_parameter_name("s")
    ssm.put_parameter(
        Name=name, Value=json.dumps({"bucket": "b", "from_the_future": 1, "max_rows_per_request": "7"}), Type="String"
    )
    settings = read_deployed_settings("s", ssm)
    assert (settings.bucket, settings.max_rows_per_request) == ("b", 7)

    ssm.put_parameter(Name=name, Value=json.dumps({"timestream_enabled": "maybe"}), Type="String", Overwrite=True)
    with pytest.raises(ConfigurationError, match="settings: timestream_enabled: expected true or false"):
        read_deployed_settings("s", ssm)

    ssm.put_parameter(Name=name, Value="not json", Type="String", Overwrite=True)
    with pytest.raises(ConfigurationError, match="expected a JSON object of driftline settings"):
        read_deployed_settings("s", ssm)
