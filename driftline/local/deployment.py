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
from typing import Any

from driftline.clock import CLOCK_FILE_ENV
from driftline.config import Credentials, Settings
from driftline.deploy.access import Statement, render_policy
from driftline.deploy.functions import FUNCTIONS, PRINCIPALS, FunctionDefinition, statements_for
from driftline.deploy.packaging import stage
from driftline.local.containers import ContainerSpec
from driftline.local.iam import ACCOUNT_ID, LocalArns, Principal, create_role

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


def create_user(iam: Any, label: str, name: str, document: Mapping[str, Any]) -> Principal:
    """An IAM user with ``document`` as its policy and an access key (the SDK's principal: what a person using the
    stack's SDK policy holds)."""
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="driftline-sdk", PolicyDocument=json.dumps(document))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    arn = iam.get_user(UserName=name)["User"]["Arn"]
    return Principal(label, name, arn, Credentials(key["AccessKeyId"], key["SecretAccessKey"]))


class LocalDeployment:
    """Roles, packages and sandbox specs of one local installation. ``admin`` is a boto3 IAM/STS client pair
    bound to the local admin (made before IAM is enforced)."""

    def __init__(
        self,
        settings: Settings,
        iam: Any,
        sts: Any,
        run_dir: Path,
        *,
        topic_key_arn: str = "",
        runtime: Runtime | None = None,
        log_level: str = "WARNING",
        metrics: bool = False,
        stream_function: str = "driftline-stream",
        serving_function: str = "driftline-serving",
        source_root: Path | None = None,
        prefix: str = "driftline",
    ) -> None:
        self.run_dir = run_dir
        self.runtime = runtime or Runtime()
        self.log_level = log_level
        self.metrics = metrics
        self.names = {
            "controller": settings.controller_function,
            "writer": settings.writer_function,
            "app": settings.app_function,
            "stream": stream_function,
            "serving": serving_function,
        }
        scheduler_role = f"{prefix}-scheduler"
        scheduler_role_arn = f"arn:aws:iam::{ACCOUNT_ID}:role/{scheduler_role}"
        self.settings = settings.replace(scheduler_role_arn=scheduler_role_arn)
        self._topic_key_arn = topic_key_arn
        self.principals: dict[str, Principal] = {}
        for key in FUNCTIONS:
            document = self.policy(statements_for(key, timestream=settings.timestream_enabled), self.names[key])
            self.principals[key] = create_role(iam, sts, key, self.names[key], "lambda.amazonaws.com", document)
        self.principals["scheduler"] = create_role(
            iam, sts, "scheduler", scheduler_role, "scheduler.amazonaws.com", self.policy(PRINCIPALS["scheduler"])
        )
        self.principals["sdk"] = create_user(iam, "sdk", f"{prefix}-sdk", self.policy(PRINCIPALS["sdk"]))
        self.task_roots: dict[str, Path] = {}
        packages = run_dir / "packages"
        shutil.rmtree(packages, ignore_errors=True)
        for key, definition in FUNCTIONS.items():
            kwargs = {"root": source_root} if source_root is not None else {}
            self.task_roots[key] = stage(definition, packages / key, **kwargs)
        self.clock_file = run_dir / "clock"

    def arns(self, function_name: str = "") -> LocalArns:
        s = self.settings
        log_group = (
            f"arn:aws:logs:{s.region}:{ACCOUNT_ID}:log-group:/aws/lambda/{function_name}:*" if function_name else ""
        )
        return LocalArns(
            s, topic_key_arn=self._topic_key_arn, scheduler_role_arn=s.scheduler_role_arn, log_group_arn=log_group
        )

    def policy(self, statements: Sequence[Statement], function_name: str = "") -> dict[str, Any]:
        return render_policy(statements, self.arns(function_name))

    @property
    def role_labels(self) -> dict[str, str]:
        """IAM role/user name -> the label the IAM ledger reports."""
        return {p.name: p.label for p in self.principals.values()}

    def credentials(self, label: str) -> Credentials:
        return self.principals[label].credentials

    def settings_for(self, label: str) -> Settings:
        """The installation's settings with ``label``'s credentials (clients acting as that principal)."""
        return self.settings.replace(credentials=self.credentials(label))

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
