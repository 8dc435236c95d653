"""Read one window's rows from the events parquet dataset on S3 (the app function's only data access).

Layout (docs/architecture.md): ``s3://{bucket}/events/endpoint_id={id}/date={YYYY-MM-DD}/hour={HH}/
{shardId}-{firstSequence}-{firstTime}.parquet``. A window is read from the objects whose rows may fall in it and
from no other: one listing per hour partition the window touches, the time range of each object's rows from its
key (:func:`driftline.aws.events_store.window_objects`), then one GET per selected object (no HEAD, no footer
probe).

:class:`WindowSource` is one window. The built-in drift apps never load it whole: they build their sketches
object by object, row group by row group (:meth:`WindowSource.chunks`), so a window of any size fits in a
bounded memory; ``sample_df`` (:meth:`WindowSource.frame`) loads the window as one DataFrame, up to
``settings.sample_df_max_rows`` rows (past it: :class:`~driftline.errors.WindowTooLargeError`, saying what to
do). Objects are fetched a few at a time in parallel (S3 latency, not CPU, is what a read waits for) and their
bytes are kept for a second pass only while the window's objects add up to at most ``CACHE_BYTES``.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from driftline import layout
from driftline.aws import events_store
from driftline.aws.clients import Clients
from driftline.aws.events_store import EventObject
from driftline.errors import InvalidRequestError, WindowTooLargeError
from driftline.inference_event import TIMESTAMP_COLUMN

TIMESTAMP = TIMESTAMP_COLUMN
PARTITION_COLUMNS = layout.EVENT_PARTITIONS
CACHE_BYTES = 64 * 1024 * 1024  # a window whose objects add up to more is fetched again for a second pass
PARALLEL_GETS = 4  # objects in flight at once (each held whole while its row groups are read)
_SAFE_ID = re.compile(r"^[A-Za-z0-9_.-]+$")  # no '/', no shell wildcards: the id becomes part of a path


def window_hours(start: datetime, end: datetime) -> list[tuple[str, str]]:
    """The ``(date, hour)`` partitions that ``[start, end)`` overlaps, in order."""
    hour = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    end = end.astimezone(UTC)
    out: list[tuple[str, str]] = []
    while hour < end:
        out.append((hour.strftime("%Y-%m-%d"), hour.strftime("%H")))
        hour += timedelta(hours=1)
    return out


def _validate(endpoint_id: str, start: datetime, end: datetime) -> None:
    if not isinstance(endpoint_id, str) or not _SAFE_ID.match(endpoint_id):
        raise InvalidRequestError(f"endpoint id {endpoint_id!r}: expected letters, digits, '_', '-' or '.'")
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidRequestError("window: expected timezone-aware start and end times")
    if start >= end:
        raise InvalidRequestError(f"window: start {start.isoformat()} must be before end {end.isoformat()}")


class WindowSource:
    """The rows of one endpoint with ``start <= timestamp < end``, read from the objects that may hold them."""

    def __init__(
        self,
        clients: Clients,
        endpoint_id: str,
        start: datetime,
        end: datetime,
        *,
        cache_bytes: int = CACHE_BYTES,
        max_rows: int | None = None,
    ) -> None:
        _validate(endpoint_id, start, end)
        self.clients = clients
        self.endpoint_id = endpoint_id
        self.start = start.astimezone(UTC)
        self.end = end.astimezone(UTC)
        self.cache_bytes = cache_bytes
        self.max_rows = clients.settings.sample_df_max_rows if max_rows is None else max_rows
        self._objects: list[EventObject] | None = None
        self._cache: dict[str, bytes] = {}
        self.gets = 0  # objects fetched (a figure for logs and benchmarks)

    # ------------------------------------------------------------------------------------------- objects
    @property
    def objects(self) -> list[EventObject]:
        """The objects whose rows may fall in the window (listed once)."""
        if self._objects is None:
            self._objects = events_store.window_objects(self.clients, self.endpoint_id, self.start, self.end)
        return self._objects

    def _fetch(self, key: str) -> bytes:
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        body = events_store.read_object(self.clients, key)
        self.gets += 1
        if sum(o.size for o in self.objects) <= self.cache_bytes:
            self._cache[key] = body
        return body

    def _bodies(self, ahead: int = PARALLEL_GETS) -> Iterator[tuple[str, bytes]]:
        """Each object's bytes in key order, at most ``ahead`` fetched at once."""
        keys = [o.key for o in self.objects]
        if len(keys) <= 1 or ahead <= 1:
            for key in keys:
                yield key, self._fetch(key)
            return
        with ThreadPoolExecutor(max_workers=min(ahead, len(keys))) as pool:
            pending = deque(pool.submit(self._fetch, key) for key in keys[:ahead])
            following = len(pending)
            try:
                for key in keys:
                    body = pending.popleft().result()
                    if following < len(keys):
                        pending.append(pool.submit(self._fetch, keys[following]))
                        following += 1
                    yield key, body
            finally:  # a reader that stops early (is_empty) does not wait for the objects it will not read
                for future in pending:
                    future.cancel()

    # ------------------------------------------------------------------------------------------- rows
    def tables(self, columns: Sequence[str] | None = None, ahead: int = PARALLEL_GETS) -> Iterator[pa.Table]:
        """The window's rows as arrow tables, one per row group of each object with rows in the window (only
        ``columns`` and the timestamp when given; a column an object lacks is left out of that table)."""
        for key, body in self._bodies(ahead):
            parquet = pq.ParquetFile(pa.BufferReader(body))
            names = parquet.schema_arrow.names
            if TIMESTAMP not in names:
                raise InvalidRequestError(
                    f"event object s3://{self.clients.settings.bucket}/{key}: expected a {TIMESTAMP!r} column"
                )
            wanted = None if columns is None else [TIMESTAMP, *(c for c in columns if c in names and c != TIMESTAMP)]
            for index in range(parquet.num_row_groups):
                table = parquet.read_row_group(index, columns=wanted)
                stamps = table.column(TIMESTAMP)
                if stamps.type.tz is None:  # written without a zone: the contract says UTC
                    stamps = pc.assume_timezone(stamps, "UTC")
                low = pa.scalar(self.start, type=stamps.type)
                high = pa.scalar(self.end, type=stamps.type)
                mask = pc.and_(pc.greater_equal(stamps, low), pc.less(stamps, high))
                table = table.filter(mask)
                if table.num_rows:
                    yield table.drop_columns([c for c in PARTITION_COLUMNS if c in table.column_names])

    def chunks(self, columns: Sequence[str] | None = None) -> Iterator[pd.DataFrame]:
        """The window's rows in pieces (one row group at a time), as DataFrames; unsorted."""
        for table in self.tables(columns):
            yield table.to_pandas()

    def is_empty(self) -> bool:
        """True when no row falls in the window (stops at the first object that has one)."""
        return next(self.tables([TIMESTAMP], ahead=1), None) is None

    def frame(self) -> pd.DataFrame:
        """The whole window as one DataFrame, sorted by timestamp (stable). No objects: an empty DataFrame with
        no columns; objects but no rows in the window: an empty DataFrame with their columns. More than
        ``max_rows`` rows: :class:`WindowTooLargeError`."""
        if not self.objects:
            return pd.DataFrame()
        parts: list[pa.Table] = []
        rows = 0
        schema: pa.Schema | None = None
        for table in self.tables():
            rows += table.num_rows
            if rows > self.max_rows:
                raise WindowTooLargeError(
                    f"window {self.start.isoformat()} - {self.end.isoformat()} of endpoint {self.endpoint_id!r} "
                    f"has more than {self.max_rows} rows, the most sample_df loads (settings.sample_df_max_rows); "
                    "read it in pieces with monitoring_context.iter_chunks(columns) (what the built-in drift apps "
                    "do), use a shorter base_period, or raise DRIFTLINE_SAMPLE_DF_MAX_ROWS with the app "
                    "function's memory"
                )
            parts.append(table)
        if not parts:
            body = self._fetch(self.objects[0].key)
            schema = pq.ParquetFile(pa.BufferReader(body)).schema_arrow
            columns = [c for c in schema.names if c not in PARTITION_COLUMNS]
            return pd.DataFrame(columns=columns)
        combined = pa.concat_tables(parts, promote_options="permissive") if len(parts) > 1 else parts[0]
        df = combined.to_pandas()
        return df.sort_values(TIMESTAMP, kind="stable").reset_index(drop=True)


def read_window(clients: Clients, endpoint_id: str, start: datetime, end: datetime) -> pd.DataFrame:
    """The endpoint's rows with ``start <= timestamp < end``, sorted by timestamp (:meth:`WindowSource.frame`)."""
    return WindowSource(clients, endpoint_id, start, end).frame()
