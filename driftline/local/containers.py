"""Lambda execution environments on this machine: one process per function, run by the Lambda runtime interface
client (``awslambdaric``, the same client the Lambda base images run) against a local Runtime API.

A :class:`Container` is what Lambda calls a sandbox: a process started with the function's environment only
(its ``DRIFTLINE_*`` settings, Powertools variables, the Lambda variables, and the credentials of its role), its
code from the staged package (``driftline.deploy.packaging``: exactly what ``cdk deploy`` uploads), and its
handler string resolved by the runtime client itself: a wrong name is ``Runtime.HandlerNotFound``, an import
that fails is ``Runtime.ImportModuleError``, as in AWS. Invocations go through the Runtime API
(``/2018-06-01/runtime/invocation/next``, ``.../response``, ``.../error``, ``/runtime/init/error``) one at a
time. A run past the function's timeout kills the process (``Sandbox.Timedout``) and the next invocation starts
a fresh one, as Lambda does; so does a process that dies.

Not emulated: memory limits, SnapStart, extensions. Concurrency: one sandbox runs one invocation at a time;
:class:`driftline.local.functions.FunctionTable` starts up to ``concurrency`` sandboxes of one function (each a
process of its own, started on demand, as Lambda scales a function out).
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any

from driftline.local.functions import Outcome

HOST = "127.0.0.1"
RUNTIME_API = "/2018-06-01/runtime"
# The runtime client, started as the Lambda base images start it, but with the task root (and, for an image
# rehearsal, the image's package directories) first on sys.path, as LAMBDA_TASK_ROOT is in Lambda. Isolated (an
# image rehearsal): the interpreter's own site-packages (pip, whatever a developer installed) is not part of a
# function either, only the standard library after the given folders.
BOOTSTRAP = (
    "import runpy, sys, sysconfig\n"
    "handler, isolated, paths = sys.argv[1], sys.argv[2] == '1', sys.argv[3:]\n"
    "own = {sysconfig.get_path('purelib'), sysconfig.get_path('platlib')} if isolated else set()\n"
    "sys.path[:] = [*paths, *(p for p in sys.path if p not in own)]\n"
    "sys.argv = ['awslambdaric', handler]\n"
    "runpy.run_module('awslambdaric', run_name='__main__', alter_sys=True)\n"
)
# A launcher other than a local interpreter (an image run by buildah): given the Runtime API's address and the
# function's environment, the argv that starts the image's own entry point with that environment.
Launcher = Callable[[str, Mapping[str, str]], Sequence[str]]


@dataclass(frozen=True)
class ContainerSpec:
    """How to start one function's sandbox."""

    function_name: str
    handler: str  # the handler string the template names (``handler.handler``)
    task_root: Path  # the staged package
    environment: Mapping[str, str]  # the function's variables (settings, Powertools, credentials...)
    timeout_seconds: float
    memory_mb: int = 512
    region: str = "us-east-1"
    account: str = "123456789012"
    python: str = sys.executable
    extra_paths: Sequence[str] = ()  # package directories after the task root (an image's installs)
    isolated: bool = False  # -I and no site-packages of the interpreter (an image rehearsal)
    log_path: Path | None = None
    launcher: Launcher | None = None  # instead of ``python``: e.g. ``buildah run`` of an image

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account}:function:{self.function_name}"


