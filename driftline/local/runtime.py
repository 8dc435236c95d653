"""The local runtime (``driftline local up``): AWS emulated on loopback, the triggers emulated, the same handler
code running in-process.

What is emulated, and how:

- **AWS services**: moto's server (``ThreadedMotoServer``) on ``127.0.0.1:<free port>``, its state reset at
  start; every client gets ``endpoint_url`` (and the explicit Timestream endpoints, so no endpoint discovery);
  fake credentials are put in ``os.environ`` (and ``AWS_ENDPOINT_URL`` points stray boto3 clients at moto), so
  nothing can reach a real account. ``provision(settings)`` creates every resource.
- **HTTP API** (API Gateway, payload format 2.0): a threaded HTTP server on ``127.0.0.1:<port>`` (default 8780)
  turns each request into the v2 event and calls the serving handler; its ``{statusCode, headers, body,
  isBase64Encoded, cookies}`` becomes the answer. A body over 10 MB is refused with 413 before the handler; a
  raising handler is a 500 ``Internal Server Error``, as API Gateway answers.
- **Lambda Invoke API** on the same server (``POST /2015-03-31/functions/{name}/invocations``): ``Event`` ->
  202 and an internal queue with Lambda's async semantics (two retries, 1 s then 2 s locally instead of 1 and 2
  minutes, then the dead-letter queue with the function and the error); ``RequestResponse`` -> the handler's
  JSON, or ``X-Amz-Function-Error: Unhandled`` and the error payload; unknown functions -> 404
  ``ResourceNotFoundException``. Names: ``controller_function``, ``writer_function``, ``app_function`` and any
  ``driftline-app*``.
- **Kinesis event source mapping**: a poller per shard, batches of 100 within a 0.2 s window, the real batch
  event, ``batchItemFailures`` honoured (resume at the first failed sequence number), bounded retries with
  backoff, then the failed range goes to the dead-letter queue (see ``kinesis_source.py``).
- **EventBridge Scheduler**: the projects' schedules are read from moto and fire the controller (async invoke,
  the schedule's input as the event) on the fast-forwardable clock (see ``scheduler.py``).
- **Admin routes** on the same server: ``GET /_local/status``, ``POST /_local/clock/advance {"seconds": N}``,
  ``POST /_local/drain`` (``?timeout=S``), ``POST /_local/controller/run {"project": ...}``.
- **Discovery**: the state file (``driftline.sdk.discovery``) is written once the stack answers and removed
  at stop, so the SDK and the CLI find the stack with no configuration.

Not emulated: IAM and API authorisation (every call is allowed), Lambda concurrency (each function is one warm
container: its invocations run one at a time), Lambda timeouts and memory limits, cold starts after idle,
Kinesis throughput limits, resharding and record expiry, Timestream queries (moto returns no rows: the SDK
reads results from DynamoDB), CloudWatch dashboards and alarms actions, SNS/EventBridge deliveries other than
what moto itself fans out, and time: the clock only moves when advanced (``driftline.clock``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from driftline import clock
from driftline.aws.clients import Clients
from driftline.aws.provision import provision
from driftline.aws.schedules import Schedule, Schedules
from driftline.config import Settings
from driftline.errors import ConfigurationError
from driftline.local.async_invoke import DEFAULT_RETRY_DELAYS, AsyncInvoker
from driftline.local.functions import ACCOUNT_ID, HANDLER_KEYS, FunctionTable, Handler, Outcome
from driftline.local.kinesis_source import KinesisEventSource, PollerConfig
from driftline.local.scheduler import ScheduleRunner
from driftline.local.server import Dispatcher, LocalHttpServer, close_connections

DEFAULT_PORT = 8780
HOST = "127.0.0.1"
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "driftline-local",
    "AWS_SECRET_ACCESS_KEY": "driftline-local",
    "AWS_SESSION_TOKEN": "driftline-local",
}


class HandlerFailed(RuntimeError):
    """A synchronous local invocation raised; ``outcome`` holds Lambda's error payload."""

    def __init__(self, function: str, outcome: Outcome) -> None:
        super().__init__(f"{function} failed: {outcome.error_type}: {outcome.error_message}")
        self.outcome = outcome


