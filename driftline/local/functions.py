"""The local "Lambda service": which function a name is, and running one invocation of it.

A real function runs in a sandbox of its own (:mod:`driftline.local.containers`): a process started from the
staged package with the function's environment and role, its handler string resolved by the Lambda runtime
interface client. Tests may inject plain callables ``handler(event, context)`` instead (test doubles, run
in-process); those never stand for the real handlers.

Function names: the controller, the writer and the generic app function are the settings' names; any name
starting with the generic app function's name plus ``-`` is a per-app function (same code and role, a sandbox
of its own); ``serving`` sandboxes are one per (project, serving function) the HTTP API routes to.
"""

from __future__ import annotations

import json
import threading
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from driftline.config import Settings
from driftline.local.lambda_context import LocalLambdaContext

Handler = Callable[[Any, Any], Any]
HANDLER_KEYS = ("serving", "stream", "controller", "writer", "app")
ACCOUNT_ID = "123456789012"


@dataclass
class Outcome:
    """One invocation's result: the handler's return value, or the error it raised (Lambda's error shape)."""

    request_id: str
    ok: bool
    result: Any = None
    error_type: str = ""
    error_message: str = ""
    stack: list[str] = field(default_factory=list)
    phase: str = "invoke"  # "init" when the function could not even start (its handler did not load)

    def error_payload(self) -> dict[str, Any]:
        return {
            "errorMessage": self.error_message,
            "errorType": self.error_type,
            "requestId": self.request_id,
            "stackTrace": self.stack,
        }


class Sandbox(Protocol):
    def invoke(self, event: Any, request_id: str | None = None) -> Outcome: ...

    def stop(self) -> None: ...


# (key, function name) -> a started-on-demand sandbox for it
SandboxFactory = Callable[[str, str], Sandbox]


def function_name_from(identifier: str) -> str:
    """The bare function name of a name, a partial ARN (``123:function:name``) or a full ARN, with or without
    a qualifier, as Lambda accepts them."""
    parts = identifier.split(":")
    if len(parts) >= 7 and parts[0] == "arn":  # arn:aws:lambda:region:account:function:name[:qualifier]
        return parts[6]
    if len(parts) >= 3 and parts[1] == "function":  # account:function:name[:qualifier]
        return parts[2]
    return parts[0]  # name[:qualifier]


def _no_sandboxes(key: str, name: str) -> Sandbox:
    raise RuntimeError(f"no sandbox factory: the {key} function ({name}) can only run as an injected handler here")


