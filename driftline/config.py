"""Where every resource lives, read once at a boundary (handler, SDK, CLI, local runtime), and the one parser of
configuration values.

Logic never reads ``os.environ``: it receives a :class:`Settings` (the installation: what every function of one
stack shares) and, in the serving function only, a :class:`ServingIdentity` (which serving function it is).
Handlers call :meth:`Settings.from_env` once per container; the SDK resolves settings through
:func:`driftline.sdk.discovery.resolve_settings` (explicit values, then environment, then a running local stack,
then a deployed stack).

Values arrive as text (environment variables, ``-c key=value``) or typed JSON (the SSM settings document, the
local stack's state file, ``cdk.json``); :func:`parse_value` and :func:`parse_fields` turn either into the
declared type, and refuse what does not fit with a message naming where the value came from and what was
expected (:class:`Source`). ``infra/config.py`` parses the CDK context with the same functions.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from driftline import layout
from driftline.errors import ConfigurationError

ENV_PREFIX = "DRIFTLINE_"
_NAMES = layout.Names()  # the default stack's names are the defaults
MIN_BASE_PERIOD_MINUTES = 1
# At most a day: the controller decides whether a window had predictions from the endpoint's minute buckets, which
# expire 3 days after their minute (a window must close well within that), its first run looks back one day, and
# one app invocation (5 minutes, 2 GB) reads a whole window. EventBridge Scheduler's rate() itself would take more.
MAX_BASE_PERIOD_MINUTES = 1440
DEFAULT_BASE_PERIOD_MINUTES = 10
DEFAULT_SERVING_FUNCTION = "serving"


# ------------------------------------------------------------------------------------------------ parsing
@dataclass(frozen=True)
class Source:
    """Where values come from, to name a key in an error as the user wrote it: ``template`` is formatted with
    ``key`` (as given) and ``KEY`` (upper-cased)."""

    template: str
    empty_is_absent: bool = True  # "" means "not set" (an environment variable set to nothing)

    def describe(self, key: str) -> str:
        return self.template.format(key=key, KEY=key.upper())


ENVIRONMENT = Source("environment variable " + ENV_PREFIX + "{KEY}")
CONTEXT = Source("context {key}", empty_is_absent=False)


def document_source(name: str) -> Source:
    """Keys of a JSON document (the SSM settings parameter, the local stack's state file)."""
    return Source(f"{name}: {{key}}")


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def parse_bool(raw: Any, where: str) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str):
        lowered = raw.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    raise ConfigurationError(f"{where}: expected true or false, got {raw!r}")


def parse_int(raw: Any, where: str) -> int:
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, str):
        try:
            return int(raw.strip())
        except ValueError:
            pass
    raise ConfigurationError(f"{where}: expected a whole number, got {raw!r}")


def parse_str(raw: Any, where: str) -> str:
    if isinstance(raw, str):
        return raw
    raise ConfigurationError(f"{where}: expected a string, got {raw!r}")


def parse_list(raw: Any, where: str) -> list[Any]:
    """A list: as JSON (``["a", "b"]``, typed or as text) or as comma-separated text (``a, b``)."""
    if isinstance(raw, str):
        text = raw.strip()
        if not text:
            return []
        if not text.startswith("["):
            return [part.strip() for part in text.split(",") if part.strip()]
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigurationError(f"{where}: expected a JSON list, got {raw!r} ({exc})") from exc
    if isinstance(raw, list | tuple):
        return list(raw)
    raise ConfigurationError(f"{where}: expected a list, got {raw!r}")


_PARSERS: dict[str, Callable[[Any, str], Any]] = {
    "bool": parse_bool,
    "int": parse_int,
    "str": parse_str,
    "tuple[str, ...]": lambda raw, where: tuple(parse_str(item, where) for item in parse_list(raw, where)),
}


def parse_value(raw: Any, annotation: str, where: str) -> Any:
    """``raw`` as the type a dataclass field declares (``bool``, ``int``, ``str``, ``str | None``,
    ``tuple[str, ...]``)."""
    parser = _PARSERS.get(annotation.removesuffix(" | None"))
    if parser is None:
        raise TypeError(f"{where}: no parser for {annotation!r}; pass one in items=")
    return parser(raw, where)


