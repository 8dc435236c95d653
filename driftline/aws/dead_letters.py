"""The stream-failures queue (SQS) for records that can never be processed.

One message per poison record: a JSON body with the record's ``event_id``, ``shard_id``, ``sequence_number``,
``partition_key``, the ``reason`` (what was expected) and the raw ``data`` exactly as Kinesis delivered it
(base64), plus message attributes ``event_id`` and ``reason`` for filtering. SQS caps a message at 256 KiB;
a larger record's data is cut (``data_truncated: true``) and its ``data_sha256`` kept so it can be found in
the stream's retention window. Delivery is at least once: a batch retried after a storage failure sends its
poison records again, and ``event_id`` identifies duplicates.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from driftline.aws.clients import Clients
from driftline.aws.failures import storage_errors
from driftline.errors import StorageError

if TYPE_CHECKING:
    from types_boto3_sqs.type_defs import MessageAttributeValueTypeDef

MAX_DATA_CHARS = 200_000  # leaves room for the envelope under SQS's 262,144-byte limit
SOURCE = "driftline.stream"


def poison_message(
    *, event_id: str, shard_id: str, sequence_number: str, partition_key: str, reason: str, data: str
) -> dict[str, Any]:
    """The message body for one poison record (plain JSON-serialisable dict)."""
    truncated = len(data) > MAX_DATA_CHARS
    return {
        "source": SOURCE,
        "event_id": event_id,
        "shard_id": shard_id,
        "sequence_number": sequence_number,
        "partition_key": partition_key,
        "reason": reason,
        "data": data[:MAX_DATA_CHARS],
        "data_truncated": truncated,
        "data_sha256": hashlib.sha256(data.encode("utf-8", "surrogatepass")).hexdigest(),
    }


class DeadLetters:
    """Sends poison records to ``settings.queue_url("stream-failures")`` (the stream-failures queue, which the stream
    function's role may send to); without a queue, :attr:`configured` is False and the caller only logs."""

    def __init__(self, clients: Clients) -> None:
        self._clients = clients
        self.queue_url = clients.settings.queue_url("stream-failures")

    @property
    def configured(self) -> bool:
        return bool(self.queue_url)

    def send(self, message: Mapping[str, Any]) -> str:
        """Send one message (see :func:`poison_message`); returns the SQS message id."""
        if not self.configured:
            raise StorageError("no dead-letter queue configured (DRIFTLINE_STREAM_FAILURES_QUEUE_URL)")
        attributes: dict[str, MessageAttributeValueTypeDef] = {
            name: {"DataType": "String", "StringValue": str(message[name])[:256] or "-"}
            for name in ("event_id", "reason")
            if name in message
        }
        with storage_errors(f"sending a poison record to {self.queue_url}"):
            response = self._clients.sqs.send_message(
                QueueUrl=self.queue_url,
                MessageBody=json.dumps(message, separators=(",", ":")),
                MessageAttributes=attributes,
            )
        return str(response.get("MessageId", ""))
