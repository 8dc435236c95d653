"""Live endpoint figures and minute buckets, counted exactly once per Kinesis record.

Per endpoint and shard, after the batch's parquet is written, one DynamoDB transaction (``TransactWriteItems``):

- the ``meta`` item: ``first_request`` (min) / ``last_request`` (max) of request start times; ADD
  ``request_count``, ``prediction_count`` (sum of ``effective_sample_count`` of non-error requests),
  ``error_count``, ``latency_sum_us`` / ``latency_count`` (non-error requests: a failed request's latency says
  little about the model); ``last_prediction`` / ``last_inputs`` (JSON of the last row of the latest request
  with rows, and its time ``last_prediction_at``); and the shard guard ``seq#{shardId}``: the last sequence
  number applied, zero-padded to 128 digits;
- one ``minute#{YYYY-MM-DDTHH:MM}`` item per minute touched: ADD ``requests, predictions, errors,
  latency_sum_us, latency_count`` and ``expires_at`` (minute + 3 days, TTL).

Exactly once: records at or below the stored guard are skipped, and the transaction is conditioned on the
guard (and the min/max figures) still being what was read, so a concurrent or repeated delivery makes it fail
instead of double counting; it is then re-read, re-filtered and retried. A transaction holds at most 100
items: a batch whose records touch more minutes is applied in consecutive chunks, each advancing the guard.

Endpoints are independent (each transaction touches one endpoint's items only): the batch's meta items are read
with ``BatchGetItem`` (100 a call) and the endpoints' transactions run at once from a thread pool
(``Settings.stream_threads``), so a batch spread over hundreds of endpoints takes a few round trips, not hundreds.
Each endpoint keeps its own guard, conditions and retries, so concurrency changes the time, never the counts; a
failure of any endpoint fails the batch after the others finished (what they committed stays, guarded).

An endpoint with no ``meta`` item (never deployed) still gets its figures: the item is created with what the
events say (project, ``name`` = model, function, model version, feature/label names); fields already there are
never overwritten (``if_not_exists``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from driftline import clock
from driftline.aws.clients import Clients
from driftline.aws.dynamo import to_value
from driftline.aws.endpoints import BUCKET_TTL_SECONDS, META, TTL_ATTRIBUTE, Endpoints, minute_key
from driftline.errors import ConflictError, StorageError
from driftline.schemas import to_iso
from driftline.stream.decode.batch import DecodedBatch
from driftline.stream.decode.envelope import padded_sequence

MAX_TRANSACTION_ITEMS = 100
MAX_MINUTES = MAX_TRANSACTION_ITEMS - 1  # one item is the meta item
MAX_ATTEMPTS = 5


def guard_attribute(shard_id: str) -> str:
    return f"seq#{shard_id}"


@dataclass(frozen=True)
class LiveEvent:
    """What the live figures need of one accepted record."""

    position: int
    shard_id: str
    sequence: int
    endpoint_id: str
    when: datetime
    latency_us: int
    effective_sample_count: int
    is_error: bool
    row_count: int
    ingested: bool = False  # rows scored elsewhere (received set): no latency of ours to count


@dataclass(frozen=True)
class Identity:
    """What an event says about its endpoint (used only for fields the meta item does not have yet)."""

    project: str
    name: str
    function_name: str
    model_version: str
    feature_names: list[str]
    label_names: list[str]

    @property
    def model_uri(self) -> str:
        return f"store://models/{self.project}/{self.name}:{self.model_version or 'latest'}"


@dataclass
class Figures:
    """The sums of one chunk of events (one transaction)."""

    requests: int = 0
    predictions: int = 0
    errors: int = 0
    latency_sum_us: int = 0
    latency_count: int = 0

    def add(self, event: LiveEvent) -> None:
        self.requests += 1
        if event.is_error:
            self.errors += 1
        else:
            self.predictions += event.effective_sample_count
            if not event.ingested:  # an ingested request's latency is not known (the model ran elsewhere)
                self.latency_sum_us += event.latency_us
                self.latency_count += 1


@dataclass
class LiveOutcome:
    applied: int = 0  # records counted now
    skipped: int = 0  # records already counted by an earlier delivery
    transactions: int = 0
    conflicts: int = 0
    endpoints: list[str] = field(default_factory=list)


def events_of(batch: DecodedBatch) -> list[LiveEvent]:
    """The batch's accepted records, in batch order."""
    table = batch.events
    columns = [
        table.column(name).to_pylist()
        for name in (
            "position",
            "shard_id",
            "sequence_number",
            "endpoint_id",
            "when",
            "latency_us",
            "effective_sample_count",
            "is_error",
            "row_count",
        )
    ]
    received = table.column("received")
    ingested = [False] * table.num_rows if received.null_count == table.num_rows else received.is_valid().to_pylist()
    return [
        LiveEvent(p, shard, int(seq), endpoint, when, latency, count, error, rows, from_elsewhere)
        for p, shard, seq, endpoint, when, latency, count, error, rows, from_elsewhere in zip(
            *columns, ingested, strict=True
        )
    ]


