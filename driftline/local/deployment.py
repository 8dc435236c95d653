"""The local deployment: what ``cdk deploy`` would create, made in the local emulation from the same definitions.

From :mod:`driftline.deploy.functions`: one IAM role per function with exactly its statements (rendered with the
local ARNs), the scheduler's role, the SDK's principal; the staged package of each function kind
(:mod:`driftline.deploy.packaging`); and for each function name the sandbox spec: its handler string, timeout,
memory, environment (the installation's ``DRIFTLINE_*`` settings, its Powertools variables, its role's
credentials) as the stack gives them.

What differs from AWS, on purpose and only here: the settings carry the local endpoints (moto on loopback, the
local Lambda Invoke API), ``AWS_ENDPOINT_URL`` points any other client at moto too (with the role's credentials,
so IAM still applies), the clock file lets the functions follow the local clock, and the log level is the local
stack's.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from driftline.clock import CLOCK_FILE_ENV
from driftline.config import Credentials, Settings
from driftline.deploy.access import render_policy
from driftline.deploy.functions import FUNCTIONS, PRINCIPALS, FunctionDefinition, statements_for
from driftline.deploy.packaging import stage
from driftline.layout import DEFAULT_STACK, Names
from driftline.local.containers import ContainerSpec
from driftline.local.iam import ACCOUNT_ID, LocalArns, Principal, create_role

if TYPE_CHECKING:
    from types_boto3_iam.client import IAMClient
    from types_boto3_sts.client import STSClient

MAX_FUNCTION_NAME = 64
_NAME_SAFE = re.compile(r"[^a-zA-Z0-9-_]")


@dataclass(frozen=True)
class Runtime:
    """Which interpreter runs the sandboxes: by default this one (with its site-packages); for an image
    rehearsal a Python 3.12 with only the image's packages (``extra_paths`` per function kind, ``isolated``)."""

    python: str = sys.executable
    extra_paths: Mapping[str, Sequence[str]] = field(default_factory=dict)
    isolated: bool = False


def serving_function_name(base: str, project: str, function: str) -> str:
    """The local Lambda name of one (project, serving function): readable, unique, at most 64 characters."""
    name = _NAME_SAFE.sub("-", f"{base}-{project}-{function}")
    if len(name) <= MAX_FUNCTION_NAME:
        return name
    digest = hashlib.sha256(f"{project}/{function}".encode()).hexdigest()[:10]
    return f"{name[: MAX_FUNCTION_NAME - 11]}-{digest}"


def create_user(iam: IAMClient, label: str, name: str, document: Mapping[str, Any]) -> Principal:
    """An IAM user with ``document`` as its policy and an access key (the SDK's principal: what a person using the
    stack's SDK policy holds)."""
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="driftline-sdk", PolicyDocument=json.dumps(document))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    arn = iam.get_user(UserName=name)["User"]["Arn"]
    return Principal(label, name, arn, Credentials(key["AccessKeyId"], key["SecretAccessKey"]))


@dataclass
class Principals:
    """The IAM principals of one local installation, made from :mod:`driftline.deploy.functions`: one role per
    function kind, the scheduler's role, the SDK's user. ``settings`` is the installation's settings completed
    with the scheduler role's ARN."""

    settings: Settings
    arns: LocalArns
    by_label: dict[str, Principal]
    names: dict[str, str]

    @property
    def role_labels(self) -> dict[str, str]:
        """IAM role/user name -> the label the IAM ledger reports."""
        return {p.name: p.label for p in self.by_label.values()}

    def credentials(self, label: str) -> Credentials:
        return self.by_label[label].credentials

    def settings_for(self, label: str) -> Settings:
        """The installation's settings with ``label``'s credentials (clients acting as that principal)."""
        return self.settings.replace(credentials=self.credentials(label))


def function_names(settings: Settings, prefix: str = DEFAULT_STACK) -> dict[str, str]:
    """Each function kind's name: the ones the settings name (others call them), the rest as the stack names them."""
    names = Names(prefix)
    return {
        "controller": settings.controller_function,
        "writer": settings.writer_function,
        "app": settings.app_function,
        "stream": names.function("stream"),
        "serving": names.function("serving"),
    }


