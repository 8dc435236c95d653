"""A tick with its shards run in this process: what Lambda does with the controller's shard invocations (each
shard in an invocation of its own, running at the same time), done with threads. For tests, benchmarks and
offline runs; the deployed controller never uses it.

``run_tick(clients, invoker, project, now, shards=N)`` runs the scheduled invocation, then every shard it handed
out (in parallel, each with ``make_clients()``'s clients when given, as each Lambda invocation has its own), and
returns one report holding every pair. Invocations of other functions (the apps) go to ``invoker``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from typing import Any

from driftline.aws.clients import Clients
from driftline.aws.invoke import Invoker
from driftline.controller.run import ControllerReport, run_controller, run_shard
from driftline.controller.shards import ShardSpec


class InProcessShards:
    """An invoker that runs invocations of the controller function (shard events) in a thread pool and passes
    every other invocation to ``inner``."""

    def __init__(
        self,
        clients: Clients,
        inner: Invoker,
        *,
        concurrency: int = 16,
        make_clients: Callable[[], Clients] | None = None,
    ) -> None:
        self._clients = clients
        self._inner = inner
        self._make_clients = make_clients
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="controller-shard")
        self._futures: list[Future[ControllerReport]] = []
        self._lock = threading.Lock()

    def invoke_async(self, function_name: str, payload: dict[str, Any]) -> None:
        if function_name != self._clients.settings.controller_function:
            self._inner.invoke_async(function_name, payload)
            return
        spec = ShardSpec.from_event(payload)  # what the shard's handler would parse
        future = self._pool.submit(self._run, spec)
        with self._lock:
            self._futures.append(future)

    def _run(self, spec: ShardSpec) -> ControllerReport:
        clients = self._make_clients() if self._make_clients else self._clients
        return run_shard(clients, self, spec)

    def wait(self) -> list[ControllerReport]:
        """Every shard's report, once all have finished (a shard that raised re-raises here)."""
        with self._lock:
            futures = list(self._futures)
            self._futures.clear()
        return [f.result() for f in futures]

    def close(self) -> None:
        self._pool.shutdown(wait=True)


def run_tick(
    clients: Clients,
    invoker: Invoker,
    project: str | None,
    now: datetime,
    *,
    shards: int | None = None,
    concurrency: int = 16,
    make_clients: Callable[[], Clients] | None = None,
) -> ControllerReport:
    """One tick, its shards run here in parallel; the scheduled run's report with every shard's pairs merged."""
    fan_out = InProcessShards(clients, invoker, concurrency=concurrency, make_clients=make_clients)
    try:
        report = run_controller(clients, fan_out, project, now, shards=shards)
        for shard in fan_out.wait():
            report.merge(shard)
    finally:
        fan_out.close()
    return report
