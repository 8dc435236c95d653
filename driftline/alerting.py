"""Alert configurations (MLRun's ``AlertConfig``) and the rule that decides, per result and window, whether one
fires. Pure: no AWS, no pandas; the writer feeds it the history it read (:mod:`driftline.aws.alert_state`).

An :class:`AlertConfig` belongs to a project and selects results by endpoint, application and result name
(``fnmatch`` patterns, empty = all). It fires for a window whose result has one of its ``statuses`` when its
criteria hold: at least ``count`` of the last ``windows`` windows of that result (this one included) had one of
those statuses. Then its reset policy:

- ``auto`` (default): one alert per episode; it re-arms once the criteria stop holding (the previous window did
  not meet them). The default configuration (``DEFAULT_ALERT``: detected, 1 of 1, auto) is one alert when a
  result *enters* ``detected``, not one per window.
- ``manual``: one alert, then silence for that result until ``reset_alert`` (MLRun's manual reset policy).
- ``always``: every window meeting the criteria (the old behaviour; combine with a cool-down).

``cooldown_minutes`` (window time) is the least time between two alerts of one configuration and result.
Targets: the stack's SNS topic, an EventBridge bus (the stack's, or the account's ``default`` bus), an HTTPS
webhook (optionally with a secret header whose value is an SSM SecureString the writer reads).

A result matched by no configuration of its project gets the project's configuration named ``default`` if it
has one, else :data:`DEFAULT_ALERT`. A configuration with no targets silences what it matches.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from driftline.errors import InvalidRequestError
from driftline.schemas import ResultStatus

NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$")
RESET_POLICIES = ("auto", "manual", "always")
TARGET_KINDS = ("sns", "eventbridge", "webhook")
DEFAULT_NAME = "default"
MAX_WINDOWS = 100  # N of the last M windows: M at most this (the writer reads M + 1 history items)
MAX_COOLDOWN_MINUTES = 60 * 24 * 90
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
WEBHOOK_SECRET_HEADER = "X-Driftline-Secret"  # noqa: S105  # nosec B105: a header name; its value comes from SSM
ALERT_STATUSES = (ResultStatus.potential_detection, ResultStatus.detected)
_STATUS_NAMES = {s.name: s for s in ALERT_STATUSES}


def _status(value: Any) -> ResultStatus:
    if isinstance(value, ResultStatus):
        status = value
    elif isinstance(value, str) and value in _STATUS_NAMES:
        status = _STATUS_NAMES[value]
    elif isinstance(value, int) and not isinstance(value, bool) and value in (1, 2):
        status = ResultStatus(value)
    else:
        raise InvalidRequestError(
            f"alert statuses: {value!r} is not one; expected {sorted(_STATUS_NAMES)} (or 1, 2): "
            "no_detection never notifies"
        )
    if status not in ALERT_STATUSES:
        raise InvalidRequestError(f"alert statuses: {status.name} never notifies; expected {sorted(_STATUS_NAMES)}")
    return status


def _patterns(value: Any, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Iterable) or not all(isinstance(v, str) and v for v in value):
        raise InvalidRequestError(f"alert {what}: expected a list of non-empty names or patterns, got {value!r}")
    return tuple(value)


@dataclass(frozen=True)
class AlertTarget:
    """Where an alert goes: ``sns`` (the stack's topic), ``eventbridge`` (``bus``: empty = the stack's bus, or
    ``default``), ``webhook`` (``url``; ``secret_parameter``: an SSM SecureString under
    ``/driftline/<stack>/webhooks/`` sent as ``header``)."""

    kind: str
    bus: str = ""
    url: str = ""
    secret_parameter: str = ""
    header: str = WEBHOOK_SECRET_HEADER

    @property
    def id(self) -> str:
        """A stable name of the target within its configuration (what alert state tracks as sent)."""
        if self.kind == "eventbridge":
            return f"eventbridge:{self.bus or 'stack'}"
        if self.kind == "webhook":
            return f"webhook:{self.url}"
        return self.kind

    @classmethod
    def parse(cls, value: Any) -> AlertTarget:
        """``"sns"``, ``"eventbridge"``, ``"eventbridge:default"``, ``"https://..."`` or a dict of the fields."""
        if isinstance(value, AlertTarget):
            target = value
        elif isinstance(value, str):
            if value.startswith(("https://", "http://")):
                target = cls("webhook", url=value)
            else:
                kind, _, bus = value.partition(":")
                target = cls(kind, bus=bus)
        elif isinstance(value, Mapping):
            unknown = sorted(set(value) - {"kind", "bus", "url", "secret_parameter", "header"})
            if unknown:
                raise InvalidRequestError(
                    f"alert target {dict(value)!r}: unknown field(s) {unknown}; "
                    "expected kind, bus, url, secret_parameter, header"
                )
            target = cls(**{k: str(v) for k, v in value.items()})
        else:
            raise InvalidRequestError(
                f"alert target {value!r}: expected 'sns', 'eventbridge[:default]', an https:// URL or a dict"
            )
        target.check()
        return target

    def check(self) -> None:
        if self.kind not in TARGET_KINDS:
            raise InvalidRequestError(f"alert target kind {self.kind!r}: expected one of {list(TARGET_KINDS)}")
        if self.kind == "eventbridge" and self.bus not in ("", "stack", "default"):
            raise InvalidRequestError(
                f"alert target eventbridge bus {self.bus!r}: expected the stack's bus (empty) or 'default' "
                "(the account's default bus); the writer may put events on these two only"
            )
        if self.kind == "webhook":
            parts = urlsplit(self.url)
            loopback = parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS
            if not parts.hostname or not (parts.scheme == "https" or loopback):
                raise InvalidRequestError(
                    f"alert webhook {self.url!r}: expected an https:// URL (http:// only to a loopback host)"
                )
            if self.secret_parameter and not self.secret_parameter.startswith("/driftline/"):
                raise InvalidRequestError(
                    f"alert webhook secret_parameter {self.secret_parameter!r}: expected the name of an SSM "
                    "SecureString under /driftline/<stack>/webhooks/ (the writer may read only those)"
                )
            if not self.header or not re.fullmatch(r"[A-Za-z0-9-]+", self.header):
                raise InvalidRequestError(f"alert webhook header {self.header!r}: expected an HTTP header name")

    def to_dict(self) -> dict[str, str]:
        out = {"kind": self.kind}
        if self.kind == "eventbridge" and self.bus:
            out["bus"] = self.bus
        if self.kind == "webhook":
            out["url"] = self.url
            if self.secret_parameter:
                out |= {"secret_parameter": self.secret_parameter, "header": self.header}
        return out


DEFAULT_TARGETS = (AlertTarget("eventbridge"), AlertTarget("sns"))


@dataclass(frozen=True)
class AlertConfig:
    """One alert configuration of a project (see the module docstring)."""

    name: str
    project: str
    endpoints: tuple[str, ...] = ()  # endpoint ids (the SDK resolves model names); empty = every endpoint
    applications: tuple[str, ...] = ()  # fnmatch patterns on application names
    results: tuple[str, ...] = ()  # fnmatch patterns on result names
    statuses: tuple[ResultStatus, ...] = (ResultStatus.detected,)
    count: int = 1  # criteria: at least `count` ...
    windows: int = 1  # ... of the last `windows` windows
    reset_policy: str = "auto"
    cooldown_minutes: int = 0
    targets: tuple[AlertTarget, ...] = DEFAULT_TARGETS
    description: str = ""
    updated: str = ""
    reset_at: str = ""  # the last manual reset (ISO time; ``reset_alert``)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not NAME_RE.match(self.name):
            raise InvalidRequestError(
                f"alert name {self.name!r}: expected 1-63 letters, digits, '_', '.', '-' "
                "starting with a letter or digit"
            )
        object.__setattr__(self, "endpoints", _patterns(self.endpoints, "endpoints"))
        object.__setattr__(self, "applications", _patterns(self.applications, "applications"))
        object.__setattr__(self, "results", _patterns(self.results, "results"))
        statuses = self.statuses
        if isinstance(statuses, str | int):
            statuses = (statuses,)
        parsed = tuple(sorted({_status(s) for s in statuses}))
        if not parsed:
            raise InvalidRequestError(
                f"alert {self.name!r}: statuses is empty; expected some of {sorted(_STATUS_NAMES)}"
            )
        object.__setattr__(self, "statuses", parsed)
        for what, value, low, high in (
            ("count", self.count, 1, MAX_WINDOWS),
            ("windows", self.windows, 1, MAX_WINDOWS),
            ("cooldown_minutes", self.cooldown_minutes, 0, MAX_COOLDOWN_MINUTES),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise InvalidRequestError(f"alert {self.name!r}: {what} {value!r}: expected an integer {low}..{high}")
        if self.count > self.windows:
            raise InvalidRequestError(
                f"alert {self.name!r}: criteria {self.count} of the last {self.windows} windows can never hold; "
                "expected count <= windows"
            )
        if self.reset_policy not in RESET_POLICIES:
            raise InvalidRequestError(
                f"alert {self.name!r}: reset_policy {self.reset_policy!r}: expected one of {list(RESET_POLICIES)}"
            )
        targets = self.targets
        if isinstance(targets, str | Mapping | AlertTarget):
            targets = (targets,)  # type: ignore[assignment]
        parsed_targets = tuple(AlertTarget.parse(t) for t in targets)
        ids = [t.id for t in parsed_targets]
        if len(set(ids)) != len(ids):
            raise InvalidRequestError(f"alert {self.name!r}: a target appears twice in {ids}")
        object.__setattr__(self, "targets", parsed_targets)

    def matches(self, endpoint_id: str, application_name: str, result_name: str) -> bool:
        if self.endpoints and endpoint_id not in self.endpoints:
            return False
        if self.applications and not any(fnmatch.fnmatchcase(application_name, p) for p in self.applications):
            return False
        return not self.results or any(fnmatch.fnmatchcase(result_name, p) for p in self.results)

    def notifies(self, status: int) -> bool:
        return int(status) in {int(s) for s in self.statuses}

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["statuses"] = [ResultStatus(s).name for s in self.statuses]
        data["targets"] = [t.to_dict() for t in self.targets]
        for key in ("endpoints", "applications", "results"):
            data[key] = list(data[key])
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AlertConfig:
        known = set(cls.__dataclass_fields__)
        values = {k: v for k, v in data.items() if k in known}
        for key in ("endpoints", "applications", "results", "statuses", "targets"):
            if key in values and isinstance(values[key], list):
                values[key] = tuple(values[key])
        return cls(**values)


DEFAULT_ALERT = AlertConfig(name=DEFAULT_NAME, project="")


def applicable(
    configs: Sequence[AlertConfig], endpoint_id: str, application_name: str, result_name: str
) -> list[AlertConfig]:
    """The configurations that govern one result: those that match it, else the project's ``default`` (or the
    built-in default)."""
    named = [c for c in configs if c.name != DEFAULT_NAME and c.matches(endpoint_id, application_name, result_name)]
    if named:
        return named
    default = next((c for c in configs if c.name == DEFAULT_NAME), DEFAULT_ALERT)
    return [default] if default.matches(endpoint_id, application_name, result_name) else []


@dataclass(frozen=True)
class Decision:
    """Whether ``config`` fires for one window of one result, and why (kept with the alert state)."""

    fire: bool
    reason: str
    hits: int = 0  # windows meeting the statuses among the last `windows`


@dataclass(frozen=True)
class LastFired:
    start_infer_time: datetime
    decided_at: datetime


@dataclass(frozen=True)
class History:
    """What the decision reads: the statuses of this result's windows, newest first, this window first (at most
    ``windows + 1`` of them), the last alert fired for it before this window, and the last manual reset."""

    statuses: Sequence[int]
    start_infer_time: datetime
    last_fired: LastFired | None = None
    reset_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def decide(config: AlertConfig, history: History) -> Decision:
    """The rule of the module docstring, for the window ``history.statuses[0]``."""
    statuses = list(history.statuses)
    if not statuses or not config.notifies(statuses[0]):
        return Decision(False, "status does not notify")
    hits = sum(1 for s in statuses[: config.windows] if config.notifies(s))
    if hits < config.count:
        return Decision(False, f"criteria not met: {hits} of the last {config.windows} windows", hits)
    last = history.last_fired
    if config.reset_policy == "auto":
        previous = statuses[1 : config.windows + 1]
        if len(previous) >= 1 and sum(1 for s in previous if config.notifies(s)) >= config.count:
            return Decision(False, "criteria held already at the previous window (auto reset: one per episode)", hits)
    elif (
        config.reset_policy == "manual"
        and last is not None
        and (history.reset_at is None or last.decided_at >= history.reset_at)
    ):
        return Decision(False, "fired before and not reset (manual reset policy)", hits)
    if config.cooldown_minutes and last is not None:
        elapsed = (history.start_infer_time - last.start_infer_time).total_seconds() / 60
        if 0 <= elapsed < config.cooldown_minutes:
            return Decision(False, f"cool-down: {elapsed:g} of {config.cooldown_minutes} minutes", hits)
    return Decision(True, f"{hits} of the last {config.windows} windows", hits)
