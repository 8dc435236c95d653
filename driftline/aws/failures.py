"""How adapters fail: a call that AWS refused (``ClientError``) or that never got an answer (``BotoCoreError``:
connection errors, timeouts, after botocore's own retries) becomes a :class:`~driftline.errors.StorageError`
saying what was being done, so the layers above handle one error type and the message names the resource.

Answers an adapter expects (a conditional check that failed, a key that does not exist) are handled inside the
block before they get here, and become the adapter's own answer (``None``, ``False``, ``NotFoundError``,
``ConflictError``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import BotoCoreError, ClientError

from driftline.errors import StorageError


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


@contextmanager
def storage_errors(what: str) -> Iterator[None]:
    """Run the block; a failed AWS call in it raises ``StorageError("{what} failed: ...")`` from it."""
    try:
        yield
    except ClientError as exc:
        message = exc.response.get("Error", {}).get("Message", "") or str(exc)
        raise StorageError(f"{what} failed: {error_code(exc) or 'error'}: {message}") from exc
    except BotoCoreError as exc:
        raise StorageError(f"{what} failed: {exc}") from exc
