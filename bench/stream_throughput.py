"""Stream function throughput: a 1,000-record Kinesis batch -> parquet bytes, against pyarrow's own floor.

Measured path (everything the stream Lambda does except the S3/DynamoDB calls): the Kinesis envelope ->
base64 -> JSON -> validated events -> rows -> one parquet file per (endpoint, hour, shard) group in memory.
Floor, measured in the same run on the same batch: pyarrow alone reading the decoded payloads as JSON lines
(``pyarrow.json.read_json``, base64 already decoded, not timed) and writing the same parquet files (the same
tables, options and compression) to memory. Target: the driftline rate is at least half the floor's.

Prints figures; asserts nothing. ``python bench/stream_throughput.py [--records N] [--repeat R]``.
"""

from __future__ import annotations

import argparse
import base64
import functools
import io
import random
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.json as pj

from driftline.aws.events_store import to_parquet_bytes
from driftline.inference_event import InferenceEvent
from driftline.schemas import endpoint_id_for
from driftline.stream.decode.batch import decode_batch
from driftline.stream.decode.envelope import records_from_event
from driftline.stream.dedup import RecentRequests, candidates_of, decide

SHARD = "shardId-000000000006"
FIRST_SEQUENCE = 49590338271490256608559692538361571095921575989136588898


def realistic_batch(n_records: int, seed: int = 7, spacing_ms: int = 20) -> dict:
    """A Kinesis batch as Lambda receives it: five endpoints of 4-20 features on one shard, one row per
    request, a classifier's integer prediction, one request every ``spacing_ms`` (20 ms: the 1,000 records a
    busy shard collects in ~20 s, inside one hour; 600 ms: ten quiet minutes across an hour boundary)."""
    rng = random.Random(seed)
    endpoints = []
    for i in range(5):
        n_features = rng.randint(4, 20)
        endpoints.append(
            (
                endpoint_id_for("bench", "serving", f"model-{i}"),
                f"model-{i}",
                [f"feature_{j}" for j in range(n_features)],
                [rng.uniform(-5, 5) for _ in range(n_features)],
            )
        )
    start = datetime(2026, 11, 26, 16, 55, tzinfo=UTC)  # ten minutes of 600 ms steps cross 17:00
    records = []
    for i in range(n_records):
        endpoint_id, model, names, centres = rng.choice(endpoints)
        event = InferenceEvent(
            request_id=str(uuid.UUID(int=rng.getrandbits(128))),
            endpoint_id=endpoint_id,
            project="bench",
            function_name="serving",
            model_name=model,
            model_version="3",
            when=(start + timedelta(milliseconds=spacing_ms * i)).isoformat(timespec="microseconds"),
            latency_us=rng.randint(300, 20_000),
            inputs=[[round(rng.gauss(c, 1.0), 6) for c in centres]],
            outputs=[rng.randint(0, 2)],
            feature_names=names,
            label_names=["label"],
            effective_sample_count=1,
        )
        sequence = str(FIRST_SEQUENCE + 1_000_000 * i)
        records.append(
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": endpoint_id,
                    "sequenceNumber": sequence,
                    "data": base64.b64encode(event.to_json()).decode(),
                    "approximateArrivalTimestamp": 1795712100.0 + i * 0.6,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"{SHARD}:{sequence}",
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": "arn:aws:iam::123456789012:role/lambda-role",
                "awsRegion": "us-east-1",
                "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/driftline-events",
            }
        )
    return {"Records": records}


def driftline_path(event: dict, fast: bool = True, memory: dict | None = None) -> int:
    """What the stream function computes for a batch; with ``memory`` (the shard's recent requests, as the
    previous batch left them) also the duplicate check and the memory's new bytes."""
    exclude = None if memory is None else functools.partial(_duplicates, memory)
    batch = decode_batch(records_from_event(event), fast=fast, exclude=exclude)
    return sum(len(to_parquet_bytes(group.table)) for group in batch.groups)


def _duplicates(memory: dict, events: pa.Table) -> list[int]:
    found: list[int] = []
    for shard_id, candidates in candidates_of(events).items():
        decision = decide(memory.get(shard_id, RecentRequests()), candidates)
        decision.recent.encode()
        found += decision.duplicates
    return found


def previous_memory(n: int, spacing_ms: int) -> dict:
    """The memory a batch finds: the previous batch's requests (another seed), decided once."""
    previous = decode_batch(records_from_event(realistic_batch(n, seed=8, spacing_ms=spacing_ms)))
    return {shard: decide(RecentRequests(), c).recent for shard, c in candidates_of(previous.events).items()}


def floor_path(lines: bytes, outputs: list[pa.Table]) -> int:
    """pyarrow alone: parse the JSON lines, then write the same parquet files driftline writes."""
    pj.read_json(io.BytesIO(lines))
    return sum(len(to_parquet_bytes(table)) for table in outputs)


def timed(calls: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Best seconds per call over ``repeat`` rounds (timeit's convention: other load on the machine only ever
    adds time). The calls alternate within each round, so slow phases hit all of them alike."""
    for call in calls.values():
        call()  # warm-up: first-call costs (imports, regex compilation) are not throughput
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeat):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            samples[name].append(time.perf_counter() - start)
    return {name: min(values) for name, values in samples.items()}


def run(n: int, repeat: int, spacing_ms: int) -> None:
    event = realistic_batch(n, spacing_ms=spacing_ms)
    lines = b"\n".join(base64.b64decode(r["kinesis"]["data"]) for r in event["Records"])
    batch = decode_batch(records_from_event(event))
    outputs = [group.table for group in batch.groups]
    memory = previous_memory(n, spacing_ms)
    calls: dict[str, Callable[[], object]] = {
        "floor": lambda: floor_path(lines, outputs),
        "floor_b64": lambda: floor_path(
            b"\n".join(base64.b64decode(r["kinesis"]["data"]) for r in event["Records"]), outputs
        ),
        "driftline": lambda: driftline_path(event, memory=memory),
        "no_dedup": lambda: driftline_path(event),
        "reference": lambda: driftline_path(event, fast=False),
    }
    t = timed(calls, repeat)
    print(
        f"\n{n} records one every {spacing_ms} ms: {batch.rows} rows, {len(batch.groups)} parquet groups "
        f"(endpoint x hour), {len(lines):,} JSON bytes; best of {repeat} interleaved rounds"
    )
    rows = [
        ("floor: pyarrow read_json + same parquet", "floor"),
        ("  same, base64 decoding included", "floor_b64"),
        ("driftline: decode + dedup + rows + parquet", "driftline"),
        ("  same without the duplicate check", "no_dedup"),
        ("  reference path only (fast path off)", "reference"),
    ]
    for label, name in rows:
        print(f"{label:<42}{n / t[name]:>10,.0f} records/s  ({t[name] * 1e3:6.2f} ms)")
    print(f"ratio driftline / floor: {t['floor'] / t['driftline']:.2f}  (target >= 0.50)")
    print(f"ratio driftline / floor with base64: {t['floor_b64'] / t['driftline']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    run(args.records, args.repeat, spacing_ms=20)  # the target scenario
    run(args.records, args.repeat, spacing_ms=600)  # twice the groups: one more file per endpoint


if __name__ == "__main__":
    main()
