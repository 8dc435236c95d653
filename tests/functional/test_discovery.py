"""How the SDK finds an installation: explicit, environment, local stack, deployed stack (SSM), defaults."""

from __future__ import annotations

import json

from moto import mock_aws

from driftline.config import Settings
from driftline.sdk.discovery import resolve_settings, write_local_state


def test_a_deployed_stack_is_found_through_its_ssm_parameter(tmp_path, monkeypatch):
    monkeypatch.setenv("DRIFTLINE_HOME", str(tmp_path))  # no local stack
    env = {"AWS_REGION": "us-east-1", "DRIFTLINE_STACK_NAME": "prod"}
    with mock_aws():
        import boto3

        boto3.client("ssm", region_name="us-east-1").put_parameter(
            Name="/driftline/prod/settings",
            Type="String",
            Value=json.dumps(
                {"bucket": "prod-data-1-us-east-1", "timestream_enabled": "false", "api_url": "https://x"}
            ),
        )
        found = resolve_settings(environ=env)
        assert (found.bucket, found.timestream_enabled, found.api_url) == ("prod-data-1-us-east-1", False, "https://x")
        assert resolve_settings(environ={**env, "DRIFTLINE_STACK_NAME": "other"}) == Settings(region="us-east-1")
        assert resolve_settings(environ={**env, "DRIFTLINE_NO_DEPLOYED_LOOKUP": "1"}).bucket == Settings().bucket


def test_order_explicit_then_environment_then_local_stack(tmp_path, monkeypatch):
    monkeypatch.setenv("DRIFTLINE_HOME", str(tmp_path))
    local = Settings(bucket="local-bucket", endpoint_url="http://127.0.0.1:1")
    write_local_state(local)
    explicit = Settings(bucket="explicit")
    assert resolve_settings(explicit) is explicit
    assert resolve_settings(environ={"DRIFTLINE_BUCKET": "from-env"}).bucket == "from-env"
    assert resolve_settings(environ={}).bucket == "local-bucket"