class FunctionTable:
    """Function names -> sandboxes (or injected test handlers), with per-function call and error counts."""

    def __init__(
        self,
        settings: Settings,
        handlers: Mapping[str, Handler] | None = None,
        sandboxes: SandboxFactory = _no_sandboxes,
        serving_names: Callable[[str], bool] = lambda _name: False,
        stream_function: str = "driftline-stream",
        serving_function: str = "driftline-serving",
        concurrency: int = 1,
    ) -> None:
        if not 1 <= concurrency <= 64:
            raise ValueError(f"concurrency must be between 1 and 64 sandboxes per function, got {concurrency}")
        unknown = set(handlers or {}) - set(HANDLER_KEYS)
        if unknown:
            raise KeyError(f"unknown handler keys {sorted(unknown)}; expected some of {list(HANDLER_KEYS)}")
        self.settings = settings
        self._injected = dict(handlers or {})
        self._factory = sandboxes
        self._is_serving = serving_names
        self._names = {"stream": stream_function, "serving": serving_function}
        self.concurrency = concurrency
        # per function name: every sandbox started (the first is the one preload warms) and the idle ones; an
        # invocation takes an idle sandbox, starts one more while fewer than ``concurrency`` exist, else waits
        self._sandboxes: dict[str, list[Sandbox]] = {}
        self._idle: dict[str, list[Sandbox]] = {}
        self._sandbox_lock = threading.Condition()
        self._run_slots: dict[str, threading.BoundedSemaphore] = {}
        self._stats_lock = threading.Lock()
        self._stats = {key: {"calls": 0, "errors": 0} for key in HANDLER_KEYS}

    def key_for(self, function: str) -> str | None:
        """The handler key of a function name/ARN, or None for a function this installation does not have."""
        name = function_name_from(function)
        s = self.settings
        if name == s.controller_function:
            return "controller"
        if name == s.writer_function:
            return "writer"
        if name == s.app_function or name.startswith(f"{s.app_function}-"):
            return "app"
        if self._is_serving(name):
            return "serving"
        return None

    def function_name(self, key: str) -> str:
        s = self.settings
        return {
            "controller": s.controller_function,
            "writer": s.writer_function,
            "app": s.app_function,
            **self._names,
        }[key]

    def function_arn(self, name: str) -> str:
        return f"arn:aws:lambda:{self.settings.region}:{ACCOUNT_ID}:function:{name}"

    def sandbox(self, key: str, name: str) -> Sandbox:
        """The function's first sandbox (started if none is): the one ``preload`` warms."""
        with self._sandbox_lock:
            started = self._sandboxes.setdefault(name, [])
            if not started:
                sandbox = self._factory(key, name)
                started.append(sandbox)
                self._idle.setdefault(name, []).append(sandbox)
            return started[0]

    def _acquire(self, key: str, name: str) -> Sandbox:
        with self._sandbox_lock:
            while True:
                idle = self._idle.setdefault(name, [])
                if idle:
                    return idle.pop()
                started = self._sandboxes.setdefault(name, [])
                if len(started) < self.concurrency:
                    sandbox = self._factory(key, name)  # another instance: a cold start, as Lambda scales out
                    started.append(sandbox)
                    return sandbox
                self._sandbox_lock.wait()

    def _release(self, name: str, sandbox: Sandbox) -> None:
        with self._sandbox_lock:
            if sandbox in self._sandboxes.get(name, []):
                self._idle.setdefault(name, []).append(sandbox)
            self._sandbox_lock.notify()

    def invoke(self, key: str, event: Any, function_name: str | None = None, request_id: str | None = None) -> Outcome:
        """Run one invocation; never raises (a failing function is an error outcome, as Lambda reports it)."""
        if key not in self._stats:
            raise KeyError(f"unknown handler {key!r}; expected one of {list(HANDLER_KEYS)}")
        name = function_name or self.function_name(key)
        rid = request_id or str(uuid.uuid4())
        with self._stats_lock:
            self._stats[key]["calls"] += 1
        if key in self._injected:
            outcome = self._run_injected(key, name, rid, event)
        else:
            try:
                sandbox = self._acquire(key, name)
            except Exception as exc:  # the sandbox could not even be made
                outcome = _failed(rid, "Runtime.Unknown", exc)
            else:
                try:
                    outcome = sandbox.invoke(event, rid)
                except Exception as exc:  # the sandbox could not even start
                    outcome = _failed(rid, "Runtime.Unknown", exc)
                finally:
                    self._release(name, sandbox)
        if not outcome.ok:
            with self._stats_lock:
                self._stats[key]["errors"] += 1
        return outcome

    def _run_injected(self, key: str, name: str, rid: str, event: Any) -> Outcome:
        context = LocalLambdaContext(function_name=name, aws_request_id=rid, log_group_name=f"/aws/lambda/{name}")
        with self._sandbox_lock:
            slots = self._run_slots.setdefault(name, threading.BoundedSemaphore(self.concurrency))
        try:
            with slots:  # at most ``concurrency`` invocations of one function at a time, as its sandboxes
                result = self._injected[key](event, context)
        except Exception as exc:
            return _failed(rid, type(exc).__name__, exc)
        try:
            # Lambda serialises the answer; one that cannot be is the function's error.
            json.dumps(result, allow_nan=False)
        except (TypeError, ValueError) as exc:
            return _failed(rid, "Runtime.MarshalError", exc)
        return Outcome(rid, True, result)

    def stats(self) -> dict[str, dict[str, int]]:
        with self._stats_lock:
            return {key: dict(counts) for key, counts in self._stats.items()}

    def sandboxes(self) -> dict[str, Sandbox]:
        """Every sandbox started: the function's name for its first, ``{name}#{i}`` for the others."""
        with self._sandbox_lock:
            return {
                (name if i == 0 else f"{name}#{i}"): sandbox
                for name, started in self._sandboxes.items()
                for i, sandbox in enumerate(started)
            }

    def stop(self) -> None:
        with self._sandbox_lock:
            sandboxes = [s for started in self._sandboxes.values() for s in started]
            self._sandboxes, self._idle = {}, {}
            self._sandbox_lock.notify_all()
        for sandbox in sandboxes:
            sandbox.stop()


def _failed(rid: str, error_type: str, exc: BaseException) -> Outcome:
    stack = [line.rstrip("\n") for line in traceback.format_exception(exc)]
    return Outcome(rid, False, error_type=error_type, error_message=str(exc), stack=stack)
