"""Tracking: one :class:`InferenceEvent` per served request, written to Kinesis (partition key: endpoint id).

Sampling is per input row (``set_tracking(sampling_percentage=...)``): each row is kept with that probability;
``effective_sample_count`` always carries the request's real row count, and a request whose rows were all
sampled out still sends an event with no rows, so request and prediction counts stay right downstream.

A failed put never fails the prediction, and is never silent: after the adapter's retries the loss is logged
as an error with the request id and counted in the ``TrackingEventsLost`` metric.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import MISSING
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from driftline.aws import kinesis
from driftline.aws.clients import Clients
from driftline.errors import PayloadTooLargeError
from driftline.inference_event import MODEL_FIELDS, REQUEST_FIELDS, InferenceEvent
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

    The fields the event's definition marks ``per="model"`` (endpoint, project, function, model, version, feature
    and label names, sampling percentage, schema version) are the same for every request to the model: they are
    encoded once, here, and each request encodes only its own (``per="request"``), passed to :meth:`encode` by
    name. The record is the same JSON object as ``InferenceEvent.to_json`` (its keys in another order), without
    building the dataclass or ``asdict``'s deep copy of every row.
    """

    __slots__ = ("_shared", "endpoint_id", "model_name", "scored")

    def __init__(self, **model: Any) -> None:
        """The model's fields by name; those with a default (``schema_version``...) may be left out."""
        shared: dict[str, Any] = {}
        for spec in MODEL_FIELDS:
            value = model.pop(spec.name, spec.default)
            if value is MISSING:
                raise TypeError(f"EventEncoder: the model's {spec.name!r} is missing")
            if value is None and spec.omit_null:
                continue  # written only when set (score_names: a model without scores)
            shared[spec.name] = _AS_JSON.get(spec.json, _as_given)(value)
        if model:
            raise TypeError(f"EventEncoder: {sorted(model)} are not fields of the model in the inference event")
        self.scored: bool = bool(shared.get("score_names"))  # its requests carry scores
        self.endpoint_id: str = shared["endpoint_id"]
        self.model_name: str = shared["model_name"]
        self._shared = b"," + encode_json(shared)[1:]  # the object's members after the request's own, and its "}"

    @classmethod
    def for_event(cls, event: InferenceEvent) -> EventEncoder:
        return cls(**{spec.name: getattr(event, spec.name) for spec in MODEL_FIELDS})

    def encode(self, **own: Any) -> bytes:
        """One request's record from its own fields, by name, in the order given; a field written only when set
        is left out while it is ``None``. A field not given is not written: the stream refuses a record without
        a required one."""
        for name in _OMITTED_OWN:
            if own.get(name, 0) is None:
                del own[name]
        return encode_json(own)[:-1] + self._shared


# the request's own fields written only when set (the model's are left out once, in __init__)
_OMITTED_OWN = tuple(spec.name for spec in REQUEST_FIELDS if spec.omit_null)


def _as_given(value: Any) -> Any:
    return value


# A model's values may come as any sequence or number; the record holds JSON arrays and (always) floats.
_AS_JSON = {"array of strings": list, "array of strings or null": list, "number": float}


def encode_event(event: InferenceEvent) -> bytes:
    """An event built elsewhere, encoded as the serving function encodes its own (tests, tools)."""
    return EventEncoder.for_event(event).encode(**{spec.name: getattr(event, spec.name) for spec in REQUEST_FIELDS})


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