def install_principals(
    settings: Settings, iam: IAMClient, sts: STSClient, *, topic_key_arn: str = "", prefix: str = DEFAULT_STACK
) -> Principals:
    """Create the roles and the SDK user in the emulation (with ``iam``/``sts`` clients of an administrator)."""
    names = function_names(settings, prefix)
    scheduler_role = f"{prefix}-scheduler"
    settings = settings.replace(scheduler_role_arn=f"arn:aws:iam::{ACCOUNT_ID}:role/{scheduler_role}")

    def arns(function_name: str = "") -> LocalArns:
        log_group = (
            f"arn:aws:logs:{settings.region}:{ACCOUNT_ID}:log-group:/aws/lambda/{function_name}:*"
            if function_name
            else ""
        )
        return LocalArns(
            settings,
            topic_key_arn=topic_key_arn,
            scheduler_role_arn=settings.scheduler_role_arn,
            log_group_arn=log_group,
        )

    by_label: dict[str, Principal] = {}
    for key in FUNCTIONS:
        document = render_policy(statements_for(key, timestream=settings.timestream_enabled), arns(names[key]))
        by_label[key] = create_role(iam, sts, key, names[key], "lambda.amazonaws.com", document)
    scheduler = render_policy(PRINCIPALS["scheduler"], arns())
    by_label["scheduler"] = create_role(iam, sts, "scheduler", scheduler_role, "scheduler.amazonaws.com", scheduler)
    by_label["sdk"] = create_user(iam, "sdk", f"{prefix}-sdk", render_policy(PRINCIPALS["sdk"], arns()))
    return Principals(settings, arns(), by_label, names)


class LocalDeployment:
    """Principals, packages and sandbox specs of one local installation. ``iam``/``sts`` are clients of the local
    administrator (made before IAM is enforced)."""

    def __init__(
        self,
        settings: Settings,
        iam: IAMClient,
        sts: STSClient,
        run_dir: Path,
        *,
        topic_key_arn: str = "",
        runtime: Runtime | None = None,
        log_level: str = "WARNING",
        metrics: bool = False,
        source_root: Path | None = None,
        prefix: str = DEFAULT_STACK,
    ) -> None:
        self.run_dir = run_dir
        self.runtime = runtime or Runtime()
        self.log_level = log_level
        self.metrics = metrics
        self.principals = install_principals(settings, iam, sts, topic_key_arn=topic_key_arn, prefix=prefix)
        self.settings = self.principals.settings
        self.names = self.principals.names
        self.task_roots: dict[str, Path] = {}
        packages = run_dir / "packages"
        shutil.rmtree(packages, ignore_errors=True)
        for key, definition in FUNCTIONS.items():
            kwargs = {"root": source_root} if source_root is not None else {}
            self.task_roots[key] = stage(definition, packages / key, **kwargs)
        self.clock_file = run_dir / "clock"

    @property
    def role_labels(self) -> dict[str, str]:
        return self.principals.role_labels

    def credentials(self, label: str) -> Credentials:
        return self.principals.credentials(label)

    def settings_for(self, label: str) -> Settings:
        return self.principals.settings_for(label)

    def environment(self, definition: FunctionDefinition, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
        s = self.settings
        credentials = self.credentials(definition.key)
        env = {
            **s.to_env(),
            **definition.environment(),
            **(overrides or {}),
            "AWS_ACCESS_KEY_ID": credentials.access_key_id,
            "AWS_SECRET_ACCESS_KEY": credentials.secret_access_key,
            "AWS_SESSION_TOKEN": credentials.session_token or "",
            # local only: stray clients reach moto too (as the function's role), the clock, the log level
            "AWS_ENDPOINT_URL": s.endpoint_url or "",
            CLOCK_FILE_ENV: str(self.clock_file),
            "POWERTOOLS_LOG_LEVEL": self.log_level,
            "POWERTOOLS_METRICS_DISABLED": "false" if self.metrics else "true",
            "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon here
        }
        return {k: v for k, v in env.items() if v != ""}

    def spec(self, key: str, name: str, overrides: Mapping[str, str] | None = None) -> ContainerSpec:
        definition = FUNCTIONS[key]
        return ContainerSpec(
            function_name=name,
            handler=definition.handler,
            task_root=self.task_roots[key],
            environment=self.environment(definition, overrides),
            timeout_seconds=float(definition.timeout_seconds),
            memory_mb=definition.memory_mb,
            region=self.settings.region,
            python=self.runtime.python,
            extra_paths=tuple(self.runtime.extra_paths.get(key, ())),
            isolated=self.runtime.isolated,
            log_path=self.run_dir / "logs" / f"{name}.log",
        )
