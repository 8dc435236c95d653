"""Roles from the one table of who may do what (:mod:`driftline.deploy.functions`).

:class:`StackArns` renders the table's symbolic resources into this stack's ARNs (CloudFormation references);
:func:`policy_statements` turns the table's statements into CDK statements. Statements a CDK construct adds by
itself (``granted_by``: tracing, on-failure destinations, the event source mapping) are left to it; the template
test checks that what the constructs add is exactly what the table says they add.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, TypeVar

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from constructs import Construct

from driftline.deploy.access import Resource, Statement, render_resources
from driftline.layout import Names
from infra.components.messaging import Messaging
from infra.components.storage import Storage

T = TypeVar("T")


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

    def __call__(self, resource: Resource) -> str | list[str]:
        if resource.kind == "any":
            return "*"
        render = self._RENDERERS.get(resource.kind)
        if render is None:
            raise ValueError(
                f"resource kind {resource.kind!r} has no ARN in the stack (a log group is the function's own)"
            )
        return render(self, resource)

    def _storage(self, resource: Resource) -> str:
        storage = _need(self.storage, "storage")
        kind, name = resource.kind, resource.name
        if kind == "bucket":
            return storage.bucket.bucket_arn
        if kind == "objects":
            return storage.object_arn(name)
        if kind == "table":
            arn = storage.tables[name].table_arn
            return f"{arn}/index/{resource.index}" if resource.index else arn
        return storage.timestream_tables[name].attr_arn

    def _stream(self, resource: Resource) -> str:
        return _need(self.stream, "event stream").stream_arn

    def _messaging(self, resource: Resource) -> str:
        messaging = _need(self.messaging, "messaging")
        kind, name = resource.kind, resource.name
        if kind == "queue":
            return messaging.queues[name].queue_arn
        if kind == "topic":
            return messaging.topic.topic_arn
        if kind == "topic-key":
            return messaging.topic_key.key_arn
        return messaging.bus.event_bus_arn

    def _default_bus(self, resource: Resource) -> str:
        return Stack.of(self.scope).format_arn(service="events", resource="event-bus", resource_name="default")

    def _webhook_secrets(self, resource: Resource) -> str:
        return Stack.of(self.scope).format_arn(
            service="ssm", resource="parameter", resource_name=f"{self.names.webhook_secrets_prefix.lstrip('/')}*"
        )

    def _function(self, resource: Resource) -> str:
        names = self.names
        by_role = {
            "controller": names.function("controller"),
            "writer": names.function("writer"),
            "app": names.app_function(),
            "app-*": f"{names.app_function_prefix}-*",
        }
        return function_arn(self.scope, by_role[resource.name])

    def _schedules(self, resource: Resource) -> str:
        return Stack.of(self.scope).format_arn(
            service="scheduler", resource="schedule", resource_name=f"{self.names.schedule_group}/*"
        )

    def _role(self, resource: Resource) -> str:
        return _need(self.scheduler_role, "scheduler role").role_arn

    def _parameters(self, resource: Resource) -> list[str]:
        return list(_need(self.parameters or None, "settings parameters"))

    def _api(self, resource: Resource) -> str:
        return _need(self.api_arn, "inference API")

    _RENDERERS: ClassVar[dict[str, Callable[[StackArns, Resource], str | list[str]]]] = {
        "bucket": _storage,
        "objects": _storage,
        "table": _storage,
        "timestream-table": _storage,
        "stream": _stream,
        "queue": _messaging,
        "topic": _messaging,
        "topic-key": _messaging,
        "bus": _messaging,
        "default-bus": _default_bus,
        "webhook-secrets": _webhook_secrets,
        "function": _function,
        "schedules": _schedules,
        "role": _role,
        "parameters": _parameters,
        "api": _api,
    }


def _need(value: T | None, what: str) -> T:
    if value is None:
        raise ValueError(f"the {what} is not made yet: make it before the roles that name it")
    return value


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
