"""The one function-building helper: every driftline Lambda gets its own role (no managed policies, only the
statements its capability grants it), its own log group with retention, the runtime settings as ``DRIFTLINE_*``
variables, and the same architecture and runtime."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypedDict

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from driftline.deploy.functions import FunctionDefinition
from infra.components.access import StackArns, granted, policy_statements

RUNTIME = lambda_.Runtime.PYTHON_3_12  # the Python of the container images' base (public.ecr.aws/lambda/python:3.12)
ARCHITECTURE = lambda_.Architecture.X86_64


def function_log_group(scope: Construct, function_name: str, retention: logs.RetentionDays) -> logs.LogGroup:
    """The log group Lambda writes the function's logs to (``/aws/lambda/{name}``), made by the stack with its
    retention, so that no role needs ``logs:CreateLogGroup``."""
    return logs.LogGroup(
        scope,
        "Logs",
        log_group_name=f"/aws/lambda/{function_name}",
        retention=retention,
        removal_policy=RemovalPolicy.DESTROY,
    )


class _CommonProps(TypedDict, total=False):
    """The properties a zip function and an image function share, typed as both constructors take them."""

    function_name: str
    description: str
    role: iam.IRole
    environment: Mapping[str, str]
    memory_size: int
    timeout: Duration
    architecture: lambda_.Architecture
    tracing: lambda_.Tracing
    log_group: logs.ILogGroup
    reserved_concurrent_executions: int | None
    retry_attempts: int
    max_event_age: Duration
    on_failure: lambda_.IDestination


class DriftlineFunction(Construct):
    """One Lambda function of a :class:`driftline.deploy.functions.FunctionDefinition`, with its role and log group.

    The role holds exactly the definition's statements (rendered by ``arns``; those a construct grants itself,
    such as the on-failure destination's, come from that construct). ``code`` is a zip :class:`aws_lambda.Code`
    or a :class:`aws_lambda.DockerImageCode`; either way the handler string is the definition's.
    ``async_failures`` configures asynchronous invocations: Lambda's two retries, then the event and its error go
    to that queue (an on-failure destination, which records the error unlike a plain dead-letter queue).
    ``tracing`` overrides the definition's (the serving function's is a stack switch); X-Ray's statement then
    comes from the construct, as :func:`driftline.deploy.functions.statements_for` says.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        definition: FunctionDefinition,
        function_name: str,
        code: lambda_.Code | lambda_.DockerImageCode,
        environment: Mapping[str, str],
        log_retention: logs.RetentionDays,
        arns: StackArns,
        description: str | None = None,
        memory_mb: int | None = None,
        timeout: Duration | None = None,
        async_failures: sqs.IQueue | None = None,
        reserved_concurrency: int | None = None,
        tracing: bool | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        traced = definition.tracing if tracing is None else tracing  # None: as the definition says
        self.definition = definition
        self.function_name = function_name
        self.log_group = function_log_group(self, function_name, log_retention)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"driftline {function_name}: only what this function does",
        )
        # The log group exists (created above), so no logs:CreateLogGroup and no account-wide log permissions.
        granted(self.role, policy_statements(definition.statements, arns, log_group_arn=self.log_group.log_group_arn))
        if definition.async_failures and async_failures is None:
            raise ValueError(f"the {definition.key} function is invoked asynchronously: give it its failure queue")
        common: _CommonProps = {
            "function_name": function_name,
            "description": description or definition.description,
            "role": self.role,
            "environment": {**environment, **definition.environment()},
            "memory_size": memory_mb or definition.memory_mb,
            "timeout": timeout or Duration.seconds(definition.timeout_seconds),
            "architecture": ARCHITECTURE,
            "tracing": lambda_.Tracing.ACTIVE if traced else lambda_.Tracing.DISABLED,
            "log_group": self.log_group,
            "reserved_concurrent_executions": reserved_concurrency,
        }
        if async_failures is not None:
            common["retry_attempts"] = 2
            common["max_event_age"] = Duration.hours(6)
            common["on_failure"] = destinations.SqsDestination(async_failures)
        if isinstance(code, lambda_.DockerImageCode):
            self.function: lambda_.Function = lambda_.DockerImageFunction(self, "Function", code=code, **common)
        else:
            self.function = lambda_.Function(
                self,
                "Function",
                code=code,
                handler=definition.handler,
                runtime=RUNTIME,
                **common,
            )
        self.function.node.add_dependency(self.role)

    @property
    def arn(self) -> str:
        return self.function.function_arn