def parse_fields(
    cls: type,
    values: Mapping[str, Any],
    source: Source,
    *,
    skip: tuple[str, ...] = (),
    items: Mapping[str, Callable[[Any, str], Any]] | None = None,
) -> dict[str, Any]:
    """The fields of the dataclass ``cls`` that ``values`` sets, parsed to their declared types; ``None`` (and,
    where the source says so, ``""``) is not set. ``items`` parses the elements of list fields of other types."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name in skip or f.name not in values:
            continue
        raw = values[f.name]
        if raw is None or (raw == "" and source.empty_is_absent):
            continue
        where = source.describe(f.name)
        item = (items or {}).get(f.name)
        if item is not None:
            out[f.name] = tuple(item(element, where) for element in parse_list(raw, where))
        else:
            out[f.name] = parse_value(raw, str(f.type), where)
    return out


# ------------------------------------------------------------------------------------------------ settings
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


@dataclass(frozen=True)
class ServingIdentity:
    """Which serving function a serving Lambda is: its project and function name, which pick its FunctionSpec
    in the registry. Only the serving function carries one (``DRIFTLINE_PROJECT``, ``DRIFTLINE_SERVING_FUNCTION``);
    the settings document of a deployed stack has the same two keys, for the SDK to know which function the
    stack's API serves (:attr:`Settings.api_serves`)."""

    project: str = layout.DEFAULT_PROJECT
    serving_function: str = DEFAULT_SERVING_FUNCTION

    @classmethod
    def from_values(cls, values: Mapping[str, Any], source: Source) -> ServingIdentity:
        return cls(**parse_fields(cls, values, source))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServingIdentity:
        env = os.environ if environ is None else environ
        return cls.from_values(_environment_values(env, [f.name for f in dataclasses.fields(cls)]), ENVIRONMENT)

    def to_values(self) -> dict[str, str]:
        return {"project": self.project, "serving_function": self.serving_function}

    def to_env(self) -> dict[str, str]:
        return {ENV_PREFIX + key.upper(): value for key, value in self.to_values().items()}


def _environment_values(env: Mapping[str, str], keys: list[str]) -> dict[str, str]:
    return {key: env[ENV_PREFIX + key.upper()] for key in keys if ENV_PREFIX + key.upper() in env}


# Fields that are no key of their own in the environment or a document: the tables and queues are one key each
# (``{role}_table``, ``{role}_queue_url``), ``api_serves`` is ``project`` and ``serving_function`` of a document,
# ``credentials`` only ever in the local stack's state file, ``extra`` never.
_COMPOSITE = ("tables", "queue_urls", "api_serves", "extra", "credentials")


