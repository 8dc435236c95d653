"""Where every resource lives, read once at a boundary (handler, SDK, CLI, local runtime).

Logic never reads ``os.environ``: it receives a :class:`Settings`. Handlers call :meth:`Settings.from_env`
once per container; the SDK resolves settings through :func:`driftline.sdk.discovery.resolve_settings`
(explicit values, then environment, then a running local stack, then a deployed stack).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from driftline.errors import ConfigurationError
from driftline.layout import Names

ENV_PREFIX = "DRIFTLINE_"
_NAMES = Names()  # the default stack's names are the defaults
MIN_BASE_PERIOD_MINUTES = 1
DEFAULT_BASE_PERIOD_MINUTES = 10


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None

    def __repr__(self) -> str:  # never print a secret
        return f"Credentials(access_key_id={self.access_key_id!r}, ...)"

    def to_dict(self) -> dict[str, str | None]:
        return {
            "access_key_id": self.access_key_id,
            "secret_access_key": self.secret_access_key,
            "session_token": self.session_token,
        }


NOT_IN_ENVIRONMENT = ("extra", "credentials")


@dataclass(frozen=True)
class Settings:
    """Names of the resources of one driftline installation, plus the few tunables the runtime needs.

    One installation serves many projects; the project is part of every record's key.
    """

    region: str = "us-east-1"
    bucket: str = _NAMES.data_bucket()
    stream_name: str = _NAMES.stream
    registry_table: str = _NAMES.table("registry")  # projects, models, serving functions, apps
    endpoints_table: str = _NAMES.table("endpoints")  # endpoint records, live figures, minute buckets
    checkpoints_table: str = _NAMES.table("checkpoints")  # the controller's checkpoints per (endpoint, app)
    results_table: str = _NAMES.table("results")  # app results and metrics: latest and history
    timestream_enabled: bool = True
    timestream_database: str = _NAMES.timestream_database
    event_bus_name: str = _NAMES.event_bus
    alerts_topic_arn: str = ""
    schedule_prefix: str = _NAMES.schedule_prefix  # one schedule per project: {prefix}-{project}
    schedule_group: str = _NAMES.schedule_group
    controller_function: str = _NAMES.function("controller")
    controller_arn: str = ""  # the schedules' target; the stack sets it (locally a made-up ARN does)
    writer_function: str = _NAMES.function("writer")
    app_function: str = _NAMES.app_function()  # the generic app runner; an app record may name its own function
    # where failures go: asynchronous invocations that exhausted their retries (Lambda's on-failure destination,
    # the schedule's dead-letter queue) and the stream's poison records / abandoned batches
    async_failures_queue_url: str = ""
    stream_failures_queue_url: str = ""
    scheduler_role_arn: str = ""
    # None means "the real AWS endpoint"; the local runtime points every client at moto on loopback.
    endpoint_url: str | None = None
    # The Lambda Invoke API; locally the runtime's own emulation of it.
    lambda_endpoint_url: str | None = None
    # Timestream needs its own explicit endpoints, or its clients spend ~50 s on endpoint discovery.
    timestream_write_endpoint_url: str | None = None
    timestream_query_endpoint_url: str | None = None
    api_url: str | None = None  # where the HTTP API answers (SDK's serving.invoke); None: not known
    # where the serving function of any (project, function) answers, when the installation serves several
    # (the local stack: "http://127.0.0.1:8780/projects/{project}/{function}"); None: only ``api_url``, which
    # serves ``project``'s ``serving_function`` (a deployed stack)
    serving_url_template: str | None = None
    flush_grace_seconds: int = 30  # MLRun: stop = last_request - 30 s
    max_lateness_seconds: int = 120  # a window this far behind the clock is closed even with no new traffic
    max_backfill_seconds: int = 86_400  # first run looks back at most one day
    # a window claimed but not confirmed sent for this long belongs to a run that died (the controller's timeout
    # is 5 minutes; Lambda's maximum is 15): the next run sends it
    stale_claim_seconds: int = 900
    # the stream recognises a request put twice on Kinesis (a retried put whose answer was lost) when the copy
    # comes within this many seconds of the newest request it stored; twice the serving timeout (29 s)
    duplicate_window_seconds: int = 60
    # mm-lag-detected when a pair's checkpoint is this far behind the endpoint's last request, beyond the one
    # window still filling (last_request - last_analyzed > base_period + this); 0 turns the lag alert off
    lag_alert_seconds: int = 3_600
    project: str = "default"  # the project a serving Lambda belongs to
    serving_function: str = "serving"  # and its function name: together they pick its FunctionSpec
    max_rows_per_request: int = 10_000
    max_request_bytes: int = 6 * 1024 * 1024  # under API Gateway's 10 MB and Lambda's 6 MB payload limits
    extra: Mapping[str, str] = field(default_factory=dict)
    # Explicit credentials for the clients made from these settings (the local stack hands the SDK and CLI the
    # keys of a principal bound to the stack's SDK policy). Never part of a function's environment: in Lambda
    # the runtime provides the role's credentials.
    credentials: Credentials | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``DRIFTLINE_*`` variables (the Lambda environment set by the CDK stack)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name in NOT_IN_ENVIRONMENT:
                continue
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is None or raw == "":
                continue
            values[f.name] = _coerce(f.name, f.type, raw)
        if "region" not in values:
            region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
            if region:
                values["region"] = region
        if "endpoint_url" not in values and env.get("AWS_ENDPOINT_URL"):
            values["endpoint_url"] = env["AWS_ENDPOINT_URL"]
        return cls(**values)

    def to_env(self) -> dict[str, str]:
        """The inverse of :meth:`from_env`: the environment a handler needs to see these settings."""
        env: dict[str, str] = {}
        for f in dataclasses.fields(self):
            if f.name in NOT_IN_ENVIRONMENT:
                continue
            value = getattr(self, f.name)
            if value is None:
                continue
            env[ENV_PREFIX + f.name.upper()] = ("true" if value else "false") if isinstance(value, bool) else str(value)
        return env

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


def _coerce(name: str, type_name: Any, raw: str) -> Any:
    kind = str(type_name)
    if kind == "bool":
        lowered = raw.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        raise ConfigurationError(f"{ENV_PREFIX}{name.upper()} must be true or false, got {raw!r}")
    if kind == "int":
        try:
            return int(raw)
        except ValueError as exc:
            raise ConfigurationError(f"{ENV_PREFIX}{name.upper()} must be an integer, got {raw!r}") from exc
    return raw


def validate_base_period(base_period: Any) -> int:
    """``base_period`` is whole minutes, at least 1 (MLRun warns under 10; so do we, in the SDK)."""
    if isinstance(base_period, bool) or not isinstance(base_period, int):
        raise ConfigurationError(f"base_period must be a whole number of minutes, got {base_period!r}")
    if base_period < MIN_BASE_PERIOD_MINUTES:
        raise ConfigurationError(f"base_period must be at least {MIN_BASE_PERIOD_MINUTES} minute, got {base_period}")
    return base_period
