"""A window reads only the objects that may hold its rows, bounded from the keys alone, and the built-in drift
apps read any window in pieces (issue 12)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from driftline.applications.builtin.feature_drift import FeatureDriftApplication
from driftline.applications.builtin.histogram_data_drift import HistogramDataDriftApplication
from driftline.applications.context import MonitoringApplicationContext
from driftline.applications.data import WindowSource, read_window
from driftline.aws import events_store
from driftline.aws.events_store import _Listed, bound_objects, event_key
from driftline.errors import WindowTooLargeError
from driftline.records import EndpointRecord, ModelRecord
from driftline.stats.reference import compute_reference_profile

ENDPOINT = "ep1"
HOUR = datetime(2026, 11, 26, 17, 0, tzinfo=UTC)
DELAY = timedelta(seconds=60)


def table(stamps: list[datetime], f1: np.ndarray | None = None) -> pa.Table:
    n = len(stamps)
    values = f1 if f1 is not None else np.arange(n, dtype=float)
    return pa.table(
        {
            "timestamp": pa.array(stamps, pa.timestamp("us", tz="UTC")),
            "request_id": pa.array([f"r{i}" for i in range(n)]),
            "f1": pa.array(values, pa.float64()),
            "f2": pa.array(np.linspace(-1, 1, n), pa.float64()),
        }
    )


def simulate(seed: int, requests: int, batch_seconds: float, delay: timedelta) -> list[tuple[datetime, datetime]]:
    """Requests on one shard: (request start, arrival), arrival = start + up to ``delay``, in arrival order."""
    rng = random.Random(seed)
    out = []
    for _ in range(requests):
        start = HOUR + timedelta(seconds=rng.uniform(0, 3 * 3600))
        out.append((start, start + timedelta(seconds=rng.uniform(0, delay.total_seconds()))))
    out.sort(key=lambda r: r[1])
    return out


def objects_of(requests: list[tuple[datetime, datetime]], batch_seconds: float) -> dict[str, list[datetime]]:
    """What the stream writes: per batch (the records that arrived within one batching window) one object per
    hour partition, keyed by the group's first record's sequence number and row time."""
    objects: dict[str, list[datetime]] = {}
    batch_start: datetime | None = None
    groups: dict[datetime, tuple[int, list[datetime]]] = {}

    def flush() -> None:
        for hour, (sequence, stamps) in groups.items():
            objects[event_key(ENDPOINT, hour, "shardId-000", str(sequence), stamps[0])] = stamps
        groups.clear()

    for sequence, (start, arrival) in enumerate(requests):
        if batch_start is None or arrival - batch_start >= timedelta(seconds=batch_seconds):
            flush()
            batch_start = arrival
        hour = start.replace(minute=0, second=0, microsecond=0)
        groups.setdefault(hour, (sequence + 1000, []))[1].append(start)
    flush()
    return objects


@pytest.mark.parametrize("seed", range(5))
def test_key_bounds_hold_every_row_and_a_window_selects_every_object_with_its_rows(seed):
    requests = simulate(seed, 3000, batch_seconds=60, delay=DELAY)
    objects = objects_of(requests, batch_seconds=60)
    listed = []
    for key, stamps in objects.items():
        hour = stamps[0].replace(minute=0, second=0, microsecond=0)
        listed.append(events_store._parse(key, 1, hour))
    assert all(item.first_time is not None for item in listed)  # the key carries the first row's time
    bounded = {o.key: o for o in bound_objects(listed, DELAY)}
    for key, stamps in objects.items():
        assert all(bounded[key].low <= s <= bounded[key].high for s in stamps), key
    rng = random.Random(seed)
    for _ in range(50):
        start = HOUR + timedelta(seconds=rng.uniform(0, 3 * 3600 - 600))
        end = start + timedelta(minutes=10)
        needed = {k for k, stamps in objects.items() if any(start <= s < end for s in stamps)}
        chosen = {k for k, o in bounded.items() if o.overlaps(start, end)}
        assert needed <= chosen
        assert len(chosen) <= len(needed) + 4  # the bound is tight: a delay's worth of objects at each edge


def test_an_object_without_a_time_in_its_name_is_bounded_by_its_hour():
    [obj] = bound_objects([_Listed("events/x/hour=17/x.parquet", 5, HOUR)], DELAY)
    assert (obj.low, obj.high) == (HOUR, HOUR + timedelta(hours=1))


def write_minutes(clients, minutes: int, rows_per_minute: int, start: datetime = HOUR) -> pd.DataFrame:
    """One object per minute of traffic (a 60 s batching window), through the stream's own writer."""
    frames = []
    for minute in range(minutes):
        stamps = [start + timedelta(minutes=minute, seconds=60 * i / rows_per_minute) for i in range(rows_per_minute)]
        t = table(stamps, np.full(rows_per_minute, float(minute)))
        hour = stamps[0].replace(minute=0, second=0, microsecond=0)
        events_store.write_group(clients, ENDPOINT, hour, "shardId-000000000000", str(10_000 + minute), t)
        frames.append(t.to_pandas())
    return pd.concat(frames, ignore_index=True)