@dataclass
class _Invocation:
    request_id: str
    body: bytes
    deadline_ms: int
    done: threading.Event = field(default_factory=threading.Event)
    result: tuple[str, bytes, Mapping[str, str]] | None = None  # ("response"|"error", body, headers)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # a sandbox killed mid-request (a timeout, a stop) drops its connection: expected
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _RuntimeApi:
    """The Runtime API of one sandbox: hands out invocations, takes responses and errors."""

    def __init__(self) -> None:
        self.pending: queue.Queue[_Invocation | None] = queue.Queue()
        self.current: dict[str, _Invocation] = {}
        self.init_error: tuple[bytes, str] | None = None
        self.init_failed = threading.Event()
        self.waiting = threading.Event()  # the runtime asked for an invocation: init is done
        self.lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are separate writes: no delayed-ACK stalls

            def log_message(self, *_: Any) -> None:
                return None

            def _answer(self, status: int, body: bytes = b"{}", headers: Mapping[str, str] | None = None) -> None:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path != f"{RUNTIME_API}/invocation/next":
                    self._answer(404, b'{"errorMessage": "unknown runtime API path"}')
                    return
                api.waiting.set()
                invocation = api.pending.get()
                api.waiting.clear()
                if invocation is None:  # the sandbox is being shut down
                    self._answer(500, b'{"errorMessage": "shutting down"}')
                    return
                with api.lock:
                    api.current[invocation.request_id] = invocation
                self._answer(
                    200,
                    invocation.body,
                    {
                        "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
                        "Lambda-Runtime-Deadline-Ms": str(invocation.deadline_ms),
                        "Lambda-Runtime-Invoked-Function-Arn": api.arn,
                        "Lambda-Runtime-Trace-Id": f"Root=1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]};Sampled=0",
                    },
                )

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
                    length = int(self.headers.get("Content-Length") or 0)
                    return self.rfile.read(length) if length else b""
                chunks = []  # the runtime client may stream a large answer
                while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                self.rfile.readline()
                return b"".join(chunks)

            def do_POST(self) -> None:
                body = self._body()
                parts = self.path.removeprefix(RUNTIME_API).strip("/").split("/")
                if parts == ["init", "error"]:
                    api.init_error = (body, self.headers.get("Lambda-Runtime-Function-Error-Type", ""))
                    api.init_failed.set()
                    self._answer(202)
                    return
                if len(parts) == 3 and parts[0] == "invocation" and parts[2] in {"response", "error"}:
                    with api.lock:
                        invocation = api.current.pop(parts[1], None)
                    if invocation is None:
                        self._answer(400, b'{"errorMessage": "unknown request id"}')
                        return
                    invocation.result = (parts[2], body, dict(self.headers.items()))
                    invocation.done.set()
                    self._answer(202)
                    return
                self._answer(404, b'{"errorMessage": "unknown runtime API path"}')

        self.arn = ""
        self.server = _QuietServer((HOST, 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, name="runtime-api", daemon=True)
        self.thread.start()

    @property
    def address(self) -> str:
        host, port = self.server.server_address[:2]
        return f"{host!s}:{port}"

    def stop(self) -> None:
        self.pending.put(None)
        self.server.shutdown()
        self.server.server_close()


class Container:
    """One warm sandbox of one function; :meth:`invoke` starts it (a cold start) when it is not running."""

    def __init__(self, spec: ContainerSpec) -> None:
        self.spec = spec
        self._api = _RuntimeApi()
        self._api.arn = spec.arn
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._lock = threading.Lock()  # one invocation at a time, as in one sandbox
        self.cold_starts = 0

    def _start(self) -> None:
        spec = self.spec
        self._api.init_error = None
        self._api.init_failed.clear()
        self._api.waiting.clear()
        env = {
            **spec.environment,
            "AWS_LAMBDA_RUNTIME_API": self._api.address,
            "AWS_LAMBDA_FUNCTION_NAME": spec.function_name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.function_name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": f"local/{uuid.uuid4().hex}",
            "AWS_REGION": spec.region,
            "AWS_DEFAULT_REGION": spec.region,
            "LAMBDA_TASK_ROOT": str(spec.task_root),
            "_HANDLER": spec.handler,
            "TZ": ":UTC",
            "LANG": "en_US.UTF-8",
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        if spec.log_path is not None and self._log is None:
            spec.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = open(spec.log_path, "ab")  # noqa: SIM115 (kept open for the sandbox's life)
        if spec.launcher is not None:
            command = list(spec.launcher(self._api.address, env))
            env = {"PATH": env["PATH"]}  # the launcher hands the function's environment over itself
        else:
            command = [spec.python, *(["-I"] if spec.isolated else []), "-c", BOOTSTRAP, spec.handler]
            command += ["1" if spec.isolated else "0", str(spec.task_root), *spec.extra_paths]
        self._process = subprocess.Popen(  # noqa: S603 (our own interpreter and bootstrap, no shell)
            command,
            cwd=spec.task_root if spec.launcher is None else None,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log or subprocess.DEVNULL,
            stderr=subprocess.STDOUT if self._log else subprocess.DEVNULL,
        )
        self.cold_starts += 1

    def _alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def invoke(self, event: Any, request_id: str | None = None) -> Outcome:
        """Run one invocation and return its outcome (never raises for the function's own failures)."""
        rid = request_id or str(uuid.uuid4())
        body = json.dumps(event).encode()
        with self._lock:
            if not self._alive():
                self._start()
            deadline = time.time() + self.spec.timeout_seconds
            invocation = _Invocation(rid, body, int(deadline * 1000))
            self._api.pending.put(invocation)
            while not invocation.done.wait(0.02):
                if self._api.init_failed.is_set():
                    self._forget()
                    return self._init_failure(rid)
                if not self._alive():
                    self._forget()
                    code = self._process.returncode if self._process else None
                    return Outcome(
                        rid,
                        False,
                        error_type="Runtime.ExitError",
                        error_message=f"RequestId: {rid} Error: Runtime exited with error: exit status {code}",
                    )
                if time.time() > deadline:
                    self._kill()
                    self._forget()
                    return Outcome(
                        rid,
                        False,
                        error_type="Sandbox.Timedout",
                        error_message=f"{rid} Task timed out after {self.spec.timeout_seconds:.2f} seconds",
                    )
            assert invocation.result is not None
            kind, payload, _headers = invocation.result
            return self._outcome(rid, kind, payload)

    def _forget(self) -> None:
        # an invocation the sandbox never took (or took and died on) must not reach the next sandbox; a /next
        # of the dead process still waiting on the old queue is released
        old, self._api.pending = self._api.pending, queue.Queue()
        old.put(None)
        with self._api.lock:
            self._api.current.clear()

    def _init_failure(self, rid: str) -> Outcome:
        body, error_type = self._api.init_error or (b"{}", "")
        self._wait_exit()
        try:
            error = json.loads(body)
        except ValueError:
            error = {"errorMessage": body.decode(errors="replace")}
        return Outcome(
            rid,
            False,
            error_type=str(error.get("errorType") or error_type or "Runtime.Unknown"),
            error_message=str(error.get("errorMessage", "")),
            stack=list(error.get("stackTrace") or []),
            phase="init",
        )

    @staticmethod
    def _outcome(rid: str, kind: str, payload: bytes) -> Outcome:
        if kind == "response":
            try:
                return Outcome(rid, True, json.loads(payload) if payload else None)
            except ValueError as exc:
                return Outcome(rid, False, error_type="Runtime.MarshalError", error_message=str(exc))
        try:
            error = json.loads(payload)
        except ValueError:
            error = {"errorMessage": payload.decode(errors="replace")}
        return Outcome(
            rid,
            False,
            error_type=str(error.get("errorType", "Unhandled")),
            error_message=str(error.get("errorMessage", "")),
            stack=[str(line) for line in error.get("stackTrace") or []],
        )

    def _wait_exit(self, timeout: float = 5.0) -> None:
        if self._process is not None:
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._kill()

    def _kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(5)

    def warm(self, timeout: float = 60.0) -> str | None:
        """Start the sandbox now (a cold start ahead of the first invocation); returns its init error, if any."""
        with self._lock:
            if not self._alive():
                self._start()
            deadline = time.time() + timeout
            while time.time() < deadline:
                if self._api.init_failed.is_set():
                    failure = self._init_failure("init")
                    return f"{failure.error_type}: {failure.error_message}"
                if not self._alive():
                    return f"Runtime.ExitError: exit status {self._process.returncode if self._process else None}"
                if self._api.waiting.is_set():
                    return None
                time.sleep(0.02)
            return f"init did not finish within {timeout:.0f} s"

    def log(self) -> str:
        """What the sandbox printed so far (its logs), for failure messages."""
        if self.spec.log_path is None or not self.spec.log_path.exists():
            return ""
        return self.spec.log_path.read_text(errors="replace")

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._alive() and self._process else None

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._kill()  # first, so its pending /next is not answered to a live process
        self._api.stop()
        if self._log is not None:
            self._log.close()
            self._log = None
