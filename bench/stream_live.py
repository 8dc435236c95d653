"""Stream batch over many endpoints: 1,000 records spread over 500 endpoints through the stream's whole batch
(decode, parquet objects, the deduplication memory, live figures), with simulated AWS latency (the hook of
``bench/_latency.py``: DynamoDB 8 ms, S3 15 ms per call) on moto in-process, without moto's whole-table snapshot
per transaction (``skip_moto_transaction_snapshot``: an emulator cost growing with the table).

Baseline in the same run: the live figures applied one endpoint after another (``stream_threads=1``), what the
stream did before; then the default thread pool. Each run starts from an empty table and bucket.

Prints figures; asserts nothing. ``python bench/stream_live.py [--records 1000] [--endpoints 500]``
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")

from _latency import install, skip_moto_transaction_snapshot

LATENCY = install()
skip_moto_transaction_snapshot()

from moto import mock_aws  # noqa: E402

from driftline.aws.clients import Clients  # noqa: E402
from driftline.aws.provision import provision  # noqa: E402
from driftline.config import Settings  # noqa: E402
from driftline.local.emulation import make_dynamodb_writes_atomic  # noqa: E402
from driftline.stream.decode.envelope import records_from_event  # noqa: E402
from driftline.stream.process import MAX_PARALLEL_WRITES, process_records  # noqa: E402
from driftline.stream.testing import inference_event, kinesis_event  # noqa: E402

T0 = datetime(2026, 11, 26, 17, 10, 0, tzinfo=UTC)


def batch(records: int, endpoints: int) -> dict:
    events = [
        inference_event(
            model_name=f"model-{i % endpoints}",
            when=T0 + timedelta(milliseconds=50 * i),
            latency_us=1000 + i,
            inputs=[[float(i), float(-i), 0.5, 1.5]],
            outputs=[i % 2],
        )
        for i in range(records)
    ]
    return kinesis_event(events)


def run(event: dict, threads: int) -> tuple[float, int, dict[str, int], int]:
    with mock_aws():
        settings = provision(Settings(region="us-east-1")).replace(stream_threads=threads)
        clients = Clients(settings)
        records = records_from_event(event)
        LATENCY.reset()
        cpu, started = time.process_time(), time.perf_counter()
        outcome = process_records(records, clients)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        assert outcome.failed_sequence is None, "the batch failed"
        applied = outcome.live.applied if outcome.live else 0
        print(f"    process CPU {cpu:.1f} s (moto answering in-process: ~80 ms per live-figures transaction)")
        return wall, LATENCY.total(), dict(LATENCY.calls), applied


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--endpoints", type=int, default=500)
    args = parser.parse_args()
    make_dynamodb_writes_atomic()
    event = batch(args.records, args.endpoints)
    figures = {}
    for label, threads in (("baseline, one endpoint after another", 1), ("concurrent", Settings().stream_threads)):
        wall, calls, by_call, applied = run(event, threads)
        figures[label] = wall
        print(
            f"stream batch: {args.records} records over {args.endpoints} endpoints: {wall:.2f} s, {calls} calls"
            f"  [{label}, stream_threads={threads}, {applied} records counted]"
        )
        print("    calls: " + ", ".join(f"{k} {v}" for k, v in sorted(by_call.items(), key=lambda kv: -kv[1])))
        # with the emulator's CPU out of the way: the S3 writes run 8 at a time, the DynamoDB calls ``threads`` at
        # a time (each figure: counted calls x simulated latency / parallelism)
        s3 = sum(n for k, n in by_call.items() if k.startswith("s3.")) * LATENCY.latency["s3"] / MAX_PARALLEL_WRITES
        ddb = sum(n for k, n in by_call.items() if k.startswith("dynamodb.")) * LATENCY.latency["dynamodb"] / threads
        print(f"    projected from the counted calls at the simulated latencies: {s3 + ddb:.2f} s + decoding")
    base, new = figures["baseline, one endpoint after another"], figures["concurrent"]
    print(f"    concurrent vs one after another: {base / new:.1f}x faster")


if __name__ == "__main__":
    main()
