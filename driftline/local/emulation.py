"""Where the AWS emulation (moto) is more lenient than AWS in a way that hides bugs, and how the local stack makes
it strict.

- **DynamoDB conditional writes are atomic in AWS, not in moto**: moto evaluates a condition and applies the
  update in two steps with no lock, so two threads writing the same item can both pass the same condition (the
  controller's claim-before-invoke relies on exactly one of them winning). Writes are serialised here: a
  condition is then checked against the state the write applies to, as DynamoDB guarantees per item. (A lock
  over every write is stricter than DynamoDB, which serialises per item; the emulator is not a benchmark.)
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

_LOCK = threading.RLock()
_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item")
_PATCHED = "_driftline_atomic_writes"


def make_dynamodb_writes_atomic() -> None:
    """Serialise moto's DynamoDB writes (idempotent; process-wide, as moto's backends are)."""
    from moto.dynamodb.models import DynamoDBBackend

    if getattr(DynamoDBBackend, _PATCHED, False):
        return
    for name in _WRITES:
        original = getattr(DynamoDBBackend, name)
        setattr(DynamoDBBackend, name, _serialised(original))
    setattr(DynamoDBBackend, _PATCHED, True)


def _serialised(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def write(*args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            return method(*args, **kwargs)

    return write
