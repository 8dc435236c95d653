"""Roles from the one table of who may do what (:mod:`driftline.deploy.functions`).

:class:`StackArns` renders the table's symbolic resources into this stack's ARNs (CloudFormation references);
:func:`policy_statements` turns the table's statements into CDK statements. Statements a CDK construct adds by
itself (``granted_by``: tracing, on-failure destinations, the event source mapping) are left to it; the template
test checks that what the constructs add is exactly what the table says they add.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from constructs import Construct

from driftline.deploy.access import Resource, Statement, render_resources
from driftline.layout import Names
from infra.components.messaging import Messaging
from infra.components.storage import Storage


def function_arn(scope: Construct, function_name: str) -> str:
    """The ARN of a function by name, without a reference (roles are made before the functions they name)."""
    return Stack.of(scope).format_arn(
        service="lambda", resource="function", resource_name=function_name, arn_format=ArnFormat.COLON_RESOURCE_NAME
    )


@dataclass
class StackArns:
    """This stack's ARN for each symbolic resource. Filled as the components are made: a resource asked for
    before its component exists is an error that names it."""

    scope: Construct
    names: Names
    storage: Storage | None = None
    stream: kinesis.IStream | None = None
    messaging: Messaging | None = None
    scheduler_role: iam.IRole | None = None
    parameters: list[str] = field(default_factory=list)
    api_arn: str | None = None

    def _need(self, value: object, what: str) -> object:
        if value is None:
            raise ValueError(f"the {what} is not made yet: make it before the roles that name it")
        return value

    def __call__(self, resource: Resource) -> str | list[str]:
        kind, name = resource.kind, resource.name
        if kind == "any":
            return "*"
        if kind in {"bucket", "objects", "table", "timestream-table"}:
            storage: Storage = self._need(self.storage, "storage")  # type: ignore[assignment]
            if kind == "bucket":
                return storage.bucket.bucket_arn
            if kind == "objects":
                return storage.object_arn(name)
            if kind == "table":
                arn = storage.tables[name].table_arn
                return f"{arn}/index/{resource.index}" if resource.index else arn
            return storage.timestream_tables[name].attr_arn
        if kind == "stream":
            stream: kinesis.IStream = self._need(self.stream, "event stream")  # type: ignore[assignment]
            return stream.stream_arn
        if kind in {"queue", "topic", "topic-key", "bus"}:
            messaging: Messaging = self._need(self.messaging, "messaging")  # type: ignore[assignment]
            if kind == "queue":
                return messaging.queues[name].queue_arn
            if kind == "topic":
                return messaging.topic.topic_arn
            if kind == "topic-key":
                return messaging.topic_key.key_arn
            return messaging.bus.event_bus_arn
        if kind == "default-bus":
            return Stack.of(self.scope).format_arn(service="events", resource="event-bus", resource_name="default")
        if kind == "webhook-secrets":
            return Stack.of(self.scope).format_arn(
                service="ssm", resource="parameter", resource_name=f"{self.names.webhook_secrets_prefix.lstrip('/')}*"
            )
        if kind == "function":
            names = self.names
            by_role = {
                "controller": names.function("controller"),
                "writer": names.function("writer"),
                "app": names.app_function(),
                "app-*": f"{names.app_function_prefix}-*",
            }
            return function_arn(self.scope, by_role[name])
        if kind == "schedules":
            return Stack.of(self.scope).format_arn(
                service="scheduler", resource="schedule", resource_name=f"{self.names.schedule_group}/*"
            )
        if kind == "role":
            role: iam.IRole = self._need(self.scheduler_role, "scheduler role")  # type: ignore[assignment]
            return role.role_arn
        if kind == "parameters":
            return list(self._need(self.parameters or None, "settings parameters"))  # type: ignore[arg-type]
        if kind == "api":
            return str(self._need(self.api_arn, "inference API"))
        raise ValueError(f"resource kind {kind!r} has no ARN in the stack (a log group is the function's own)")


def policy_statements(
    statements: Iterable[Statement], arns: StackArns, *, log_group_arn: str | None = None
) -> list[iam.PolicyStatement]:
    """CDK statements for the table's statements the stack itself grants (not those a construct adds)."""
    out = []
    for statement in statements:
        if statement.granted_by:
            continue

        def arn(resource: Resource) -> str | list[str]:
            if resource.kind == "log-group":
                if log_group_arn is None:
                    raise ValueError("a log-group statement needs the function's log group")
                return log_group_arn
            return arns(resource)

        conditions = {
            op: {k: (v[0] if len(v) == 1 else list(v)) for k, v in keys.items()}
            for op, keys in statement.conditions.items()
        }
        out.append(
            iam.PolicyStatement(
                actions=list(statement.actions),
                resources=render_resources(statement.resources, arn),
                conditions=conditions or None,
            )
        )
    return out


def granted(role: iam.IRole, statements: Sequence[iam.PolicyStatement]) -> None:
    for statement in statements:
        role.add_to_principal_policy(statement)
