"""Stream batch over many endpoints: 1,000 records spread over 500 endpoints through the stream's whole batch
(decode, parquet objects, the deduplication memory, live figures), with simulated AWS latency (the hook of
``bench/_latency.py``: DynamoDB 8 ms, S3 15 ms per call), without moto's whole-table snapshot per transaction
(``skip_moto_transaction_snapshot``: an emulator cost growing with the table).

Two batches per run: the first meets 500 endpoints new to the table (their meta items are created with the
figures), the second the same endpoints a minute later (the steady state of deployed endpoints).

Each run twice: on moto in-process, recording its answers, then replayed from that recording
(``bench/_replay.py``): every call waits the simulated latency and gets moto's recorded answer, so the second
figure is the function's own time at AWS-like round trips, without moto's CPU (10-30 ms per live-figures
transaction, serial under this process's GIL, more than the 8 ms DynamoDB takes). The replay fails loudly
when the code makes a call the recorded run did not.

Baseline in the same run: ``stream_threads=1`` (the parquet writes and the live-figures transactions one after
another); then the default thread pool. Each run starts from an empty table and bucket.

Prints figures; asserts nothing. ``python bench/stream_live.py [--records 1000] [--endpoints 500]``
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _replay import prepare

LATENCY, RECORDER = prepare()

from moto import mock_aws  # noqa: E402

from driftline import clock  # noqa: E402
from driftline.aws.clients import Clients  # noqa: E402
from driftline.aws.provision import provision  # noqa: E402
from driftline.config import Settings  # noqa: E402
from driftline.local.emulation import make_dynamodb_writes_atomic  # noqa: E402
from driftline.stream.decode.envelope import records_from_event  # noqa: E402
from driftline.stream.process import process_records  # noqa: E402
from driftline.stream.testing import inference_event, kinesis_event  # noqa: E402

T0 = datetime(2026, 11, 26, 17, 10, 0, tzinfo=UTC)
NOW = T0 + timedelta(minutes=3)


@dataclass
class Figures:
    wall: float
    cpu: float
    calls: dict[str, int]
    applied: int


def batch(records: int, endpoints: int, start: datetime = T0, first_sequence: int = 0) -> dict:
    events = [
        inference_event(
            model_name=f"model-{i % endpoints}",
            when=start + timedelta(milliseconds=50 * i),
            latency_us=1000 + i,
            inputs=[[float(i), float(-i), 0.5, 1.5]],
            outputs=[i % 2],
        )
        for i in range(records)
    ]
    return kinesis_event(events, start=first_sequence)


def run(first: dict, steady: dict, threads: int) -> dict[tuple[str, str], Figures]:
    """Both batches on a fresh table and bucket, on moto (recording its answers), then both again replayed from the
    recording. ``first`` meets endpoints the table does not know (their meta items are created with the figures),
    ``steady`` the same endpoints again (the usual case: deployed endpoints with figures counted before)."""
    figures: dict[tuple[str, str], Figures] = {}
    with mock_aws():
        settings = provision(Settings(region="us-east-1")).replace(stream_threads=threads)
        with RECORDER.recording():
            for label, event in (("first", first), ("steady", steady)):
                figures["moto", label] = _measure(event, Clients(settings))
    with RECORDER.replaying():
        for label, event in (("first", first), ("steady", steady)):
            figures["replayed", label] = _measure(event, Clients(settings))
    assert RECORDER.left() == 0, f"the replay left {RECORDER.left()} recorded answers unasked: not the recorded run"
    return figures


def _measure(event: dict, clients: Clients) -> Figures:
    records = records_from_event(event)
    LATENCY.reset()
    cpu, started = time.process_time(), time.perf_counter()
    outcome = process_records(records, clients)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    assert outcome.failed_sequence is None, "the batch failed"
    return Figures(wall, cpu, dict(LATENCY.calls), outcome.live.applied if outcome.live else 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--endpoints", type=int, default=500)
    args = parser.parse_args()
    make_dynamodb_writes_atomic()
    clock.now = lambda: NOW  # the first batch's meta items say when they were created: the same in both passes
    first = batch(args.records, args.endpoints)
    steady = batch(args.records, args.endpoints, T0 + timedelta(minutes=1), first_sequence=args.records)
    walls = {}
    for label, threads in (("baseline, one call after another", 1), ("concurrent", Settings().stream_threads)):
        for (how, which), f in run(first, steady, threads).items():
            walls[label, how, which] = f.wall
            calls = sum(f.calls.values())
            print(
                f"stream batch: {args.records} records over {args.endpoints} endpoints: {f.wall:.2f} s, {calls} calls"
                f"  [{which} batch, {how}, {label}, stream_threads={threads}, {f.applied} records counted,"
                f" process CPU {f.cpu:.1f} s]"
            )
            if how == "moto" and which == "first":
                print("    calls: " + ", ".join(f"{k} {v}" for k, v in sorted(f.calls.items(), key=lambda kv: -kv[1])))
    for how in ("moto", "replayed"):
        for which in ("first", "steady"):
            base, new = walls["baseline, one call after another", how, which], walls["concurrent", how, which]
            print(f"    {which} batch, {how}: concurrent vs one call after another: {base / new:.1f}x faster")


if __name__ == "__main__":
    main()
