"""Controller fan-out: one tick over E endpoints x A apps with simulated AWS latency, shards vs one shard.

Runs on moto in-process (the full local stack would need 10,000 endpoints seeded through the emulator's HTTP
server and a process per shard on a 2-core machine; in-process keeps the figure about the controller), with
the latency hook of ``bench/_latency.py`` on every client (DynamoDB 8 ms, S3 15 ms) and the Lambda Invoke calls
simulated (30 ms each, counted): the apps' invokes are recorded, the shard invokes run each shard in a thread of
its own, as Lambda would run each shard in an invocation of its own (``driftline.controller.fanout``).

Scenarios (each on a freshly seeded table):
* ``busy``: every endpoint has new traffic: one complete window per (endpoint, app) with predictions to send
  (claim, invoke, confirm per pair; one bucket query per endpoint);
* ``idle``: every checkpoint is current: nothing to send.
Each scenario runs with the automatic shard count (one per ``controller_shard_size`` endpoints) and, as the
baseline in the same run, with one shard (the whole tick in the scheduled invocation, its thread pool only).

Each tick runs twice: on moto without the simulated latency, recording moto's answers, then replayed from that
recording with it (``bench/_replay.py``): the tick figure is the controller's own time at AWS-like round trips,
without moto's CPU (~4-9 ms per DynamoDB call, serial under this process's GIL, which made the wall time of a
tick on moto mostly the emulator's). The replay fails loudly when the code makes a call the recorded run did not.

Prints figures; asserts nothing.
``python bench/controller_fanout.py --endpoints 10000 --apps 3 [--scenario busy|idle|both] [--no-baseline]``
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import sys
import time
from concurrent.futures import Future, ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _latency import Latency
from _replay import prepare

LATENCY, RECORDER = prepare(partition_queries=True)

from moto import mock_aws  # noqa: E402

from driftline.aws.clients import Clients  # noqa: E402
from driftline.aws.dynamo import to_item  # noqa: E402
from driftline.aws.endpoints import minute_key  # noqa: E402
from driftline.aws.invoke import Invoker  # noqa: E402
from driftline.aws.provision import provision  # noqa: E402
from driftline.aws.registry import Registry  # noqa: E402
from driftline.config import Settings  # noqa: E402
from driftline.controller.fanout import InProcessShards  # noqa: E402
from driftline.controller.run import ControllerReport, run_controller, run_shard  # noqa: E402
from driftline.controller.shards import ShardSpec  # noqa: E402
from driftline.local.emulation import make_dynamodb_writes_atomic  # noqa: E402
from driftline.records import AppRecord, ProjectConfig  # noqa: E402
from driftline.schemas import endpoint_id_for, to_iso  # noqa: E402

PROJECT = "bench"
FIRST = datetime(2026, 11, 26, 8, 0, 0, tzinfo=UTC)
STEP = timedelta(minutes=10)
NOW = datetime(2026, 11, 26, 12, 5, 0, tzinfo=UTC)
LAST_WINDOW_END = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)  # last complete window [11:50, 12:00)


class SimulatedLambda:
    """Lambda's Invoke of an app: 30 ms and one counted call."""

    def __init__(self, latency: Latency) -> None:
        self.latency = latency
        self.sent = 0

    def invoke_async(self, function_name: str, payload: dict[str, Any]) -> None:
        self.latency.add("lambda.Invoke")
        self.sent += 1


class ProcessShards:
    """The replayed tick's shard invocations, each in a process of its own (forked, so it holds the recording):
    as Lambda runs each shard in an invocation of its own, with its own interpreter, the shards do not share a GIL
    (they still share this machine's 2 cores). A shard's counted calls, app invokes and replayed answers come back
    with its report."""

    def __init__(self, settings: Settings, concurrency: int) -> None:
        global _CHILD_SETTINGS
        _CHILD_SETTINGS = settings
        self._pool = ProcessPoolExecutor(max_workers=concurrency, mp_context=multiprocessing.get_context("fork"))
        self._futures: list[Future[tuple[ControllerReport, int, dict[str, int], int, int]]] = []
        self.sent = self.replayed = self.misses = 0

    def invoke_async(self, function_name: str, payload: dict[str, Any]) -> None:
        self._futures.append(self._pool.submit(_shard_in_child, payload))

    def wait(self) -> list[ControllerReport]:
        reports = []
        for future in self._futures:
            report, sent, calls, replayed, misses = future.result()
            reports.append(report)
            self.sent += sent
            self.replayed += replayed
            self.misses += misses
            for name, n in calls.items():
                LATENCY.calls[name] += n
        return reports

    def close(self) -> None:
        self._pool.shutdown(wait=True)


