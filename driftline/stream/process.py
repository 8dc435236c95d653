"""One Kinesis batch end to end: decode, write parquet, count live figures, dead-letter poison, answer.

Order matters for exactness (docs/architecture.md, "Delivery semantics"): parquet first (deterministic keys,
overwritten by a redelivery), then the live figures (guarded per shard), then the dead letters. If any of
these fails after botocore's retries, the batch's FIRST record is reported as the batch item failure: Kinesis
redelivers the whole batch from there (or bisects it), which rewrites the same objects and skips what the
guards say was already counted. Records that can never succeed (poison) are never reported: they would
block the shard; they are logged, counted and dead-lettered. Nothing here raises for data problems.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

from driftline.aws import events_store, recent_requests
from driftline.aws.clients import Clients
from driftline.aws.dead_letters import DeadLetters, poison_message
from driftline.errors import InvalidRequestError
from driftline.observability import NAMESPACE, get_logger, get_metrics
from driftline.stream import SERVICE
from driftline.stream.decode.batch import DecodedBatch, decode_batch
from driftline.stream.decode.envelope import KinesisRecord, PoisonRecord
from driftline.stream.decode.tables import RowGroup
from driftline.stream.dedup import RecentRequests, candidates_of, decide
from driftline.stream.live import LiveOutcome, apply_live_figures

logger = get_logger(SERVICE)
metrics = get_metrics(SERVICE)

_LOG_DATA_CHARS = 4096  # poison data in the log when a queue holds the full copy


@dataclass
class BatchOutcome:
    received: int
    poison: list[PoisonRecord] = field(default_factory=list)
    duplicates: int = 0  # records left out: a request already stored (a Kinesis put applied twice)
    keys: list[str] = field(default_factory=list)
    rows_written: int = 0
    live: LiveOutcome | None = None
    dead_lettered: int = 0
    failed_sequence: str | None = None  # the batch item failure to report, if any

    def response(self) -> dict[str, Any]:
        """Lambda's partial batch response (``ReportBatchItemFailures``)."""
        failures = [] if self.failed_sequence is None else [{"itemIdentifier": self.failed_sequence}]
        return {"batchItemFailures": failures}


class Deduplication:
    """The ``exclude`` of :func:`decode_batch`: loads what the batch's shard stored recently, names the records
    repeating a stored request (:mod:`driftline.stream.dedup`) and keeps the memory to save once the rows are
    written."""

    def __init__(self, clients: Clients) -> None:
        self.clients = clients
        self.window_seconds = clients.settings.duplicate_window_seconds
        self.to_save: dict[str, bytes] = {}

    def __call__(self, events: pa.Table) -> list[int]:
        duplicates: list[int] = []
        for shard_id, candidates in candidates_of(events).items():
            memory = self._memory(shard_id, recent_requests.load(self.clients, shard_id))
            decision = decide(memory, candidates, window_seconds=self.window_seconds)
            if decision.forgotten:
                logger.warning(
                    "recent-requests memory full: forgot the oldest requests",
                    extra={"shard_id": shard_id, "forgotten": decision.forgotten},
                )
            duplicates.extend(decision.duplicates)
            self.to_save[shard_id] = decision.recent.encode()
        return duplicates

    def _memory(self, shard_id: str, data: bytes | None) -> RecentRequests:
        try:
            return RecentRequests.decode(data)
        except InvalidRequestError as exc:  # never block the shard on our own state: start it afresh
            logger.error(
                "recent-requests memory unreadable; starting it afresh", extra={"shard_id": shard_id, "error": str(exc)}
            )
            metrics.add_metric(name="DedupStateResets", unit=MetricUnit.Count, value=1)
            return RecentRequests()

    def save(self, shard_id: str) -> str:
        return recent_requests.save(self.clients, shard_id, self.to_save[shard_id])


def write_groups(clients: Clients, groups: Sequence[RowGroup], dedup: Deduplication | None = None) -> list[str]:
    """Each group to its object, and the deduplication memory after them, ``Settings.stream_threads`` at a time
    (S3 latency, not CPU, is what a batch waits for); returns the groups' keys in group order. The first failure
    is raised once every write has finished."""

    def write(group: RowGroup) -> str:
        return events_store.write_group(
            clients, group.endpoint_id, group.hour_start, group.shard_id, group.first_sequence, group.table
        )

    tasks: list[Callable[[], str]] = [functools.partial(write, group) for group in groups]
    if dedup is not None:
        tasks += [functools.partial(dedup.save, key) for key in dedup.to_save]
    if len(tasks) <= 1:
        return [task() for task in tasks][: len(groups)]
    with ThreadPoolExecutor(max_workers=min(clients.settings.stream_threads, len(tasks))) as pool:
        return list(pool.map(lambda task: task(), tasks))[: len(groups)]


