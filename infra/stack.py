"""The driftline stack: composes one construct per capability; names and tunables come from :class:`StackConfig`.

Nothing here calls AWS: synth needs no network, no Docker and no credentials (the stack is environment-agnostic;
region and account are CloudFormation pseudo parameters).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import Aws, Stack, Tags
from aws_cdk import aws_logs as logs
from constructs import Construct

from driftline import layout
from driftline.config import ENV_PREFIX, ServingIdentity
from infra.components.access import StackArns
from infra.components.api import InferenceApi
from infra.components.assets import Packager
from infra.components.discovery import Discovery
from infra.components.messaging import Messaging
from infra.components.monitoring import ControllerSchedule, Monitoring
from infra.components.observability import Observability
from infra.components.preflight import TimestreamPreflight
from infra.components.storage import Storage
from infra.components.streaming import EventStream, StreamProcessor
from infra.config import LOG_RETENTION_DAYS, StackConfig
from infra.nag import acknowledge_findings
from infra.packaging import REPO_ROOT


class DriftlineStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
        staging_dir: Path,
        source_root: Path = REPO_ROOT,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            stack_name=config.stack_name,
            description="driftline: serverless model monitoring (serving, stream, controller, apps, writer)",
            **kwargs,
        )
        self.config = config
        names = config.names
        Tags.of(self).add("project", "driftline")
        Tags.of(self).add("driftline:stack", names.stack)
        retention = _retention(config.log_retention_days)
        packager = Packager(staging_dir, source_root)

        # every role is rendered from driftline.deploy's one table, with this stack's ARNs
        self.arns = StackArns(self, names)
        self.storage = self.arns.storage = Storage(self, "Storage", config=config)
        self.messaging = self.arns.messaging = Messaging(self, "Messaging", config=config)
        self.events = EventStream(self, "Events", config=config)
        self.arns.stream = self.events.stream
        self.schedule = ControllerSchedule(
            self, "Schedule", config=config, failures=self.messaging.async_failures, arns=self.arns
        )
        self.arns.scheduler_role = self.schedule.role
        self.settings = self._settings()
        # every function gets the installation's settings; the serving function also its identity
        environment = {f"{ENV_PREFIX}{k.upper()}": _env_value(v) for k, v in self.settings.items()}
        self.serving_identity = ServingIdentity(project=config.project)

        self.api = InferenceApi(
            self,
            "Inference",
            config=config,
            packager=packager,
            environment={**environment, **self.serving_identity.to_env()},
            log_retention=retention,
            arns=self.arns,
        )
        self.arns.api_arn = self.api.execute_api_arn()
        self.stream_processor = StreamProcessor(
            self,
            "StreamProcessing",
            config=config,
            stream=self.events.stream,
            failures=self.messaging.stream_failures,
            packager=packager,
            environment=environment,
            log_retention=retention,
            arns=self.arns,
        )
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            config=config,
            storage=self.storage,
            messaging=self.messaging,
            schedule=self.schedule,
            packager=packager,
            environment=environment,
            log_retention=retention,
            arns=self.arns,
        )

        self.functions = {
            "serving": self.api.serving,
            "stream": self.stream_processor.function,
            **self.monitoring.functions,
        }
        self.observability = Observability(
            self,
            "Observability",
            config=config,
            functions={k: f.function for k, f in self.functions.items()},
            api=self.api.api,
            # alarms and charts named by the short role: {stack}-async-dead-letters, {stack}-stream-dead-letters
            queues={role.removesuffix("-failures"): q for role, q in self.messaging.queues.items()},
            topic=self.messaging.topic,
            bus=self.messaging.bus,
            log_retention=retention,
        )
        self.discovery = Discovery(
            self,
            "Discovery",
            config=config,
            # the settings document: the installation, where its API answers and which function that serves
            settings={**self.settings, "api_url": self.api.url, **self.serving_identity.to_values()},
            app_functions={name or "*": f.function_name for name, f in self.monitoring.apps.items()},
            api_url=self.api.url,
            arns=self.arns,
            outputs={
                "ApiUrl": (self.api.url, "Inference API base URL (POST /v2/models/{name}/infer)"),
                "ApiId": (self.api.api.api_id, "Inference API id (the ApiId of its AWS/ApiGateway metrics)"),
                "BucketName": (self.storage.bucket.bucket_name, "Artifacts, the inference dataset, ground truth"),
                "StreamName": (self.events.stream.stream_name, "Kinesis stream of inference events"),
                "AlertsTopicArn": (self.messaging.topic.topic_arn, "SNS topic for alerts and alarms"),
                "AlertsBusName": (self.messaging.bus.event_bus_name, "EventBridge bus for alerts"),
                "ScheduleName": (names.schedule, f"Controller schedule of project {config.project}"),
                "DashboardName": (names.dashboard, "CloudWatch dashboard"),
            },
        )

        self.preflight: TimestreamPreflight | None = None
        if config.timestream:
            self.preflight = TimestreamPreflight(
                self,
                "TimestreamPreflight",
                function_name=names.function("preflight"),
                log_retention=retention,
                timestream_in_region=self.storage.timestream_in_region,
            )
            # Nothing durable is created before the check passes (see infra/components/preflight.py).
            for component in (self.storage, self.messaging, self.events, self.schedule):
                component.node.add_dependency(self.preflight.resource)

        acknowledge_findings(self)

    def _settings(self) -> dict[str, Any]:
        """The installation's settings (keys of :meth:`driftline.config.Settings.schema`) this deployment runs
        with: every function's environment, and the SSM settings document."""
        names = self.config.names
        return {
            "region": Aws.REGION,
            "bucket": self.storage.bucket.bucket_name,
            "stream_name": names.stream,
            **{table.settings_key: names.table(role) for role, table in layout.TABLES.items()},
            "timestream_enabled": self.storage.timestream_enabled,
            "timestream_database": names.timestream_database,
            "event_bus_name": names.event_bus,
            "alerts_topic_arn": self.messaging.topic.topic_arn,
            "schedule_prefix": names.schedule_prefix,
            "schedule_group": names.schedule_group,
            "controller_function": names.function("controller"),
            "controller_arn": self.schedule.controller_arn,
            "writer_function": names.function("writer"),
            "app_function": names.app_function(),
            # the stream function's poison records go where its role may send: the stream-failures queue
            **{queue.settings_key: self.messaging.queues[role].queue_url for role, queue in layout.QUEUES.items()},
            "scheduler_role_arn": self.schedule.role.role_arn,
            "results_ttl_days": self.config.results_ttl_days,
            "per_endpoint_metrics": self.config.per_endpoint_metrics,
        }


def _env_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _retention(days: int) -> logs.RetentionDays:
    # CDK's members are in the same order as CloudWatch's allowed values (INFINITE last, never used here)
    members = [m for m in logs.RetentionDays if m is not logs.RetentionDays.INFINITE]
    return dict(zip(LOG_RETENTION_DAYS, members, strict=True))[days]
