"""The tunables of one deployment, in one place.

Everything a user can change lives in ``cdk.json`` under ``context`` (or ``cdk synth -c key=value``) and is
read once here into a :class:`StackConfig`; the constructs never read context themselves. Resource names are
derived from ``stack_name`` by :class:`driftline.layout.Names` (shared with the local provisioning and the
settings' defaults), so two stacks in one account never collide.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from driftline.config import CONTEXT, Settings, Source, parse_fields, validate_base_period
from driftline.deploy.functions import FUNCTIONS
from driftline.errors import ConfigurationError
from driftline.layout import (
    DEFAULT_PROJECT,
    DEFAULT_STACK,
    EVENTS_COLD_AFTER_DAYS,
    EVENTS_RETENTION_DAYS,
    NONCURRENT_VERSION_DAYS,
    TIMESTREAM_MAGNETIC_RETENTION_DAYS,
    TIMESTREAM_MEMORY_RETENTION_HOURS,
    Names,
)
from driftline.schemas import validate_app_name

API_AUTH_MODES = ("iam", "jwt", "none")
API_ACCESS_LOGS = ("lean", "full", "off")
BATCH_PROCESSING_SECONDS = 30  # what a batch's own processing may add before its rows are on S3
STACK_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9-]{0,23}$")
PROJECT_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-_]{0,40}$")
SUBSCRIPTION_PROTOCOLS = ("email", "https", "sqs", "lambda", "sms")
# CloudWatch Logs only accepts these retention values (days).
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)

# The knobs with an allowed range (inclusive), by the service's limits.
_RANGES = {
    "kinesis_retention_hours": (24, 8760),
    "stream_batch_size": (1, 10_000),
    "stream_batching_window_seconds": (0, 300),
    "timestream_memory_retention_hours": (1, 8766),
    "timestream_magnetic_retention_days": (1, 73000),
}


@dataclass(frozen=True)
class AppFunctionConfig:
    """A user application that gets a Lambda function of its own (same image as the generic app runner,
    its own role, log group, memory and timeout). Other apps run in the generic app function."""

    name: str
    memory_mb: int = FUNCTIONS["app"].memory_mb
    timeout_seconds: int = FUNCTIONS["app"].timeout_seconds


@dataclass(frozen=True)
class Subscription:
    protocol: str
    endpoint: str


@dataclass(frozen=True)
class StackConfig:
    """The user's knobs (``cdk.json`` context keys have the same names)."""

    stack_name: str = DEFAULT_STACK
    project: str = DEFAULT_PROJECT  # the project whose controller schedule the stack creates
    base_period: int = 10  # minutes between controller runs
    monitoring_enabled: bool = False  # the schedule's initial state; the SDK's enable/disable flips it
    timestream: bool = True  # False for accounts that cannot create Timestream for LiveAnalytics
    timestream_memory_retention_hours: int = TIMESTREAM_MEMORY_RETENTION_HOURS
    timestream_magnetic_retention_days: int = TIMESTREAM_MAGNETIC_RETENTION_DAYS
    api_auth: str = "iam"  # iam | jwt | none (an open API only when asked for explicitly)
    jwt_issuer: str = ""
    jwt_audience: tuple[str, ...] = ()
    api_throttle_rate: int = 100  # requests per second, steady state
    api_throttle_burst: int = 200
    # 1 provisioned shard by default: $10.95/month against on-demand's $28.80 stream-hours alone, up to 1,000
    # records/s or 1 MB/s in; 0 switches to on-demand (break-even and reasoning in docs/cost.md)
    kinesis_shards: int = 1  # 0: on-demand capacity; N > 0: provisioned with N shards
    kinesis_retention_hours: int = 24
    # Fewer, larger objects (docs/cost.md): a batch every 2 minutes per shard (up to Lambda's 6 MB payload),
    # one parquet object per endpoint and batch, so a 10-minute window reads about 6 objects, and a tenth of
    # the S3 PUTs and stream invocations of a 5 s window; live figures lag by up to the window.
    stream_batch_size: int = 10_000
    stream_batching_window_seconds: int = 120
    stream_retry_attempts: int = 10
    log_retention_days: int = 30
    serving_tracing: bool = False  # X-Ray on the serving function ($5 per million traces); true to sample
    api_access_logs: str = "lean"  # lean: request id, time, route, status, latency, errors; full: + caller; off
    results_ttl_days: int = 90  # result/metric history expires after this (DynamoDB TTL); 0 keeps it forever
    per_endpoint_metrics: bool = False  # RowsWritten per endpoint: a custom metric per endpoint ($0.30/month each)
    # the inference parquet under events/ expires after this (30: the cost target; docs/cost.md prices longer)
    events_retention_days: int = EVENTS_RETENTION_DAYS
    # events move to S3 Glacier Instant Retrieval after this many days (0: never); worth it for long retention only
    events_cold_after_days: int = EVENTS_COLD_AFTER_DAYS
    noncurrent_version_days: int = NONCURRENT_VERSION_DAYS  # old object versions (redeliveries, replaced models)
    alert_emails: tuple[str, ...] = ()
    alert_subscriptions: tuple[Subscription, ...] = ()
    apps: tuple[AppFunctionConfig, ...] = ()
    iterator_age_alarm_seconds: int = 300
    retain_data: bool = True  # the bucket, the tables and Timestream survive `cdk destroy` (not the stream)
    serving_memory_mb: int = FUNCTIONS["serving"].memory_mb
    stream_memory_mb: int = FUNCTIONS["stream"].memory_mb
    app_memory_mb: int = FUNCTIONS["app"].memory_mb
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._check_names()
        validate_base_period(self.base_period)
        self._check_api()
        if self.kinesis_shards < 0:
            raise ConfigurationError(
                f"kinesis_shards must be 0 (on-demand) or a positive number, got {self.kinesis_shards}"
            )
        for name, (low, high) in _RANGES.items():
            value = getattr(self, name)
            if not low <= value <= high:
                raise ConfigurationError(f"{name} must be {low}..{high}, got {value}")
        if self.log_retention_days not in LOG_RETENTION_DAYS:
            raise ConfigurationError(
                f"log_retention_days {self.log_retention_days}: expected one of {LOG_RETENTION_DAYS}"
            )
        if self.events_retention_days < 1 or self.noncurrent_version_days < 1:
            raise ConfigurationError("events_retention_days and noncurrent_version_days must be at least 1")
        if not 0 <= self.events_cold_after_days < self.events_retention_days:
            raise ConfigurationError(
                f"events_cold_after_days {self.events_cold_after_days}: expected 0 (events stay in S3 Standard) or "
                f"fewer days than events_retention_days ({self.events_retention_days})"
            )
        self._check_stream_and_costs()
        self._check_apps_and_subscriptions()

    def _check_names(self) -> None:
        if not STACK_NAME_PATTERN.match(self.stack_name):
            raise ConfigurationError(
                f"stack_name {self.stack_name!r}: expected lowercase letters, digits and '-', starting with a "
                "letter, at most 24 characters (it prefixes every resource name, the bucket name included)"
            )
        if not PROJECT_PATTERN.match(self.project):
            raise ConfigurationError(
                f"project {self.project!r}: expected lowercase letters, digits, '-' or '_' (at most 41 characters)"
            )

    def _check_api(self) -> None:
        if self.api_auth not in API_AUTH_MODES:
            raise ConfigurationError(f"api_auth {self.api_auth!r}: expected one of {', '.join(API_AUTH_MODES)}")
        if self.api_auth == "jwt" and (not self.jwt_issuer or not self.jwt_audience):
            raise ConfigurationError("api_auth 'jwt' needs jwt_issuer (an https:// URL) and jwt_audience (a list)")
        if self.api_auth == "jwt" and not self.jwt_issuer.startswith("https://"):
            raise ConfigurationError(f"jwt_issuer {self.jwt_issuer!r}: expected an https:// URL")

    def _check_stream_and_costs(self) -> None:
        defaults = Settings()
        latest = defaults.max_lateness_seconds - defaults.max_event_delay_seconds - BATCH_PROCESSING_SECONDS
        if self.stream_batching_window_seconds > latest:
            raise ConfigurationError(
                f"stream_batching_window_seconds {self.stream_batching_window_seconds}: at most {latest}, or the "
                f"controller (which closes a quiet window {defaults.max_lateness_seconds} s after its end) could "
                "analyse a window before its last rows are written"
            )
        if self.api_access_logs not in API_ACCESS_LOGS:
            raise ConfigurationError(
                f"api_access_logs {self.api_access_logs!r}: expected one of {', '.join(API_ACCESS_LOGS)}"
            )
        if self.results_ttl_days < 0:
            raise ConfigurationError(f"results_ttl_days must be 0 (keep forever) or more, got {self.results_ttl_days}")

    def _check_apps_and_subscriptions(self) -> None:
        for subscription in self.alert_subscriptions:
            if subscription.protocol not in SUBSCRIPTION_PROTOCOLS:
                raise ConfigurationError(
                    f"alert subscription protocol {subscription.protocol!r}: expected one of {SUBSCRIPTION_PROTOCOLS}"
                )
        names = [a.name for a in self.apps]
        if len(set(names)) != len(names):
            raise ConfigurationError(f"apps: each application name once, got {names}")

    @property
    def names(self) -> Names:
        return Names(self.stack_name, self.project)

    @property
    def kinesis_on_demand(self) -> bool:
        return self.kinesis_shards == 0

    @classmethod
    def from_context(cls, context: Mapping[str, Any]) -> StackConfig:
        """Build from CDK context values: ``cdk.json`` gives typed JSON, ``-c key=value`` gives strings; both go
        through driftline.config's one parser."""
        return cls(
            **parse_fields(
                cls, context, CONTEXT, skip=("extra",), items={"apps": _app, "alert_subscriptions": _subscription}
            )
        )


def _app(item: Any, where: str) -> AppFunctionConfig:
    if isinstance(item, str):
        item = {"name": item}
    if not isinstance(item, Mapping) or "name" not in item:
        raise ConfigurationError(f"{where}: each app is a name or {{'name': ..., 'memory_mb': ...}}, got {item!r}")
    unknown = set(item) - {"name", "memory_mb", "timeout_seconds"}
    if unknown:
        raise ConfigurationError(
            f"{where}: unknown app keys {sorted(unknown)}; expected name, memory_mb, timeout_seconds"
        )
    try:
        validate_app_name(item["name"])
    except Exception as exc:
        raise ConfigurationError(f"{where}: {exc}") from exc
    return AppFunctionConfig(
        name=item["name"],
        **parse_fields(AppFunctionConfig, item, Source(f"{where}: {item['name']}.{{key}}"), skip=("name",)),
    )


def _subscription(item: Any, where: str) -> Subscription:
    if not isinstance(item, Mapping) or not {"protocol", "endpoint"} <= set(item):
        raise ConfigurationError(f"{where}: each subscription is {{'protocol': ..., 'endpoint': ...}}, got {item!r}")
    return Subscription(**parse_fields(Subscription, item, Source(f"{where}: subscription {{key}}")))
