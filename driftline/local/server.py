"""The local runtime's one HTTP server (127.0.0.1): the HTTP API in front of the serving handler, the Lambda
Invoke API (``POST /2015-03-31/functions/{name}/invocations``) and the admin routes under ``/_local/``.

Connections are tracked so that stopping the server also ends idle keep-alive connections and their threads.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import sys
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from driftline import clock
from driftline.local.apigw import (
    INTERNAL_ERROR,
    MAX_BODY_BYTES,
    TOO_LARGE,
    HttpAnswer,
    build_http_event,
    http_answer,
    json_answer,
)
from driftline.local.async_invoke import AsyncInvoker
from driftline.local.functions import FunctionTable, function_name_from
from driftline.observability import get_logger

INVOKE_PATH = re.compile(r"/2015-03-31/functions/(?P<name>[^/]+)/invocations")
# where the serving function of a (project, function) is mounted, like a custom domain's API mapping
SERVING_MOUNT = "/projects/{project}/{function}"
MOUNTED = re.compile(
    r"/projects/(?P<project>[A-Za-z0-9][A-Za-z0-9_.-]{0,62})/(?P<function>[A-Za-z0-9][A-Za-z0-9_.-]{0,62})(?P<rest>/.*)?"
)
MAX_SYNC_PAYLOAD = 6 * 1024 * 1024  # Lambda: 6 MB request and response for RequestResponse
MAX_ASYNC_PAYLOAD = 1024 * 1024  # Lambda: 1 MB for Event invocations
DISCARD_LIMIT = 64 * 1024 * 1024  # an oversized body up to this size is read and dropped before the 413
ADMIN_ROUTES = [
    "GET /_local/status",
    "POST /_local/clock/advance {seconds}",
    "POST /_local/drain?timeout=S",
    "POST /_local/controller/run {project}",
]


class Admin(Protocol):
    def status(self) -> dict[str, Any]: ...

    def advance_clock(self, seconds: float) -> dict[str, Any]: ...

    def drain(self, timeout: float = 30.0) -> bool: ...

    def run_controller(self, project: str | None = None) -> Any: ...


class Routes(Protocol):
    default_name: str

    def name_for(self, project: str, function: str) -> str: ...


class Authorizer(Protocol):
    def authorize_invoke(self, headers: Mapping[str, str], function_arn: str) -> tuple[bool, str]: ...


class BadRequest(Exception):
    pass


def _lambda_error(status: int, error_type: str, message: str) -> HttpAnswer:
    # Lambda's REST-JSON error: the type in x-amzn-ErrorType (what botocore reads), the message in the body
    return json_answer(status, {"Type": "User", "message": message}, [("x-amzn-ErrorType", error_type)])


class Dispatcher:
    """Maps one request (method, target, headers, body) to an answer. No sockets: testable alone."""

    def __init__(
        self,
        functions: FunctionTable,
        async_invoker: AsyncInvoker,
        admin: Admin,
        port: int,
        *,
        serving: Routes | None = None,
        iam: Authorizer | None = None,
    ) -> None:
        self.functions = functions
        self.async_invoker = async_invoker
        self.admin = admin
        self.port = port
        self.serving = serving
        self.iam = iam

    def dispatch(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes, source_ip: str, protocol: str
    ) -> HttpAnswer:
        path = urlsplit(target).path
        if path.startswith("/_local/") or path == "/_local":
            return self._admin(method, target, body)
        match = INVOKE_PATH.fullmatch(path)
        if match:
            if method != "POST":
                return _lambda_error(405, "MethodNotAllowedException", "Invoke takes POST")
            lowered = {k.lower(): v for k, v in headers}
            return self._invoke(unquote(match.group("name")), lowered, body)
        if path.startswith("/2015-03-31/"):
            return _lambda_error(
                404, "UnknownOperationException", f"the local Lambda emulation only serves Invoke, not {path}"
            )
        return self._serve(method, target, headers, body, source_ip, protocol)

    # HTTP API -> serving handler ----------------------------------------------------------------------------
    def _serve(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes, source_ip: str, protocol: str
    ) -> HttpAnswer:
        name: str | None = None
        if self.serving is not None:
            path, query = target.partition("?")[::2]
            mounted = MOUNTED.fullmatch(path)
            if mounted:  # the mapping's base path is not part of what the function sees, as with API mappings
                name = self.serving.name_for(mounted.group("project"), mounted.group("function"))
                target = (mounted.group("rest") or "/") + (f"?{query}" if query else "")
            elif path.startswith("/projects/"):
                return json_answer(404, {"message": f"not a serving mount: {path}; expected {SERVING_MOUNT}/v2/..."})
            else:
                name = self.serving.default_name
        event = build_http_event(
            method=method,
            target=target,
            headers=headers,
            body=body,
            source_ip=source_ip,
            protocol=protocol,
            now=clock.now(),
            port=self.port,
        )
        outcome = self.functions.invoke("serving", event, name)
        rid_header = ("Apigw-Requestid", event["requestContext"]["requestId"])
        if not outcome.ok:
            get_logger("driftline-local").error(
                "serving handler failed", error_type=outcome.error_type, error=outcome.error_message
            )
            return json_answer(500, INTERNAL_ERROR, [rid_header])
        answer = http_answer(outcome.result)
        return HttpAnswer(answer.status, [*answer.headers, rid_header], answer.body)

    # Lambda Invoke API ---------------------------------------------------------------------------------------
    def _invoke(self, function: str, headers: dict[str, str], body: bytes) -> HttpAnswer:
        key = self.functions.key_for(function)
        arn = self.functions.function_arn(function_name_from(function))
        if self.iam is not None:
            allowed, caller = self.iam.authorize_invoke(headers, arn)
            if not caller:
                return _lambda_error(
                    403, "UnrecognizedClientException", "The security token included in the request is invalid."
                )
            if not allowed:
                return _lambda_error(
                    403,
                    "AccessDeniedException",
                    f"User: {caller} is not authorized to perform: lambda:InvokeFunction on resource: {arn} because "
                    "no identity-based policy allows the lambda:InvokeFunction action",
                )
        if key is None:
            return _lambda_error(404, "ResourceNotFoundException", f"Function not found: {arn}")
        invocation_type = headers.get("x-amz-invocation-type", "RequestResponse")
        if invocation_type not in {"RequestResponse", "Event", "DryRun"}:
            return _lambda_error(
                400,
                "InvalidParameterValueException",
                f"X-Amz-Invocation-Type must be RequestResponse, Event or DryRun, got {invocation_type!r}",
            )
        limit = MAX_ASYNC_PAYLOAD if invocation_type == "Event" else MAX_SYNC_PAYLOAD
        if len(body) > limit:
            return _lambda_error(
                413,
                "RequestTooLargeException",
                f"{invocation_type} payload is {len(body)} bytes; the limit is {limit} bytes",
            )
        try:
            event = json.loads(body) if body.strip() else {}
        except ValueError as exc:
            return _lambda_error(
                400, "InvalidRequestContentException", f"Could not parse request body into json: {exc}"
            )
        name = self.functions.function_name(key) if key != "app" else function_name_from(function)
        if invocation_type == "DryRun":
            return HttpAnswer(204, [], b"")
        if invocation_type == "Event":
            try:
                request_id = self.async_invoker.submit(key, name, event)
            except RuntimeError as exc:  # the runtime is stopping
                return _lambda_error(503, "ServiceException", str(exc))
            return HttpAnswer(202, [("x-amzn-RequestId", request_id)], b"")
        outcome = self.functions.invoke(key, event, name)
        extra = [("x-amzn-RequestId", outcome.request_id), ("X-Amz-Executed-Version", "$LATEST")]
        if not outcome.ok:
            return json_answer(200, outcome.error_payload(), [*extra, ("X-Amz-Function-Error", "Unhandled")])
        return json_answer(200, outcome.result, extra)

    # admin ---------------------------------------------------------------------------------------------------
    def _admin(self, method: str, target: str, body: bytes) -> HttpAnswer:
        parts = urlsplit(target)
        route = f"{method} {parts.path.rstrip('/')}"
        try:
            payload = _json_object(body)
            if route == "GET /_local/status":
                return json_answer(200, self.admin.status())
            if route == "POST /_local/clock/advance":
                seconds = payload.get("seconds")
                if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
                    raise BadRequest(f'expected {{"seconds": <number >= 0>}}, got {payload!r}')
                return json_answer(200, self.admin.advance_clock(float(seconds)))
            if route == "POST /_local/drain":
                query = parse_qs(parts.query)
                raw = payload.get("timeout", query.get("timeout", ["30"])[0])
                try:
                    timeout = float(raw)
                except (TypeError, ValueError):
                    raise BadRequest(f"timeout must be a number of seconds, got {raw!r}") from None
                if not 0 < timeout <= 600:
                    raise BadRequest(f"timeout must be in (0, 600] seconds, got {timeout}")
                drained = self.admin.drain(timeout)
                return json_answer(200 if drained else 504, {"drained": drained, "timeout": timeout})
            if route == "POST /_local/controller/run":
                project = payload.get("project")
                if project is not None and (not isinstance(project, str) or not project):
                    raise BadRequest(f'expected {{"project": "<name>"}} (or no project: all projects), got {payload!r}')
                return json_answer(200, {"project": project, "result": self.admin.run_controller(project)})
        except BadRequest as exc:
            return json_answer(400, {"message": str(exc), "routes": ADMIN_ROUTES})
        except Exception as exc:
            get_logger("driftline-local").exception("admin route failed", route=route)
            return json_answer(500, {"message": f"{type(exc).__name__}: {exc}"})
        return json_answer(404, {"message": f"no admin route {route}", "routes": ADMIN_ROUTES})


def _json_object(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise BadRequest(f"expected a JSON object body: {exc}") from None
    if not isinstance(payload, dict):
        raise BadRequest(f"expected a JSON object body, got {type(payload).__name__}")
    return payload


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms delayed-ACK stalls
    server_version = "driftline-local"
    server: LocalHttpServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the handlers log what matters

    def handle_expect_100(self) -> bool:
        # a client that asks first (curl does for big bodies) is told 413 before it sends the body
        raw = self.headers.get("Content-Length", "")
        if raw.isdigit() and int(raw) > MAX_BODY_BYTES:
            self._send(json_answer(413, TOO_LARGE), close=True)
            return False
        return super().handle_expect_100()

    def _handle(self) -> None:
        try:
            body = self._read_body()
        except BadRequest as exc:
            self._send(json_answer(400, {"message": str(exc)}), close=True)
            return
        if body is None:
            self._send(json_answer(413, TOO_LARGE), close=True)
            return
        answer = self.server.dispatcher.dispatch(
            self.command,
            self.path,
            list(self.headers.items()),
            body,
            self.client_address[0],
            self.request_version,
        )
        self._send(answer)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _handle

    def _read_body(self) -> bytes | None:
        """The request body, or None when it is over the HTTP API's 10 MB limit (refused before the handler)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks, total = [], 0
            while True:
                line = self.rfile.readline(1024).strip()
                try:
                    size = int(line.split(b";")[0], 16)
                except ValueError:
                    raise BadRequest(f"bad chunk size line {line!r}") from None
                if size == 0:
                    while self.rfile.readline(1024).strip():  # trailers
                        pass
                    break
                total += size
                data = self.rfile.read(size)
                if total <= MAX_BODY_BYTES:
                    chunks.append(data)
                elif total > DISCARD_LIMIT:
                    return None
                self.rfile.readline(8)
            return None if total > MAX_BODY_BYTES else b"".join(chunks)
        raw = self.headers.get("Content-Length")
        if raw is None:
            return b""
        try:
            length = int(raw)
        except ValueError:
            raise BadRequest(f"Content-Length must be a whole number, got {raw!r}") from None
        if length < 0:
            raise BadRequest(f"Content-Length must be >= 0, got {length}")
        if length > MAX_BODY_BYTES:
            # read (and drop) a moderately oversized body so the client sees the 413, not a reset connection
            left = length if length <= DISCARD_LIMIT else 0
            while left > 0:
                got = self.rfile.read(min(left, 1 << 20))
                if not got:
                    break
                left -= len(got)
            return None
        return self.rfile.read(length)

    def _send(self, answer: HttpAnswer, close: bool = False) -> None:
        self.send_response(answer.status)
        for name, value in answer.headers:
            if name.lower() not in {"content-length", "connection", "transfer-encoding"}:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD" and answer.body:
            self.wfile.write(answer.body)


