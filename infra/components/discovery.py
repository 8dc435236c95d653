"""How the SDK and CLI find a deployed stack by its name alone: SSM parameters under ``/driftline/{stack}/``
(``settings``: one JSON document with :class:`driftline.config.Settings` fields; ``api-url``; ``app-functions``),
stack outputs for people, and a managed policy with exactly what the SDK needs, to attach to its users."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from driftline.deploy.functions import PRINCIPALS
from infra.components.access import StackArns, policy_statements
from infra.config import StackConfig


class Discovery(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
        settings: Mapping[str, Any],
        app_functions: Mapping[str, str],
        api_url: str,
        arns: StackArns,
        outputs: Mapping[str, tuple[str, str]],
    ) -> None:
        super().__init__(scope, construct_id)
        names = config.names
        stack = Stack.of(self)
        self.settings_parameter = ssm.StringParameter(
            self,
            "Settings",
            parameter_name=names.settings_parameter,
            description="driftline settings of this stack (JSON; driftline.sdk.deployed.read_deployed_settings)",
            string_value=stack.to_json_string(dict(settings)),
        )
        self.api_url_parameter = ssm.StringParameter(
            self,
            "ApiUrl",
            parameter_name=names.api_url_parameter,
            description="driftline inference API base URL",
            string_value=api_url,
        )
        self.app_functions_parameter = ssm.StringParameter(
            self,
            "AppFunctions",
            parameter_name=names.app_functions_parameter,
            description="driftline monitoring application functions (JSON: app name -> function name)",
            string_value=stack.to_json_string(dict(app_functions)),
        )
        parameters = [self.settings_parameter, self.api_url_parameter, self.app_functions_parameter]

        arns.parameters = [p.parameter_arn for p in parameters]
        self.sdk_policy = iam.ManagedPolicy(
            self,
            "SdkPolicy",
            description=f"What the driftline SDK and CLI need against the {names.stack} stack (attach to users/roles)",
            statements=policy_statements(PRINCIPALS["sdk"], arns),
        )

        for key, (value, description) in {
            **outputs,
            "SettingsParameter": (names.settings_parameter, "SSM parameter with the settings document"),
            "SdkPolicyArn": (self.sdk_policy.managed_policy_arn, "Attach to SDK/CLI users"),
        }.items():
            CfnOutput(stack, key, value=value, description=description)
