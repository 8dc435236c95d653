"""Moto's answers recorded, then replayed at the simulated latency: the function's own time without the emulator's.

On this 2-core machine moto answers in the benchmark's process, under its GIL: a live-figures transaction costs
moto 10-30 ms of CPU (parsing and validating the update expression, copying the item), more than the 8 ms the
latency hook simulates, and that CPU is serial however many threads the code under test runs. The wall time of a
run on moto is then mostly the emulator's, which DynamoDB does not add.

A :class:`Recorder` keeps every answer moto gives during a run (status, headers, body, per request). The same
code then runs again with the recording installed as the answering ``before-send`` handler (after the latency
hook of ``bench/_latency.py``): each call waits the simulated latency and gets moto's recorded answer, so the code
under test does all its own work (botocore serialising and parsing real-sized requests and answers, pyarrow,
the thread pools, the retries an error answer causes) at AWS-like round trips, with no emulator CPU at all.

Matching: a request is known by its method, URL and body (for S3 the body is left out: an object's key names
it); the tokens a run draws afresh (the checkpoint claims', botocore's idempotency tokens) are masked, so a run
drawing new ones still matches. Equal requests are answered in the order they were recorded. A request the
recording does not hold fails the call loudly (``ReplayMiss``): the replay is then not the run that was
recorded, and its figure would mean nothing.
"""

from __future__ import annotations

import os
import re
import threading
from collections import defaultdict, deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import botocore.handlers
from _latency import Latency, index_moto_table_queries, install, skip_moto_transaction_snapshot
from botocore.awsrequest import AWSResponse

# the values a run draws afresh: the checkpoint claims' uuid4 (``:claim``) and botocore's idempotency tokens
# (``ClientRequestToken``); everything else must match as it is (endpoint ids are hex strings too)
_TOKEN = re.compile(rb'("ClientRequestToken": ?"|":claim": ?\{"S": ?")[^"]*')


class ReplayMiss(RuntimeError):
    pass


def _key(method: str, url: str, body: Any) -> tuple[str, str, bytes]:
    if ".s3." in url or "s3.amazonaws.com" in url:
        return method, url, b""
    if body is None:
        data = b""
    elif isinstance(body, bytes):
        data = body
    elif isinstance(body, str):
        data = body.encode()
    else:  # a stream: botocore sends seekable bodies
        position = body.tell()
        data = body.read()
        body.seek(position)
    return method, url, _TOKEN.sub(rb"\1#", data)


class _Body:
    """The raw stream botocore reads an answer from (``read``, ``stream`` like moto's MockRawResponse)."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._read = False

    def read(self, *_: Any, **__: Any) -> bytes:
        if self._read:
            return b""
        self._read = True
        return self._data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.read()


class Recorder:
    def __init__(self) -> None:
        self.answers: dict[tuple[str, str, bytes], deque[tuple[int, dict[str, str], bytes]]] = defaultdict(deque)
        self._lock = threading.Lock()
        self._replaying = False
        self._recording = False
        self.replayed = 0
        self.misses: list[tuple[str, str, bytes]] = []
        self._handler = ("before-send", self._answer)
        botocore.handlers.BUILTIN_HANDLERS.insert(1, self._handler)  # after the latency hook: clients made from now
        self._original = self._patch_moto()

    def close(self) -> None:
        """Take the handler and moto's patch out again (clients made before keep the handler, inert)."""
        from moto.core.botocore_stubber import BotocoreStubber

        botocore.handlers.BUILTIN_HANDLERS.remove(self._handler)
        BotocoreStubber.process_request = self._original  # type: ignore[method-assign]

    def _patch_moto(self) -> Any:
        from moto.core.botocore_stubber import BotocoreStubber

        original = BotocoreStubber.process_request
        recorder = self

        def process_request(stubber: BotocoreStubber, request: Any) -> Any:
            answer = original(stubber, request)
            if recorder._recording and answer is not None:
                status, headers, body = answer
                data = body.encode() if isinstance(body, str) else bytes(body or b"")
                with recorder._lock:
                    recorder.answers[_key(request.method, request.url, request.body)].append(
                        (status, dict(headers), data)
                    )
            return answer

        BotocoreStubber.process_request = process_request  # type: ignore[method-assign,assignment]
        return original

    @contextmanager
    def recording(self) -> Iterator[None]:
        """Keep moto's answers (moto must be active)."""
        self.answers.clear()
        self._recording = True
        try:
            yield
        finally:
            self._recording = False

    @contextmanager
    def replaying(self) -> Iterator[None]:
        """Answer every call from the recording (moto must not be active)."""
        self.replayed = 0
        self.misses.clear()
        self._replaying = True
        try:
            yield
        finally:
            self._replaying = False

    def left(self) -> int:
        """Recorded answers no replayed call asked for (0 when the replay made every call the recorded run made)."""
        return sum(len(queue) for queue in self.answers.values())

    def _answer(self, request: Any = None, **_: Any) -> AWSResponse | None:
        if not self._replaying:
            return None
        key = _key(request.method, request.url, request.body)
        with self._lock:
            queue = self.answers.get(key)
            if not queue:
                self.misses.append(key)
                raise ReplayMiss(f"no recorded answer for {request.method} {request.url}")
            status, headers, data = queue.popleft()
            self.replayed += 1
        return AWSResponse(request.url, status, headers, _Body(data))  # type: ignore[arg-type]


def prepare(*, partition_queries: bool = False) -> tuple[Latency, Recorder]:
    """The setup of a benchmark on emulated AWS, before it makes any client: placeholder credentials and region,
    quiet logs, the latency hook and the recorder, and the moto patches of ``bench/_latency.py`` (the transaction
    snapshot skipped; with ``partition_queries``, table queries answered from the partition)."""
    for name, value in (
        ("AWS_ACCESS_KEY_ID", "bench"),
        ("AWS_SECRET_ACCESS_KEY", "bench"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("POWERTOOLS_LOG_LEVEL", "WARNING"),
    ):
        os.environ.setdefault(name, value)
    latency = install()
    recorder = Recorder()
    skip_moto_transaction_snapshot()
    if partition_queries:
        index_moto_table_queries()
    return latency, recorder
