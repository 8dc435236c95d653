"""The inference dataset on S3, one object per (endpoint, hour, shard) group of a Kinesis batch:
``events/endpoint_id={id}/date={YYYY-MM-DD}/hour={HH}/{shardId}-{firstSequence}-{firstTime}.parquet``
(``firstTime``: the first row's timestamp, ``YYYYMMDDTHHMMSS.ffffffZ``).

Written with pyarrow + ``put_object`` under a deterministic key (awswrangler's dataset mode would add a
random uuid to every name, so a redelivered batch would leave a duplicate file). The folder reads back as one
Hive-partitioned dataset with ``pandas.read_parquet("s3://{bucket}/events/")`` or
``awswrangler.s3.read_parquet(..., dataset=True)``; ``endpoint_id``, ``date`` and ``hour`` come back as
partition columns.

Why the key makes redelivery exact: ``firstSequence`` is the sequence number of the first record of the
group in *this* batch. Kinesis redelivers a failed batch from the record the function reported (always the
batch's first record), so the redelivery regroups the same records from the same first record and overwrites
the same key. When Lambda bisects a failed batch, the first half's group starts at the same record and
overwrites the key with a subset of its rows; the rows it no longer holds are in the second half, where their
group starts at a later record, hence under a new key. Either way every row ends up in exactly one object.
``firstTime`` is the timestamp of that same first record's rows (one record is one request, its rows share the
request's start time), so it is as deterministic as the sequence number.

Why the key bounds an object's rows in time (:func:`window_objects`, what lets a window read only the objects
it needs): an endpoint's records go to one shard (partition key = endpoint id) and its objects in one hour
partition come from successive batches, in sequence order. A request's event reaches Kinesis at most
``max_event_delay`` after the request started (the serving timeout plus the put's retries; the controller's
window rules already take events later than that as lost). So every row of object ``i`` started at or after
``firstTime_i - max_event_delay`` (its record arrived after the object's first record, which arrived after its
own request started) and at or before ``firstTime_{i+1} + max_event_delay`` (its record arrived before the next
object's first record, which arrived at most the delay after its request started). The last object of a shard
in an hour is bounded by the hour's end. Objects whose name carries no time (written before the time was in the
key) are read whenever their hour overlaps the window.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq

from driftline import layout
from driftline.aws.clients import Clients
from driftline.aws.failures import storage_errors

EVENTS_PREFIX = layout.EVENTS_PREFIX
COMPRESSION = "snappy"
# Dictionary-encode only what repeats (request ids and feature values rarely do); min/max statistics only on
# the timestamp, the column window reads filter on. Together they halve the cost of writing a small file.
_WRITE_OPTIONS = {"use_dictionary": ["model_version"], "write_statistics": ["timestamp"]}


def hour_prefix(endpoint_id: str, hour_start: datetime) -> str:
    """The partition folder of one endpoint's hour (``hour_start`` in any zone; the layout is UTC)."""
    hour = hour_start.astimezone(UTC)
    return f"{EVENTS_PREFIX}endpoint_id={endpoint_id}/date={hour:%Y-%m-%d}/hour={hour:%H}/"


KEY_TIME_FORMAT = "%Y%m%dT%H%M%S.%fZ"
_NAME = re.compile(r"^(?P<shard>.+)-(?P<sequence>[0-9]{1,128})-(?P<time>[0-9]{8}T[0-9]{6}\.[0-9]{6}Z)\.parquet$")


def event_key(
    endpoint_id: str, hour_start: datetime, shard_id: str, first_sequence: str, first_time: datetime | None = None
) -> str:
    """The object of one group: its hour partition, the shard and sequence number of its first record and, when
    known, that record's timestamp (what bounds the object's rows in time)."""
    name = f"{shard_id}-{first_sequence}"
    if first_time is not None:
        name += f"-{first_time.astimezone(UTC).strftime(KEY_TIME_FORMAT)}"
    return f"{hour_prefix(endpoint_id, hour_start)}{name}.parquet"


def first_row_time(table: pa.Table) -> datetime | None:
    """The timestamp of a group's first row (its first record's request start), None without one."""
    if "timestamp" not in table.column_names or table.num_rows == 0:
        return None
    value = table.column("timestamp")[0].as_py()
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def dataset_uri(clients: Clients) -> str:
    """The dataset root for ``pandas.read_parquet`` / ``wr.s3.read_parquet(dataset=True)``."""
    return f"s3://{clients.settings.bucket}/{EVENTS_PREFIX}"


def to_parquet_bytes(table: pa.Table) -> bytes:
    """The stored form of one group: a single parquet file, snappy-compressed."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression=COMPRESSION, **_WRITE_OPTIONS)
    return sink.getvalue().to_pybytes()


def write_group(
    clients: Clients, endpoint_id: str, hour_start: datetime, shard_id: str, first_sequence: str, table: pa.Table
) -> str:
    """Write one group's rows under its deterministic key (overwriting a previous delivery); returns the key."""
    key = event_key(endpoint_id, hour_start, shard_id, first_sequence, first_row_time(table))
    return write_object(clients, key, to_parquet_bytes(table), "application/vnd.apache.parquet")


