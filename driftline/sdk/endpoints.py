"""Model endpoints as the SDK shows them: identity, the live figures the stream keeps, and MLRun's
last-5-minutes / last-hour figures computed from the per-minute buckets."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from driftline.aws.endpoints import BUCKET_PREFIX
from driftline.records import EndpointRecord
from driftline.schemas import parse_time, to_iso

FIVE_MINUTES = timedelta(minutes=5)
ONE_HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class ModelEndpoint:
    endpoint_id: str
    project: str
    name: str
    function_name: str
    model_uri: str
    model_version: str
    feature_names: list[str] = field(default_factory=list)
    label_names: list[str] = field(default_factory=list)
    monitoring: bool = True
    created: str = ""
    # live figures (since the endpoint exists)
    requests: int = 0
    predictions: int = 0
    error_count: int = 0
    average_latency_us: float | None = None
    last_prediction: Any = None
    first_request: datetime | None = None
    last_request: datetime | None = None
    # MLRun's windowed figures, relative to the clock when the endpoint was read
    latency_avg_5m: float | None = None
    latency_avg_1h: float | None = None
    predictions_per_second: float = 0.0
    predictions_count_5m: int = 0
    predictions_count_1h: int = 0
    as_of: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for key in self.__dataclass_fields__:
            value = getattr(self, key)
            data[key] = to_iso(value) if isinstance(value, datetime) else value
        return data


def bucket_minute(item: Mapping[str, Any]) -> datetime:
    """The start of a bucket's minute from its sort key ``minute#YYYY-MM-DDTHH:MM``."""
    stamp = str(item["sk"]).removeprefix(BUCKET_PREFIX)
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M").replace(tzinfo=UTC)


@dataclass(frozen=True)
class WindowFigures:
    requests: int
    predictions: int
    errors: int
    latency_avg_us: float | None


def window_figures(buckets: Iterable[Mapping[str, Any]], now: datetime, span: timedelta) -> WindowFigures:
    """Sum the buckets whose minute overlaps ``[now - span, now]``. The average latency is per request
    (``latency_sum_us / latency_count``, or ``/ requests`` when a bucket carries no separate latency count)."""
    start = now - span
    requests = predictions = errors = latency_sum = latency_n = 0
    for item in buckets:
        minute = bucket_minute(item)
        if minute + timedelta(minutes=1) <= start or minute > now:
            continue
        n_requests = int(item.get("requests") or 0)
        requests += n_requests
        predictions += int(item.get("predictions") or 0)
        errors += int(item.get("errors") or 0)
        latency_sum += int(item.get("latency_sum_us") or 0)
        latency_n += int(item["latency_count"]) if item.get("latency_count") is not None else n_requests
    return WindowFigures(requests, predictions, errors, latency_sum / latency_n if latency_n else None)


def _time(value: str | None) -> datetime | None:
    return parse_time(value, "endpoint time") if value else None


def model_endpoint(record: EndpointRecord, buckets: Iterable[Mapping[str, Any]], now: datetime) -> ModelEndpoint:
    items = list(buckets)
    short = window_figures(items, now, FIVE_MINUTES)
    hour = window_figures(items, now, ONE_HOUR)
    return ModelEndpoint(
        endpoint_id=record.endpoint_id,
        project=record.project,
        name=record.name,
        function_name=record.function_name,
        model_uri=record.model_uri,
        model_version=record.model_version,
        feature_names=list(record.feature_names),
        label_names=list(record.label_names),
        monitoring=record.monitoring,
        created=record.created,
        requests=record.request_count,
        predictions=record.prediction_count,
        error_count=record.error_count,
        average_latency_us=record.average_latency_us,
        last_prediction=record.last_prediction,
        first_request=_time(record.first_request),
        last_request=_time(record.last_request),
        latency_avg_5m=short.latency_avg_us,
        latency_avg_1h=hour.latency_avg_us,
        predictions_per_second=short.predictions / FIVE_MINUTES.total_seconds(),
        predictions_count_5m=short.predictions,
        predictions_count_1h=hour.predictions,
        as_of=now,
    )
