"""The messages that cross function boundaries, with their validation.

Plain dataclasses (no pydantic): the controller and the writer import this module on their cold start.
Every ``from_dict`` raises :class:`InvalidRequestError` naming the field and what was expected.
Times cross boundaries as ISO 8601 strings in UTC with microseconds (``2026-11-26T17:00:00.000000+00:00``).
The inference event (serving -> stream) is defined in :mod:`driftline.inference_event`.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

from driftline.errors import InvalidRequestError

NAME_PATTERN = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
# App and function names appear in ARNs, table keys and entity ids: keep them DNS-like.
APP_NAME_PATTERN = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


class ResultKind(IntEnum):
    """MLRun's ``ResultKindApp``."""

    data_drift = 0
    concept_drift = 1
    model_performance = 2
    system_performance = 3
    mm_app_anomaly = 4


class ResultStatus(IntEnum):
    """MLRun's ``ResultStatusApp``."""

    irrelevant = -1
    no_detection = 0
    potential_detection = 1
    detected = 2


# ---------------------------------------------------------------------------------------------------- time


def to_iso(moment: datetime) -> str:
    """UTC ISO 8601 with microseconds; naive datetimes are refused (they are a bug waiting to happen)."""
    if moment.tzinfo is UTC:  # clock.now()'s: no conversion to pay for (the serving hot path)
        return moment.isoformat(timespec="microseconds")
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: pass a timezone-aware time")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def parse_time(value: Any, field_name: str = "time") -> datetime:
    """Accept an aware datetime or an ISO 8601 string (``Z`` or offset); the result is aware UTC."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise InvalidRequestError(f"{field_name}: expected an ISO 8601 time, got {value!r}") from exc
    else:
        raise InvalidRequestError(f"{field_name}: expected an ISO 8601 time string, got {type(value).__name__}")
    if moment.tzinfo is None:
        raise InvalidRequestError(f"{field_name}: expected a time with a UTC offset, got {value!r}")
    return moment.astimezone(UTC)


# ---------------------------------------------------------------------------------------------------- ids


def endpoint_id_for(project: str, function_name: str, model_name: str) -> str:
    """A stable endpoint id: the same project, serving function and model always map to the same id
    (MLRun hashes the function URI and model name the same way), so redeploys keep their history."""
    digest = hashlib.sha1(f"{project}/{function_name}/{model_name}".encode(), usedforsecurity=False)
    return digest.hexdigest()[:32]


def validate_app_name(name: Any) -> str:
    if not isinstance(name, str) or not APP_NAME_PATTERN.match(name):
        raise InvalidRequestError(
            f"application name {name!r}: expected lowercase letters, digits and '-', 1-63 characters, "
            "starting and ending with a letter or digit (e.g. 'histogram-data-drift')"
        )
    return name


def validate_result_name(name: Any, what: str = "result") -> str:
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise InvalidRequestError(f"{what} name {name!r}: expected a name matching [a-zA-Z_][a-zA-Z0-9_]*")
    return name


def _require(data: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in data:
        raise InvalidRequestError(f"{where}: missing field {key!r}")
    value = data[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _as_tuple(kind)):
        names = "/".join(k.__name__ for k in _as_tuple(kind))
        raise InvalidRequestError(f"{where}: field {key!r} must be {names}, got {type(value).__name__}")
    return value


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _finite(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRequestError(f"{where}: expected a number, got {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number):
        raise InvalidRequestError(f"{where}: expected a finite number, got {value!r}")
    return number


@dataclass(frozen=True)
class WindowRequest:
    """What the controller sends an application (one asynchronous invocation per window with data)."""

    project: str
    endpoint_id: str
    application_name: str
    start_infer_time: str
    end_infer_time: str
    base_period_minutes: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> WindowRequest:
        where = "window request"
        if not isinstance(data, Mapping):
            raise InvalidRequestError(f"{where}: expected a JSON object, got {type(data).__name__}")
        start = _require(data, "start_infer_time", str, where)
        end = _require(data, "end_infer_time", str, where)
        if parse_time(start, f"{where}: start_infer_time") >= parse_time(end, f"{where}: end_infer_time"):
            raise InvalidRequestError(f"{where}: start_infer_time must be before end_infer_time")
        return cls(
            project=_require(data, "project", str, where),
            endpoint_id=_require(data, "endpoint_id", str, where),
            application_name=validate_app_name(_require(data, "application_name", str, where)),
            start_infer_time=start,
            end_infer_time=end,
            base_period_minutes=int(_require(data, "base_period_minutes", int, where)),
        )


@dataclass(frozen=True)
class AppResult:
    """MLRun's ``ModelMonitoringApplicationResult``."""

    name: str
    value: float
    kind: ResultKind
    status: ResultStatus
    extra_data: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        validate_result_name(self.name)
        object.__setattr__(self, "value", _finite(self.value, f"result {self.name!r} value"))
        try:
            object.__setattr__(self, "kind", ResultKind(self.kind))
            object.__setattr__(self, "status", ResultStatus(self.status))
        except ValueError as exc:
            raise InvalidRequestError(f"result {self.name!r}: {exc}") from exc
        try:
            json.dumps(self.extra_data, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InvalidRequestError(f"result {self.name!r}: extra_data must be JSON-serialisable ({exc})") from exc

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "kind": int(self.kind),
            "status": int(self.status),
            "extra_data": self.extra_data,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AppResult:
        where = "result"
        return cls(
            name=_require(data, "name", str, where),
            value=_finite(data.get("value"), f"{where} value"),
            kind=ResultKind(int(_require(data, "kind", int, where))),
            status=ResultStatus(int(_require(data, "status", int, where))),
            extra_data=dict(data.get("extra_data") or {}),
        )


@dataclass(frozen=True)
class AppMetric:
    """MLRun's ``ModelMonitoringApplicationMetric``."""

    name: str
    value: float

    def __post_init__(self) -> None:
        validate_result_name(self.name, "metric")
        object.__setattr__(self, "value", _finite(self.value, f"metric {self.name!r} value"))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AppMetric:
        return cls(name=_require(data, "name", str, "metric"), value=_finite(data.get("value"), "metric value"))


@dataclass(frozen=True)
class AppOutputs:
    """What an application run hands the writer: everything one app produced for one window."""

    project: str
    endpoint_id: str
    application_name: str
    start_infer_time: str
    end_infer_time: str
    results: Sequence[AppResult] = ()
    metrics: Sequence[AppMetric] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "endpoint_id": self.endpoint_id,
            "application_name": self.application_name,
            "start_infer_time": self.start_infer_time,
            "end_infer_time": self.end_infer_time,
            "results": [r.to_dict() for r in self.results],
            "metrics": [m.to_dict() for m in self.metrics],
        }

    @classmethod
    def from_dict(cls, data: Any) -> AppOutputs:
        where = "application outputs"
        if not isinstance(data, Mapping):
            raise InvalidRequestError(f"{where}: expected a JSON object, got {type(data).__name__}")
        window = WindowRequest.from_dict({**data, "base_period_minutes": int(data.get("base_period_minutes", 0))})
        return cls(
            project=window.project,
            endpoint_id=window.endpoint_id,
            application_name=window.application_name,
            start_infer_time=window.start_infer_time,
            end_infer_time=window.end_infer_time,
            results=tuple(AppResult.from_dict(r) for r in _require(data, "results", list, where)),
            metrics=tuple(AppMetric.from_dict(m) for m in _require(data, "metrics", list, where)),
        )