@dataclass(frozen=True)
class Settings:
    """The installation: names of the resources of one driftline installation, the endpoints its clients use,
    and the tunables of its functions, all shared by every function of one stack.

    One installation serves many projects; the project is part of every record's key. Tables and queues are
    the layout's (:data:`driftline.layout.TABLES`, :data:`~driftline.layout.QUEUES`), by role.
    """

    region: str = "us-east-1"
    bucket: str = _NAMES.data_bucket()
    stream_name: str = _NAMES.stream
    # role -> table name, for every table of the layout (DRIFTLINE_{ROLE}_TABLE); roles not given get the
    # default stack's name
    tables: Mapping[str, str] = field(default_factory=dict)
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
    # where failures go, role -> URL (DRIFTLINE_{ROLE}_QUEUE_URL): asynchronous invocations that exhausted their
    # retries (Lambda's on-failure destination, the schedule's dead-letter queue) and the stream's poison records
    # and abandoned batches; a role not given has no queue
    queue_urls: Mapping[str, str] = field(default_factory=dict)
    scheduler_role_arn: str = ""
    # None means "the real AWS endpoint"; the local runtime points every client at moto on loopback.
    endpoint_url: str | None = None
    # The Lambda Invoke API; locally the runtime's own emulation of it.
    lambda_endpoint_url: str | None = None
    # Timestream needs its own explicit endpoints, or its clients spend ~50 s on endpoint discovery.
    timestream_write_endpoint_url: str | None = None
    timestream_query_endpoint_url: str | None = None
    api_url: str | None = None  # where the HTTP API answers (SDK's serving.invoke); None: not known
    # which serving function the API at ``api_url`` serves (a deployed stack serves one; None: the default
    # project's ``serving``, what a stack deployed without ``project`` serves). Read from the settings document,
    # never from a function's environment: only the serving function knows itself (:class:`ServingIdentity`).
    api_serves: ServingIdentity | None = None
    # where the serving function of any (project, function) answers, when the installation serves several
    # (the local stack: "http://127.0.0.1:8780/projects/{project}/{function}"); None: only ``api_url``, which
    # serves ``api_serves``
    serving_url_template: str | None = None
    flush_grace_seconds: int = 30  # MLRun: stop = last_request - 30 s
    # a window this far behind the clock is closed even with no new traffic: at least the stream's batching
    # window (120 s by default) plus the event delay below plus the batch's own processing, or a quiet window
    # could close before its last rows are written (infra/config.py checks the batching window against it)
    max_lateness_seconds: int = 180
    max_backfill_seconds: int = 86_400  # first run looks back at most one day
    # a window claimed but not confirmed sent for this long belongs to a run that died (the controller's timeout
    # is 5 minutes; Lambda's maximum is 15): the next run sends it
    stale_claim_seconds: int = 900
    # the stream recognises a request put twice on Kinesis (a retried put whose answer was lost) when the copy
    # comes within this many seconds of the newest request it stored; twice the serving timeout (29 s)
    duplicate_window_seconds: int = 60
    # a request's event reaches Kinesis at most this long after the request started (the serving function puts
    # it, retries included, inside the request's invocation, whose timeout is 29 s): the event objects' keys
    # bound their rows' times with it, so a window reads only the objects that may hold its rows
    # (driftline/aws/events_store.py)
    max_event_delay_seconds: int = 30
    # the most rows ``sample_df`` loads for one window (the built-in drift apps read any window in chunks
    # instead); past it the app gets a clear error, not an out-of-memory kill
    sample_df_max_rows: int = 2_000_000
    # result and metric history items expire this many days after their window ended (DynamoDB TTL); 0 keeps
    # them forever. The latest value of each result is kept regardless.
    results_ttl_days: int = 90
    # the stream's RowsWritten also per endpoint (dimension endpoint_id): a custom metric per endpoint, $0.30 per
    # endpoint-month (docs/cost.md); off by default, the endpoints table has the same counts per minute
    per_endpoint_metrics: bool = False
    # mm-lag-detected when a pair's checkpoint is this far behind the endpoint's last request, beyond the one
    # window still filling (last_request - last_analyzed > base_period + this); 0 turns the lag alert off
    lag_alert_seconds: int = 3_600
    # controller fan-out (docs/architecture.md, "Controller fan-out"): 0 = one shard per ``controller_shard_size``
    # endpoints (counted each tick), at most ``controller_max_shards``; a positive number forces that many shards
    controller_shards: int = 0
    controller_shard_size: int = 500
    controller_max_shards: int = 200
    controller_threads: int = 8  # endpoints handled at once inside one shard's invocation
    stream_threads: int = 16  # live-figure transactions in flight at once in one stream batch
    max_rows_per_request: int = 10_000
    max_request_bytes: int = 6 * 1024 * 1024  # under API Gateway's 10 MB and Lambda's 6 MB payload limits
    extra: Mapping[str, str] = field(default_factory=dict)
    # Explicit credentials for the clients made from these settings (the local stack hands the SDK and CLI the
    # keys of a principal bound to the stack's SDK policy). Never part of a function's environment: in Lambda
    # the runtime provides the role's credentials.
    credentials: Credentials | None = None

    def __post_init__(self) -> None:
        for what, given, known in (("tables", self.tables, layout.TABLES), ("queues", self.queue_urls, layout.QUEUES)):
            unknown = sorted(set(given) - set(known))
            if unknown:
                raise ConfigurationError(f"{what} {unknown}: not in driftline.layout; expected some of {list(known)}")
        object.__setattr__(self, "tables", {**_NAMES.tables(), **self.tables})
        object.__setattr__(self, "queue_urls", dict(self.queue_urls))

    # ---------------------------------------------------------------------------------------------- access
    def table(self, role: str) -> str:
        """The name of the layout's table ``role`` (``registry``, ``endpoints``, ...)."""
        try:
            return self.tables[role]
        except KeyError:
            raise ConfigurationError(f"no table {role!r}; the layout's tables are {list(layout.TABLES)}") from None

    def queue_url(self, role: str) -> str:
        """The URL of the layout's queue ``role`` (``async-failures``, ``stream-failures``); "" when it has none."""
        if role not in layout.QUEUES:
            raise ConfigurationError(f"no queue {role!r}; the layout's queues are {list(layout.QUEUES)}")
        return self.queue_urls.get(role, "")

    # ---------------------------------------------------------------------------------------------- keys
    @classmethod
    def schema(cls) -> dict[str, str]:
        """Every key of the environment (``DRIFTLINE_{KEY}``) and of the settings document, with its type."""
        out = {f.name: str(f.type) for f in dataclasses.fields(cls) if f.name not in _COMPOSITE}
        out.update(dict.fromkeys(TABLE_KEYS, "str"))
        out.update(dict.fromkeys(QUEUE_KEYS, "str"))
        return out

    @classmethod
    def from_values(cls, values: Mapping[str, Any], source: Source) -> Settings:
        """Settings from flat keys (:meth:`schema`; others are ignored), parsed to their types."""
        return cls().with_values(values, source)

    def with_values(self, values: Mapping[str, Any], source: Source) -> Settings:
        """These settings with the flat keys ``values`` sets (parsed as :meth:`from_values` does) on top."""
        scalars = parse_fields(Settings, values, source, skip=_COMPOSITE)
        tables = dict(self.tables)
        queues = dict(self.queue_urls)
        for key, role in TABLE_KEYS.items():
            if _is_set(values.get(key), source):
                tables[role] = parse_str(values[key], source.describe(key))
        for key, role in QUEUE_KEYS.items():
            if _is_set(values.get(key), source):
                queues[role] = parse_str(values[key], source.describe(key))
        return dataclasses.replace(self, tables=tables, queue_urls=queues, **scalars)

    def values(self) -> dict[str, Any]:
        """The flat keys of these settings (the inverse of :meth:`from_values`); unset optional values left out."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name not in _COMPOSITE and getattr(self, f.name) is not None:
                out[f.name] = getattr(self, f.name)
        out.update({layout.TABLES[role].settings_key: name for role, name in self.tables.items()})
        out.update({layout.QUEUES[role].settings_key: url for role, url in self.queue_urls.items()})
        return out

    # ---------------------------------------------------------------------------------------------- environment
    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``DRIFTLINE_*`` variables (the Lambda environment set by the CDK stack)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = _environment_values(env, list(cls.schema()))
        if not values.get("region"):
            values["region"] = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
        if not values.get("endpoint_url"):
            values["endpoint_url"] = env.get("AWS_ENDPOINT_URL")
        return cls.from_values(values, ENVIRONMENT)

    def to_env(self) -> dict[str, str]:
        """The inverse of :meth:`from_env`: the environment every function of the installation sees."""
        return {ENV_PREFIX + key.upper(): _text(value) for key, value in self.values().items()}

    # ---------------------------------------------------------------------------------------------- documents
    @classmethod
    def from_document(cls, values: Mapping[str, Any], source: Source) -> Settings:
        """Settings from a settings document (the SSM parameter a deployed stack writes, the local stack's state
        file): the flat keys, plus ``project``/``serving_function`` (:attr:`api_serves`) and ``credentials``."""
        settings = cls.from_values(values, source)
        if any(_is_set(values.get(key), source) for key in ("project", "serving_function")):
            settings = settings.replace(api_serves=ServingIdentity.from_values(values, source))
        raw = values.get("credentials")
        if isinstance(raw, Mapping):
            try:
                settings = settings.replace(credentials=Credentials(**raw))
            except TypeError as exc:
                where = source.describe("credentials")
                raise ConfigurationError(f"{where}: expected access_key_id, secret_access_key, session_token") from exc
        return settings

    def to_document(self, *, credentials: bool = False) -> dict[str, Any]:
        """The settings document (JSON-ready); with ``credentials`` (the local state file only) the keys too."""
        out: dict[str, Any] = self.values()
        if self.api_serves is not None:
            out.update(self.api_serves.to_values())
        if credentials and self.credentials is not None:
            out["credentials"] = self.credentials.to_dict()
        return out

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


TABLE_KEYS = {table.settings_key: role for role, table in layout.TABLES.items()}
QUEUE_KEYS = {queue.settings_key: role for role, queue in layout.QUEUES.items()}


def _is_set(raw: Any, source: Source) -> bool:
    return raw is not None and not (raw == "" and source.empty_is_absent)


def _text(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def validate_base_period(base_period: Any) -> int:
    """``base_period`` is whole minutes, 1 to 1440 (MLRun warns under 10; so do we, in the SDK)."""
    bounds = f"{MIN_BASE_PERIOD_MINUTES}..{MAX_BASE_PERIOD_MINUTES} minutes (one minute to one day)"
    if isinstance(base_period, bool) or not isinstance(base_period, int):
        raise ConfigurationError(f"base_period must be a whole number of minutes in {bounds}, got {base_period!r}")
    if not MIN_BASE_PERIOD_MINUTES <= base_period <= MAX_BASE_PERIOD_MINUTES:
        raise ConfigurationError(
            f"base_period must be {bounds}, got {base_period}: windows longer than a day would outlive the "
            "endpoint's minute figures the controller reads (kept 3 days) and one app invocation reads a whole window"
        )
    return base_period
