"""The stream's memory of recently stored requests, one S3 object per shard:
``state/recent-requests/{shardId}.bin`` (format and rules: :mod:`driftline.stream.dedup`).

S3 rather than DynamoDB: the object is rewritten after every batch and grows with traffic (16 bytes per
request in the last minute); an S3 PUT costs the same at 1 KB or 900 KB, a DynamoDB write costs a unit per
KB and stops at 400 KB. Only the shard's stream processor writes it (one per shard,
``parallelization_factor=1``), so no conditional write is needed.
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from driftline import layout
from driftline.aws.clients import Clients
from driftline.aws.events_store import write_object
from driftline.aws.failures import error_code, storage_errors

PREFIX = layout.RECENT_REQUESTS_PREFIX


def state_key(shard_id: str) -> str:
    return f"{PREFIX}{shard_id}.bin"


def load(clients: Clients, shard_id: str) -> bytes | None:
    """The stored bytes, or ``None`` when nothing was stored from this shard yet."""
    key = state_key(shard_id)
    with storage_errors(f"reading s3://{clients.settings.bucket}/{key}"):
        try:
            return bytes(clients.s3.get_object(Bucket=clients.settings.bucket, Key=key)["Body"].read())
        except ClientError as exc:
            if error_code(exc) in {"NoSuchKey", "404"}:
                return None
            raise


def save(clients: Clients, shard_id: str, data: bytes) -> str:
    return write_object(clients, state_key(shard_id), data, "application/octet-stream")
