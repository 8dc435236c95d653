"""Fault injection for the reliability suite, and its one-line summary.

Faults are injected at botocore's ``before-send`` event, registered first on the very client the code under test
uses: the injected answer (a throttle or a 5xx with the service's error body) goes through botocore's own retry
handler exactly as a real one would, so "survived" means the production retry path survived it. A fault with
``times=None`` fails every attempt (the call fails after botocore's retries); a finite count fails that many
attempts and then lets the call through to moto. Two ways to fail: ``reached=False`` (default), the request never
reaches the service; ``reached=True``, the service applies it and the answer is lost on the way back (botocore
emits ``before-send`` to every handler, moto's included: the first answer wins), the harder, ambiguous case.

Every test that checks a dataset or a table against what was accepted reports to the session ``ledger``: faults
injected, faults survived (the effect after the fault equals the effect without it), rows lost and rows
duplicated. ``pytest_terminal_summary`` prints the totals as one line.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import botocore.endpoint
import pytest
from botocore.awsrequest import AWSResponse

# (HTTP status, error code) per kind of fault, as each service spells it.
FAULTS: dict[str, dict[str, tuple[int, str]]] = {
    "throttle": {
        "s3": (503, "SlowDown"),
        "kinesis": (400, "ProvisionedThroughputExceededException"),
        "dynamodb": (400, "ProvisionedThroughputExceededException"),
        "timestream-write": (429, "ThrottlingException"),
        "sqs": (400, "RequestThrottled"),
        "events": (400, "ThrottlingException"),
    },
    "5xx": {
        "s3": (500, "InternalError"),
        "kinesis": (500, "InternalFailure"),
        "dynamodb": (500, "InternalServerError"),
        "timestream-write": (500, "InternalServerException"),
        "sqs": (500, "InternalError"),
        "events": (500, "InternalException"),
    },
}


@dataclass
class Ledger:
    injected: int = 0
    survived: int = 0
    lost: int = 0
    duplicated: int = 0
    checks: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, *, injected: int, lost: int, duplicated: int) -> None:
        """One scenario's outcome: its faults count as survived when nothing was lost or duplicated."""
        with self._lock:
            self.checks += 1
            self.injected += injected
            self.lost += lost
            self.duplicated += duplicated
            if lost == 0 and duplicated == 0:
                self.survived += injected

    def merge(self, other: dict[str, int]) -> None:
        with self._lock:
            for name in ("injected", "survived", "lost", "duplicated", "checks"):
                setattr(self, name, getattr(self, name) + int(other.get(name, 0)))

    def figures(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in ("injected", "survived", "lost", "duplicated", "checks")}

    def line(self) -> str:
        return (
            f"reliability: {self.injected} faults injected, {self.survived} survived, "
            f"{self.lost} rows lost, {self.duplicated} rows duplicated ({self.checks} exactness checks)"
        )


_LEDGER = Ledger()


@pytest.fixture
def clients(iam):
    """The suite's own view (seeding, checking) is the administrator's; the code under test runs with its
    function's role (``iam.clients(<function>)``), with IAM enforced as on the local stack. A test ends with no
    call denied."""
    yield iam.admin
    assert iam.ledger.report()["denied"] == []


@pytest.fixture(scope="session")
def ledger() -> Ledger:
    return _LEDGER


def pytest_sessionfinish(session, exitstatus) -> None:
    """Under pytest-xdist a worker hands its ledger to the controller, which prints the sum
    (``tests/conftest.py``: ``pytest_testnodedown`` and ``pytest_terminal_summary``)."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None and _LEDGER.checks:
        workeroutput["reliability_ledger"] = _LEDGER.figures()


def ledger_line() -> str | None:
    return _LEDGER.line() if _LEDGER.checks else None


def merge_worker_ledger(figures: dict[str, int]) -> None:
    _LEDGER.merge(figures)


def diff_counts(expected: Counter, actual: Counter) -> tuple[int, int]:
    """(lost, duplicated) between what was accepted and what is stored, multiset of keys."""
    lost = sum((expected - actual).values())
    duplicated = sum((actual - expected).values())
    return lost, duplicated


class Faults:
    """Injects faults into boto3 clients; counts every failed attempt it caused."""

    def __init__(self) -> None:
        self.injected = 0
        self._lock = threading.Lock()
        self._handlers: list[tuple[Any, str, Any]] = []

    def inject(
        self,
        client: Any,
        operation: str,
        kind: str = "5xx",
        times: int | None = 1,
        *,
        after: int = 0,
        reached: bool = False,
    ) -> dict[str, int]:
        """Fail ``operation`` (e.g. ``"PutObject"``) on ``client`` ``times`` attempts (None: always), after letting
        ``after`` attempts through. Returns a live counter ``{"calls", "failed"}``."""
        service = client.meta.service_model.service_name
        status, code = FAULTS[kind][service]
        protocol = client.meta.service_model.protocol
        state = {"calls": 0, "failed": 0}

        def before_send(request, **_: Any):
            with self._lock:
                state["calls"] += 1
                if state["calls"] <= after or (times is not None and state["failed"] >= times):
                    return None
                state["failed"] += 1
                self.injected += 1
            if not reached:  # hide the request from moto's handler, which runs next; restored after it
                request.context["fault_original_url"] = request.url
                request.url = _NOWHERE
            return _error_response(request, protocol, status, code)

        event = f"before-send.{client.meta.service_model.service_id.hyphenize()}.{operation}"
        client.meta.events.register_first(event, before_send)
        client.meta.events.register_last("before-send", _restore_url, unique_id="fault-restore-url")
        self._handlers.append((client, event, before_send))
        return state

    def clear(self) -> None:
        for client, event, handler in self._handlers:
            client.meta.events.unregister(event, handler)
        self._handlers.clear()


_NOWHERE = "https://fault-injected.invalid/"


def _restore_url(request, **_: Any) -> None:
    original = request.context.pop("fault_original_url", None)
    if original is not None:
        request.url = original


def _error_response(request: Any, protocol: str, status: int, code: str) -> AWSResponse:
    message = f"injected fault {code}"
    if protocol in ("json", "smithy-rpc-v2-cbor"):
        body = (f'{{"__type": "{code}", "message": "{message}"}}').encode()
        headers = {"x-amzn-ErrorType": code, "Content-Type": "application/x-amz-json-1.0"}
    else:  # rest-xml (S3), query (SQS's older protocol)
        body = (f"<Error><Code>{code}</Code><Message>{message}</Message></Error>").encode()
        headers = {"Content-Type": "application/xml"}
    return AWSResponse(request.url, status, headers, _Raw(body))


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body

    def read(self, *_: Any, **__: Any) -> bytes:
        return self._body


@pytest.fixture
def faults(monkeypatch) -> Iterator[Faults]:
    """Fault injection, with botocore's retry backoff made instant (the retries still happen, only the sleep is
    skipped: the suite stays fast and the retry path is the production one)."""

    class _NoSleep:
        def __getattr__(self, name: str) -> Any:
            import time

            return getattr(time, name)

        @staticmethod
        def sleep(_seconds: float) -> None:
            return None

    monkeypatch.setattr(botocore.endpoint, "time", _NoSleep())
    injector = Faults()
    yield injector
    injector.clear()
