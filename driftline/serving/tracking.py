"""Tracking: one :class:`InferenceEvent` per served request, written to Kinesis (partition key: endpoint id).

Sampling is per input row (``set_tracking(sampling_percentage=...)``): each row is kept with that probability;
``effective_sample_count`` always carries the request's real row count, and a request whose rows were all
sampled out still sends an event with no rows, so request and prediction counts stay right downstream.

A failed put never fails the prediction, and is never silent: after the adapter's retries the loss is logged
as an error with the request id and counted in the ``TrackingEventsLost`` metric.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import fields
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from driftline.aws import kinesis
from driftline.aws.clients import Clients
from driftline.errors import PayloadTooLargeError
from driftline.observability import get_logger, get_metrics
from driftline.schemas import InferenceEvent

logger = get_logger("serving")
metrics = get_metrics("serving")

_EVENT_FIELDS = tuple(f.name for f in fields(InferenceEvent))
# One encoder for every event: json.dumps with non-default options builds a new one per call.
_encode = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode

PutEvent = Callable[[Clients, str, str, bytes], Any]


def sample_rows(
    rows: Sequence[Any], outputs: Sequence[Any], percentage: float, rng: random.Random
) -> tuple[list[Any], list[Any]]:
    """Keep each row (and its output, when there are outputs) with probability ``percentage`` / 100."""
    if percentage >= 100:
        return list(rows), list(outputs)
    if percentage <= 0:
        return [], []
    threshold = percentage / 100.0
    keep = [i for i in range(len(rows)) if rng.random() < threshold]
    return [rows[i] for i in keep], ([outputs[i] for i in keep] if outputs else [])


def encode_event(event: InferenceEvent) -> bytes:
    """The event as compact JSON: ``InferenceEvent.to_json`` without ``asdict``'s deep copy of every row."""
    return _encode({name: getattr(event, name) for name in _EVENT_FIELDS}).encode()


class Tracker:
    def __init__(
        self,
        clients: Clients,
        stream_name: str,
        *,
        put: PutEvent | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._clients = clients
        self.stream_name = stream_name
        self._put = put
        self.rng = rng or random.Random()  # sampling, not security

    def sample(self, rows: Sequence[Any], outputs: Sequence[Any], percentage: float) -> tuple[list[Any], list[Any]]:
        return sample_rows(rows, outputs, percentage, self.rng)

    def check_size(self, event: InferenceEvent, data: bytes) -> None:
        size = kinesis.record_size(event.endpoint_id, data)
        if size > kinesis.MAX_RECORD_BYTES:
            raise PayloadTooLargeError(
                f"the request's tracking event would be {size} bytes, over Kinesis's {kinesis.MAX_RECORD_BYTES}-byte "
                f"record limit ({event.effective_sample_count} rows); split the request into smaller ones"
            )

    def send(self, event: InferenceEvent, data: bytes) -> bool:
        """Put the event; ``False`` (logged and counted) if it could not be written."""
        put = self._put or kinesis.put_event
        try:
            put(self._clients, self.stream_name, event.endpoint_id, data)
        except Exception as exc:
            logger.error(
                "tracking event lost",
                extra={
                    "request_id": event.request_id,
                    "endpoint_id": event.endpoint_id,
                    "model_name": event.model_name,
                    "rows": event.effective_sample_count,
                    "error": f"{type(exc).__name__}: {exc}",
                },
            )
            metrics.add_metric(name="TrackingEventsLost", unit=MetricUnit.Count, value=1)
            return False
        return True