def identities_of(batch: DecodedBatch, positions: Sequence[int]) -> dict[int, Identity]:
    """What the events at ``positions`` say about their endpoints (one pass over the batch's table)."""
    table = batch.events
    index = {p: i for i, p in enumerate(table.column("position").to_pylist())}
    rows = table.select(["project", "model_name", "function_name", "model_version", "feature_names", "label_names"])
    rows = rows.take([index[p] for p in positions]).to_pylist()
    return {
        position: Identity(
            project=row["project"],
            name=row["model_name"],
            function_name=row["function_name"],
            model_version=row["model_version"],
            feature_names=list(row["feature_names"] or []),
            label_names=list(row["label_names"] or []),
        )
        for position, row in zip(positions, rows, strict=True)
    }


def chunks(events: Sequence[LiveEvent], max_minutes: int = MAX_MINUTES) -> Iterator[list[LiveEvent]]:
    """Consecutive runs of events touching at most ``max_minutes`` distinct minutes each."""
    chunk: list[LiveEvent] = []
    minutes: set[datetime] = set()
    for event in events:
        minute = _minute(event.when)
        if minute not in minutes and len(minutes) == max_minutes:
            yield chunk
            chunk, minutes = [], set()
        minutes.add(minute)
        chunk.append(event)
    if chunk:
        yield chunk