class _MotoServer(ThreadedMotoServer):
    """moto's threaded server on loopback that also ends its keep-alive connections at stop and logs only
    errors (not one line per request)."""

    def __init__(self) -> None:
        super().__init__(ip_address=HOST, port=0, verbose=False)
        self._conn_lock = threading.Lock()
        self._conns: dict[Any, threading.Thread] = {}
        self._error: BaseException | None = None

    def _server_entry(self) -> None:
        conns, lock = self._conns, self._conn_lock

        class Handler(MotoRequestHandler):
            disable_nagle_algorithm = True

            def setup(self) -> None:
                super().setup()
                with lock:
                    conns[self.connection] = threading.current_thread()

            def finish(self) -> None:
                with lock:
                    conns.pop(self.connection, None)
                super().finish()

            def log(self, type: str, message: str, *args: Any) -> None:
                if type == "error":
                    super().log(type, message, *args)

        try:
            app = DomainDispatcherApplication(create_backend_app)
            self._server = make_server(self._ip_address, self._port, app, True, request_handler=Handler)
        except BaseException as exc:
            self._error = exc
            self._server_ready_event.set()
            return
        self._server_ready_event.set()
        self._server.serve_forever(poll_interval=0.05)

    def start(self) -> None:
        super().start()
        if self._error is not None:
            raise RuntimeError(f"moto server could not start on {self._ip_address}: {self._error}") from self._error

    @property
    def url(self) -> str:
        host, port = self.get_host_and_port()
        return f"http://{host}:{port}"

    def stop(self, timeout: float = 5.0) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout)
        with self._conn_lock:
            conns = list(self._conns.items())
        close_connections([sock for sock, _ in conns])
        for _, thread in conns:
            thread.join(timeout)