_CHILD_SETTINGS: Settings | None = None


def _shard_in_child(payload: dict[str, Any]) -> tuple[ControllerReport, int, dict[str, int], int, int]:
    assert _CHILD_SETTINGS is not None
    LATENCY.reset()
    replayed, misses = RECORDER.replayed, len(RECORDER.misses)  # what the process held when forked (or earlier shards)
    apps_lambda = SimulatedLambda(LATENCY)
    report = run_shard(Clients(_CHILD_SETTINGS), apps_lambda, ShardSpec.from_event(payload))
    return report, apps_lambda.sent, dict(LATENCY.calls), RECORDER.replayed - replayed, len(RECORDER.misses) - misses


def _batch_write(clients: Clients, table: str, items: list[dict[str, Any]]) -> None:
    for i in range(0, len(items), 25):
        requests: list[Any] = [{"PutRequest": {"Item": to_item(item)}} for item in items[i : i + 25]]
        clients.dynamodb.batch_write_item(RequestItems={table: requests})


def seed(clients: Clients, endpoints: int, apps: int, scenario: str) -> None:
    registry = Registry(clients)
    registry.put_project(ProjectConfig(name=PROJECT, base_period_minutes=10, monitoring_enabled=True))
    for a in range(apps):
        registry.put_app(
            AppRecord(PROJECT, f"app-{a}", "C", {"kind": "builtin", "name": "histogram_data_drift"}, deployed=True)
        )
    checkpoint = LAST_WINDOW_END - STEP if scenario == "busy" else LAST_WINDOW_END
    meta, buckets, checkpoints = [], [], []
    inputs = "[" + ",".join(["12.3456"] * 40) + "]"  # a realistic meta item: ~1 KB with the last inputs
    for i in range(endpoints):
        endpoint_id = endpoint_id_for(PROJECT, "serving", f"model-{i}")
        meta.append(
            {
                "endpoint_id": endpoint_id,
                "sk": "meta",
                "project": PROJECT,
                "name": f"model-{i}",
                "function_name": "serving",
                "model_uri": f"store://models/{PROJECT}/model-{i}:latest",
                "monitoring": True,
                "first_request": to_iso(FIRST),
                "last_request": to_iso(LAST_WINDOW_END + timedelta(seconds=45)),
                "request_count": 1000,
                "prediction_count": 1000,
                "last_inputs": inputs,
                "last_prediction": "1",
                "seq#shardId-000000000000": "0" * 100 + "49590338271490256608559692538",
            }
        )
        if scenario == "busy":
            bucket = {"endpoint_id": endpoint_id, "sk": minute_key(LAST_WINDOW_END - timedelta(minutes=5))}
            buckets.append({**bucket, "requests": 10, "predictions": 10})
        for a in range(apps):
            checkpoints.append(
                {"pk": f"endpoint#{endpoint_id}", "sk": f"app#app-{a}", "last_analyzed": to_iso(checkpoint)}
            )
    s = clients.settings
    _batch_write(clients, s.table("endpoints"), meta + buckets)
    _batch_write(clients, s.table("checkpoints"), checkpoints)


