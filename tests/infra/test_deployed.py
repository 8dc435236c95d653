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


def resolve(value: Any, resources: dict[str, Any] | None = None) -> Any:
    """Enough of CloudFormation's intrinsics for the settings document: Ref (a bucket's Ref is its name),
    GetAtt, Join."""
    resources = resources or {}
    if isinstance(value, dict):
        if "Ref" in value:
            target = resources.get(value["Ref"], {}).get("Properties", {})
            if "BucketName" in target:
                return resolve(target["BucketName"], resources)
            return PSEUDO.get(value["Ref"], f"ref-{value['Ref']}")
        if "Fn::GetAtt" in value:
            return "getatt-" + "-".join(value["Fn::GetAtt"])
        if "Fn::Join" in value:
            separator, parts = value["Fn::Join"]
            return separator.join(str(resolve(p, resources)) for p in parts)
        return {k: resolve(v, resources) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, resources) for v in value]
    return value


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
    resources = synth.template["Resources"]
    document = resolve(parameter["Value"], resources)
    json.loads(document)  # CloudFormation would store exactly this string
    ssm.put_parameter(Name=parameter["Name"], Value=document, Type="String")

    settings = read_deployed_settings("driftline", ssm)

    assert settings is not None
    assert settings.region == "eu-west-1"
    assert settings.bucket == "driftline-data-123456789012-eu-west-1"
    assert (settings.stream_name, settings.registry_table, settings.results_table) == (
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
    assert resolve(serving["DRIFTLINE_BUCKET"], resources) == settings.bucket
    assert resolve(serving["DRIFTLINE_SCHEDULER_ROLE_ARN"], resources) == settings.scheduler_role_arn


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
    with pytest.raises(ConfigurationError, match="timestream_enabled must be true or false"):
        read_deployed_settings("s", ssm)

    ssm.put_parameter(Name=name, Value="not json", Type="String", Overwrite=True)
    with pytest.raises(ConfigurationError, match="expected a JSON object of driftline settings"):
        read_deployed_settings("s", ssm)