def _minute(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


def build_updates(
    endpoint_id: str,
    shard_id: str,
    stored: dict[str, Any] | None,
    chunk: Sequence[LiveEvent],
    identity: Identity,
    last_row: Callable[[int], tuple[Any, Any] | None],
    now: datetime,
) -> list[dict[str, Any]]:
    """The transaction for one chunk of one endpoint's events on one shard, given the meta item as read
    (``None``: none yet). Pure: returns ``Update`` bodies for :meth:`Endpoints.transact_write`."""
    stored = stored or {}
    guard = guard_attribute(shard_id)
    figures = Figures()
    buckets: dict[datetime, Figures] = {}
    for event in chunk:
        figures.add(event)
        buckets.setdefault(_minute(event.when), Figures()).add(event)

    first = to_iso(min(e.when for e in chunk))
    last = to_iso(max(e.when for e in chunk))
    old_first, old_last = stored.get("first_request"), stored.get("last_request")
    values: dict[str, Any] = {
        ":seq": padded_sequence(max(e.sequence for e in chunk)),
        ":first": min(first, old_first) if old_first else first,
        ":last": max(last, old_last) if old_last else last,
        ":requests": figures.requests,
        ":predictions": figures.predictions,
        ":errors": figures.errors,
        ":lsum": figures.latency_sum_us,
        ":lcount": figures.latency_count,
    }
    sets = ["#g = :seq", "#first_request = :first", "#last_request = :last"]
    sets += _identity_sets(identity, stored, now, values)
    conditions = [_unchanged("#g", stored.get(guard), ":old_seq", values)]
    conditions.append(_unchanged("#first_request", old_first, ":old_first", values))
    conditions.append(_unchanged("#last_request", old_last, ":old_last", values))

    latest = _latest_prediction(chunk)
    if latest is not None:
        at = to_iso(latest.when)
        old_at = stored.get("last_prediction_at")
        row = last_row(latest.position)
        if row is not None and (not old_at or at >= old_at):
            inputs, prediction = row
            values[":lp"] = json.dumps(prediction, separators=(",", ":"), allow_nan=False, default=str)
            values[":li"] = json.dumps(inputs, separators=(",", ":"), allow_nan=False, default=str)
            values[":lpa"] = at
            sets += ["#last_prediction = :lp", "#last_inputs = :li", "#last_prediction_at = :lpa"]
            conditions.append(_unchanged("#last_prediction_at", old_at, ":old_lpa", values))
    adds = [
        "#request_count :requests",
        "#prediction_count :predictions",
        "#error_count :errors",
        "#latency_sum_us :lsum",
        "#latency_count :lcount",
    ]
    expression = "SET " + ", ".join(sets) + " ADD " + ", ".join(adds)
    # Every attribute goes through a placeholder: several names (name, count...) are DynamoDB reserved words.
    tokens = re.findall(r"#[a-z_]+", expression + " " + " ".join(conditions))
    names = {token: token[1:] for token in tokens} | {"#g": guard}

    meta = {
        "Key": {"endpoint_id": to_value(endpoint_id), "sk": to_value(META)},
        "UpdateExpression": expression,
        "ConditionExpression": " AND ".join(conditions),
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": {k: to_value(v) for k, v in values.items()},
    }
    updates = [meta]
    for minute, bucket in sorted(buckets.items()):
        updates.append(
            {
                "Key": {"endpoint_id": to_value(endpoint_id), "sk": to_value(minute_key(minute))},
                "UpdateExpression": "ADD #requests :r, #predictions :p, #errors :e, #latency_sum_us :l,"
                " #latency_count :c SET #ttl = :ttl",
                "ExpressionAttributeNames": {
                    **{
                        f"#{name}": name
                        for name in ("requests", "predictions", "errors", "latency_sum_us", "latency_count")
                    },
                    "#ttl": TTL_ATTRIBUTE,
                },
                "ExpressionAttributeValues": {
                    ":r": to_value(bucket.requests),
                    ":p": to_value(bucket.predictions),
                    ":e": to_value(bucket.errors),
                    ":l": to_value(bucket.latency_sum_us),
                    ":c": to_value(bucket.latency_count),
                    ":ttl": to_value(int(minute.timestamp()) + BUCKET_TTL_SECONDS),
                },
            }
        )
    return updates


def _identity_sets(identity: Identity, stored: dict[str, Any], now: datetime, values: dict[str, Any]) -> list[str]:
    """``attr = if_not_exists(attr, value)`` for each identity field the meta item as read lacks (all of them for
    an endpoint never deployed, none in the steady state). A field the read saw is left out: fields are never
    removed from a meta item while it exists, and a deleted item fails the guard condition and is re-read, so
    leaving it out never loses a field; it keeps the steady-state update to the figures alone."""
    wanted = {
        "project": identity.project,
        "name": identity.name,
        "function_name": identity.function_name,
        "model_uri": identity.model_uri,
        "model_version": identity.model_version,
        "feature_names": identity.feature_names,
        "label_names": identity.label_names,
        "monitoring": True,
        "created": to_iso(now),
    }
    sets = []
    for attribute, value in wanted.items():
        if attribute not in stored:
            values[f":id_{attribute}"] = value
            sets.append(f"#{attribute} = if_not_exists(#{attribute}, :id_{attribute})")
    return sets


def _unchanged(attribute: str, old: Any, placeholder: str, values: dict[str, Any]) -> str:
    if old is None:
        return f"attribute_not_exists({attribute})"
    values[placeholder] = old
    return f"{attribute} = {placeholder}"


def _latest_prediction(chunk: Sequence[LiveEvent]) -> LiveEvent | None:
    with_rows = [e for e in chunk if not e.is_error and e.row_count > 0]
    return max(with_rows, key=lambda e: (e.when, e.position)) if with_rows else None


def apply_live_figures(
    clients: Clients,
    batch: DecodedBatch,
    *,
    now: datetime | None = None,
    max_attempts: int = MAX_ATTEMPTS,
    threads: int | None = None,
) -> LiveOutcome:
    """Count the batch's accepted records into the endpoints table (see the module doc). Raises
    :class:`StorageError` when DynamoDB keeps failing; what was committed before stays (guards advanced)."""
    endpoints = Endpoints(clients)
    outcome = LiveOutcome()
    streams: dict[tuple[str, str], list[LiveEvent]] = {}
    for event in events_of(batch):
        streams.setdefault((event.endpoint_id, event.shard_id), []).append(event)
    if not streams:
        return outcome
    at = now or clock.now()
    first_reads = endpoints.get_many_raw([endpoint_id for endpoint_id, _ in streams])
    for events in streams.values():
        events.sort(key=lambda e: e.sequence)
    identities = identities_of(batch, [events[-1].position for events in streams.values()])

    def one(key: tuple[str, str]) -> LiveOutcome:
        endpoint_id, shard_id = key
        events = streams[key]
        identity = identities[events[-1].position]
        mine = LiveOutcome(endpoints=[endpoint_id])
        stored = first_reads.get(endpoint_id)
        _apply_one(endpoints, endpoint_id, shard_id, events, identity, batch, at, max_attempts, mine, stored)
        return mine

    workers = max(1, min(threads or clients.settings.stream_threads, len(streams)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="live-figures") as pool:
        futures = [pool.submit(one, key) for key in streams]
    failure: BaseException | None = None
    for future in futures:  # every endpoint has finished: committed figures stay, the first failure is raised
        error = future.exception()
        if error is not None:
            failure = failure or error
            continue
        mine = future.result()
        outcome.applied += mine.applied
        outcome.skipped += mine.skipped
        outcome.transactions += mine.transactions
        outcome.conflicts += mine.conflicts
        outcome.endpoints.extend(mine.endpoints)
    if failure is not None:
        raise failure
    return outcome


def _apply_one(
    endpoints: Endpoints,
    endpoint_id: str,
    shard_id: str,
    events: list[LiveEvent],
    identity: Identity,
    batch: DecodedBatch,
    now: datetime,
    max_attempts: int,
    outcome: LiveOutcome,
    first_read: dict[str, Any] | None,
) -> None:
    attempts = applied = 0
    guard = guard_attribute(shard_id)
    stored, fresh = first_read, True
    while True:
        if not fresh:
            stored = endpoints.get_raw(endpoint_id)
        fresh = False
        applied_up_to = int((stored or {}).get(guard) or 0)
        pending = [e for e in events if e.sequence > applied_up_to]
        if not pending:
            outcome.skipped += len(events) - applied
            return
        chunk = next(chunks(pending))
        try:
            endpoints.transact_write(build_updates(endpoint_id, shard_id, stored, chunk, identity, batch.last_row, now))
        except ConflictError:
            attempts += 1
            outcome.conflicts += 1
            if attempts >= max_attempts:
                raise StorageError(
                    f"live figures of endpoint {endpoint_id}: still conflicting after {attempts} attempts"
                ) from None
            continue
        outcome.transactions += 1
        outcome.applied += len(chunk)
        applied += len(chunk)
        if len(chunk) == len(pending):  # all applied: no need to read the item back
            outcome.skipped += len(events) - applied
            return
