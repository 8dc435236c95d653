"""The controller's checkpoints (checkpoints table, pk ``endpoint#{endpoint_id}``, sk ``app#{application_name}``):
``last_analyzed`` (ISO) is the end of the last window handled for that (endpoint, app) pair, plus ``updated_at``.

Every change is conditional on the value the caller last read, so two overlapping controller runs cannot both
move the same pair: the second one's :meth:`Checkpoints.advance` returns False and it leaves the pair alone.

Each update also writes a fresh ``claim`` token. When DynamoDB applied an update but its answer was lost (a 5xx
or a timeout after the write), botocore's retry fails the condition on the run's *own* write; the token tells
the two apart, so that run still owns the window instead of leaving it claimed and never sent.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from driftline.aws.clients import Clients
from driftline.aws.dynamo import batch_get_all, from_item, to_value
from driftline.aws.failures import error_code, storage_errors
from driftline.schemas import parse_time, to_iso

if TYPE_CHECKING:
    from types_boto3_dynamodb.type_defs import AttributeValueTypeDef


def checkpoint_key(endpoint_id: str, application_name: str) -> dict[str, AttributeValueTypeDef]:
    return {"pk": to_value(f"endpoint#{endpoint_id}"), "sk": to_value(f"app#{application_name}")}


def last_analyzed_of(item: dict[str, Any] | None) -> datetime | None:
    """A checkpoint item's ``last_analyzed`` (None: never analysed)."""
    if not item or not item.get("last_analyzed"):
        return None
    return parse_time(item["last_analyzed"], "checkpoint last_analyzed")


def pending_of(item: dict[str, Any] | None) -> Pending | None:
    """A checkpoint item's pending window, if a run claimed one and did not confirm its app call."""
    if not item or not item.get("pending_end"):
        return None
    return Pending(
        start=parse_time(item["pending_start"], "checkpoint pending_start"),
        end=parse_time(item["pending_end"], "checkpoint pending_end"),
        since=parse_time(item["pending_since"], "checkpoint pending_since"),
    )


@dataclass(frozen=True)
class Pending:
    """A window claimed for an app call that has not been confirmed sent (``pending_*`` attributes)."""

    start: datetime
    end: datetime
    since: datetime


class Checkpoints:
    def __init__(self, clients: Clients) -> None:
        self._db = clients.dynamodb
        self._table = clients.settings.table("checkpoints")

    @property
    def table(self) -> str:
        return self._table

    def get(self, endpoint_id: str, application_name: str) -> datetime | None:
        """The pair's ``last_analyzed``, or None when it has never been analysed."""
        return last_analyzed_of(self._item(endpoint_id, application_name))

    def get_many(self, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        """The checkpoint items of many (endpoint, app) pairs, read consistently with one ``BatchGetItem`` per
        100 pairs (the controller's one read per shard); a pair never analysed is absent from the answer. Read
        :func:`last_analyzed_of` and :func:`pending_of` from an item."""
        keys = [checkpoint_key(e, a) for e, a in pairs]
        with storage_errors(f"reading {len(keys)} checkpoints from {self._table}"):
            found = batch_get_all(self._db, self._table, keys, key_names=("pk", "sk"))
        return {
            (str(pk).removeprefix("endpoint#"), str(sk).removeprefix("app#")): item for (pk, sk), item in found.items()
        }

    def advance(
        self,
        endpoint_id: str,
        application_name: str,
        previous: datetime | None,
        new: datetime,
        updated_at: datetime | None = None,
        *,
        pending_start: datetime | None = None,
        drop_pending: bool = False,
    ) -> bool:
        """Set ``last_analyzed = new`` only if it still equals ``previous`` (or, for None, no checkpoint exists).

        Returns False when another run changed it first; the caller then leaves the pair to that run. Also used
        backwards, to hand a claimed window back (``previous`` = the claimed end, ``new`` = its start).

        ``pending_start`` marks the claimed window ``[pending_start, new)`` as pending until :meth:`clear_pending`
        confirms its app call went out; ``drop_pending`` removes a pending mark (a hand-back).
        """
        claim = uuid.uuid4().hex
        values = {
            ":new": to_value(to_iso(new)),
            ":at": to_value(to_iso(updated_at or new)),
            ":claim": to_value(claim),
        }
        if previous is None:
            condition = "attribute_not_exists(pk)"
        else:
            condition = "last_analyzed = :prev"
            values[":prev"] = to_value(to_iso(previous))
        expression = "SET last_analyzed = :new, updated_at = :at, claim = :claim"
        if pending_start is not None:
            expression += ", pending_start = :ps, pending_end = :new, pending_since = :at"
            values[":ps"] = to_value(to_iso(pending_start))
        elif drop_pending:
            expression += " REMOVE pending_start, pending_end, pending_since"
        with storage_errors(f"moving the checkpoint of {endpoint_id}/{application_name} in {self._table}"):
            try:
                self._db.update_item(
                    TableName=self._table,
                    Key=checkpoint_key(endpoint_id, application_name),
                    UpdateExpression=expression,
                    ConditionExpression=condition,
                    ExpressionAttributeValues=values,
                )
            except ClientError as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise
            else:
                return True
        return self._claimed_by(endpoint_id, application_name, claim, new)

    def _claimed_by(self, endpoint_id: str, application_name: str, claim: str, new: datetime) -> bool:
        """Whether the failed condition met this very update, applied by an attempt whose answer was lost."""
        item = self._item(endpoint_id, application_name) or {}
        return item.get("claim") == claim and item.get("last_analyzed") == to_iso(new)

    def _item(self, endpoint_id: str, application_name: str) -> dict[str, Any] | None:
        with storage_errors(f"reading the checkpoint of {endpoint_id}/{application_name} from {self._table}"):
            response = self._db.get_item(
                TableName=self._table, Key=checkpoint_key(endpoint_id, application_name), ConsistentRead=True
            )
        return from_item(response.get("Item"))

    def pending(self, endpoint_id: str, application_name: str) -> Pending | None:
        """The pair's pending window, if a run claimed one and did not confirm its app call."""
        return pending_of(self._item(endpoint_id, application_name))

    def clear_pending(self, endpoint_id: str, application_name: str, end: datetime) -> None:
        """The app call for the pending window ending at ``end`` went out: drop the mark (if it is still that one)."""
        with storage_errors(f"clearing the pending window of {endpoint_id}/{application_name} in {self._table}"):
            try:
                self._db.update_item(
                    TableName=self._table,
                    Key=checkpoint_key(endpoint_id, application_name),
                    UpdateExpression="REMOVE pending_start, pending_end, pending_since",
                    ConditionExpression="pending_end = :end",
                    ExpressionAttributeValues={":end": to_value(to_iso(end))},
                )
            except ClientError as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise

    def take_over_pending(self, endpoint_id: str, application_name: str, pending: Pending, now: datetime) -> bool:
        """Take a stale pending window over (only one run can: conditional on the ``pending_since`` it read)."""
        with storage_errors(f"taking over the pending window of {endpoint_id}/{application_name} in {self._table}"):
            try:
                self._db.update_item(
                    TableName=self._table,
                    Key=checkpoint_key(endpoint_id, application_name),
                    UpdateExpression="SET pending_since = :now",
                    ConditionExpression="pending_end = :end AND pending_since = :since",
                    ExpressionAttributeValues={
                        ":now": to_value(to_iso(now)),
                        ":end": to_value(to_iso(pending.end)),
                        ":since": to_value(to_iso(pending.since)),
                    },
                )
            except ClientError as exc:
                if error_code(exc) == "ConditionalCheckFailedException":
                    return False
                raise
        return True
