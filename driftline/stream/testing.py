"""Builders of Kinesis batches as Lambda's event source mapping delivers them (tests, benchmarks, demos).

Sequence numbers look like Kinesis's (56 digits, increasing within a shard) and ``eventID`` is
``shardId:sequenceNumber``. Pass ``template`` (one record of a real envelope, e.g. the first record of
``tests/events/kinesis-stream-event.json``) to keep every other envelope field as AWS sends it.
"""

from __future__ import annotations

import base64
import copy
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from driftline.inference_event import InferenceEvent
from driftline.schemas import endpoint_id_for

FIRST_SEQUENCE = 49_590_338_271_490_256_608_559_692_538_361_571_095_921_575_989_136_588_898
SEQUENCE_STEP = 1_000_000_000_000
DEFAULT_SHARD = "shardId-000000000006"

_TEMPLATE: dict[str, Any] = {
    "kinesis": {
        "kinesisSchemaVersion": "1.0",
        "partitionKey": "",
        "sequenceNumber": "",
        "data": "",
        "approximateArrivalTimestamp": 1795712100.0,
    },
    "eventSource": "aws:kinesis",
    "eventVersion": "1.0",
    "eventID": "",
    "eventName": "aws:kinesis:record",
    "invokeIdentityArn": "arn:aws:iam::123456789012:role/lambda-role",
    "awsRegion": "us-east-1",
    "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/driftline-events",
}


def inference_event(
    *,
    project: str = "p",
    function_name: str = "serving",
    model_name: str = "m",
    model_version: str = "1",
    when: datetime | str = datetime(2026, 11, 26, 17, 0, tzinfo=UTC),
    latency_us: int = 1000,
    inputs: list[list[Any]] | None = None,
    outputs: list[Any] | None = None,
    feature_names: list[str] | None = None,
    label_names: list[str] | None = None,
    effective_sample_count: int | None = None,
    sampling_percentage: float = 100.0,
    error: dict[str, str] | None = None,
    request_id: str | None = None,
    endpoint_id: str | None = None,
    row_indices: list[int] | None = None,
    score_names: list[str] | None = None,
    scores: list[list[Any]] | None = None,
) -> InferenceEvent:
    """An event as the serving function writes it; defaults: one row of two features, one prediction."""
    inputs = [[1.0, 2.0]] if inputs is None else inputs
    if outputs is None:
        outputs = [] if error else [0] * len(inputs)
    names = feature_names if feature_names is not None else [f"f{i}" for i in range(len(inputs[0]) if inputs else 2)]
    return InferenceEvent(
        request_id=request_id or str(uuid.uuid4()),
        endpoint_id=endpoint_id or endpoint_id_for(project, function_name, model_name),
        project=project,
        function_name=function_name,
        model_name=model_name,
        model_version=model_version,
        when=when if isinstance(when, str) else when.astimezone(UTC).isoformat(timespec="microseconds"),
        latency_us=latency_us,
        inputs=inputs,
        outputs=outputs,
        feature_names=names,
        label_names=["label"] if label_names is None else label_names,
        sampling_percentage=sampling_percentage,
        effective_sample_count=len(inputs) if effective_sample_count is None else effective_sample_count,
        error=error,
        row_indices=row_indices,
        score_names=score_names,
        scores=scores,
    )


def sequence_number(index: int, first: int = FIRST_SEQUENCE) -> str:
    return str(first + index * SEQUENCE_STEP)


def kinesis_record(
    payload: InferenceEvent | bytes | str,
    sequence: str,
    *,
    shard_id: str = DEFAULT_SHARD,
    partition_key: str | None = None,
    template: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One record: an event (serialised as the serving function does), raw bytes (base64-encoded here) or a
    string used as the ``data`` field as it is (to build bad base64)."""
    record = copy.deepcopy(dict(template or _TEMPLATE))
    if isinstance(payload, InferenceEvent):
        data = base64.b64encode(payload.to_json()).decode()
        key = payload.endpoint_id
    elif isinstance(payload, bytes):
        data, key = base64.b64encode(payload).decode(), "unknown"
    else:
        data, key = payload, "unknown"
    record["kinesis"]["data"] = data
    record["kinesis"]["sequenceNumber"] = sequence
    record["kinesis"]["partitionKey"] = partition_key or key
    record["eventID"] = f"{shard_id}:{sequence}"
    return record


def kinesis_event(
    payloads: Sequence[InferenceEvent | bytes | str],
    *,
    shard_id: str = DEFAULT_SHARD,
    start: int = 0,
    template: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A batch of consecutive records of one shard; record ``i`` has sequence number ``sequence_number(start+i)``."""
    return {
        "Records": [
            kinesis_record(p, sequence_number(start + i), shard_id=shard_id, template=template)
            for i, p in enumerate(payloads)
        ]
    }


def sub_batch(event: Mapping[str, Any], start: int, stop: int | None = None) -> dict[str, Any]:
    """Records ``start:stop`` of a batch (a bisected or partial redelivery)."""
    return {"Records": copy.deepcopy(list(event["Records"][start:stop]))}
