"""What one window read costs: S3 calls for a 10-minute window of a busy endpoint, and peak memory for a very
large window through the built-in drift app (issue 12).

Part ``gets`` (in-process moto): an endpoint's hour written by the stream's own writer
(``events_store.write_group``, one object per batch) at a batching window of 5 s and of 60 s; a 10-minute window
read with ``read_window``. A botocore hook counts the calls. Baseline in the same run: the objects of the window's
hour, each of which the previous reader (awswrangler over the hour's partitions) headed and fetched.

Part ``memory`` (moto server in its own process, so this process's peak RSS is the reader's): ``--rows`` rows x
``--features`` float features written as ``--objects`` objects in one hour by a separate process, then, in a fresh
process each, (a) the built-in ``feature_drift`` app scoring the window through ``MonitoringApplicationContext``
in pieces and (b) the same window loaded whole as ``sample_df`` (the previous path; ``--whole-rows`` rows of it,
since whole it does not fit). Peak RSS from ``resource.getrusage`` minus the RSS after imports.

Prints figures; asserts nothing.

    .venv/bin/python bench/window_reads.py --part gets
    .venv/bin/python bench/window_reads.py --part memory --rows 10000000 --features 32 --whole-rows 1000000
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402

HOUR = datetime(2026, 11, 26, 17, 0, tzinfo=UTC)
ENDPOINT = "bench-endpoint"
SHARD = "shardId-000000000000"


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def table(stamps: np.ndarray, features: int, rng: np.random.Generator) -> pa.Table:
    n = stamps.size
    columns = {
        "timestamp": pa.array(stamps.astype("datetime64[us]"), pa.timestamp("us", tz="UTC")),
        "request_id": pa.array(np.char.add("r", np.arange(n).astype(str))),
        "row_index": pa.array(np.zeros(n, dtype=np.int32)),
        "latency": pa.array(np.full(n, 1500, dtype=np.int64)),
        "model_version": pa.array(["1"] * n),
        "effective_sample_count": pa.array(np.ones(n, dtype=np.int64)),
    }
    for j in range(features):
        columns[f"f{j}"] = pa.array(rng.normal(j % 5, 1.0, n))
    columns["prediction"] = pa.array(rng.integers(0, 2, n).astype(float))
    return pa.table(columns)


def write_hour(clients, batch_seconds: float, rate: float, features: int, endpoint: str) -> int:
    """One hour of traffic at ``rate`` requests/s, one object per batch (what the stream writes)."""
    from driftline.aws import events_store

    rng = np.random.default_rng(1)
    batches = int(3600 / batch_seconds)
    per_batch = max(1, int(rate * batch_seconds))
    base = np.datetime64(HOUR.replace(tzinfo=None), "us")
    for b in range(batches):
        offsets = np.sort(rng.uniform(b * batch_seconds, (b + 1) * batch_seconds, per_batch))
        stamps = base + (offsets * 1e6).astype("timedelta64[us]")
        events_store.write_group(clients, endpoint, HOUR, SHARD, str(10_000_000 + b), table(stamps, features, rng))
    return batches


def part_gets(args: argparse.Namespace) -> None:
    from moto import mock_aws

    from driftline.applications.data import WindowSource
    from driftline.aws.clients import Clients
    from driftline.aws.provision import provision
    from driftline.config import Settings

    with mock_aws():
        clients = Clients(provision(Settings(region="us-east-1")))
        calls: dict[str, int] = {}
        clients.s3.meta.events.register(
            "before-call.s3.*", lambda model, **_: calls.__setitem__(model.name, calls.get(model.name, 0) + 1)
        )
        start = HOUR + timedelta(minutes=23, seconds=17)
        end = start + timedelta(minutes=10)
        results: dict[float, tuple[int, int]] = {}
        for batch_seconds in (5.0, 60.0, 120.0):
            endpoint = f"{ENDPOINT}-{int(batch_seconds)}"
            objects = write_hour(clients, batch_seconds, args.rate, 8, endpoint)
            calls.clear()
            t = time.perf_counter()
            source = WindowSource(clients, endpoint, start, end)
            df = source.frame()
            elapsed = time.perf_counter() - t
            gets = calls.get("GetObject", 0)
            results[batch_seconds] = (gets, objects)
            print(
                f"window reads: {args.rate:g} req/s, {batch_seconds:g} s batches: 10-minute window {len(df)} rows: "
                f"{gets} GETs, {calls.get('HeadObject', 0)} HEADs, {calls.get('ListObjectsV2', 0)} LISTs in "
                f"{elapsed * 1000:.0f} ms; baseline, the whole hour (the previous reader: a HEAD and a GET per "
                f"object): {objects} GETs, {objects / max(1, gets):.1f}x as many"
            )
        before, now = results[5.0][1], results[120.0][0]
        print(
            f"window reads: previous defaults (5 s batches, whole hour) {before} GETs -> defaults now (120 s "
            f"batches, objects bounded by their keys) {now} GETs: {before / max(1, now):.0f}x fewer"
        )


# ------------------------------------------------------------------------------------------------- memory part


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def remote_clients(port: int):
    from driftline.aws.clients import Clients
    from driftline.config import Settings

    return Clients(Settings(region="us-east-1", endpoint_url=f"http://127.0.0.1:{port}"))


def child_write(port: int, rows: int, objects: int, features: int) -> None:
    from driftline.aws import events_store
    from driftline.aws.provision import provision
    from driftline.config import Settings

    clients = remote_clients(port)
    provision(Settings(region="us-east-1", endpoint_url=f"http://127.0.0.1:{port}"))
    rng = np.random.default_rng(2)
    per = rows // objects
    base = np.datetime64(HOUR.replace(tzinfo=None), "us")
    step = 3600 / objects
    for i in range(objects):
        offsets = np.sort(rng.uniform(i * step, (i + 1) * step, per))
        stamps = base + (offsets * 1e6).astype("timedelta64[us]")
        t = table(stamps, features, rng)
        events_store.write_group(clients, ENDPOINT, HOUR, SHARD, str(10_000_000 + i), t)
        del t


def child_read(port: int, mode: str, features: int, whole_rows: int) -> None:
    import pandas as pd

    from driftline.applications.builtin.feature_drift import FeatureDriftApplication
    from driftline.applications.context import MonitoringApplicationContext
    from driftline.applications.data import WindowSource
    from driftline.records import EndpointRecord, ModelRecord
    from driftline.stats.reference import compute_reference_profile

    rng = np.random.default_rng(3)
    names = [f"f{j}" for j in range(features)]
    train = pd.DataFrame({n: rng.normal(j % 5, 1.0, 20_000) for j, n in enumerate(names)})
    train["prediction"] = rng.integers(0, 2, 20_000).astype(float)
    model = ModelRecord(
        project="p",
        name="m",
        version="1",
        uri="store://models/p/m:1",
        artifact_key="k",
        feature_names=names,
        label_names=["prediction"],
        feature_stats=compute_reference_profile(train, names),
        label_stats=compute_reference_profile(train, ["prediction"]),
    )
    endpoint = EndpointRecord(endpoint_id=ENDPOINT, project="p", name="m", function_name="serving", model_uri=model.uri)
    clients = remote_clients(port)
    end = HOUR + timedelta(hours=1)
    before = rss_mb()
    t = time.perf_counter()
    source = WindowSource(clients, ENDPOINT, HOUR, end, max_rows=10**9)
    context = MonitoringApplicationContext(
        application_name="feature-drift",
        project_name="p",
        start_infer_time=HOUR,
        end_infer_time=end,
        model_endpoint=endpoint,
        model=model,
        rows=source,
        logger=None,
    )
    if mode == "whole":  # the previous path: the window loaded whole as one DataFrame first
        len(context.sample_df)
    outputs = FeatureDriftApplication().do_tracking(context)
    elapsed = time.perf_counter() - t
    rows_read = len(context.sample_df) if mode == "whole" else None
    print(
        f"{mode}|{elapsed:.2f}|{before:.0f}|{rss_mb():.0f}|{source.gets}|{len(outputs)}|"
        f"{rows_read if rows_read is not None else ''}|{pa.default_memory_pool().max_memory() / 2**20:.0f}"
    )


def part_memory(args: argparse.Namespace) -> None:
    exe = sys.executable
    port = free_port()
    server = subprocess.Popen(
        [exe, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        results = {}
        for rows, tag in ((args.whole_rows, "small"), (args.rows, "large")):
            endpoint_rows = rows
            t = time.perf_counter()
            subprocess.run(
                [
                    exe,
                    __file__,
                    "--child",
                    "write",
                    "--port",
                    str(port),
                    "--rows",
                    str(endpoint_rows),
                    "--objects",
                    str(max(1, endpoint_rows // 200_000)),
                    "--features",
                    str(args.features),
                ],
                check=True,
            )
            write_s = time.perf_counter() - t
            modes = ("pieces", "whole") if tag == "small" else ("pieces",)
            for mode in modes:
                out = (
                    subprocess.run(
                        [
                            exe,
                            __file__,
                            "--child",
                            "read",
                            "--mode",
                            mode,
                            "--port",
                            str(port),
                            "--features",
                            str(args.features),
                            "--whole-rows",
                            str(rows),
                        ],
                        check=True,
                        capture_output=True,
                        text=True,
                    )
                    .stdout.strip()
                    .splitlines()[-1]
                )
                _, elapsed, before, peak, gets, outputs, _, arrow = out.split("|")
                results[(tag, mode)] = (rows, float(elapsed), float(peak) - float(before), float(peak), int(gets))
                print(
                    f"window memory: {rows:,} rows x {args.features} features, {mode}: {float(elapsed):.1f} s, "
                    f"peak RSS {float(peak):.0f} MB ({float(peak) - float(before):.0f} MB above the imports), "
                    f"arrow pool peak {arrow} MB, {gets} GETs, {outputs} outputs (written in {write_s:.0f} s)"
                )
            # the next size replaces this one: a fresh bucket per size
            subprocess.run(
                [
                    exe,
                    "-c",
                    f"import boto3; s=boto3.resource('s3', endpoint_url='http://127.0.0.1:{port}', "
                    "region_name='us-east-1'); [b.objects.all().delete() for b in s.buckets.all()]",
                ],
                check=True,
            )
        small_pieces, small_whole = results[("small", "pieces")], results[("small", "whole")]
        print(
            f"window memory: at {small_whole[0]:,} rows whole uses {small_whole[2] / max(1.0, small_pieces[2]):.1f}x "
            "the memory above imports that the pieces do"
        )
    finally:
        server.terminate()
        server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("gets", "memory", "all"), default="all")
    parser.add_argument("--rate", type=float, default=20.0, help="requests/s of the busy endpoint (gets)")
    # make bench's sizes; the figure is --rows 10000000 --whole-rows 1000000 (about 15 minutes to write)
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--whole-rows", type=int, default=500_000)
    parser.add_argument("--features", type=int, default=32)
    parser.add_argument("--child", choices=("write", "read"))
    parser.add_argument("--mode", default="pieces")
    parser.add_argument("--port", type=int)
    parser.add_argument("--objects", type=int, default=50)
    args = parser.parse_args()
    if args.child == "write":
        child_write(args.port, args.rows, args.objects, args.features)
    elif args.child == "read":
        child_read(args.port, args.mode, args.features, args.whole_rows)
    else:
        if args.part in ("gets", "all"):
            part_gets(args)
        if args.part in ("memory", "all"):
            part_memory(args)


if __name__ == "__main__":
    main()
