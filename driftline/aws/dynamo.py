"""DynamoDB item (de)serialisation shared by the table adapters: floats become Decimals on the way in and
numbers come back as int or float, so the rest of the code never sees ``Decimal``."""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from driftline.errors import StorageError

if TYPE_CHECKING:
    from types_boto3_dynamodb.client import DynamoDBClient
    from types_boto3_dynamodb.type_defs import AttributeValueTypeDef

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _to_dynamo(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str | int | bytes):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"DynamoDB cannot store the non-finite number {value!r}")
        return Decimal(repr(value))
    if isinstance(value, Mapping):
        return {str(k): _to_dynamo(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_to_dynamo(v) for v in value]
    if isinstance(value, set | frozenset) and value and all(isinstance(v, str) for v in value):
        return set(value)  # a string set (DynamoDB has no empty set)
    if hasattr(value, "item"):  # numpy scalars
        return _to_dynamo(value.item())
    raise TypeError(f"cannot store {type(value).__name__} in DynamoDB")


def _from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and "." not in str(value) else float(value)
    if isinstance(value, dict):
        return {k: _from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_dynamo(v) for v in value]
    if isinstance(value, set):
        return {_from_dynamo(v) for v in value}
    return value


def to_item(data: Mapping[str, Any]) -> dict[str, AttributeValueTypeDef]:
    """A plain dict to a low-level DynamoDB item (``None`` values are dropped)."""
    return {k: _serializer.serialize(_to_dynamo(v)) for k, v in data.items() if v is not None}


def to_value(value: Any) -> AttributeValueTypeDef:
    return _serializer.serialize(_to_dynamo(value))


def from_item(item: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if item is None:
        return None
    return {k: _from_dynamo(_deserializer.deserialize(v)) for k, v in item.items()}


def query_all(client: DynamoDBClient, **kwargs: Any) -> list[dict[str, Any]]:
    """Every page of a Query, deserialised."""
    items: list[dict[str, Any]] = []
    paginator = client.get_paginator("query")
    for page in paginator.paginate(**kwargs):
        items.extend(from_item(i) or {} for i in page.get("Items", []))
    return items


BATCH_GET_MAX_KEYS = 100  # DynamoDB's limit per BatchGetItem
BATCH_GET_MAX_ROUNDS = 8  # rounds for UnprocessedKeys before giving up


def batch_get_all(
    client: DynamoDBClient,
    table: str,
    keys: list[dict[str, AttributeValueTypeDef]],
    *,
    key_names: tuple[str, ...],
    consistent: bool = True,
) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Every item of ``keys`` that exists, by its key values (``key_names`` order), deserialised: one
    ``BatchGetItem`` per 100 keys, with the unprocessed keys asked again (DynamoDB hands some back under load).
    Raises :class:`StorageError` when keys are still unprocessed after a few rounds."""
    found: dict[tuple[Any, ...], dict[str, Any]] = {}
    for offset in range(0, len(keys), BATCH_GET_MAX_KEYS):
        pending: list[Any] = list(keys[offset : offset + BATCH_GET_MAX_KEYS])
        for _round in range(BATCH_GET_MAX_ROUNDS):
            response = client.batch_get_item(RequestItems={table: {"Keys": pending, "ConsistentRead": consistent}})
            for raw in response.get("Responses", {}).get(table, []):
                item = from_item(raw) or {}
                found[tuple(item.get(name) for name in key_names)] = item
            pending = list(response.get("UnprocessedKeys", {}).get(table, {}).get("Keys", []))
            if not pending:
                break
        else:
            raise StorageError(f"BatchGetItem on {table}: {len(pending)} keys still unprocessed")
    return found
