"""Kinesis writes: one record per served request (the serving function's tracking).

botocore already retries throttling and 5xx with backoff (``CLIENT_CONFIG``: standard mode, 5 attempts). A
put that still fails is retried here a few more times with jittered exponential backoff, because a lost
event is lost monitoring data; errors that can never succeed (a missing stream, a bad request, denied
access) are not retried. What still fails raises :class:`StorageError` for the caller to count and log.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from driftline.aws.clients import Clients
from driftline.errors import PayloadTooLargeError, StorageError

# A record's data blob plus its partition key may be at most 1 MiB.
MAX_RECORD_BYTES = 1024 * 1024
ATTEMPTS = 3
BASE_DELAY_SECONDS = 0.05

# Retrying these cannot help: the request itself, the stream or the permissions are wrong.
_PERMANENT_ERRORS = frozenset(
    {
        "ResourceNotFoundException",
        "ValidationException",
        "InvalidArgumentException",
        "AccessDeniedException",
        "KMSAccessDeniedException",
        "KMSDisabledException",
        "KMSInvalidStateException",
        "KMSNotFoundException",
        "UnrecognizedClientException",
    }
)


def record_size(partition_key: str, data: bytes) -> int:
    """The bytes a record counts against Kinesis's 1 MiB limit."""
    return len(data) + len(partition_key.encode())


def put_event(
    clients: Clients,
    stream_name: str,
    partition_key: str,
    data: bytes,
    *,
    attempts: int = ATTEMPTS,
    base_delay_seconds: float = BASE_DELAY_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Put one record; returns ``{"ShardId", "SequenceNumber"}``.

    Raises :class:`PayloadTooLargeError` for a record over 1 MiB (without calling Kinesis) and
    :class:`StorageError` once every attempt has failed (or at once for an error that cannot succeed).
    """
    size = record_size(partition_key, data)
    if size > MAX_RECORD_BYTES:
        raise PayloadTooLargeError(
            f"the tracking event is {size} bytes, over Kinesis's {MAX_RECORD_BYTES}-byte record limit; "
            "split the request into smaller ones"
        )
    client = clients.kinesis
    last: Exception | None = None
    for attempt in range(max(1, attempts)):
        if attempt:
            # full jitter: spreads retries of many concurrent containers over the window
            sleep(random.uniform(0, base_delay_seconds * 2 ** (attempt - 1)))
        try:
            response = client.put_record(StreamName=stream_name, Data=data, PartitionKey=partition_key)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in _PERMANENT_ERRORS:
                raise StorageError(f"put_record to stream {stream_name!r} failed with {code}: {exc}") from exc
            last = exc
        except BotoCoreError as exc:  # connection errors and timeouts, after botocore's own retries
            last = exc
        else:
            return {"ShardId": response["ShardId"], "SequenceNumber": response["SequenceNumber"]}
    raise StorageError(
        f"put_record to stream {stream_name!r} failed after {max(1, attempts)} attempts: {last}"
    ) from last


MAX_RECORDS_PER_PUT = 500  # PutRecords: at most 500 records ...
MAX_BYTES_PER_PUT = 5 * 1024 * 1024  # ... and 5 MiB (data and partition keys) per call


def put_records(
    clients: Clients,
    stream_name: str,
    partition_key: str,
    records: list[bytes],
    *,
    attempts: int = 5,
    base_delay_seconds: float = 0.1,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Put ``records`` (each at most 1 MiB with its key; callers check) under one partition key, in order, with
    PutRecords calls of at most 500 records and 5 MiB. The entries a call failed (throttled on the shard) are
    put again, in order, after a jittered backoff. Returns how many were put; raises :class:`StorageError`
    saying how many were put when some still failed after ``attempts``."""
    key_bytes = len(partition_key.encode())
    chunks: list[list[bytes]] = [[]]
    size = 0
    for data in records:
        if len(chunks[-1]) >= MAX_RECORDS_PER_PUT or size + len(data) + key_bytes > MAX_BYTES_PER_PUT:
            chunks.append([])
            size = 0
        chunks[-1].append(data)
        size += len(data) + key_bytes
    client = clients.kinesis
    put = 0
    for chunk in chunks:
        pending = chunk
        for attempt in range(max(1, attempts)):
            if attempt:
                sleep(random.uniform(0, base_delay_seconds * 2 ** (attempt - 1)))
            try:
                response = client.put_records(
                    StreamName=stream_name,
                    Records=[{"Data": data, "PartitionKey": partition_key} for data in pending],
                )
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                if code in _PERMANENT_ERRORS or attempt == attempts - 1:
                    raise StorageError(
                        f"put_records to stream {stream_name!r} failed with {code} after {put} of {len(records)} "
                        f"records were put: {exc}"
                    ) from exc
                continue
            except BotoCoreError as exc:
                if attempt == attempts - 1:
                    raise StorageError(
                        f"put_records to stream {stream_name!r} failed after {put} of {len(records)} records were "
                        f"put: {exc}"
                    ) from exc
                continue
            failed = [data for data, entry in zip(pending, response["Records"], strict=True) if "ErrorCode" in entry]
            put += len(pending) - len(failed)
            pending = failed
            if not pending:
                break
        if pending:
            raise StorageError(
                f"put_records to stream {stream_name!r}: {len(pending)} records still failed after {attempts} "
                f"attempts ({put} of {len(records)} were put)"
            )
    return put