def write_object(clients: Clients, key: str, body: bytes, content_type: str) -> str:
    """Put one object of the stream's (overwriting what is there); a failure after botocore's retries raises
    :class:`StorageError`. Returns the key."""
    with storage_errors(f"writing s3://{clients.settings.bucket}/{key}"):
        clients.s3.put_object(Bucket=clients.settings.bucket, Key=key, Body=body, ContentType=content_type)
    return key


def hour_prefixes(endpoint_id: str, start: datetime, end: datetime) -> list[str]:
    """The partition folders holding rows with ``start <= timestamp < end`` (every hour the range touches)."""
    hour = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    prefixes = []
    while hour < end:
        prefixes.append(hour_prefix(endpoint_id, hour))
        hour += timedelta(hours=1)
    return prefixes


def list_keys(
    clients: Clients, endpoint_id: str | None = None, start: datetime | None = None, end: datetime | None = None
) -> list[str]:
    """Event object keys, sorted: all, one endpoint's, or one endpoint's for the hours ``[start, end)`` touches."""
    if endpoint_id is None:
        prefixes = [EVENTS_PREFIX]
    elif start is None or end is None:
        prefixes = [f"{EVENTS_PREFIX}endpoint_id={endpoint_id}/"]
    else:
        prefixes = hour_prefixes(endpoint_id, start, end)
    keys: list[str] = []
    paginator = clients.s3.get_paginator("list_objects_v2")
    for prefix in prefixes:
        with storage_errors(f"listing s3://{clients.settings.bucket}/{prefix}"):
            for page in paginator.paginate(Bucket=clients.settings.bucket, Prefix=prefix):
                keys.extend(obj["Key"] for obj in page.get("Contents", []) if obj["Key"].endswith(".parquet"))
    return sorted(keys)


# ------------------------------------------------------------------------------------------------ window reads


@dataclass(frozen=True)
class EventObject:
    """One event object of a window read, with the time range its rows are known to lie in (``low <= t <=
    high``, from the keys: see the module's docstring)."""

    key: str
    size: int
    low: datetime
    high: datetime

    def overlaps(self, start: datetime, end: datetime) -> bool:
        return self.low < end and self.high >= start


@dataclass(frozen=True)
class _Listed:
    key: str
    size: int
    hour_start: datetime
    shard_id: str | None = None
    sequence: int | None = None
    first_time: datetime | None = None


def _parse(key: str, size: int, hour_start: datetime) -> _Listed:
    match = _NAME.match(key.rsplit("/", 1)[-1])
    if match is None:
        return _Listed(key, size, hour_start)
    first_time = datetime.strptime(match["time"], KEY_TIME_FORMAT).replace(tzinfo=UTC)
    return _Listed(key, size, hour_start, match["shard"], int(match["sequence"]), first_time)


def bound_objects(listed: Iterable[_Listed], max_delay: timedelta) -> list[EventObject]:
    """Each listed object with the time range of its rows (see the module's docstring), in key order."""
    out: list[EventObject] = []
    chains: dict[tuple[datetime, str], list[_Listed]] = {}
    for item in listed:
        hour_end = item.hour_start + timedelta(hours=1)
        if item.shard_id is None or item.sequence is None or item.first_time is None:
            out.append(EventObject(item.key, item.size, item.hour_start, hour_end))
        else:
            chains.setdefault((item.hour_start, item.shard_id), []).append(item)
    for (hour_start, _), chain in chains.items():
        hour_end = hour_start + timedelta(hours=1)
        chain.sort(key=lambda x: x.sequence or 0)
        for index, item in enumerate(chain):
            assert item.first_time is not None
            low = max(hour_start, item.first_time - max_delay)
            following = chain[index + 1].first_time if index + 1 < len(chain) else None
            high = hour_end if following is None else min(hour_end, following + max_delay)
            out.append(EventObject(item.key, item.size, low, high))
    return sorted(out, key=lambda o: o.key)


def window_objects(
    clients: Clients, endpoint_id: str, start: datetime, end: datetime, max_delay: timedelta | None = None
) -> list[EventObject]:
    """The event objects of one endpoint that may hold rows with ``start <= timestamp < end``, from one listing
    per hour partition the window touches (no object is opened): the objects whose key-derived time range
    overlaps the window."""
    delay = max_delay if max_delay is not None else timedelta(seconds=clients.settings.max_event_delay_seconds)
    listed: list[_Listed] = []
    paginator = clients.s3.get_paginator("list_objects_v2")
    hour = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    while hour < end:
        prefix = hour_prefix(endpoint_id, hour)
        with storage_errors(f"listing s3://{clients.settings.bucket}/{prefix}"):
            for page in paginator.paginate(Bucket=clients.settings.bucket, Prefix=prefix):
                for obj in page.get("Contents", []):
                    if obj["Key"].endswith(".parquet"):
                        listed.append(_parse(obj["Key"], int(obj.get("Size", 0)), hour))
        hour += timedelta(hours=1)
    return [o for o in bound_objects(listed, delay) if o.overlaps(start, end)]


def read_object(clients: Clients, key: str) -> bytes:
    """One object's bytes (one GET)."""
    with storage_errors(f"reading s3://{clients.settings.bucket}/{key}"):
        return clients.s3.get_object(Bucket=clients.settings.bucket, Key=key)["Body"].read()
