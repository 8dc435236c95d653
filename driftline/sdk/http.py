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


def execute_api_region(url: str) -> str | None:
    """The region of an API Gateway URL (``{id}.execute-api.{region}.amazonaws.com``), else None."""
    host = urllib.parse.urlsplit(url).hostname or ""
    parts = host.split(".")
    if len(parts) >= 5 and parts[1] == "execute-api" and host.endswith(".amazonaws.com"):
        return parts[2]
    return None


def signed_headers(url: str, method: str, data: bytes | None, headers: dict[str, str], region: str) -> dict[str, str]:
    """``headers`` plus a SigV4 signature for ``execute-api`` with the default credential chain (botocore signs;
    without credentials the request goes unsigned and the API answers 403, which says what is missing)."""
    import boto3
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    credentials = boto3.session.Session().get_credentials()
    if credentials is None:
        return headers
    request = AWSRequest(method=method, url=url, data=data or b"", headers=headers)
    SigV4Auth(credentials.get_frozen_credentials(), "execute-api", region).add_auth(request)
    return dict(request.headers.items())


def request_json(
    url: str, body: Any = None, method: str = "POST", headers: dict[str, str] | None = None, timeout: float = 30.0
) -> Any:
    """Send ``body`` (JSON-encoded unless already str/bytes) and return the parsed JSON answer (or its text)."""
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in {"http", "https"}:
        raise ConfigurationError(f"api url {url!r}: expected an http:// or https:// URL")
    data = encode_body(body) if method.upper() != "GET" else None
    all_headers = {"Content-Type": "application/json", "Accept": "application/json", **(headers or {})}
    region = execute_api_region(url)
    if region is not None:  # a deployed stack's HTTP API: IAM authorisation is on by default
        all_headers = signed_headers(url, method.upper(), data, all_headers, region)
    request = urllib.request.Request(url, data=data, method=method.upper())  # noqa: S310 (scheme checked above)
    for name, value in all_headers.items():
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
