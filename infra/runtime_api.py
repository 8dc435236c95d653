"""Lambda's Runtime API on loopback, for one invocation: the rehearsals start a function the way Lambda does
(the Runtime Interface Client, ``awslambdaric``, polling ``AWS_LAMBDA_RUNTIME_API``) and read what it posts back.

The client is Lambda's own code: it resolves the handler string (an unresolvable one is posted to
``/runtime/init/error`` as ``Runtime.HandlerNotFound`` or ``Runtime.ImportModuleError``), builds the context from
the headers below and the ``AWS_LAMBDA_*`` variables, calls the handler and posts its answer or its error.
Only the endpoints a standard (not SnapStart, not multi-concurrency) function uses are served.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PREFIX = "/2018-06-01/runtime"
ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"
ACCOUNT = "123456789012"  # documentation's example account: no real account is addressed


@dataclass(frozen=True)
class Outcome:
    """What the function posted: ``response`` (its answer), ``error`` (the handler raised) or ``init_error``
    (the handler could not be loaded)."""

    kind: str
    body: bytes
    error_type: str | None = None

    def json(self) -> Any:
        return json.loads(self.body)

    def __str__(self) -> str:
        text = self.body.decode(errors="replace")
        return f"{self.kind}{f' {self.error_type}' if self.error_type else ''}: {text[:2000]}"


def _error_type(body: bytes) -> str | None:
    try:
        return json.loads(body).get("errorType")
    except (ValueError, AttributeError):
        return None


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # the client's connection reset when the rehearsal stops its process is the normal end


class RuntimeApi:
    """Serves ``event`` once on ``127.0.0.1:<free port>``; a second ``next`` waits, as a frozen Lambda
    environment would, until :meth:`close`. Use as a context manager."""

    def __init__(self, event: Any, *, function_name: str, timeout_seconds: float = 120.0) -> None:
        self.event = json.dumps(event).encode()
        self.request_id = str(uuid.uuid4())
        self.function_arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{function_name}"
        self.timeout_seconds = timeout_seconds
        self.outcome: Outcome | None = None
        self._done = threading.Event()
        self._released = threading.Event()
        self._served = False
        self._lock = threading.Lock()
        self._server = _QuietServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="runtime-api", daemon=True)

    @property
    def address(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    def __enter__(self) -> RuntimeApi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._released.set()
        self._server.shutdown()
        self._server.server_close()

    def wait(self, timeout: float) -> Outcome | None:
        self._done.wait(timeout)
        return self.outcome

    def _record(self, outcome: Outcome) -> None:
        with self._lock:
            if self.outcome is None:
                self.outcome = outcome
        self._done.set()

    def _next(self) -> tuple[bytes, dict[str, str]] | None:
        with self._lock:
            first, self._served = not self._served, True
        if not first:
            self._released.wait()
            return None
        deadline_ms = int((time.time() + self.timeout_seconds) * 1000)
        headers = {
            "Lambda-Runtime-Aws-Request-Id": self.request_id,
            "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
            "Lambda-Runtime-Invoked-Function-Arn": self.function_arn,
            "Lambda-Runtime-Trace-Id": f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Sampled=0",
            "Content-Type": "application/json",
        }
        return self.event, headers

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # the client keeps its connection, as it does with Lambda

            def log_message(self, format: str, *args: Any) -> None:
                return  # the function's own output is what a failure shows

            def _answer(self, status: HTTPStatus, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
                    return self.rfile.read(int(self.headers.get("Content-Length") or 0))
                chunks = []
                while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                self.rfile.readline()  # the empty line after the last chunk
                return b"".join(chunks)

            def do_GET(self) -> None:
                if self.path != f"{PREFIX}/invocation/next":
                    self._answer(HTTPStatus.NOT_FOUND)
                    return
                served = api._next()
                if served is None:
                    self._answer(HTTPStatus.GONE)
                    return
                body, headers = served
                self._answer(HTTPStatus.OK, body, headers)

            def do_POST(self) -> None:
                body = self._body()
                # an init error names its type in a header; an invocation error only in its body
                error_type = self.headers.get(ERROR_TYPE_HEADER) or _error_type(body)
                invocation = f"{PREFIX}/invocation/{api.request_id}"
                if self.path == f"{invocation}/response":
                    api._record(Outcome("response", body))
                elif self.path == f"{invocation}/error":
                    api._record(Outcome("error", body, error_type))
                elif self.path == f"{PREFIX}/init/error":
                    api._record(Outcome("init_error", body, error_type))
                else:
                    self._answer(HTTPStatus.NOT_FOUND)
                    return
                self._answer(HTTPStatus.ACCEPTED, b"{}")

        return Handler