def tick(
    endpoints: int, apps: int, scenario: str, shards: int | None
) -> tuple[ControllerReport, float, float, int, float]:
    """One tick on a fresh emulation, on moto without the simulated latency (recording moto's answers), then
    replayed from the recording with it, each shard in a process of its own: (report, wall seconds, CPU seconds
    of every process, app invokes) of the replay, and the wall seconds on moto."""
    with mock_aws():
        settings = provision(Settings(region="us-east-1"))
        clients = Clients(settings)
        with LATENCY.paused():
            seed(clients, endpoints, apps, scenario)
            with RECORDER.recording():
                started = time.perf_counter()
                fan_out = InProcessShards(clients, SimulatedLambda(LATENCY), concurrency=settings.controller_max_shards)
                _run_tick(clients, fan_out, shards)
                on_moto = time.perf_counter() - started
    recorded = RECORDER.left()
    with RECORDER.replaying():
        LATENCY.reset()
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu, started = time.process_time(), time.perf_counter()
        processes = ProcessShards(settings, settings.controller_max_shards)
        report, sent = _run_tick(Clients(settings), processes, shards)  # the shard processes reaped: counted below
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu += reaped.ru_utime + reaped.ru_stime - children.ru_utime - children.ru_stime
    replayed = RECORDER.replayed + processes.replayed
    misses = len(RECORDER.misses) + processes.misses
    assert misses == 0, f"the replay made {misses} calls the recorded run did not"
    assert replayed == recorded, f"the replay asked {replayed} of {recorded} recorded answers"
    return report, wall, cpu, sent + processes.sent, on_moto


def _run_tick(
    clients: Clients, fan_out: InProcessShards | ProcessShards, shards: int | None
) -> tuple[ControllerReport, int]:
    """The scheduled invocation (its own app invokes counted here), its shards run by ``fan_out``."""
    apps_lambda = SimulatedLambda(LATENCY)
    scheduled = _Route(clients.settings, fan_out, apps_lambda)
    report = run_controller(clients, scheduled, PROJECT, NOW, shards=shards)
    for shard in fan_out.wait():
        report.merge(shard)
    fan_out.close()
    return report, apps_lambda.sent


class _Route:
    """The scheduled invocation's invokes: a shard invoke is counted (30 ms) and handed to the fan-out, an app
    invoke (a one-shard tick's own) goes to ``apps``."""

    def __init__(self, settings: Settings, shards: Invoker, apps: Invoker) -> None:
        self.settings, self.shards, self.apps = settings, shards, apps

    def invoke_async(self, function_name: str, payload: dict[str, Any]) -> None:
        if function_name != self.settings.controller_function:
            self.apps.invoke_async(function_name, payload)
            return
        LATENCY.add("lambda.Invoke")
        self.shards.invoke_async(function_name, payload)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoints", type=int, default=1000)
    parser.add_argument("--apps", type=int, default=3)
    parser.add_argument("--scenario", choices=["busy", "idle", "both"], default="both")
    parser.add_argument("--shards", type=int, default=0, help="shard count (0: automatic, one per 500 endpoints)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the one-shard baseline")
    args = parser.parse_args()
    make_dynamodb_writes_atomic()
    pairs = args.endpoints * args.apps
    scenarios = ["busy", "idle"] if args.scenario == "both" else [args.scenario]
    for scenario in scenarios:
        runs = [("fan-out", args.shards or None)] + ([] if args.no_baseline else [("baseline, 1 shard", 1)])
        figures = {}
        for label, shards in runs:
            report, wall, cpu, sent, on_moto = tick(args.endpoints, args.apps, scenario, shards)
            calls = LATENCY.total()
            figures[label] = wall
            count = len(report.shards) or 1
            print(
                f"controller fan-out: {args.endpoints} endpoints x {args.apps} apps: tick {wall:.1f} s, {calls} calls"
                f"  [{scenario}, {label}: {count} shard(s), {calls / pairs:.2f} calls per (endpoint, app),"
                f" {sent} windows sent, {report.errors} errors]"
            )
            by_call = ", ".join(f"{name} {n}" for name, n in sorted(LATENCY.calls.items(), key=lambda kv: -kv[1]))
            print(f"    calls: {by_call}")
            print(
                f"    replayed at the simulated latencies, CPU {cpu:.1f} s (every process); the same tick on moto"
                f" without them took {on_moto:.1f} s (moto's CPU, serial under the GIL)"
            )
        if len(figures) == 2:
            print(f"    fan-out vs one shard: {figures['baseline, 1 shard'] / figures['fan-out']:.1f}x faster")


if __name__ == "__main__":
    main()