def counting(clients) -> dict[str, int]:
    calls: dict[str, int] = {}

    def count(model, **_):
        calls[model.name] = calls.get(model.name, 0) + 1

    clients.s3.meta.events.register("before-call.s3.*", count)
    return calls


def test_a_ten_minute_window_of_a_busy_hour_reads_a_dozen_objects_not_the_hour(clients):
    everything = write_minutes(clients, 60, 50)
    calls = counting(clients)
    start = HOUR + timedelta(minutes=20, seconds=30)
    end = start + timedelta(minutes=10)
    df = read_window(clients, ENDPOINT, start, end)
    expected = everything[(everything.timestamp >= start) & (everything.timestamp < end)].reset_index(drop=True)
    pd.testing.assert_frame_equal(df, expected, check_dtype=False)
    assert calls.get("HeadObject", 0) == 0
    assert calls["ListObjectsV2"] == 1
    # 11 minutes hold rows of the window, plus the objects a minute of event delay may still reach
    assert 11 <= calls["GetObject"] <= 13 < 60


def test_sample_df_past_its_row_cap_says_what_to_do(clients):
    write_minutes(clients, 3, 10)
    source = WindowSource(clients, ENDPOINT, HOUR, HOUR + timedelta(minutes=3), max_rows=25)
    with pytest.raises(WindowTooLargeError, match=r"sample_df_max_rows.*iter_chunks"):
        source.frame()
    assert len(WindowSource(clients, ENDPOINT, HOUR, HOUR + timedelta(minutes=3), max_rows=30).frame()) == 30


def test_no_objects_and_no_rows_in_the_window(clients):
    source = WindowSource(clients, ENDPOINT, HOUR, HOUR + timedelta(minutes=10))
    assert source.is_empty()
    assert source.frame().empty
    write_minutes(clients, 2, 10)
    later = WindowSource(clients, ENDPOINT, HOUR + timedelta(minutes=30), HOUR + timedelta(minutes=40))
    assert later.is_empty()


def context_for(clients, rows: WindowSource | None, frame: pd.DataFrame | None) -> MonitoringApplicationContext:
    train = pd.DataFrame({"f1": np.linspace(0, 30, 400), "f2": np.linspace(-1, 1, 400)})
    model = ModelRecord(
        project="p",
        name="m",
        version="1",
        uri="store://models/p/m:1",
        artifact_key="k",
        feature_names=["f1", "f2"],
        label_names=[],
        feature_stats=compute_reference_profile(train, ["f1", "f2"]),
    )
    endpoint = EndpointRecord(endpoint_id=ENDPOINT, project="p", name="m", function_name="serving", model_uri=model.uri)
    return MonitoringApplicationContext(
        application_name="a",
        project_name="p",
        start_infer_time=HOUR,
        end_infer_time=HOUR + timedelta(minutes=45),
        model_endpoint=endpoint,
        model=model,
        sample_df_loader=(lambda: frame) if frame is not None else None,
        rows=rows,
        logger=None,
    )


@pytest.mark.parametrize("app", [FeatureDriftApplication, HistogramDataDriftApplication])
def test_builtin_drift_apps_score_a_window_in_pieces_exactly_as_loaded_whole(clients, app):
    write_minutes(clients, 45, 20)
    whole = context_for(clients, None, read_window(clients, ENDPOINT, HOUR, HOUR + timedelta(minutes=45)))
    source = WindowSource(clients, ENDPOINT, HOUR, HOUR + timedelta(minutes=45), max_rows=10)
    pieces = context_for(clients, source, None)
    expected = app().do_tracking(whole)
    got = app().do_tracking(pieces)
    assert not pieces.sample_df_loaded  # never loaded whole (and its cap of 10 rows never hit)
    assert pieces.has_rows()
    assert [(r.name, getattr(r, "status", None)) for r in got] == [
        (r.name, getattr(r, "status", None)) for r in expected
    ]
    assert [r.value for r in got] == pytest.approx([r.value for r in expected], rel=1e-12)
    assert any(r.name == "f1_drift" for r in got)
