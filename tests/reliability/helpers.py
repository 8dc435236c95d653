"""Read-back of what the system stored, as multisets, so a scenario can be compared with what was accepted."""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import pyarrow.parquet as pq

from driftline.aws import events_store
from driftline.aws.endpoints import Endpoints
from driftline.inference_event import InferenceEvent
from driftline.stream.testing import inference_event

T0 = datetime(2026, 11, 26, 17, 58, 0, tzinfo=UTC)


class ProcessDied(BaseException):
    """Stands for a Lambda timeout or crash: nothing after the raise runs, no except Exception catches it."""


def traffic(n: int, *, start: int = 0, models: str = "ab", spread_seconds: int = 20) -> list[InferenceEvent]:
    """``n`` requests (1-3 rows each) to ``len(models)`` endpoints, every ``spread_seconds`` from 17:58 (so the
    batch spans the 18:00 hour boundary and several minutes)."""
    events = []
    for i in range(start, start + n):
        rows = 1 + i % 3
        events.append(
            inference_event(
                model_name=models[i % len(models)],
                when=T0 + timedelta(seconds=spread_seconds * i),
                latency_us=1000 + i,
                inputs=[[float(i), float(-i)]] * rows,
                outputs=[i % 2] * rows,
            )
        )
    return events


def accepted_rows(events: Iterable[InferenceEvent]) -> Counter:
    """One key per row a request carried: (request_id, row_index)."""
    return Counter((e.request_id, i) for e in events if not e.error for i in range(len(e.inputs)))


def stored_rows(clients) -> Counter:
    """Every row of every event object in the bucket, keyed like :func:`accepted_rows`."""
    found: Counter = Counter()
    for key in events_store.list_keys(clients):
        body = clients.s3.get_object(Bucket=clients.settings.bucket, Key=key)["Body"].read()
        table = pq.read_table(io.BytesIO(body), columns=["request_id", "row_index"])
        found.update(zip(table.column("request_id").to_pylist(), table.column("row_index").to_pylist(), strict=True))
    return found


def expected_figures(events: Iterable[InferenceEvent]) -> dict[str, tuple[int, int, int]]:
    """Per endpoint: (requests, predictions, latency sum) the live figures must hold."""
    out: dict[str, list[int]] = {}
    for e in events:
        f = out.setdefault(e.endpoint_id, [0, 0, 0])
        f[0] += 1
        if not e.error:
            f[1] += e.effective_sample_count
            f[2] += e.latency_us
    return {k: tuple(v) for k, v in out.items()}  # type: ignore[misc]


def stored_figures(clients, endpoint_ids: Iterable[str]) -> dict[str, tuple[int, int, int]]:
    eps = Endpoints(clients)
    out = {}
    for endpoint_id in endpoint_ids:
        r = eps.get(endpoint_id)
        out[endpoint_id] = (r.request_count, r.prediction_count, r.latency_sum_us)
    return out


def bucket_requests(clients, endpoint_ids: Iterable[str]) -> int:
    eps = Endpoints(clients)
    return sum(
        int(b.get("requests") or 0)
        for endpoint_id in endpoint_ids
        for b in eps.minute_buckets(endpoint_id, T0 - timedelta(hours=1), T0 + timedelta(hours=3))
    )
