"""API Gateway HTTP API (payload format 2.0) emulation: one HTTP request -> the Lambda event, and the Lambda's
answer -> the HTTP response, the way API Gateway maps them.

Pure functions: the local HTTP server (``driftline/local/server.py``) reads the socket and calls these.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import unquote

MAX_BODY_BYTES = 10 * 1024 * 1024  # HTTP API payload quota: 10 MB
ACCOUNT_ID = "123456789012"
API_ID = "local"
INTERNAL_ERROR = {"message": "Internal Server Error"}
TOO_LARGE = {"message": "Request Entity Too Large"}


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def build_http_event(
    *,
    method: str,
    target: str,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    source_ip: str,
    protocol: str,
    now: datetime,
    request_id: str | None = None,
    port: int | None = None,
) -> dict[str, Any]:
    """The event API Gateway hands to a Lambda integration for this request (HTTP API, ``$default`` route).

    ``target`` is the request line's target (path and query string, as sent). Repeated headers and repeated
    query parameters are joined with commas; cookies move out of the headers into ``cookies``; a body that is
    not UTF-8 text is base64-encoded with ``isBase64Encoded: true``.
    """
    raw_path, _, raw_query = target.partition("?")
    merged: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        key = name.lower()
        if key == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
            continue
        merged[key] = f"{merged[key]},{value}" if key in merged else value
    merged.setdefault("x-forwarded-for", source_ip)
    merged.setdefault("x-forwarded-proto", "http")
    if port is not None:
        merged.setdefault("x-forwarded-port", str(port))
    host = merged.get("host", "localhost")
    domain = host.split(":", 1)[0]
    rid = request_id or str(uuid.uuid4())
    path = unquote(raw_path) or "/"

    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path or "/",
        "rawQueryString": raw_query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = merged
    query = _query_parameters(raw_query)
    if query:
        event["queryStringParameters"] = query
    event["requestContext"] = {
        "accountId": ACCOUNT_ID,
        "apiId": API_ID,
        "domainName": domain,
        "domainPrefix": domain.split(".", 1)[0],
        "http": {
            "method": method.upper(),
            "path": path,
            "protocol": protocol,
            "sourceIp": source_ip,
            "userAgent": merged.get("user-agent", ""),
        },
        "requestId": rid,
        "routeKey": "$default",
        "stage": "$default",
        "time": now.strftime("%d/%b/%Y:%H:%M:%S %z"),
        "timeEpoch": int(now.timestamp() * 1000),
    }
    if body:
        try:
            event["body"] = body.decode("utf-8")
            event["isBase64Encoded"] = False
        except UnicodeDecodeError:
            event["body"] = base64.b64encode(body).decode("ascii")
            event["isBase64Encoded"] = True
    else:
        event["isBase64Encoded"] = False
    return event


def _query_parameters(raw_query: str) -> dict[str, str]:
    # API Gateway joins repeated parameters with commas and URL-decodes names and values.
    params: dict[str, str] = {}
    for part in raw_query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        name, value = unquote(name.replace("+", " ")), unquote(value.replace("+", " "))
        params[name] = f"{params[name]},{value}" if name in params else value
    return params


def json_answer(status: int, payload: Any, headers: Iterable[tuple[str, str]] = ()) -> HttpAnswer:
    body = json.dumps(payload, separators=(",", ":"), default=str).encode()
    return HttpAnswer(status, [("Content-Type", "application/json"), *headers], body)


def http_answer(result: Any) -> HttpAnswer:
    """API Gateway's mapping of a Lambda's return value (payload format 2.0).

    A dict with ``statusCode`` is a full answer (``headers``, ``body``, ``isBase64Encoded``, ``cookies``).
    Anything else is taken as the body of a 200 JSON answer, as API Gateway infers it. A malformed answer
    (bad status, non-string body, undecodable base64) is a 500, as API Gateway returns for it.
    """
    if not isinstance(result, dict) or "statusCode" not in result:
        if isinstance(result, str):
            return HttpAnswer(200, [("Content-Type", "application/json")], result.encode())
        return json_answer(200, result)
    status = result.get("statusCode")
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        return json_answer(500, INTERNAL_ERROR)
    raw_headers = result.get("headers") or {}
    if not isinstance(raw_headers, dict):
        return json_answer(500, INTERNAL_ERROR)
    headers = [(str(k), str(v)) for k, v in raw_headers.items()]
    headers.extend(("Set-Cookie", str(c)) for c in result.get("cookies") or [])
    raw_body = result.get("body")
    if raw_body is None:
        body = b""
    elif isinstance(raw_body, str):
        if result.get("isBase64Encoded"):
            try:
                body = base64.b64decode(raw_body, validate=True)
            except ValueError:
                return json_answer(500, INTERNAL_ERROR)
        else:
            body = raw_body.encode()
    else:
        return json_answer(500, INTERNAL_ERROR)
    if not any(k.lower() == "content-type" for k, _ in headers) and body:
        headers.append(("Content-Type", "application/json"))
    return HttpAnswer(status, headers, body)
