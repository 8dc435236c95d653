"""The endpoints table (pk ``endpoint_id``, sk ``sk``): endpoint records, live figures and minute buckets.

  sk = ``meta``                         identity (written at deploy) + live figures (stream function);
                                        also ``seq#{shardId}``: the last Kinesis sequence applied per shard
                                        (zero-padded string), the guard against counting a redelivery twice
  sk = ``minute#{YYYY-MM-DDTHH:MM}``    per-minute counts (requests, predictions, errors, latency sum);
                                        expire after ``BUCKET_TTL_SECONDS`` (TTL attribute ``expires_at``)
GSI ``by-project`` (pk ``project``, sk ``endpoint_id``) holds only meta items (buckets have no ``project``).
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import BotoCoreError, ClientError

from driftline import layout
from driftline.aws.clients import Clients
from driftline.aws.dynamo import batch_get_all, from_item, query_all, to_value
from driftline.aws.failures import storage_errors
from driftline.errors import ConflictError, NotFoundError, StorageError
from driftline.records import EndpointRecord

if TYPE_CHECKING:
    from types_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

META = "meta"
BUCKET_PREFIX = "minute#"
BUCKET_TTL_SECONDS = 3 * 86_400  # the controller back-fills at most one day; keep three
TTL_ATTRIBUTE = layout.ENDPOINTS_TTL  # the minute buckets' expiry (epoch seconds), the table's TTL attribute
PROJECT_INDEX = layout.PROJECT_INDEX.name
# what the controller reads of an endpoint (a shard's listing asks for these only)
CONTROLLER_FIELDS = (
    "endpoint_id",
    "project",
    "name",
    "function_name",
    "model_uri",
    "monitoring",
    "first_request",
    "last_request",
)


def minute_key(moment: datetime) -> str:
    return BUCKET_PREFIX + moment.strftime("%Y-%m-%dT%H:%M")


class Endpoints:
    def __init__(self, clients: Clients) -> None:
        self._db = clients.dynamodb
        self._table = clients.settings.table("endpoints")

    @property
    def table(self) -> str:
        return self._table

    def put_identity(self, record: EndpointRecord) -> None:
        """Create the endpoint or refresh its identity fields; live figures are left as they are."""
        data = record.to_dict()
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        sets: list[str] = []
        for i, key in enumerate(EndpointRecord.IDENTITY_FIELDS):
            if key == "created":
                sets.append(f"#f{i} = if_not_exists(#f{i}, :v{i})")
            else:
                sets.append(f"#f{i} = :v{i}")
            names[f"#f{i}"] = key
            values[f":v{i}"] = to_value(data[key])
        with storage_errors(f"writing endpoint {record.endpoint_id} to {self._table}"):
            self._db.update_item(
                TableName=self._table,
                Key={"endpoint_id": to_value(record.endpoint_id), "sk": to_value(META)},
                UpdateExpression="SET " + ", ".join(sets),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )

    def get(self, endpoint_id: str) -> EndpointRecord:
        item = self.get_raw(endpoint_id)
        if item is None:
            raise NotFoundError(f"model endpoint {endpoint_id!r} not found")
        return EndpointRecord.from_dict(item)

    def get_raw(self, endpoint_id: str) -> dict[str, Any] | None:
        """The meta item as stored, shard checkpoints included (the stream function's read)."""
        with storage_errors(f"reading endpoint {endpoint_id} from {self._table}"):
            response = self._db.get_item(
                TableName=self._table,
                Key={"endpoint_id": to_value(endpoint_id), "sk": to_value(META)},
                ConsistentRead=True,
            )
        return from_item(response.get("Item"))

    def get_many_raw(self, endpoint_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The meta items of many endpoints as stored, read consistently, 100 per ``BatchGetItem`` (the stream's
        first read of a batch's endpoints); an endpoint with no meta item is absent."""
        keys = [{"endpoint_id": to_value(e), "sk": to_value(META)} for e in dict.fromkeys(endpoint_ids)]
        with storage_errors(f"reading {len(keys)} endpoints from {self._table}"):
            found = batch_get_all(self._db, self._table, keys, key_names=("endpoint_id",))
        return {str(key[0]): item for key, item in found.items()}

    def list(self, project: str | None = None) -> list[EndpointRecord]:
        whose = "every project" if project is None else f"project {project!r}"
        with storage_errors(f"listing the endpoints of {whose} in {self._table}"):
            if project is not None:
                items = query_all(
                    self._db,
                    TableName=self._table,
                    IndexName=PROJECT_INDEX,
                    KeyConditionExpression="#p = :p",
                    ExpressionAttributeNames={"#p": "project"},
                    ExpressionAttributeValues={":p": to_value(project)},
                )
            else:
                items = []
                for page in self._db.get_paginator("scan").paginate(
                    TableName=self._table,
                    FilterExpression="sk = :m",
                    ExpressionAttributeValues={":m": to_value(META)},
                ):
                    items.extend(from_item(i) or {} for i in page.get("Items", []))
        return sorted((EndpointRecord.from_dict(i) for i in items), key=lambda e: (e.project, e.name))

    def list_range(self, project: str, low: str | None, high: str | None) -> builtins.list[EndpointRecord]:
        """The project's endpoints whose id is in ``[low, high)`` (None: unbounded), by id: one query on the
        ``by-project`` index (its sort key is the endpoint id), paginated; a controller shard's listing. Only the
        fields the controller reads come back (``CONTROLLER_FIELDS``: no live figures, no last inputs)."""
        names = {f"#{f}": f for f in CONTROLLER_FIELDS}
        values: dict[str, Any] = {":p": to_value(project)}
        condition = "#project = :p"
        if low is not None and high is not None:
            condition += " AND #endpoint_id BETWEEN :lo AND :hi"  # inclusive: an id equal to ``high`` is dropped below
            values |= {":lo": to_value(low), ":hi": to_value(high)}
        elif low is not None:
            condition += " AND #endpoint_id >= :lo"
            values[":lo"] = to_value(low)
        elif high is not None:
            condition += " AND #endpoint_id < :hi"
            values[":hi"] = to_value(high)
        with storage_errors(f"listing the endpoints of project {project!r} in [{low}, {high}) in {self._table}"):
            items = query_all(
                self._db,
                TableName=self._table,
                IndexName=PROJECT_INDEX,
                KeyConditionExpression=condition,
                ProjectionExpression=", ".join(f"#{f}" for f in CONTROLLER_FIELDS),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        records = (EndpointRecord.from_dict(i) for i in items)
        return [r for r in records if high is None or r.endpoint_id < high]

    def count(self, project: str) -> int:
        """How many endpoints the project has (``Select=COUNT`` on the ``by-project`` index: pages of ids
        counted by DynamoDB, no item returned)."""
        total = 0
        with storage_errors(f"counting the endpoints of project {project!r} in {self._table}"):
            for page in self._db.get_paginator("query").paginate(
                TableName=self._table,
                IndexName=PROJECT_INDEX,
                KeyConditionExpression="#p = :p",
                ExpressionAttributeNames={"#p": "project"},
                ExpressionAttributeValues={":p": to_value(project)},
                Select="COUNT",
            ):
                total += int(page.get("Count", 0))
        return total

    def minute_buckets(self, endpoint_id: str, start: datetime, end: datetime) -> builtins.list[dict[str, Any]]:
        """Buckets whose minute overlaps ``[start, end)`` (the minute of ``start`` included)."""
        last = end - timedelta(microseconds=1)
        with storage_errors(f"reading the minute buckets of endpoint {endpoint_id} from {self._table}"):
            return query_all(
                self._db,
                TableName=self._table,
                KeyConditionExpression="endpoint_id = :e AND sk BETWEEN :a AND :b",
                ExpressionAttributeValues={
                    ":e": to_value(endpoint_id),
                    ":a": to_value(minute_key(start)),
                    ":b": to_value(minute_key(last)),
                },
                ConsistentRead=True,
            )

    def transact_write(self, updates: Sequence[Mapping[str, Any]]) -> None:
        """One ``TransactWriteItems`` of ``Update`` actions on this table (the stream's live figures): each
        update is an ``Update`` body without ``TableName`` (``Key``, ``UpdateExpression``, optional
        ``ConditionExpression``, names, values). Raises :class:`ConflictError` when a condition failed or a
        concurrent transaction interfered (re-read and retry), :class:`StorageError` for anything else."""
        # the updates are built by the stream's live figures as plain dicts of the Update shape
        items = cast("list[TransactWriteItemTypeDef]", [{"Update": {"TableName": self._table, **u}} for u in updates])
        try:
            self._db.transact_write_items(TransactItems=items)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            reasons = [code for r in exc.response.get("CancellationReasons", []) if (code := r.get("Code"))]
            if error.get("Code") == "TransactionCanceledException" and (
                not reasons or {"ConditionalCheckFailed", "TransactionConflict"} & set(reasons)
            ):
                raise ConflictError(f"live figures changed concurrently ({', '.join(reasons) or 'cancelled'})") from exc
            raise StorageError(f"updating {self._table} failed: {exc}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"updating {self._table} failed: {exc}") from exc
