"""The local "Lambda service": which handler answers which function name, and running one invocation.

Each function is one warm container: its handler module is loaded once (``load_handler(name, fresh=True)``
after the runtime exported the settings), and invocations of the same function run one at a time, as in one
Lambda container. Tests inject plain callables ``handler(event, context)`` instead of the real modules.
"""

from __future__ import annotations

import json
import threading
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from driftline.config import Settings
from driftline.local.lambda_context import LocalLambdaContext

Handler = Callable[[Any, Any], Any]
HANDLER_KEYS = ("serving", "stream", "controller", "writer", "app")
ACCOUNT_ID = "123456789012"
APP_PREFIX = "driftline-app"


_PROCESS_METRICS_LOCK = threading.Lock()


def _drop_unflushed_metrics() -> None:
    """With metrics disabled Powertools never clears its set; drop it after each call so nothing accumulates
    and no handler flushes another's figures."""
    from driftline.observability import get_metrics

    get_metrics().clear_metrics()


def _load_real(key: str) -> Handler:
    from driftline.local.handlers import load_handler

    module = load_handler(key, fresh=True)
    # every function's handler string is ``handler.handler``, as the stack names it: no other name is accepted
    handler = getattr(module, "handler", None)
    if not callable(handler):
        raise AttributeError(f"{module.__file__} has no callable handler(event, context)")
    return handler


@dataclass
class Outcome:
    """One invocation's result: the handler's return value, or the error it raised (Lambda's error shape)."""

    request_id: str
    ok: bool
    result: Any = None
    error_type: str = ""
    error_message: str = ""
    stack: list[str] = field(default_factory=list)

    def error_payload(self) -> dict[str, Any]:
        return {
            "errorMessage": self.error_message,
            "errorType": self.error_type,
            "requestId": self.request_id,
            "stackTrace": self.stack,
        }


def function_name_from(identifier: str) -> str:
    """The bare function name of a name, a partial ARN (``123:function:name``) or a full ARN, with or without
    a qualifier, as Lambda accepts them."""
    parts = identifier.split(":")
    if len(parts) >= 7 and parts[0] == "arn":  # arn:aws:lambda:region:account:function:name[:qualifier]
        return parts[6]
    if len(parts) >= 3 and parts[1] == "function":  # account:function:name[:qualifier]
        return parts[2]
    return parts[0]  # name[:qualifier]


class FunctionTable:
    """Function names -> handlers, with per-function call and error counts."""

    def __init__(
        self,
        settings: Settings,
        handlers: Mapping[str, Handler] | None = None,
        loader: Callable[[str], Handler] = _load_real,
    ) -> None:
        unknown = set(handlers or {}) - set(HANDLER_KEYS)
        if unknown:
            raise KeyError(f"unknown handler keys {sorted(unknown)}; expected some of {list(HANDLER_KEYS)}")
        self.settings = settings
        self._injected = dict(handlers or {})
        self._loader = loader
        self._loaded: dict[str, Handler] = {}
        self._load_lock = threading.Lock()
        self._run_locks = {key: threading.Lock() for key in HANDLER_KEYS}
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
        if name == s.app_function or name.startswith(APP_PREFIX):
            return "app"
        return None

    def function_name(self, key: str) -> str:
        s = self.settings
        return {"controller": s.controller_function, "writer": s.writer_function, "app": s.app_function}.get(
            key, f"driftline-{key}"
        )

    def function_arn(self, name: str) -> str:
        return f"arn:aws:lambda:{self.settings.region}:{ACCOUNT_ID}:function:{name}"

    def handler(self, key: str) -> Handler:
        if key in self._injected:
            return self._injected[key]
        with self._load_lock:
            if key not in self._loaded:
                self._loaded[key] = self._loader(key)
            return self._loaded[key]

    def invoke(self, key: str, event: Any, function_name: str | None = None, request_id: str | None = None) -> Outcome:
        """Run one invocation; never raises (a raising handler is an error outcome, as Lambda reports it)."""
        if key not in self._run_locks:
            raise KeyError(f"unknown handler {key!r}; expected one of {list(HANDLER_KEYS)}")
        name = function_name or self.function_name(key)
        rid = request_id or str(uuid.uuid4())
        context = LocalLambdaContext(function_name=name, aws_request_id=rid, log_group_name=f"/aws/lambda/{name}")
        with self._stats_lock:
            self._stats[key]["calls"] += 1
        try:
            handler = self.handler(key)
        except Exception as exc:
            return self._failed(key, rid, "Runtime.ImportModuleError", exc)
        try:
            # Powertools keeps one metric set per process; in Lambda a process is one function, here it is all
            # five. Handlers therefore take turns (each still sees only its own metrics), and a handler must
            # never invoke another synchronously (none does: the pipeline's invokes are asynchronous).
            with self._run_locks[key], _PROCESS_METRICS_LOCK:
                try:
                    result = handler(event, context)
                finally:
                    _drop_unflushed_metrics()
        except Exception as exc:
            return self._failed(key, rid, type(exc).__name__, exc)
        try:
            # Lambda serialises the answer; one that cannot be is the function's error.
            json.dumps(result, allow_nan=False)
        except (TypeError, ValueError) as exc:
            return self._failed(key, rid, "Runtime.MarshalError", exc)
        return Outcome(rid, True, result)

    def _failed(self, key: str, rid: str, error_type: str, exc: BaseException) -> Outcome:
        with self._stats_lock:
            self._stats[key]["errors"] += 1
        stack = [line.rstrip("\n") for line in traceback.format_exception(exc)]
        return Outcome(rid, False, error_type=error_type, error_message=str(exc), stack=stack)

    def stats(self) -> dict[str, dict[str, int]]:
        with self._stats_lock:
            return {key: dict(counts) for key, counts in self._stats.items()}
