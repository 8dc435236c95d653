"""The inference dataset on S3, one object per (endpoint, hour, shard) group of a Kinesis batch:
``events/endpoint_id={id}/date={YYYY-MM-DD}/hour={HH}/{shardId}-{firstSequence}.parquet``.

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
"""

from __future__ import annotations

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


def event_key(endpoint_id: str, hour_start: datetime, shard_id: str, first_sequence: str) -> str:
    return f"{hour_prefix(endpoint_id, hour_start)}{shard_id}-{first_sequence}.parquet"


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
    key = event_key(endpoint_id, hour_start, shard_id, first_sequence)
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
