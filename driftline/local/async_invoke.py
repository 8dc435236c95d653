"""Lambda's asynchronous invocation (``InvocationType="Event"``), emulated: an internal queue, a small worker
pool, two retries of a failed run (Lambda waits 1 then 2 minutes; locally 1 then 2 seconds by default), then
the event goes to the dead-letter queue with the function and the error.

The dead-letter message body is Lambda's on-failure invocation record (``requestContext`` with the function
ARN and ``condition: RetriesExhausted``, ``requestPayload``, ``responsePayload`` with the error); its message
attributes carry ``RequestID``, ``ErrorCode`` and ``ErrorMessage`` as Lambda's SQS dead-letter queue does.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from driftline.local.functions import FunctionTable, Outcome
from driftline.observability import get_logger

DEFAULT_RETRY_DELAYS = (1.0, 2.0)


@dataclass(order=True)
class _Job:
    due: float
    order: int
    key: str = field(compare=False)
    function_name: str = field(compare=False)
    payload: Any = field(compare=False)
    request_id: str = field(compare=False)
    attempts: int = field(compare=False, default=0)


def failure_record(
    function_arn: str, job_payload: Any, outcome: Outcome, attempts: int, now: datetime
) -> dict[str, Any]:
    """Lambda's on-failure destination record for an async event whose retries are exhausted."""
    return {
        "version": "1.0",
        "timestamp": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "requestContext": {
            "requestId": outcome.request_id,
            "functionArn": f"{function_arn}:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": attempts,
        },
        "requestPayload": job_payload,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": outcome.error_payload(),
    }


class AsyncInvoker:
    """The queue behind ``InvocationType=Event``. ``dead_letter(record, request_id, error)`` receives the events
    whose retries are exhausted."""

    def __init__(
        self,
        functions: FunctionTable,
        dead_letter: Callable[[dict[str, Any], str, str], None],
        workers: int = 3,
        retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
    ) -> None:
        if not 1 <= workers <= 64:
            raise ValueError(f"workers must be between 1 and 64, got {workers}")
        if any(d < 0 for d in retry_delays):
            raise ValueError(f"retry delays must be >= 0 seconds, got {list(retry_delays)}")
        self._functions = functions
        self._dead_letter = dead_letter
        self._workers = workers
        self.retry_delays = tuple(retry_delays)
        self._cond = threading.Condition()
        self._heap: list[_Job] = []
        self._order = itertools.count()
        self._running = 0
        self._stopping = False
        self._threads: list[threading.Thread] = []
        self.dead_lettered = 0
        self.retried = 0

    def start(self) -> None:
        self._stopping = False
        for i in range(self._workers):
            thread = threading.Thread(target=self._work, name=f"driftline-async-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._stopping = True
            dropped = len(self._heap)
            self._heap.clear()
            self._cond.notify_all()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads = [t for t in self._threads if t.is_alive()]
        if dropped:
            get_logger("driftline-local").warning("async events dropped at stop", dropped=dropped)

    def submit(self, key: str, function_name: str, payload: Any) -> str:
        """Queue one event (Lambda answered 202); returns its request id."""
        job = _Job(time.monotonic(), next(self._order), key, function_name, payload, str(uuid.uuid4()))
        with self._cond:
            if self._stopping:
                raise RuntimeError("the local runtime is stopping; async invoke refused")
            heapq.heappush(self._heap, job)
            self._cond.notify()
        return job.request_id

    def depth(self) -> dict[str, int]:
        with self._cond:
            now = time.monotonic()
            due = sum(1 for j in self._heap if j.due <= now)
            return {"queued": due, "waiting_retry": len(self._heap) - due, "running": self._running}

    def idle(self) -> bool:
        with self._cond:
            return not self._heap and self._running == 0

    def wait_idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._heap or self._running:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def _next_job(self) -> _Job | None:
        with self._cond:
            while not self._stopping:
                now = time.monotonic()
                if self._heap and self._heap[0].due <= now:
                    self._running += 1
                    return heapq.heappop(self._heap)
                self._cond.wait(self._heap[0].due - now if self._heap else None)
            return None

    def _work(self) -> None:
        while (job := self._next_job()) is not None:
            try:
                self._run(job)
            finally:
                with self._cond:
                    self._running -= 1
                    self._cond.notify_all()

    def _run(self, job: _Job) -> None:
        outcome = self._functions.invoke(job.key, job.payload, job.function_name, request_id=job.request_id)
        job.attempts += 1
        if outcome.ok:
            return
        log = get_logger("driftline-local")
        if job.attempts <= len(self.retry_delays):
            log.warning(
                "async invocation failed; retrying",
                function=job.function_name,
                attempt=job.attempts,
                error_type=outcome.error_type,
                error=outcome.error_message,
            )
            job.due = time.monotonic() + self.retry_delays[job.attempts - 1]
            job.order = next(self._order)
            with self._cond:
                self.retried += 1
                if not self._stopping:
                    heapq.heappush(self._heap, job)
                    self._cond.notify()
            return
        record = failure_record(
            self._functions.function_arn(job.function_name), job.payload, outcome, job.attempts, datetime.now(UTC)
        )
        log.error(
            "async invocation failed after retries; sending to the dead-letter queue",
            function=job.function_name,
            attempts=job.attempts,
            error_type=outcome.error_type,
            error=outcome.error_message,
        )
        try:
            self._dead_letter(record, outcome.request_id, f"{outcome.error_type}: {outcome.error_message}")
        except Exception:
            # the event must stay visible somewhere: the log carries it whole
            log.exception("dead-letter delivery failed", function=job.function_name, record=record)
        with self._cond:
            self.dead_lettered += 1