class LocalHttpServer(ThreadingHTTPServer):
    """A threaded HTTP server that knows its open connections, so ``stop`` leaves no thread behind."""

    daemon_threads = True
    block_on_close = False

    dispatcher: Dispatcher  # set before start()

    def __init__(self, host: str, port: int) -> None:
        super().__init__((host, port), _RequestHandler)
        self.port = self.server_address[1]
        self._conn_lock = threading.Lock()
        self._conns: dict[Any, threading.Thread] = {}
        self._serve_thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self.process_request_thread, args=(request, client_address), name="driftline-http", daemon=True
        )
        with self._conn_lock:
            self._conns[request] = thread
        thread.start()

    def shutdown_request(self, request: Any) -> None:
        with self._conn_lock:
            self._conns.pop(request, None)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # a client that drops its connection (e.g. closing a keep-alive socket with an unread answer) is normal
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        get_logger("driftline-local").exception("HTTP request failed", client=str(client_address))

    def start(self) -> None:
        if getattr(self, "dispatcher", None) is None:
            raise RuntimeError("set LocalHttpServer.dispatcher before start()")
        self._serve_thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, name="driftline-http-server", daemon=True
        )
        self._serve_thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        if self._serve_thread is not None:
            self.shutdown()
            self._serve_thread.join(timeout)
        self.server_close()
        with self._conn_lock:
            conns = list(self._conns.items())
        close_connections([sock for sock, _ in conns])
        for _, thread in conns:
            thread.join(timeout)


def close_connections(socks: list[Any]) -> None:
    for sock in socks:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
