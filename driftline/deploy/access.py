"""Who may do what, as data: IAM statements over symbolic resources of one installation.

The CDK stack renders these statements into each role's policy (``infra/``, with CloudFormation references for
the ARNs), and the local runtime renders the very same statements into moto's IAM with the local ARNs, then
enforces them on every call (``driftline/local/iam.py``). One definition, so a permission a function lacks in
AWS is missing locally too, and a test compares the synthesized template with this table statement by statement.

A :class:`Resource` names *what* is addressed (the registry table, the objects under ``events/``, the writer
function...); a renderer turns it into an ARN for one place (CloudFormation, or the local account).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

Origin = Literal["code", "service"]


@dataclass(frozen=True)
class Resource:
    """A symbolic resource. ``kind`` says which; ``name`` qualifies it (a table or queue role, an object prefix,
    a function role, a Timestream table...), ``index`` is a DynamoDB index name (``*`` for every index)."""

    kind: str
    name: str = ""
    index: str = ""


def bucket() -> Resource:
    return Resource("bucket")


def objects(prefix: str) -> Resource:
    """Every object under ``prefix`` (``events/`` -> ``arn:aws:s3:::bucket/events/*``)."""
    return Resource("objects", prefix)


def table(role: str, index: str = "") -> Resource:
    return Resource("table", role, index)


def stream() -> Resource:
    return Resource("stream")


def queue(role: str) -> Resource:
    return Resource("queue", role)


def topic() -> Resource:
    return Resource("topic")


def topic_key() -> Resource:
    """The customer-managed KMS key the alerts topic is encrypted with."""
    return Resource("topic-key")


def bus() -> Resource:
    return Resource("bus")


def default_bus() -> Resource:
    """The account's default EventBridge bus (an alert configuration may target it)."""
    return Resource("default-bus")


def webhook_secrets() -> Resource:
    """SSM parameters under ``/driftline/{stack}/webhooks/``: secret headers of alert webhooks."""
    return Resource("webhook-secrets")


def function(role: str) -> Resource:
    """A function by its role (``controller``, ``writer``, ``app``); ``app-*`` is every per-app function."""
    return Resource("function", role)


def timestream_table(name: str) -> Resource:
    return Resource("timestream-table", name)


def schedules() -> Resource:
    """Every schedule of the installation's schedule group."""
    return Resource("schedules")


def role(name: str) -> Resource:
    return Resource("role", name)


def parameters() -> Resource:
    """The installation's SSM parameters (settings document, API URL, app functions)."""
    return Resource("parameters")


def api() -> Resource:
    """Every route of the inference HTTP API (``execute-api``)."""
    return Resource("api")


def log_group() -> Resource:
    """The principal's own log group (functions only)."""
    return Resource("log-group")


def anything() -> Resource:
    """``*``: only for actions IAM offers no resource-level permissions for."""
    return Resource("any")


@dataclass(frozen=True)
class Statement:
    """One Allow statement. ``origin`` says who makes the calls: ``code`` (the function's own code, through
    boto3) or ``service`` (AWS on the function's behalf with its role: the Kinesis event source mapping reading
    the stream, Lambda sending a failed asynchronous event to its destination, logs, X-Ray). CDK constructs
    grant the service statements themselves; they are listed here so the local runtime can act as AWS does and
    the template test can tell a missing statement from an extra one."""

    actions: tuple[str, ...]
    resources: tuple[Resource, ...]
    conditions: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)
    origin: Origin = "code"
    why: str = ""
    # the CDK construct that adds this statement by itself (tracing, an on-failure destination, an event source);
    # empty: the stack renders it from this table
    granted_by: str = ""

    def __post_init__(self) -> None:
        if not self.actions or not self.resources:
            raise ValueError("a statement needs at least one action and one resource")
        for action in self.actions:
            service, _, name = action.partition(":")
            if not service or not name or "*" in action:
                raise ValueError(f"statement action {action!r}: expected service:Action without wildcards")


def allow(
    actions: Iterable[str],
    resources: Iterable[Resource],
    *,
    why: str = "",
    conditions: Mapping[str, Mapping[str, tuple[str, ...]]] | None = None,
    origin: Origin = "code",
    granted_by: str = "",
) -> Statement:
    return Statement(tuple(actions), tuple(resources), dict(conditions or {}), origin, why, granted_by)


# A renderer gives the ARN (or ARNs: the SSM parameters are three in a stack) of one resource in one place.
Renderer = Callable[[Resource], "str | list[str]"]


def render_resources(resources: Iterable[Resource], arn: Renderer) -> list[str]:
    out: list[str] = []
    for resource in resources:
        rendered = arn(resource)
        out.extend(rendered if isinstance(rendered, list) else [rendered])
    return out


def render_policy(statements: Iterable[Statement], arn: Renderer) -> dict[str, object]:
    """An IAM policy document (JSON-ready) with every resource rendered by ``arn``."""
    rendered = []
    for statement in statements:
        item: dict[str, object] = {
            "Effect": "Allow",
            "Action": list(statement.actions),
            "Resource": render_resources(statement.resources, arn),
        }
        if statement.conditions:
            item["Condition"] = {
                op: {key: list(values) for key, values in keys.items()} for op, keys in statement.conditions.items()
            }
        rendered.append(item)
    return {"Version": "2012-10-17", "Statement": rendered}
