"""The monitoring loop: the controller's EventBridge Scheduler schedule, the controller, the monitoring
application functions (the generic runner with the built-in drift app, plus one function per configured app)
and the writer. Controller -> app -> writer are asynchronous invocations: two retries each, then the event
and its error land in the async-failures queue."""

from __future__ import annotations

import json
from collections.abc import Mapping

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from driftline.aws.schedules import SCHEDULE_SOURCE
from infra.components.assets import Packager
from infra.components.function import DriftlineFunction
from infra.components.messaging import Messaging
from infra.components.storage import ARTIFACTS_PREFIX, EVENTS_PREFIX, GROUND_TRUTH_PREFIX, Storage
from infra.config import StackConfig


def function_arn(scope: Construct, function_name: str) -> str:
    """The ARN of a function by name, without a reference (the schedule and its role are created before the
    controller, and the controller's settings name it)."""
    return Stack.of(scope).format_arn(
        service="lambda", resource="function", resource_name=function_name, arn_format=ArnFormat.COLON_RESOURCE_NAME
    )


class ControllerSchedule(Construct):
    """``Names.schedule`` (the SDK's naming rule) in the stack's schedule group, ``rate(base_period minutes)``,
    delivering ``{"source": "driftline.schedule", "project": ...}`` to the controller; created DISABLED unless
    ``monitoring_enabled``: the SDK's enable/disable_model_monitoring flip that same schedule."""

    def __init__(self, scope: Construct, construct_id: str, *, config: StackConfig, failures: sqs.IQueue) -> None:
        super().__init__(scope, construct_id)
        names = config.names
        stack = Stack.of(self)
        self.controller_arn = function_arn(self, names.function("controller"))
        self.group = scheduler.CfnScheduleGroup(self, "Group", name=names.schedule_group)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
            ),
            description="EventBridge Scheduler invokes the driftline controller",
        )
        self.role.add_to_policy(iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[self.controller_arn]))
        failures.grant_send_messages(self.role)
        minutes = config.base_period
        self.schedule = scheduler.CfnSchedule(
            self,
            "Schedule",
            name=names.schedule,
            group_name=names.schedule_group,
            description=f"driftline monitoring controller for project {config.project}",
            schedule_expression=f"rate({minutes} minute{'s' if minutes != 1 else ''})",
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            state="ENABLED" if config.monitoring_enabled else "DISABLED",
            target=scheduler.CfnSchedule.TargetProperty(
                arn=self.controller_arn,
                role_arn=self.role.role_arn,
                input=json.dumps({"source": SCHEDULE_SOURCE, "project": config.project}),
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                    maximum_event_age_in_seconds=max(60, minutes * 60), maximum_retry_attempts=2
                ),
                dead_letter_config=scheduler.CfnSchedule.DeadLetterConfigProperty(arn=failures.queue_arn),
            ),
        )
        self.schedule.node.add_dependency(self.group)

    def schedule_arn_pattern(self) -> str:
        """Every schedule of this stack's group (the SDK creates one per project)."""
        return Stack.of(self).format_arn(service="scheduler", resource="schedule", resource_name=f"{self.group.name}/*")


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
        storage: Storage,
        messaging: Messaging,
        schedule: ControllerSchedule,
        packager: Packager,
        environment: Mapping[str, str],
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        names = config.names
        tables = storage.tables

        self.writer = DriftlineFunction(
            self,
            "Writer",
            function_name=names.function("writer"),
            description="driftline writer: app results to Timestream and DynamoDB, alerts to EventBridge and SNS",
            code=packager.zip_code("writer"),
            environment=environment,
            log_retention=log_retention,
            memory_mb=512,
            timeout=Duration.minutes(1),
            async_failures=messaging.async_failures,
        )
        self.writer.add_to_policy(
            iam.PolicyStatement(
                actions=["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"],
                resources=[tables["results"].table_arn],
            ),
            iam.PolicyStatement(actions=["events:PutEvents"], resources=[messaging.bus.event_bus_arn]),
            *messaging.publish_statements(),
        )
        self.writer_timestream: iam.Policy | None = None
        if storage.timestream_condition is not None:
            # a policy of its own, created under the same condition as the tables it names
            self.writer_timestream = iam.Policy(
                self,
                "WriterTimestream",
                roles=[self.writer.role],
                statements=[
                    iam.PolicyStatement(actions=["timestream:WriteRecords"], resources=storage.timestream_table_arns()),
                    # Timestream's endpoint discovery: this action has no resource-level permissions
                    iam.PolicyStatement(actions=["timestream:DescribeEndpoints"], resources=["*"]),
                ],
            )
            cfn_policy: iam.CfnPolicy = self.writer_timestream.node.default_child  # type: ignore[assignment]
            cfn_policy.cfn_options.condition = storage.timestream_condition

        app_code = packager.image_code("app")
        self.apps: dict[str | None, DriftlineFunction] = {}
        app_specs: list[tuple[str | None, int, int]] = [(None, config.app_memory_mb, 300)]
        app_specs += [(a.name, a.memory_mb, a.timeout_seconds) for a in config.apps]
        for app_name, memory, timeout in app_specs:
            construct_id = "App" if app_name is None else f"App-{app_name}"
            description = (
                "driftline monitoring applications: the built-in histogram drift app and apps registered by the SDK"
                if app_name is None
                else f"driftline monitoring application {app_name}"
            )
            function = DriftlineFunction(
                self,
                construct_id,
                function_name=names.app_function(app_name),
                description=description,
                code=app_code,
                environment=environment,
                log_retention=log_retention,
                memory_mb=memory,
                timeout=Duration.seconds(timeout),
                async_failures=messaging.async_failures,
            )
            function.add_to_policy(
                iam.PolicyStatement(
                    actions=["s3:GetObject"],
                    resources=[
                        storage.object_arn(EVENTS_PREFIX),
                        storage.object_arn(ARTIFACTS_PREFIX),
                        storage.object_arn(GROUND_TRUTH_PREFIX),
                    ],
                ),
                iam.PolicyStatement(
                    actions=["s3:ListBucket"],
                    resources=[storage.bucket.bucket_arn],
                    conditions={"StringLike": {"s3:prefix": [f"{EVENTS_PREFIX}*", f"{GROUND_TRUTH_PREFIX}*"]}},
                ),
                iam.PolicyStatement(
                    actions=["dynamodb:GetItem", "dynamodb:Query"],
                    resources=[
                        tables["registry"].table_arn,
                        tables["endpoints"].table_arn,
                    ],
                ),
                iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[self.writer.arn]),
            )
            self.apps[app_name] = function

        self.controller = DriftlineFunction(
            self,
            "Controller",
            function_name=names.function("controller"),
            description="driftline controller: cuts complete windows per endpoint and app, invokes the apps",
            code=packager.zip_code("controller"),
            environment=environment,
            log_retention=log_retention,
            memory_mb=512,
            timeout=Duration.minutes(5),
            async_failures=messaging.async_failures,
        )
        self.controller.add_to_policy(
            iam.PolicyStatement(
                # Scan: a Scheduled Event (no project) runs every project with monitoring on, which
                # Registry.list_projects finds by scanning for the project configs
                actions=["dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan"],
                resources=[tables["registry"].table_arn],
            ),
            iam.PolicyStatement(
                actions=["dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan"],
                resources=[tables["endpoints"].table_arn, f"{tables['endpoints'].table_arn}/index/*"],
            ),
            iam.PolicyStatement(
                actions=["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"],
                resources=[tables["checkpoints"].table_arn],
            ),
            iam.PolicyStatement(
                # the generic app function and every per-app function (``{stack}-app-<name>``), nothing else
                actions=["lambda:InvokeFunction"],
                resources=[
                    function_arn(self, names.app_function()),
                    function_arn(self, f"{names.app_function_prefix}-*"),
                ],
            ),
            # operational alerts (mm-lag-detected, mm-app-failed) go where the writer's go
            iam.PolicyStatement(actions=["events:PutEvents"], resources=[messaging.bus.event_bus_arn]),
            *messaging.publish_statements(),
        )
        schedule.schedule.node.add_dependency(self.controller)

    @property
    def functions(self) -> dict[str, DriftlineFunction]:
        out = {"controller": self.controller, "writer": self.writer}
        for name, function in self.apps.items():
            out["app" if name is None else f"app-{name}"] = function
        return out
