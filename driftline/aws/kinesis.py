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