class LocalStack:
    """The whole system on loopback. ``with LocalStack(port=0) as stack: ...`` or ``start()`` / ``stop()``.

    ``handlers`` replaces some of the real handler modules (keys: serving, stream, controller, writer, app) with
    plain ``handler(event, context)`` callables; the others are loaded from the checkout on first use.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        port: int = DEFAULT_PORT,
        handlers: Mapping[str, Handler] | None = None,
        kinesis: PollerConfig | None = None,
        async_workers: int = 3,
        retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
        schedule_interval: float = 0.5,
        shard_count: int = 2,
        metrics: bool = False,
        log_level: str = "WARNING",
        write_state: bool = True,
    ) -> None:
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be 0 (any free port) or 1-65535, got {port}")
        if not 2 <= async_workers <= 4:
            raise ValueError(f"async_workers must be between 2 and 4, got {async_workers}")
        self._base = settings or Settings()
        self._port = port
        self._handlers = dict(handlers or {})
        unknown = set(self._handlers) - set(HANDLER_KEYS)
        if unknown:
            raise KeyError(f"unknown handler keys {sorted(unknown)}; expected some of {list(HANDLER_KEYS)}")
        self._kinesis_config = kinesis or PollerConfig()
        self._async_workers = async_workers
        self._retry_delays = tuple(retry_delays)
        self._schedule_interval = schedule_interval
        self._shard_count = shard_count
        self._metrics = metrics
        self._log_level = log_level
        self._write_state = write_state
        self._saved_env: dict[str, str | None] = {}
        self._moto: _MotoServer | None = None
        self._http: LocalHttpServer | None = None
        self._settings: Settings | None = None
        self._clients: Clients | None = None
        self.functions: FunctionTable | None = None
        self.async_invoker: AsyncInvoker | None = None
        self.kinesis_source: KinesisEventSource | None = None
        self.scheduler: ScheduleRunner | None = None
        self._stopping = threading.Event()
        self._started = False

    # lifecycle -----------------------------------------------------------------------------------------------
    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            raise RuntimeError("the local stack is not started; call start() first")
        return self._settings

    @property
    def api_url(self) -> str:
        return self.settings.api_url or ""

    @property
    def moto_url(self) -> str:
        return self.settings.endpoint_url or ""

    @property
    def clients(self) -> Clients:
        if self._clients is None:
            raise RuntimeError("the local stack is not started; call start() first")
        return self._clients

    def start(self) -> Settings:
        """Start moto, provision, start the triggers and the HTTP server; returns the local settings."""
        if self._started:
            return self.settings
        self._started = True
        self._stopping.clear()
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> Settings:
        try:
            self._http = LocalHttpServer(HOST, self._port)
        except OSError as exc:
            raise ConfigurationError(
                f"cannot listen on {HOST}:{self._port} ({exc.strerror}); is another local stack running? "
                "Stop it, or pass --port 0 for any free port"
            ) from exc
        self._moto = _MotoServer()
        self._moto.start()
        moto_url = self._moto.url
        _reset_moto(moto_url)
        self._export(
            {
                **FAKE_CREDENTIALS,
                "AWS_PROFILE": None,
                "AWS_REGION": self._base.region,
                "AWS_DEFAULT_REGION": self._base.region,
                "AWS_ENDPOINT_URL": moto_url,
                "WR_S3_ENDPOINT_URL": moto_url,
                "WR_DYNAMODB_ENDPOINT_URL": moto_url,
                "WR_TIMESTREAM_WRITE_ENDPOINT_URL": moto_url,
                "WR_TIMESTREAM_QUERY_ENDPOINT_URL": moto_url,
                "POWERTOOLS_LOG_LEVEL": self._log_level,
                "POWERTOOLS_METRICS_DISABLED": "false" if self._metrics else "true",
            }
        )
        api_url = self._http.url
        settings = self._base.replace(
            endpoint_url=moto_url,
            timestream_write_endpoint_url=moto_url,
            timestream_query_endpoint_url=moto_url,
            lambda_endpoint_url=api_url,
            api_url=api_url,
            controller_arn=self._base.controller_arn
            or f"arn:aws:lambda:{self._base.region}:{ACCOUNT_ID}:function:{self._base.controller_function}",
        )
        settings = provision(settings, Clients(settings), shard_count=self._shard_count)
        self._settings = settings
        # the handlers read their settings from the environment, as in Lambda
        self._export(dict(settings.to_env()))
        self._clients = Clients(settings)
        self.functions = FunctionTable(settings, self._handlers)
        self.async_invoker = AsyncInvoker(
            self.functions, self._send_dead_letter, workers=self._async_workers, retry_delays=self._retry_delays
        )
        self.kinesis_source = KinesisEventSource(
            self._clients.kinesis,
            self.functions,
            settings.stream_name,
            settings.region,
            self._kinesis_config,
            self._send_dead_letter,
        )
        schedules = Schedules(self._clients)
        self.scheduler = ScheduleRunner(schedules.list, self._fire_schedule, interval=self._schedule_interval)
        self._http.dispatcher = Dispatcher(self.functions, self.async_invoker, self, self._http.port)

        self.async_invoker.start()
        self.kinesis_source.start()
        self.scheduler.start()
        self._http.start()
        if self._write_state:
            from driftline.sdk.discovery import write_local_state

            write_local_state(settings)
        return settings

    def stop(self) -> None:
        """Stop everything started, in reverse order; idempotent. Pending async events are dropped (logged)."""
        if not self._started:
            return
        self._stopping.set()
        if self._write_state and self._settings is not None:
            from driftline.sdk.discovery import clear_local_state

            clear_local_state()
        if self.scheduler is not None:
            self.scheduler.stop()
        if self.kinesis_source is not None:
            self.kinesis_source.stop()
        if self.async_invoker is not None:
            self.async_invoker.stop()
        if self._http is not None:
            self._http.stop()
        if self._moto is not None:
            if self._moto._server is not None:
                with contextlib.suppress(OSError):
                    _reset_moto(self._moto.url)  # moto's state is process-wide: free it for whoever comes next
            self._moto.stop()
        self._restore_env()
        self._started = False

    def _export(self, values: Mapping[str, str | None]) -> None:
        for key, value in values.items():
            if key not in self._saved_env:
                self._saved_env[key] = os.environ.get(key)
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    def _restore_env(self) -> None:
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env.clear()

    def preload(self) -> dict[str, str | None]:
        """Load every handler now (a warm container each); returns each one's load error, or None."""
        assert self.functions is not None
        errors: dict[str, str | None] = {}
        for key in HANDLER_KEYS:
            try:
                self.functions.handler(key)
                errors[key] = None
            except Exception as exc:
                errors[key] = f"{type(exc).__name__}: {exc}"
        return errors

    # triggers ------------------------------------------------------------------------------------------------
    def _fire_schedule(self, schedule: Schedule) -> None:
        assert self.async_invoker is not None
        payload = json.loads(json.dumps(schedule.payload))
        self.async_invoker.submit("controller", self.settings.controller_function, payload)

    def _send_dead_letter(self, record: dict[str, Any], request_id: str, error: str) -> None:
        url = self.settings.dead_letter_queue_url
        if not url:
            raise RuntimeError("no dead-letter queue configured (settings.dead_letter_queue_url is empty)")
        self.clients.client("sqs").send_message(
            QueueUrl=url,
            MessageBody=json.dumps(record, default=str),
            MessageAttributes={
                "RequestID": {"DataType": "String", "StringValue": request_id},
                "ErrorCode": {"DataType": "Number", "StringValue": "200"},
                "ErrorMessage": {"DataType": "String", "StringValue": error[:1000] or "unknown"},
            },
        )

    # admin (also served under /_local/) ----------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        assert self.functions is not None
        assert self.async_invoker is not None
        assert self.kinesis_source is not None
        assert self.scheduler is not None
        settings = {f.name: getattr(self.settings, f.name) for f in dataclasses.fields(Settings) if f.name != "extra"}
        return {
            "api_url": self.api_url,
            "moto_url": self.moto_url,
            "settings": settings,
            "clock": {"now": clock.now().isoformat(), "offset_seconds": clock.offset_seconds()},
            "stream_arn": self.kinesis_source.stream_arn,
            "shards": self.kinesis_source.status(),
            "async": {
                **self.async_invoker.depth(),
                "retried": self.async_invoker.retried,
                "dead_lettered": self.async_invoker.dead_lettered,
            },
            "functions": self.functions.stats(),
            "schedules": self.scheduler.status(),
        }

    def advance_clock(self, seconds: float) -> dict[str, Any]:
        """Fast-forward the shared clock, then check the schedules at once (a due one fires now)."""
        assert self.scheduler is not None
        now = clock.advance(seconds)
        fired = self.scheduler.tick()
        return {"now": now.isoformat(), "offset_seconds": clock.offset_seconds(), "fired": fired}

    def drain(self, timeout: float = 30.0) -> bool:
        """Block until the pollers have handled every record now in the stream and the async queue is empty
        and idle (twice in a row, so work started by work is waited for). False on timeout or stop."""
        assert self.kinesis_source is not None
        assert self.async_invoker is not None
        deadline = time.monotonic() + timeout
        calm = 0
        while not self._stopping.is_set():
            if self.async_invoker.idle() and self.kinesis_source.caught_up() and self.async_invoker.idle():
                calm += 1
                if calm >= 2:
                    return True
            else:
                calm = 0
            if time.monotonic() >= deadline:
                return False
            self._stopping.wait(0.05)
        return False

    def run_controller(self, project: str | None = None) -> Any:
        """Run the controller now, synchronously: for ``project``, or (None) for every monitored project, with
        the event an EventBridge rule's schedule delivers."""
        assert self.functions is not None
        if project is not None:
            event: dict[str, Any] = {"source": "driftline.schedule", "project": project}
        else:
            event = {
                "version": "0",
                "id": str(uuid.uuid4()),
                "detail-type": "Scheduled Event",
                "source": "aws.events",
                "account": ACCOUNT_ID,
                "time": clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
                "region": self.settings.region,
                "resources": [f"arn:aws:events:{self.settings.region}:{ACCOUNT_ID}:rule/driftline-controller"],
                "detail": {},
            }
        outcome = self.functions.invoke("controller", event)
        if not outcome.ok:
            raise HandlerFailed(self.settings.controller_function, outcome)
        return outcome.result


