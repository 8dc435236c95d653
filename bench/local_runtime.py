"""What the local runtime's emulated triggers cost, next to the bare mechanism measured in the same run.

- start/stop: a whole ``LocalStack`` (moto server, provisioning, pollers, HTTP server) up and down.
- HTTP API: one keep-alive client POSTing a small JSON body through the local HTTP API to a trivial fake serving
  handler, next to a bare ``http.server`` answering the same request with a fixed body (the baseline).
- Kinesis: records put on the stream until ``drain()`` says the fake stream handler has had them all, next to
  reading the same records back with ``get_records`` in one loop (the baseline).
- Async invoke: ``lambda.invoke(InvocationType="Event")`` then ``drain()``, next to the same number of
  ``RequestResponse`` invokes through the same server (the baseline).

Fake handlers only (no model, no S3 writes): this measures the runtime, not the system.

    .venv/bin/python bench/local_runtime.py [--requests 500] [--records 2000] [--invokes 200]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DRIFTLINE_HOME", tempfile.mkdtemp(prefix="driftline-bench-"))

from driftline.local.kinesis_source import PollerConfig  # noqa: E402
from driftline.local.runtime import LocalStack  # noqa: E402

BODY = json.dumps({"inputs": [[5.1, 3.5, 1.4, 0.2]]}).encode()
ANSWER = json.dumps({"outputs": [0]})


def fakes(counter: list[int]) -> dict:
    def serving(event, context):
        return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": ANSWER}

    def stream(event, context):
        counter[0] += len(event["Records"])
        return {"batchItemFailures": []}

    def noop(event, context):
        return {"ok": True}

    return {"serving": serving, "stream": stream, "controller": noop, "writer": noop, "app": noop}


def post_many(port: int, n: int) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    times = []
    for _ in range(n):
        t = time.perf_counter()
        conn.request("POST", "/v2/models/m/infer", body=BODY, headers={"Content-Type": "application/json"})
        answer = conn.getresponse()
        answer.read()
        times.append(time.perf_counter() - t)
        assert answer.status == 200, answer.status
    conn.close()
    return times


class _Bare(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # as the local server does

    def log_message(self, format, *args):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        body = ANSWER.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def bare_http(n: int) -> list[float]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Bare)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        return post_many(server.server_address[1], n)
    finally:
        server.shutdown()
        server.server_close()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--invokes", type=int, default=200)
    args = parser.parse_args()

    counter = [0]
    starts, stops = [], []
    for _ in range(3):
        stack = LocalStack(port=0, handlers=fakes(counter))
        t = time.perf_counter()
        stack.start()
        starts.append(time.perf_counter() - t)
        t = time.perf_counter()
        stack.stop()
        stops.append(time.perf_counter() - t)
    print(f"start: median {statistics.median(starts):.2f} s   stop: median {statistics.median(stops):.3f} s (3 runs)")

    with LocalStack(port=0, handlers=fakes(counter), kinesis=PollerConfig(batching_window=0.05)) as stack:
        port = int(stack.api_url.rsplit(":", 1)[1])
        post_many(port, 20)  # warm up
        ours = statistics.median(post_many(port, args.requests)) * 1e6
        bare_http(20)
        base = statistics.median(bare_http(args.requests)) * 1e6
        print(
            f"HTTP API: {ours:.0f} us/request through the local API vs {base:.0f} us bare http.server "
            f"(ratio {ours / base:.1f}x, {args.requests} requests, one keep-alive client)"
        )

        kinesis = stack.clients.kinesis
        name = stack.settings.stream_name
        t = time.perf_counter()
        for start in range(0, args.records, 500):
            batch = range(start, min(start + 500, args.records))
            kinesis.put_records(
                StreamName=name, Records=[{"PartitionKey": f"k{i % 16}", "Data": b'{"i": %d}' % i} for i in batch]
            )
        put_s = time.perf_counter() - t
        assert stack.drain(timeout=300), "drain timed out"
        total_s = time.perf_counter() - t
        assert counter[0] == args.records, (counter[0], args.records)
        t = time.perf_counter()
        read = 0
        for shard in kinesis.list_shards(StreamName=name)["Shards"]:
            it = kinesis.get_shard_iterator(
                StreamName=name, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            while True:
                page = kinesis.get_records(ShardIterator=it, Limit=100)
                if not page["Records"]:
                    break
                read += len(page["Records"])
                it = page["NextShardIterator"]
        read_s = time.perf_counter() - t
        print(
            f"Kinesis: {args.records} records put ({put_s:.2f} s) and handled in {total_s:.2f} s "
            f"({args.records / total_s:.0f} records/s end to end) vs reading them back in {read_s:.2f} s "
            f"({read / read_s:.0f} records/s; ratio {total_s / read_s:.1f}x)"
        )

        lam = stack.clients.lambda_
        fn = stack.settings.writer_function
        t = time.perf_counter()
        for i in range(args.invokes):
            lam.invoke(FunctionName=fn, InvocationType="Event", Payload=b'{"i": %d}' % i)
        assert stack.drain(timeout=300), "drain timed out"
        async_ms = (time.perf_counter() - t) / args.invokes * 1000
        t = time.perf_counter()
        for i in range(args.invokes):
            lam.invoke(FunctionName=fn, Payload=b'{"i": %d}' % i)
        sync_ms = (time.perf_counter() - t) / args.invokes * 1000
        print(
            f"async invoke: {async_ms:.2f} ms/event (invoke + run, drained) vs {sync_ms:.2f} ms per "
            f"RequestResponse invoke (ratio {async_ms / sync_ms:.1f}x, {args.invokes} invokes)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
