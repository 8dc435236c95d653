"""The local runtime (``driftline local up``): a rehearsal of the deployment on loopback. AWS is emulated by moto,
the triggers by this package, and every function runs as Lambda runs it, from the same definitions the CDK stack
synthesizes (:mod:`driftline.deploy`).

What is emulated, and how:

- **AWS services**: moto's server (``ThreadedMotoServer``) on ``127.0.0.1:<free port>``, its state reset at
  start; every client gets ``endpoint_url`` (and the explicit Timestream endpoints, so no endpoint discovery).
  ``provision(settings)`` creates every resource the stack creates (:mod:`driftline.layout`).
- **IAM**, enforced (:mod:`driftline.local.iam`): one role per function with exactly the statements the stack
  gives it, the scheduler's role, the SDK's principal (the stack's SDK policy), an administrator for the stack's
  own setup. Every call is authorised as AWS would (actions, resource ARNs, conditions); a denial is the same
  AccessDenied the function would get in AWS, and the ledger reports per principal what it called.
- **Functions** (:mod:`driftline.local.containers`): one process per function, started with its environment
  only (settings, Powertools variables, its role's credentials), its code from the staged package that
  ``cdk deploy`` uploads, its handler string resolved by the Lambda runtime interface client; timeouts enforced.
- **HTTP API** (API Gateway, payload format 2.0): a threaded HTTP server on ``127.0.0.1:<port>`` (default 8780)
  turns each request into the v2 event for a serving function: ``/v2/...`` is the stack's own project and
  function, ``/projects/{project}/{function}/v2/...`` any other (one serving function per project and function,
  as a stack per project would deploy, mounted like a custom domain's API mappings). A body over 10 MB is
  refused with 413 before the handler; a failing function is a 500 ``Internal Server Error``.
- **Lambda Invoke API** on the same server (``POST /2015-03-31/functions/{name}/invocations``), authorised
  (``lambda:InvokeFunction`` for the signing principal): ``Event`` -> 202 and an internal queue with Lambda's
  async semantics (two retries, 1 s then 2 s locally instead of 1 and 2 minutes, then the on-failure
  destination, with the function's role); ``RequestResponse`` -> the function's JSON, or ``X-Amz-Function-Error:
  Unhandled`` and the error payload; unknown functions -> 404 ``ResourceNotFoundException``.
- **Kinesis event source mapping**: a poller per shard reading with the stream function's role, batches of 100
  within a 0.2 s window, the real batch event, ``batchItemFailures`` honoured, bounded retries with backoff, then
  the failed range goes to the stream-failures queue (see ``kinesis_source.py``).
- **EventBridge Scheduler**: the projects' schedules are read from moto and fire their target (async invoke,
  the schedule's input as the event) on the fast-forwardable clock, if the schedule's role may invoke it.
- **Admin routes** on the same server: ``GET /_local/status``, ``POST /_local/clock/advance {"seconds": N}``,
  ``POST /_local/drain`` (``?timeout=S``), ``POST /_local/controller/run {"project": ...}``.
- **Discovery**: the state file (``driftline.sdk.discovery``) is written once the stack answers and removed
  at stop; it holds the SDK principal's keys, so the SDK and the CLI reach the stack from any shell with no AWS
  credentials of their own. One stack per ``DRIFTLINE_HOME``.

Not emulated: API authorisation on the HTTP API, Lambda concurrency (one sandbox per function: its invocations
run one at a time), memory limits, Kinesis throughput limits, resharding and record expiry, Timestream queries
(moto returns no rows: the SDK reads results from DynamoDB), CloudWatch dashboards and alarm actions,
SNS/EventBridge deliveries other than what moto itself fans out, request signatures (the keys identify the
principal; the signature is not checked), and time: the clock only moves when advanced (``driftline.clock``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from driftline import clock
from driftline.aws.clients import Clients
from driftline.aws.provision import provision, topic_key_arn
from driftline.aws.schedules import Schedule, Schedules
from driftline.config import Credentials, ServingIdentity, Settings
from driftline.errors import ConfigurationError
from driftline.local.async_invoke import DEFAULT_RETRY_DELAYS, AsyncInvoker
from driftline.local.containers import Container
from driftline.local.deployment import LocalDeployment, Runtime, serving_function_name
from driftline.local.emulation import make_dynamodb_writes_atomic
from driftline.local.functions import (
    ACCOUNT_ID,
    HANDLER_KEYS,
    FunctionTable,
    Handler,
    Outcome,
    function_name_from,
)
from driftline.local.iam import Authorization, Enforcer, create_admin
from driftline.local.kinesis_source import KinesisEventSource, PollerConfig
from driftline.local.scheduler import ScheduleRunner
from driftline.local.server import SERVING_MOUNT, Dispatcher, LocalHttpServer, close_connections
from driftline.observability import get_logger

DEFAULT_PORT = 8780
HOST = "127.0.0.1"
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "driftline-local",
    "AWS_SECRET_ACCESS_KEY": "driftline-local",
    "AWS_SESSION_TOKEN": "driftline-local",
}


_RUNNING_LOCK = threading.Lock()
_RUNNING_STACK: LocalStack | None = None  # one per process: moto's backends, IAM and the clock are process-wide


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

    The real functions run as Lambda runs them (:mod:`driftline.local.containers`), each with its own role, and
    IAM is enforced on every call (:mod:`driftline.local.iam`). ``handlers`` replaces some functions (keys:
    serving, stream, controller, writer, app) with plain ``handler(event, context)`` callables run in-process:
    test doubles for testing the triggers.

    :attr:`settings` are the SDK's (the stack's SDK principal's credentials); :attr:`clients` act as the local
    administrator (for checks that look behind the scenes). ``serves`` is the serving function the root of the
    HTTP API serves, as a stack deployed for that project does (default: ``settings.api_serves``, else the
    default project's ``serving``); any other is under ``/projects/{project}/{function}``.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        serves: ServingIdentity | None = None,
        port: int = DEFAULT_PORT,
        handlers: Mapping[str, Handler] | None = None,
        kinesis: PollerConfig | None = None,
        async_workers: int = 3,
        lambda_concurrency: int = 2,
        retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
        schedule_interval: float = 0.5,
        shard_count: int = 2,
        metrics: bool = False,
        log_level: str = "WARNING",
        write_state: bool = True,
        runtime: Runtime | None = None,
        run_dir: Path | None = None,
    ) -> None:
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be 0 (any free port) or 1-65535, got {port}")
        if not 2 <= async_workers <= 4:
            raise ValueError(f"async_workers must be between 2 and 4, got {async_workers}")
        if not 1 <= lambda_concurrency <= 16:
            raise ValueError(
                f"lambda_concurrency must be between 1 and 16 sandboxes per function, got {lambda_concurrency}"
            )
        self._base = settings or Settings()
        self._serves = serves or self._base.api_serves or ServingIdentity()
        self._port = port
        self._handlers = dict(handlers or {})
        unknown = set(self._handlers) - set(HANDLER_KEYS)
        if unknown:
            raise KeyError(f"unknown handler keys {sorted(unknown)}; expected some of {list(HANDLER_KEYS)}")
        self._kinesis_config = kinesis or PollerConfig()
        # async events run by a pool large enough to keep every function's sandboxes busy at once
        self._async_workers = max(async_workers, 2 * lambda_concurrency)
        self._lambda_concurrency = lambda_concurrency
        self._retry_delays = tuple(retry_delays)
        self._schedule_interval = schedule_interval
        self._shard_count = shard_count
        self._metrics = metrics
        self._log_level = log_level
        self._write_state = write_state
        self._runtime = runtime
        self._run_dir_option = run_dir
        self._saved_env: dict[str, str | None] = {}
        self._moto: _MotoServer | None = None
        self._http: LocalHttpServer | None = None
        self._settings: Settings | None = None
        self._clients: Clients | None = None
        self._stack_id: str | None = None
        self._run_dir: Path | None = None
        self._own_run_dir = False
        self.deployment: LocalDeployment | None = None
        self.iam: Enforcer | None = None
        self.functions: FunctionTable | None = None
        self.async_invoker: AsyncInvoker | None = None
        self.kinesis_source: KinesisEventSource | None = None
        self.scheduler: ScheduleRunner | None = None
        self._role_clients: dict[str, Clients] = {}
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
        """The SDK's settings of this stack: the local endpoints and the SDK principal's credentials."""
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
        """Clients acting as the local administrator (allowed everything)."""
        if self._clients is None:
            raise RuntimeError("the local stack is not started; call start() first")
        return self._clients

    @property
    def run_dir(self) -> Path:
        if self._run_dir is None:
            raise RuntimeError("the local stack is not started; call start() first")
        return self._run_dir

    def clients_for(self, principal: str) -> Clients:
        """Clients acting as one of the stack's principals (``serving``, ``stream``, ..., ``scheduler``, ``sdk``)."""
        assert self.deployment is not None
        cached = self._role_clients.get(principal)
        if cached is None:
            cached = self._role_clients[principal] = Clients(self.deployment.settings_for(principal))
        return cached

    def start(self) -> Settings:
        """Start moto, provision, enforce IAM, start the triggers and the HTTP server; returns the SDK's settings."""
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
        global _RUNNING_STACK
        if self._write_state:
            from driftline.sdk.discovery import check_home_free

            check_home_free()
        with _RUNNING_LOCK:
            if _RUNNING_STACK is not None:
                raise ConfigurationError(
                    "a local stack already runs in this process: moto's state, the IAM enforcement and the clock "
                    "are per process; stop it first, or run the other one in another process"
                )
            _RUNNING_STACK = self
        try:
            self._http = LocalHttpServer(HOST, self._port)
        except OSError as exc:
            raise ConfigurationError(
                f"cannot listen on {HOST}:{self._port} ({exc.strerror}); is another local stack running? "
                "Stop it, or pass --port 0 for any free port"
            ) from exc
        if self._run_dir_option is not None:
            self._run_dir = self._run_dir_option
            self._run_dir.mkdir(parents=True, exist_ok=True)
        else:
            self._run_dir = Path(tempfile.mkdtemp(prefix="driftline-local-"))
            self._own_run_dir = True
        make_dynamodb_writes_atomic()  # moto's conditional writes are not atomic; DynamoDB's are
        self._moto = _MotoServer()
        self._moto.start()
        moto_url = self._moto.url
        _reset_moto(moto_url)
        self._export(
            {
                # nothing in this process can reach a real account: stray clients go to moto, which knows
                # no such key
                **FAKE_CREDENTIALS,
                "AWS_PROFILE": None,
                "AWS_REGION": self._base.region,
                "AWS_DEFAULT_REGION": self._base.region,
                "AWS_ENDPOINT_URL": moto_url,
                "POWERTOOLS_LOG_LEVEL": self._log_level,
                "POWERTOOLS_METRICS_DISABLED": "false" if self._metrics else "true",
            }
        )
        api_url = self._http.url
        base = self._base.replace(
            endpoint_url=moto_url,
            timestream_write_endpoint_url=moto_url,
            timestream_query_endpoint_url=moto_url,
            lambda_endpoint_url=api_url,
            api_url=api_url,
            serving_url_template=f"{api_url}{SERVING_MOUNT}",
            api_serves=self._serves,
            controller_arn=self._base.controller_arn
            or f"arn:aws:lambda:{self._base.region}:{ACCOUNT_ID}:function:{self._base.controller_function}",
            credentials=None,
        )
        # Before IAM is enforced: the administrator, the resources, the roles (as `cdk deploy` would make them).
        bootstrap = Clients(base.replace(credentials=Credentials("bootstrap", "bootstrap")))
        admin = create_admin(bootstrap.iam)
        admin_clients = Clients(base.replace(credentials=admin.credentials))
        installation = provision(base, admin_clients, shard_count=self._shard_count)
        self.deployment = LocalDeployment(
            installation,
            admin_clients.iam,
            admin_clients.sts,
            self._run_dir,
            topic_key_arn=topic_key_arn(admin_clients, installation.alerts_topic_arn) or "",
            runtime=self._runtime,
            log_level=self._log_level,
            metrics=self._metrics,
        )
        installation = self.deployment.settings
        self._clients = Clients(installation.replace(credentials=admin.credentials))
        self.iam = Enforcer({**self.deployment.role_labels, admin.name: "admin"}).start()
        clock.share(self.deployment.clock_file)
        self._settings = self.deployment.settings_for("sdk")

        deployment = self.deployment
        self.serving = ServingRoutes(self._serves, deployment.names["serving"])
        self.functions = FunctionTable(
            installation,
            self._handlers,
            sandboxes=self._sandbox,
            serving_names=self.serving.known,
            stream_function=deployment.names["stream"],
            serving_function=deployment.names["serving"],
            concurrency=self._lambda_concurrency,
        )
        self.async_invoker = AsyncInvoker(
            self.functions, self._send_dead_letter, workers=self._async_workers, retry_delays=self._retry_delays
        )
        # the event source mapping reads the stream with the stream function's role, as Lambda does
        self.kinesis_source = KinesisEventSource(
            self.clients_for("stream").kinesis,
            self.functions,
            installation.stream_name,
            installation.region,
            self._kinesis_config,
            self._send_dead_letter,
        )
        schedules = Schedules(self._clients)
        self.scheduler = ScheduleRunner(schedules.list, self._fire_schedule, interval=self._schedule_interval)
        self._http.dispatcher = Dispatcher(
            self.functions, self.async_invoker, self, self._http.port, serving=self.serving, iam=self
        )

        self.async_invoker.start()
        self.kinesis_source.start()
        self.scheduler.start()
        self._http.start()
        if self._write_state:
            from driftline.sdk.discovery import write_local_state

            self._stack_id = write_local_state(self._settings, run_dir=str(self._run_dir))
        return self._settings

    def _sandbox(self, key: str, name: str) -> Container:
        assert self.deployment is not None
        overrides = self.serving.environment(name) if key == "serving" else None
        return Container(self.deployment.spec(key, name, overrides))

    def stop(self) -> None:
        """Stop everything started, in reverse order; idempotent. Pending async events are dropped (logged)."""
        if not self._started:
            return
        self._stopping.set()
        if self._stack_id is not None:
            from driftline.sdk.discovery import clear_local_state

            clear_local_state(self._stack_id)
            self._stack_id = None
        if self.scheduler is not None:
            self.scheduler.stop()
        if self.kinesis_source is not None:
            self.kinesis_source.stop()
        if self.async_invoker is not None:
            self.async_invoker.stop()
        if self._http is not None:
            self._http.stop()
        if self.functions is not None:
            self.functions.stop()
        if self.iam is not None:
            self.iam.stop()
        clock.unshare()
        if self._moto is not None:
            if self._moto._server is not None:
                with contextlib.suppress(OSError):
                    _reset_moto(self._moto.url)  # moto's state is process-wide: free it for whoever comes next
            self._moto.stop()
        self._restore_env()
        if self._own_run_dir and self._run_dir is not None:
            shutil.rmtree(self._run_dir, ignore_errors=True)
        self._release()
        self._started = False

    def _release(self) -> None:
        global _RUNNING_STACK
        with _RUNNING_LOCK:
            if _RUNNING_STACK is self:
                _RUNNING_STACK = None

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
        """Start every function's sandbox now, in parallel (their cold starts); returns each one's init error."""
        assert self.functions is not None
        names = {key: self.functions.function_name(key) for key in HANDLER_KEYS}
        names["serving"] = self.serving.default_name

        def warm(key: str) -> str | None:
            if key in self._handlers:
                return None
            assert self.functions is not None
            sandbox = self.functions.sandbox(key, names[key])
            error = sandbox.warm() if isinstance(sandbox, Container) else None
            return error

        with ThreadPoolExecutor(max_workers=len(names)) as pool:
            return dict(zip(names, pool.map(warm, names), strict=True))

    # IAM for the local Lambda Invoke API and the scheduler ---------------------------------------------------
    def authorize_invoke(self, headers: Mapping[str, str], function_arn: str) -> tuple[bool, str]:
        """(allowed, caller) for a signed Invoke request: the caller's policies must allow
        ``lambda:InvokeFunction`` on the function, as in AWS."""
        assert self.iam is not None
        found = self.iam.principal_of(headers)
        if found is None:
            return False, ""
        principal, documents = found
        return self.iam.authorize(principal, documents, Authorization("lambda:InvokeFunction", function_arn)), principal

    # triggers ------------------------------------------------------------------------------------------------
    def _fire_schedule(self, schedule: Schedule) -> None:
        assert self.async_invoker is not None
        assert self.iam is not None
        assert self.functions is not None
        role = schedule.role_arn.rsplit("/", 1)[-1]
        target = schedule.target_arn or self.functions.function_arn(self.settings.controller_function)
        principal = self.iam.principals.get(role, role or "unknown")
        documents = self.iam.documents_of_role(role) if role else []
        if not self.iam.authorize(principal, documents, Authorization("lambda:InvokeFunction", target)):
            get_logger("driftline-local").error(
                "the schedule's role may not invoke its target", schedule=schedule.name, role=role, target=target
            )
            return
        key = self.functions.key_for(target)
        if key is None:
            get_logger("driftline-local").error("the schedule targets an unknown function", target=target)
            return
        payload = json.loads(json.dumps(schedule.payload))
        self.async_invoker.submit(key, function_name_from(target), payload)

    def _send_dead_letter(self, record: dict[str, Any], request_id: str, error: str) -> None:
        """Lambda's on-failure destinations, sent with the failing function's role: a Kinesis batch the stream
        function gave up on -> stream-failures; an asynchronous event out of retries -> async-failures."""
        assert self.functions is not None
        function = str(record.get("requestContext", {}).get("functionArn", ""))
        key = self.functions.key_for(function.removesuffix(":$LATEST")) or "stream"
        kinesis = "KinesisBatchInfo" in record
        url = self.settings.queue_url("stream-failures" if kinesis else "async-failures")
        if not url:
            raise RuntimeError("no dead-letter queue configured")
        self.clients_for("stream" if kinesis else key).sqs.send_message(
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
        assert self.iam is not None
        settings = self.settings.to_document()
        sandboxes = {
            name: {"pid": s.pid, "cold_starts": s.cold_starts, "log": str(s.spec.log_path)}
            for name, s in self.functions.sandboxes().items()
            if isinstance(s, Container)
        }
        return {
            "api_url": self.api_url,
            "moto_url": self.moto_url,
            "run_dir": str(self.run_dir),
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
            "sandboxes": sandboxes,
            "serving": self.serving.routes(),
            "iam": self.iam.ledger.report(),
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


class ServingRoutes:
    """The serving functions the HTTP API reaches: one sandbox per (project, serving function), as a deployed
    stack per project would have one, mounted like an API mapping of a custom domain:
    ``/projects/{project}/{function}/v2/...``; the root (``/v2/...``) is the stack's own project and function."""

    def __init__(self, root: ServingIdentity, base_name: str) -> None:
        self.default = (root.project, root.serving_function)
        self.base_name = base_name
        self._lock = threading.Lock()
        self._by_name: dict[str, tuple[str, str]] = {}
        self.default_name = self.name_for(*self.default)

    def name_for(self, project: str, function: str) -> str:
        """The stack's own function has the stack's name for it (``driftline-serving``); others get one each."""
        if (project, function) == self.default:
            name = self.base_name
        else:
            name = serving_function_name(self.base_name, project, function)
        with self._lock:
            self._by_name[name] = (project, function)
        return name

    def known(self, name: str) -> bool:
        with self._lock:
            return name in self._by_name

    def environment(self, name: str) -> dict[str, str]:
        """The serving function's identity, in its environment as the stack gives it."""
        with self._lock:
            project, function = self._by_name[name]
        return ServingIdentity(project, function).to_env()

    def routes(self) -> dict[str, str]:
        with self._lock:
            return {name: f"{SERVING_MOUNT.format(project=p, function=f)}" for name, (p, f) in self._by_name.items()}


def _reset_moto(moto_url: str) -> None:
    # moto's backends are process-wide: a stack started after an earlier one (or after mock_aws tests in the
    # same process) must not see their resources or records.
    request = urllib.request.Request(f"{moto_url}/moto-api/reset", data=b"", method="POST")  # noqa: S310 (loopback)
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
        answer.read()


def main_up(args: Any) -> int:
    """``driftline local up``: start the stack, say where it is, run until Ctrl-C / SIGTERM, stop cleanly."""
    port = getattr(args, "port", None)
    # the root of the HTTP API serves this project's function; any other is under /projects/{project}/{function}
    from_env = ServingIdentity.from_env()
    root = ServingIdentity(
        project=getattr(args, "project", None) or from_env.project,
        serving_function=getattr(args, "serving_function", None) or from_env.serving_function,
    )
    stack = LocalStack(
        serves=root, port=DEFAULT_PORT if port is None else int(port), metrics=bool(getattr(args, "metrics", False))
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
            f"  HTTP API      {settings.api_url}/v2/...  (project {root.project!r}, function "
            f"{root.serving_function!r})",
            f"                {settings.api_url}/projects/<project>/<function>/v2/...  (any other)",
            f"  Lambda Invoke {settings.lambda_endpoint_url}/2015-03-31/functions/<name>/invocations",
            f"  AWS (moto)    {settings.endpoint_url}  (IAM enforced)",
            f"  admin         {settings.api_url}/_local/status",
            f"  logs          {stack.run_dir / 'logs'}",
            f"  the SDK and the CLI find this stack from any shell through {state_path()}",
            "  other tools:  eval $(driftline local env)  (the SDK principal's keys and the endpoint)",
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