def process_records(records: Sequence[KinesisRecord], clients: Clients) -> BatchOutcome:
    """Process one batch; the outcome's :meth:`BatchOutcome.response` is the handler's answer."""
    outcome = BatchOutcome(received=len(records))
    metrics.add_metric(name="RecordsReceived", unit=MetricUnit.Count, value=len(records))
    if not records:
        _count_outcome(outcome)
        return outcome
    try:
        dedup = Deduplication(clients)
        batch = decode_batch(records, exclude=dedup)
        outcome.poison = batch.poison
        outcome.duplicates = len(batch.duplicates)
        if batch.duplicates:
            logger.warning(
                "records repeating a stored request left out",
                extra={"event_ids": [batch.records[p].event_id for p in batch.duplicates]},
            )
        for poison in batch.poison:
            logger.warning(
                "poison record",
                extra={
                    "event_id": poison.record.event_id,
                    "reason": poison.reason,
                    "data_chars": len(poison.record.data),
                },
            )
        outcome.keys = write_groups(clients, batch.groups, dedup)
        outcome.rows_written = batch.rows
        _count_rows(batch, clients.settings.per_endpoint_metrics)
        outcome.live = apply_live_figures(clients, batch)
        outcome.dead_lettered = _dead_letter(clients, batch.poison)
    except Exception:  # storage failures and anything unforeseen: retry the batch from its first record
        first = records[0]
        logger.exception(
            "batch failed; reporting its first record so Kinesis retries the batch",
            extra={"event_id": first.event_id, "records": len(records)},
        )
        outcome.failed_sequence = first.sequence_number
    _count_outcome(outcome)
    logger.info(
        "batch processed",
        extra={
            "records": outcome.received,
            "poison": len(outcome.poison),
            "duplicates": outcome.duplicates,
            "rows_written": outcome.rows_written,
            "objects": len(outcome.keys),
            "counted": outcome.live.applied if outcome.live else 0,
            "already_counted": outcome.live.skipped if outcome.live else 0,
            "failed": outcome.failed_sequence is not None,
        },
    )
    return outcome


def _dead_letter(clients: Clients, poison: Sequence[PoisonRecord]) -> int:
    if not poison:
        return 0
    queue = DeadLetters(clients)
    sent = 0
    for item in poison:
        record = item.record
        message = poison_message(
            event_id=record.event_id,
            shard_id=record.shard_id,
            sequence_number=str(record.sequence_number),
            partition_key=record.partition_key,
            reason=item.reason,
            data=record.data if isinstance(record.data, str) else repr(record.data),
        )
        if queue.configured:
            queue.send(message)
            sent += 1
        else:  # the log is the only copy left: keep the data whole
            logger.error("poison record not dead-lettered: no queue configured", extra={"record": message})
    return sent


def _count_rows(batch: DecodedBatch, per_endpoint_metrics: bool = False) -> None:
    """``RowsWritten`` for the function (dimension ``service``, what the dashboard and alarms read) and, when
    ``settings.per_endpoint_metrics`` asks for it, per endpoint (dimensions ``service``, ``endpoint_id``: one
    custom metric per endpoint, billed per endpoint-month)."""
    metrics.add_metric(name="RowsWritten", unit=MetricUnit.Count, value=batch.rows)
    if not per_endpoint_metrics:
        return
    per_endpoint: dict[str, int] = {}
    for group in batch.groups:
        per_endpoint[group.endpoint_id] = per_endpoint.get(group.endpoint_id, 0) + group.rows
    for endpoint_id, rows in per_endpoint.items():
        # an isolated metric set per endpoint; unlike single_metric its flush honours POWERTOOLS_METRICS_DISABLED
        per = EphemeralMetrics(namespace=NAMESPACE, service=SERVICE)
        per.add_dimension(name="endpoint_id", value=endpoint_id)
        per.add_metric(name="RowsWritten", unit=MetricUnit.Count, value=rows)
        per.flush_metrics()


def _count_outcome(outcome: BatchOutcome) -> None:
    metrics.add_metric(name="PoisonRecords", unit=MetricUnit.Count, value=len(outcome.poison))
    metrics.add_metric(name="DuplicateRecords", unit=MetricUnit.Count, value=outcome.duplicates)
    metrics.add_metric(name="BatchFailures", unit=MetricUnit.Count, value=int(outcome.failed_sequence is not None))