def _reset_moto(moto_url: str) -> None:
    # moto's backends are process-wide: a stack started after an earlier one (or after mock_aws tests in the
    # same process) must not see their resources or records.
    request = urllib.request.Request(f"{moto_url}/moto-api/reset", data=b"", method="POST")  # noqa: S310 (loopback)
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
        answer.read()


def main_up(args: Any) -> int:
    """``driftline local up``: start the stack, say where it is, run until Ctrl-C / SIGTERM, stop cleanly."""
    port = getattr(args, "port", None)
    # like a deployed stack, the local one serves one project's serving function (HTTP routes carry no project)
    base = Settings(
        project=getattr(args, "project", None) or os.environ.get("DRIFTLINE_PROJECT") or Settings.project,
        serving_function=getattr(args, "serving_function", None)
        or os.environ.get("DRIFTLINE_SERVING_FUNCTION")
        or Settings.serving_function,
    )
    stack = LocalStack(
        base, port=DEFAULT_PORT if port is None else int(port), metrics=bool(getattr(args, "metrics", False))
    )
    stop = threading.Event()
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda *_: stop.set())
    try:
        settings = stack.start()
        from driftline.sdk.discovery import state_path

        lines = [
            "driftline local stack is up",
            f"  HTTP API      {settings.api_url}  (POST /v2/models/<name>/infer)",
            f"                serves project {settings.project!r}, function {settings.serving_function!r} "
            "(DRIFTLINE_PROJECT / DRIFTLINE_SERVING_FUNCTION choose them)",
            f"  Lambda Invoke {settings.lambda_endpoint_url}/2015-03-31/functions/<name>/invocations",
            f"  AWS (moto)    {settings.endpoint_url}",
            f"  admin         {settings.api_url}/_local/status",
            f"  the SDK and the CLI find this stack through {state_path()}",
            f"  other tools:  AWS_ENDPOINT_URL={settings.endpoint_url} AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x",
            "Ctrl-C stops it.",
        ]
        print("\n".join(lines), flush=True)
        for key, error in stack.preload().items():
            if error:
                print(f"  warning: handler {key} did not load: {error}", file=sys.stderr, flush=True)
        while not stop.wait(0.5):
            pass
        print("stopping...", flush=True)
    finally:
        stack.stop()
        for signum, handler in previous.items():
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(signum, handler)
    return 0
