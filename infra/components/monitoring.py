"""The monitoring loop: the controller's EventBridge Scheduler schedule, the controller, the monitoring
application functions (the generic runner with the built-in drift app, plus one function per configured app)
and the writer. Controller -> app -> writer are asynchronous invocations: two retries each, then the event
and its error land in the async-failures queue."""

from __future__ import annotations

import json
from collections.abc import Mapping

from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from driftline.aws.schedules import SCHEDULE_SOURCE
from driftline.deploy.functions import FUNCTIONS, PRINCIPALS, WRITER_TIMESTREAM
from infra.components.access import StackArns, function_arn, granted, policy_statements
from infra.components.assets import Packager
from infra.components.cfn import default_child
from infra.components.function import DriftlineFunction
from infra.components.messaging import Messaging
from infra.components.storage import Storage
from infra.config import StackConfig


class ControllerSchedule(Construct):
    """``Names.schedule`` (the SDK's naming rule) in the stack's schedule group, ``rate(base_period minutes)``,
    delivering ``{"source": "driftline.schedule", "project": ...}`` to the controller; created DISABLED unless
    ``monitoring_enabled``: the SDK's enable/disable_model_monitoring flip that same schedule."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: StackConfig, failures: sqs.IQueue, arns: StackArns
    ) -> None:
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
        granted(self.role, policy_statements(PRINCIPALS["scheduler"], arns))
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
        arns: StackArns,
    ) -> None:
        super().__init__(scope, construct_id)
        names = config.names

        self.writer = DriftlineFunction(
            self,
            "Writer",
            definition=FUNCTIONS["writer"],
            function_name=names.function("writer"),
            code=packager.zip_code("writer"),
            environment=environment,
            log_retention=log_retention,
            arns=arns,
            async_failures=messaging.async_failures,
        )
        self.writer_timestream: iam.Policy | None = None
        if storage.timestream_condition is not None:
            # a policy of its own, created under the same condition as the tables it names
            self.writer_timestream = iam.Policy(
                self,
                "WriterTimestream",
                roles=[self.writer.role],
                statements=policy_statements(WRITER_TIMESTREAM, arns),
            )
            cfn_policy = default_child(self.writer_timestream, iam.CfnPolicy)
            cfn_policy.cfn_options.condition = storage.timestream_condition

        app_code = packager.image_code("app")
        self.apps: dict[str | None, DriftlineFunction] = {}
        app_specs: list[tuple[str | None, int, int]] = [(None, config.app_memory_mb, FUNCTIONS["app"].timeout_seconds)]
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
                definition=FUNCTIONS["app"],
                function_name=names.app_function(app_name),
                description=description,
                code=app_code,
                environment=environment,
                log_retention=log_retention,
                arns=arns,
                memory_mb=memory,
                timeout=Duration.seconds(timeout),
                async_failures=messaging.async_failures,
            )
            self.apps[app_name] = function

        self.controller = DriftlineFunction(
            self,
            "Controller",
            definition=FUNCTIONS["controller"],
            function_name=names.function("controller"),
            code=packager.zip_code("controller"),
            environment=environment,
            log_retention=log_retention,
            arns=arns,
            async_failures=messaging.async_failures,
        )
        schedule.schedule.node.add_dependency(self.controller)

    @property
    def functions(self) -> dict[str, DriftlineFunction]:
        out = {"controller": self.controller, "writer": self.writer}
        for name, function in self.apps.items():
            out["app" if name is None else f"app-{name}"] = function
        return out
