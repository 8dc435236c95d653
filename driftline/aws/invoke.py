"""Asynchronous Lambda invocations (controller -> app, app -> writer).

``InvocationType="Event"``: Lambda queues the event, retries a failed run twice and then sends it to the
function's on-failure destination. Locally the same call reaches the runtime's emulation of the Invoke API.
Tests inject a :class:`RecordingInvoker` instead.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from driftline.aws.clients import Clients
from driftline.aws.failures import storage_errors
from driftline.errors import StorageError


class Invoker(Protocol):
    def invoke_async(self, function_name: str, payload: dict[str, Any]) -> None: ...


class LambdaInvoker:
    def __init__(self, clients: Clients) -> None:
        self._clients = clients

    def invoke_async(self, function_name: str, payload: dict[str, Any]) -> None:
        with storage_errors(f"invoking {function_name} asynchronously"):
            response = self._clients.lambda_.invoke(
                FunctionName=function_name,
                InvocationType="Event",
                Payload=json.dumps(payload, separators=(",", ":"), allow_nan=False).encode(),
            )
        if response.get("StatusCode") != 202:
            raise StorageError(f"async invoke of {function_name} answered {response.get('StatusCode')}, expected 202")


class RecordingInvoker:
    """Keeps every invocation in memory (tests, offline evaluation)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def invoke_async(self, function_name: str, payload: dict[str, Any]) -> None:
        # a JSON round trip, as Lambda does, so payloads that would not serialise fail here too
        self.calls.append((function_name, json.loads(json.dumps(payload, allow_nan=False))))
