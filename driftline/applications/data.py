"""Read one window's rows from the events parquet dataset on S3 (the app function's only data access).

Layout (docs/architecture.md): ``s3://{bucket}/events/endpoint_id={id}/date={YYYY-MM-DD}/hour={HH}/*.parquet``.
Only the hour partitions the window overlaps are read (listing is limited to the window's date when it has
one). awswrangler makes its own S3 clients from the boto3 session it is given; the session here is one per
thread whose S3 endpoint follows ``settings.endpoint_url`` (moto on loopback locally), so no process-wide
``wr.config`` is changed.
"""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import awswrangler as wr
import boto3
import pandas as pd
import pyarrow as pa

from driftline import layout
from driftline.aws.clients import Clients
from driftline.config import Credentials, Settings
from driftline.errors import InvalidRequestError
from driftline.inference_event import TIMESTAMP_COLUMN

TIMESTAMP = TIMESTAMP_COLUMN
_SAFE_ID = re.compile(r"^[A-Za-z0-9_.-]+$")  # no '/', no shell wildcards: the id becomes part of a path
_local = threading.local()


def _s3_endpoint_hook(endpoint_url: str) -> Any:
    def set_endpoint(builtins: dict[str, Any], **_: Any) -> None:
        builtins["SDK::Endpoint"] = endpoint_url

    return set_endpoint


def boto3_session(settings: Settings) -> boto3.session.Session:
    """A boto3 session (one per thread: sessions are not thread-safe) with the settings' credentials (or the
    environment's) whose S3 clients use ``settings.endpoint_url``.

    awswrangler creates its clients from the session with no ``endpoint_url`` of its own unless
    ``wr.config.s3_endpoint_url`` is set (process-wide); a ``before-endpoint-resolution.s3`` hook on this
    session points exactly its clients at the configured endpoint instead."""
    sessions: dict[tuple[str, str | None, Credentials | None], boto3.session.Session] = (
        getattr(_local, "sessions", None) or {}
    )
    _local.sessions = sessions
    region, endpoint_url, credentials = settings.region, settings.endpoint_url, settings.credentials
    key = (region, endpoint_url, credentials)
    session = sessions.get(key)
    if session is None:
        session = boto3.session.Session(
            region_name=region,
            aws_access_key_id=credentials.access_key_id if credentials else None,
            aws_secret_access_key=credentials.secret_access_key if credentials else None,
            aws_session_token=credentials.session_token if credentials else None,
        )
        if endpoint_url:
            session.events.register("before-endpoint-resolution.s3", _s3_endpoint_hook(endpoint_url))
        sessions[key] = session
    return session


def window_hours(start: datetime, end: datetime) -> list[tuple[str, str]]:
    """The ``(date, hour)`` partitions that ``[start, end)`` overlaps, in order."""
    hour = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    end = end.astimezone(UTC)
    out: list[tuple[str, str]] = []
    while hour < end:
        out.append((hour.strftime("%Y-%m-%d"), hour.strftime("%H")))
        hour += timedelta(hours=1)
    return out


def _arrow_type_for_pandas(arrow_type: pa.DataType) -> Any:
    # Zoned timestamps stay Arrow-backed through awswrangler (its mutability check reads ``Series.values``,
    # which pandas 3.1 deprecates for zoned datetimes) and become datetime64 afterwards. Everything else gets
    # the plain numpy/pandas dtypes pandas.read_parquet gives (awswrangler's default nullable dtypes make
    # np.histogram and friends fail on a missing value).
    if pa.types.is_timestamp(arrow_type) and arrow_type.tz is not None:
        return pd.ArrowDtype(arrow_type)
    return None


def _to_datetime64(df: pd.DataFrame) -> pd.DataFrame:
    for column in df.columns:
        dtype = df[column].dtype
        if isinstance(dtype, pd.ArrowDtype) and pa.types.is_timestamp(dtype.pyarrow_dtype):
            arrow = dtype.pyarrow_dtype
            df[column] = df[column].astype(pd.DatetimeTZDtype(unit=arrow.unit, tz=arrow.tz))
    return df


def read_window(clients: Clients, endpoint_id: str, start: datetime, end: datetime) -> pd.DataFrame:
    """The endpoint's rows with ``start <= timestamp < end``, sorted by timestamp, partition columns dropped.

    No files in the window's hours: an empty DataFrame with no columns. Files but no rows in the window: an
    empty DataFrame with the dataset's columns."""
    if not isinstance(endpoint_id, str) or not _SAFE_ID.match(endpoint_id):
        raise InvalidRequestError(f"endpoint id {endpoint_id!r}: expected letters, digits, '_', '-' or '.'")
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidRequestError("window: expected timezone-aware start and end times")
    if start >= end:
        raise InvalidRequestError(f"window: start {start.isoformat()} must be before end {end.isoformat()}")
    settings = clients.settings
    root = f"s3://{settings.bucket}/{layout.EVENTS_PREFIX}"
    hours = window_hours(start, end)
    wanted = set(hours)
    dates = {d for d, _ in hours}
    prefix = f"{root}endpoint_id={endpoint_id}/"
    if len(dates) == 1:
        prefix += f"date={next(iter(dates))}/"

    def in_window(partitions: dict[str, str]) -> bool:
        return (
            partitions.get("endpoint_id") == endpoint_id and (partitions.get("date"), partitions.get("hour")) in wanted
        )

    try:
        df = wr.s3.read_parquet(
            path=prefix,
            path_root=root,
            dataset=True,
            partition_filter=in_window,
            path_suffix=".parquet",
            use_threads=True,
            boto3_session=boto3_session(settings),
            pyarrow_additional_kwargs={"types_mapper": _arrow_type_for_pandas},
        )
    except wr.exceptions.NoFilesFound:
        return pd.DataFrame()
    df = _to_datetime64(df.drop(columns=[c for c in layout.EVENT_PARTITIONS if c in df.columns]))
    if TIMESTAMP not in df.columns:
        raise InvalidRequestError(f"events dataset under {prefix}: expected a {TIMESTAMP!r} column")
    stamps = df[TIMESTAMP]
    if getattr(stamps.dt, "tz", None) is None:  # written without a zone: the contract says UTC
        stamps = stamps.dt.tz_localize(UTC)
    df = df[(stamps >= pd.Timestamp(start)) & (stamps < pd.Timestamp(end))]
    return df.sort_values(TIMESTAMP, kind="stable").reset_index(drop=True)
