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

from infra.components.storage import ARTIFACTS_PREFIX, EVENTS_PREFIX, GROUND_TRUTH_PREFIX, Storage
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
        storage: Storage,
        api_url: str,
        execute_api_arn: str,
        scheduler_role: iam.IRole,
        schedule_arn_pattern: str,
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

        tables = storage.tables
        self.sdk_policy = iam.ManagedPolicy(
            self,
            "SdkPolicy",
            description=f"What the driftline SDK and CLI need against the {names.stack} stack (attach to users/roles)",
            statements=[
                iam.PolicyStatement(
                    actions=["ssm:GetParameter", "ssm:GetParameters"],
                    resources=[p.parameter_arn for p in parameters],
                ),
                iam.PolicyStatement(
                    actions=["s3:GetObject", "s3:PutObject"],
                    resources=[storage.object_arn(ARTIFACTS_PREFIX), storage.object_arn(GROUND_TRUTH_PREFIX)],
                ),
                iam.PolicyStatement(
                    actions=["s3:GetObject"],
                    resources=[storage.object_arn(EVENTS_PREFIX)],
                ),
                iam.PolicyStatement(actions=["s3:ListBucket"], resources=[storage.bucket.bucket_arn]),
                iam.PolicyStatement(
                    actions=[
                        "dynamodb:GetItem",
                        "dynamodb:PutItem",
                        "dynamodb:UpdateItem",
                        "dynamodb:DeleteItem",
                        "dynamodb:Query",
                    ],
                    resources=[tables["registry"].table_arn],
                ),
                iam.PolicyStatement(
                    actions=["dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:Query", "dynamodb:Scan"],
                    resources=[tables["endpoints"].table_arn, f"{tables['endpoints'].table_arn}/index/*"],
                ),
                iam.PolicyStatement(
                    actions=["dynamodb:GetItem", "dynamodb:Query", "dynamodb:DeleteItem"],
                    resources=[tables["checkpoints"].table_arn, tables["results"].table_arn],
                ),
                iam.PolicyStatement(
                    actions=[
                        "scheduler:GetSchedule",
                        "scheduler:CreateSchedule",
                        "scheduler:UpdateSchedule",
                        "scheduler:DeleteSchedule",
                    ],
                    resources=[schedule_arn_pattern],
                ),
                # listing has no resource-level permissions
                iam.PolicyStatement(actions=["scheduler:ListSchedules"], resources=["*"]),
                iam.PolicyStatement(
                    actions=["iam:PassRole"],
                    resources=[scheduler_role.role_arn],
                    conditions={"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}},
                ),
                iam.PolicyStatement(actions=["execute-api:Invoke"], resources=[execute_api_arn]),
            ],
        )

        for key, (value, description) in {
            **outputs,
            "SettingsParameter": (names.settings_parameter, "SSM parameter with the settings document"),
            "SdkPolicyArn": (self.sdk_policy.managed_policy_arn, "Attach to SDK/CLI users"),
        }.items():
            CfnOutput(stack, key, value=value, description=description)
