"""Lambda's Kinesis event source mapping, emulated: one poller thread per shard reads the stream from
TRIM_HORIZON, gathers up to ``batch_size`` records within a short batching window and calls the stream handler
with the real Kinesis batch event.

Failures as Lambda handles them with ``ReportBatchItemFailures``: a ``batchItemFailures`` answer checkpoints
everything before the lowest failed sequence number and re-reads from it (``AT_SEQUENCE_NUMBER``); a raising
handler retries the whole batch. Retries back off exponentially and are bounded (``MaximumRetryAttempts``);
once exhausted the failed records are skipped and Lambda's on-failure record (``KinesisBatchInfo``: shard,
first and last sequence numbers) goes to the dead-letter queue, so nothing is dropped silently.
Not emulated: resharding (the shards are listed once at start), bisecting a failed batch, parallelisation
factor, enhanced fan-out, record age limits.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from driftline.local.functions import ACCOUNT_ID, FunctionTable
from driftline.observability import get_logger

if TYPE_CHECKING:
    from types_boto3_kinesis.client import KinesisClient
    from types_boto3_kinesis.type_defs import RecordTypeDef

STREAM_ROLE = "driftline-stream-role"


@dataclass(frozen=True)
class PollerConfig:
    batch_size: int = 100
    batching_window: float = 0.2  # seconds spent gathering a batch once the first record is read
    poll_interval: float = 0.05  # pause after an empty read
    max_retries: int = 3  # per failing batch (Lambda's MaximumRetryAttempts)
    backoff_base: float = 0.2  # first retry delay; doubles each attempt
    backoff_max: float = 2.0

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= 10_000:
            raise ValueError(f"batch_size must be between 1 and 10000 (Kinesis' limit), got {self.batch_size}")
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {self.max_retries}")
        for name in ("batching_window", "poll_interval", "backoff_base", "backoff_max"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0 seconds, got {getattr(self, name)}")

    def backoff(self, attempt: int) -> float:
        return min(self.backoff_max, self.backoff_base * 2 ** max(0, attempt - 1))


def build_kinesis_event(
    records: Sequence[RecordTypeDef], shard_id: str, stream_arn: str, region: str
) -> dict[str, Any]:
    """The Lambda event for a batch of ``get_records`` records (boto3 shape: ``Data`` bytes, ``SequenceNumber``,
    ``PartitionKey``, ``ApproximateArrivalTimestamp`` datetime)."""
    role = f"arn:aws:iam::{ACCOUNT_ID}:role/{STREAM_ROLE}"
    out = []
    for record in records:
        arrival = record.get("ApproximateArrivalTimestamp")
        data = record["Data"]
        out.append(
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": record["PartitionKey"],
                    "sequenceNumber": record["SequenceNumber"],
                    "data": base64.b64encode(data if isinstance(data, bytes) else str(data).encode()).decode(),
                    "approximateArrivalTimestamp": round(arrival.timestamp(), 3) if arrival else time.time(),
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"{shard_id}:{record['SequenceNumber']}",
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": role,
                "awsRegion": region,
                "eventSourceARN": stream_arn,
            }
        )
    return {"Records": out}


def failed_sequence(answer: Any, records: Sequence[RecordTypeDef]) -> str | None:
    """The sequence number to resume from after a successful call, per ``batchItemFailures``: None when every
    record succeeded; the lowest failed one; the batch's first record when an identifier is missing or not in
    the batch (Lambda then treats the whole batch as failed)."""
    if not isinstance(answer, dict):
        return None
    failures = answer.get("batchItemFailures")
    if not failures:
        return None
    in_batch = {r["SequenceNumber"] for r in records}
    first = records[0]["SequenceNumber"]
    seqs = []
    for item in failures:
        ident = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(ident, str) or ident not in in_batch:
            return first
        seqs.append(ident)
    return min(seqs, key=int)


class ShardPoller:
    def __init__(
        self,
        kinesis: KinesisClient,
        functions: FunctionTable,
        stream_name: str,
        stream_arn: str,
        shard_id: str,
        region: str,
        config: PollerConfig,
        dead_letter: Callable[[dict[str, Any], str, str], None],
    ) -> None:
        self._kinesis = kinesis
        self._functions = functions
        self.stream_name = stream_name
        self.stream_arn = stream_arn
        self.shard_id = shard_id
        self._region = region
        self.config = config
        self._dead_letter = dead_letter
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._iterator: str | None = None
        self._resume_at: str | None = None  # re-read from here (AT_SEQUENCE_NUMBER) after a failure
        self._retry_seq: str | None = None
        self._attempts = 0
        self._lock = threading.Lock()
        self.checkpoint: str | None = None  # last sequence number handled (or skipped)
        self.batches = 0
        self.records_delivered = 0
        self.retries = 0
        self.skipped_records = 0
        self.last_error: str | None = None

    # lifecycle -----------------------------------------------------------------------------------------------
    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name=f"driftline-kinesis-{self.shard_id}", daemon=True)
        self._thread.start()

    def signal_stop(self) -> None:
        self._stop.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _loop(self) -> None:
        log = get_logger("driftline-local")
        while not self._stop.is_set():
            try:
                progressed = self.poll_once()
            except Exception as exc:
                if self._stop.is_set():
                    break
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("kinesis poll failed; retrying", shard=self.shard_id, error=self.last_error)
                self._iterator = None
                self._stop.wait(self.config.backoff_max)
                continue
            if not progressed:
                self._stop.wait(self.config.poll_interval)

    # one step ------------------------------------------------------------------------------------------------
    def _fresh_iterator(self) -> str:
        kwargs: dict[str, Any] = {"StreamName": self.stream_name, "ShardId": self.shard_id}
        if self._resume_at is not None:
            kwargs |= {"ShardIteratorType": "AT_SEQUENCE_NUMBER", "StartingSequenceNumber": self._resume_at}
        elif self.checkpoint is not None:
            kwargs |= {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": self.checkpoint}
        else:
            kwargs["ShardIteratorType"] = "TRIM_HORIZON"
        return self._kinesis.get_shard_iterator(**kwargs)["ShardIterator"]

    def _read(self, limit: int) -> list[RecordTypeDef]:
        if self._iterator is None:
            self._iterator = self._fresh_iterator()
        answer = self._kinesis.get_records(ShardIterator=self._iterator, Limit=limit)
        self._iterator = answer.get("NextShardIterator")
        return answer.get("Records", [])

    def poll_once(self) -> bool:
        """Read one batch and deliver it; False when there was nothing to read."""
        cfg = self.config
        records = self._read(cfg.batch_size)
        if not records:
            return False
        deadline = time.monotonic() + cfg.batching_window
        while len(records) < cfg.batch_size and time.monotonic() < deadline and not self._stop.is_set():
            self._stop.wait(min(cfg.poll_interval, max(0.0, deadline - time.monotonic())))
            records.extend(self._read(cfg.batch_size - len(records)))
        self._deliver(records)
        return True

    def _deliver(self, records: list[RecordTypeDef]) -> None:
        event = build_kinesis_event(records, self.shard_id, self.stream_arn, self._region)
        outcome = self._functions.invoke("stream", event)
        with self._lock:
            self.batches += 1
        if outcome.ok:
            failed = failed_sequence(outcome.result, records)
            error = f"batchItemFailures from {failed}"
        else:
            failed = records[0]["SequenceNumber"]
            error = f"{outcome.error_type}: {outcome.error_message}"
        done = records if failed is None else [r for r in records if int(r["SequenceNumber"]) < int(failed)]
        with self._lock:
            self.records_delivered += len(done)
            if done:
                self.checkpoint = done[-1]["SequenceNumber"]
        if failed is None:
            self._retry_seq, self._attempts, self._resume_at = None, 0, None
            return

        self.last_error = error
        if failed == self._retry_seq:
            self._attempts += 1
        else:
            self._retry_seq, self._attempts = failed, 1
        if self._attempts <= self.config.max_retries:
            with self._lock:
                self.retries += 1
            self._resume_at, self._iterator = failed, None
            self._stop.wait(self.config.backoff(self._attempts))
            return

        rest = [r for r in records if int(r["SequenceNumber"]) >= int(failed)]
        self._skip(rest, outcome.request_id, error)

    def _skip(self, rest: Sequence[RecordTypeDef], request_id: str, error: str) -> None:
        record = {
            "requestContext": {
                "requestId": request_id,
                "functionArn": self._functions.function_arn(self._functions.function_name("stream")),
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": self._attempts + 1,
            },
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "KinesisBatchInfo": {
                "shardId": self.shard_id,
                "startSequenceNumber": rest[0]["SequenceNumber"],
                "endSequenceNumber": rest[-1]["SequenceNumber"],
                "approximateArrivalOfFirstRecord": _iso(rest[0].get("ApproximateArrivalTimestamp")),
                "approximateArrivalOfLastRecord": _iso(rest[-1].get("ApproximateArrivalTimestamp")),
                "batchSize": len(rest),
                "streamArn": self.stream_arn,
            },
        }
        log = get_logger("driftline-local")
        log.error(
            "kinesis records skipped after retries; sending their range to the dead-letter queue",
            shard=self.shard_id,
            first=rest[0]["SequenceNumber"],
            last=rest[-1]["SequenceNumber"],
            error=error,
        )
        try:
            self._dead_letter(record, request_id, error)
        except Exception:
            log.exception("dead-letter delivery failed", record=record)
        with self._lock:
            self.skipped_records += len(rest)
            self.checkpoint = rest[-1]["SequenceNumber"]
        self._retry_seq, self._attempts, self._resume_at, self._iterator = None, 0, None, None

    # lag -----------------------------------------------------------------------------------------------------
    def behind(self, cap: int = 10_000) -> int:
        """Records in the shard after the checkpoint (read with a separate iterator), at most ``cap``."""
        kwargs: dict[str, Any] = {"StreamName": self.stream_name, "ShardId": self.shard_id}
        with self._lock:
            checkpoint = self.checkpoint
        if checkpoint is None:
            kwargs["ShardIteratorType"] = "TRIM_HORIZON"
        else:
            kwargs |= {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": checkpoint}
        iterator = self._kinesis.get_shard_iterator(**kwargs)["ShardIterator"]
        count = 0
        while iterator and count < cap:
            answer = self._kinesis.get_records(ShardIterator=iterator, Limit=min(10_000, cap - count))
            got = len(answer.get("Records", []))
            if got == 0:
                break
            count += got
            iterator = answer.get("NextShardIterator")
        return count

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {
                "checkpoint": self.checkpoint,
                "batches": self.batches,
                "records_delivered": self.records_delivered,
                "retries": self.retries,
                "skipped_records": self.skipped_records,
                "last_error": self.last_error,
                "alive": self.alive,
            }


def _iso(value: Any) -> str | None:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return None


class KinesisEventSource:
    """The event source mapping of one stream: a poller per shard."""

    def __init__(
        self,
        kinesis: KinesisClient,
        functions: FunctionTable,
        stream_name: str,
        region: str,
        config: PollerConfig,
        dead_letter: Callable[[dict[str, Any], str, str], None],
    ) -> None:
        summary = kinesis.describe_stream_summary(StreamName=stream_name)["StreamDescriptionSummary"]
        shards: list[str] = []
        token = None
        while True:
            page = kinesis.list_shards(NextToken=token) if token else kinesis.list_shards(StreamName=stream_name)
            shards.extend(s["ShardId"] for s in page["Shards"])
            token = page.get("NextToken")
            if not token:
                break
        self.stream_arn = summary["StreamARN"]
        self.pollers = [
            ShardPoller(kinesis, functions, stream_name, self.stream_arn, shard, region, config, dead_letter)
            for shard in shards
        ]

    def start(self) -> None:
        for poller in self.pollers:
            poller.start()

    def stop(self, timeout: float = 5.0) -> None:
        for poller in self.pollers:
            poller.signal_stop()
        for poller in self.pollers:
            poller.stop(timeout)

    def caught_up(self) -> bool:
        return all(p.behind(cap=1) == 0 for p in self.pollers)

    def status(self) -> dict[str, Any]:
        return {p.shard_id: {**p.status(), "behind": p.behind()} for p in self.pollers}
