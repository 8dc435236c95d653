"""Simulated AWS latency for the benchmarks that run on moto in-process: a botocore ``before-send`` hook on every
client made after :func:`install`, sleeping a fixed time per call by service (DynamoDB 8 ms, Lambda Invoke 30 ms,
S3 15 ms: typical in-region figures) and counting the calls by service and operation. Moto answers the call
after the sleep (its own ``before-send`` handler runs next), so the code under test sees AWS-like round trips
while the emulator's own work is still what it is (it runs in this process, under the GIL: see each bench's
notes). ``paused()`` turns the hook off for seeding."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import botocore.handlers

LATENCY_SECONDS = {"dynamodb": 0.008, "lambda": 0.030, "s3": 0.015}


class Latency:
    def __init__(self, latency: dict[str, float] | None = None) -> None:
        self.latency = dict(LATENCY_SECONDS if latency is None else latency)
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._on = True

    def __call__(self, request: Any = None, event_name: str = "", **_: Any) -> None:
        if not self._on:
            return
        _kind, service, operation = [*event_name.split("."), "", ""][:3]
        with self._lock:
            self.calls[f"{service}.{operation}"] += 1
        time.sleep(self.latency.get(service, 0.0))

    def add(self, service_operation: str, seconds: float | None = None) -> None:
        """Count (and wait for) a call made outside botocore: a simulated Lambda Invoke."""
        service = service_operation.split(".")[0]
        with self._lock:
            self.calls[service_operation] += 1
        time.sleep(self.latency.get(service, 0.0) if seconds is None else seconds)

    def total(self) -> int:
        with self._lock:
            return sum(self.calls.values())

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()

    @contextmanager
    def paused(self) -> Iterator[None]:
        self._on = False
        try:
            yield
        finally:
            self._on = True


def install(latency: dict[str, float] | None = None) -> Latency:
    """Put the hook first among botocore's built-in handlers: every client created afterwards carries it."""
    hook = Latency(latency)
    botocore.handlers.BUILTIN_HANDLERS.insert(0, ("before-send", hook))
    return hook


def skip_moto_transaction_snapshot() -> None:
    """moto snapshots every table a ``TransactWriteItems`` touches (a deep copy of the whole table, for its
    rollback) before applying it: ~0.3 s per transaction once the table holds a few thousand items, a cost of the
    emulator that grows with the table and that DynamoDB does not have. The benchmarks that make no failing
    transaction skip the snapshot (the table itself stands for it); nothing else of moto changes."""
    import copy
    import types

    import moto.dynamodb.models as models
    from moto.dynamodb.models.table import Table

    def deepcopy(value: Any, memo: Any = None) -> Any:
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    models.copy = types.SimpleNamespace(deepcopy=deepcopy)  # type: ignore[assignment]


def index_moto_table_queries() -> None:
    """moto answers a Query on a table's own key by sorting every item of the table and keeping the partition's:
    a cost per query growing with the table (at 10,000 endpoints, the minute-bucket queries of one busy tick
    take most of an hour), which DynamoDB, reading the one partition, does not have. The benchmarks that query
    large tables hand moto the partition's items only for those queries; what moto does with them (ranges,
    sorting, limits, pages, projections) is unchanged, and index queries are left as they are."""
    from moto.dynamodb.models.table import Table

    partition = threading.local()
    original_query, original_all_items = Table.query, Table.all_items

    def query(self: Table, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        partition.key = hash_key if index_name is None else None
        try:
            return original_query(self, hash_key, *args, **kwargs)
        finally:
            partition.key = None

    def all_items(self: Table) -> Any:
        key = getattr(partition, "key", None)
        if key is None or not self.range_key_attr:
            return original_all_items(self)
        return sorted(self.items.get(key, {}).values(), key=lambda item: item.range_key)

    Table.query = query  # type: ignore[method-assign]
    Table.all_items = all_items  # type: ignore[method-assign]
