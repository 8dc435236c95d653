"""Tracking: one :class:`InferenceEvent` per served request, written to Kinesis (partition key: endpoint id).

Sampling is per input row (``set_tracking(sampling_percentage=...)``): each row is kept with that probability;
``effective_sample_count`` always carries the request's real row count, and a request whose rows were all
sampled out still sends an event with no rows, so request and prediction counts stay right downstream.

A failed put never fails the prediction, and is never silent: after the adapter's retries the loss is logged
as an error with the request id and counted in the ``TrackingEventsLost`` metric.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from driftline.aws import kinesis
from driftline.aws.clients import Clients
from driftline.errors import PayloadTooLargeError
from driftline.inference_event import SCHEMA_VERSION, InferenceEvent
from driftline.observability import get_logger, get_metrics
from driftline.serving.protocol import encode_json

logger = get_logger("serving")
metrics = get_metrics("serving")

PutEvent = Callable[[Clients, str, str, bytes], Any]


def sample_rows(
    rows: list[Any], outputs: list[Any], percentage: float, rng: random.Random
) -> tuple[list[Any], list[Any], list[int] | None]:
    """Keep each row (and its output, when there are outputs) with probability ``percentage`` / 100; returns the
    kept rows, their outputs and their positions in the request (``None`` when every row is kept, or none is).
    At 100 % the lists themselves are returned: the event is encoded at once, nothing mutates them."""
    if percentage >= 100:
        return rows, outputs, None
    if percentage <= 0:
        return [], [], None
    threshold = percentage / 100.0
    keep = [i for i in range(len(rows)) if rng.random() < threshold]
    if not keep:
        return [], [], None
    return [rows[i] for i in keep], ([outputs[i] for i in keep] if outputs else []), keep


class EventEncoder:
    """One served model's :class:`InferenceEvent` records as compact JSON, the way the stream reads them.

    Half of an event's fields are the same for every request to the model (endpoint, project, function, model,
    version, feature and label names, sampling percentage, schema version): they are encoded once, here, and
    each request encodes only its own fields. The record is the same JSON object as ``InferenceEvent.to_json``
    (its keys in another order), without building the dataclass or ``asdict``'s deep copy of every row.
    """

    __slots__ = ("_shared", "endpoint_id", "model_name")

    def __init__(
        self,
        *,
        endpoint_id: str,
        project: str,
        function_name: str,
        model_name: str,
        model_version: str,
        feature_names: Sequence[str],
        label_names: Sequence[str],
        sampling_percentage: float,
    ) -> None:
        self.endpoint_id = endpoint_id
        self.model_name = model_name
        shared = {
            "endpoint_id": endpoint_id,
            "project": project,
            "function_name": function_name,
            "model_name": model_name,
            "model_version": model_version,
            "feature_names": list(feature_names),
            "label_names": list(label_names),
            "sampling_percentage": float(sampling_percentage),
            "schema_version": SCHEMA_VERSION,
        }
        self._shared = b"," + encode_json(shared)[1:]  # the object's members after the request's own, and its "}"

    @classmethod
    def for_event(cls, event: InferenceEvent) -> EventEncoder:
        return cls(
            endpoint_id=event.endpoint_id,
            project=event.project,
            function_name=event.function_name,
            model_name=event.model_name,
            model_version=event.model_version,
            feature_names=event.feature_names,
            label_names=event.label_names,
            sampling_percentage=event.sampling_percentage,
        )

    def encode(
        self,
        *,
        request_id: str,
        when: str,
        latency_us: int,
        inputs: list[Any],
        outputs: list[Any],
        effective_sample_count: int,
        error: dict[str, str] | None,
        row_indices: list[int] | None = None,
    ) -> bytes:
        own: dict[str, Any] = {
            "request_id": request_id,
            "when": when,
            "latency_us": latency_us,
            "inputs": inputs,
            "outputs": outputs,
            "effective_sample_count": effective_sample_count,
            "error": error,
        }
        if row_indices is not None:  # only when sampling left rows out
            own["row_indices"] = row_indices
        return encode_json(own)[:-1] + self._shared


def encode_event(event: InferenceEvent) -> bytes:
    """An event built elsewhere, encoded as the serving function encodes its own (tests, tools)."""
    return EventEncoder.for_event(event).encode(
        request_id=event.request_id,
        when=event.when,
        latency_us=event.latency_us,
        inputs=event.inputs,
        outputs=event.outputs,
        effective_sample_count=event.effective_sample_count,
        error=event.error,
        row_indices=event.row_indices,
    )


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

    def sample(
        self, rows: list[Any], outputs: list[Any], percentage: float
    ) -> tuple[list[Any], list[Any], list[int] | None]:
        return sample_rows(rows, outputs, percentage, self.rng)

    def check_size(self, endpoint_id: str, data: bytes, rows: int) -> None:
        """Refuse (413) an event over Kinesis's record limit; ``rows`` is the request's row count."""
        size = kinesis.record_size(endpoint_id, data)
        if size > kinesis.MAX_RECORD_BYTES:
            raise PayloadTooLargeError(
                f"the request's tracking event would be {size} bytes, over Kinesis's {kinesis.MAX_RECORD_BYTES}-byte "
                f"record limit ({rows} rows); split the request into smaller ones"
            )

    def send(self, data: bytes, *, endpoint_id: str, request_id: str, model_name: str, rows: int) -> bool:
        """Put the encoded event, keyed by its endpoint; ``False`` (logged and counted) if it could not be written."""
        put = self._put or kinesis.put_event
        try:
            put(self._clients, self.stream_name, endpoint_id, data)
        except Exception as exc:
            logger.error(
                "tracking event lost",
                extra={
                    "request_id": request_id,
                    "endpoint_id": endpoint_id,
                    "model_name": model_name,
                    "rows": rows,
                    "error": f"{type(exc).__name__}: {exc}",
                },
            )
            metrics.add_metric(name="TrackingEventsLost", unit=MetricUnit.Count, value=1)
            return False
        return True
