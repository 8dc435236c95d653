"""A small JSON-over-HTTP client for ``ServingFunction.invoke`` (urllib: no extra dependency).

HTTP errors become driftline exceptions carrying the server's own message, so a user sees
"model 'x' is not served by ..." rather than "HTTP Error 404".
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from driftline.errors import (
    ConfigurationError,
    ConflictError,
    DriftlineError,
    InvalidRequestError,
    ModelError,
    NotFoundError,
    PayloadTooLargeError,
    StorageError,
)

_BY_STATUS: dict[int, type[DriftlineError]] = {
    400: InvalidRequestError,
    404: NotFoundError,
    405: InvalidRequestError,
    409: ConflictError,
    413: PayloadTooLargeError,
    415: InvalidRequestError,
    422: InvalidRequestError,
    500: ModelError,
}


def encode_body(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes | bytearray):
        return bytes(body)
    if isinstance(body, str):
        return body.encode()
    try:
        return json.dumps(body, allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise InvalidRequestError(f"body: expected str, bytes or a JSON-serialisable value ({exc})") from exc


def server_message(raw: bytes) -> str:
    """The message in an error answer: ``{"error": ...}``, ``{"message": ...}``, ``{"detail": ...}`` or the text."""
    text = raw.decode(errors="replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return text
    if isinstance(data, dict):
        for key in ("error", "message", "detail", "errorMessage"):
            value = data.get(key)
            if isinstance(value, dict):
                value = value.get("message") or value.get("detail") or json.dumps(value)
            if value:
                return str(value)
    return text


def request_json(
    url: str, body: Any = None, method: str = "POST", headers: dict[str, str] | None = None, timeout: float = 30.0
) -> Any:
    """Send ``body`` (JSON-encoded unless already str/bytes) and return the parsed JSON answer (or its text)."""
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in {"http", "https"}:
        raise ConfigurationError(f"api url {url!r}: expected an http:// or https:// URL")
    data = encode_body(body) if method.upper() != "GET" else None
    request = urllib.request.Request(url, data=data, method=method.upper())  # noqa: S310 (scheme checked above)
    request.add_header("Content-Type", "application/json")
    request.add_header("Accept", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (scheme checked above)
            raw = response.read()
    except urllib.error.HTTPError as exc:
        raw_error = exc.read() if exc.fp is not None else b""
        message = server_message(raw_error) or exc.reason
        error = _BY_STATUS.get(exc.code, StorageError if exc.code >= 500 else InvalidRequestError)
        raise error(f"{method.upper()} {url} answered {exc.code}: {message}") from exc
    except urllib.error.URLError as exc:
        raise ConfigurationError(
            f"cannot reach {url} ({exc.reason}); is the API running? Start it with `driftline local up`, "
            "or set DRIFTLINE_API_URL to a deployed stack's API URL"
        ) from exc
    except TimeoutError as exc:
        raise StorageError(f"{method.upper()} {url} did not answer within {timeout} s") from exc
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")
