"""MLRun's window rules on hand-worked timelines (step 10 minutes, grace 30 s, lateness 120 s, back-fill 1 day
unless a test says otherwise)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from driftline.controller.windows import complete_windows, first_start, window_stop
from driftline.errors import ConfigurationError

STEP = timedelta(minutes=10)
GRACE = timedelta(seconds=30)
LATENESS = timedelta(seconds=120)
DAY = timedelta(days=1)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def windows(first, last, checkpoint, now, step=STEP, backfill=DAY):
    return complete_windows(
        first_request=at(first),
        last_request=at(last) if last else None,
        checkpoint=at(checkpoint) if checkpoint else None,
        now=at(now),
        step=step,
        flush_grace=GRACE,
        max_lateness=LATENESS,
        max_backfill=backfill,
    )


def starts(found) -> list[str]:
    return [start.strftime("%Y-%m-%d %H:%M:%S") for start, _ in found]


def test_first_run_starts_at_the_first_request_and_keeps_complete_windows_only():
    # stop = max(10:47:00 - 30 s, 10:47:10 - 120 s) = 10:46:30; the grid is anchored at 10:00:07
    found = windows("2026-11-26 10:00:07", "2026-11-26 10:47:00", None, "2026-11-26 10:47:10")
    assert starts(found) == [
        "2026-11-26 10:00:07",
        "2026-11-26 10:10:07",
        "2026-11-26 10:20:07",
        "2026-11-26 10:30:07",
    ]
    assert all(end - start == STEP for start, end in found)
    assert found[-1][1] == at("2026-11-26 10:40:07")  # [10:40:07, 10:50:07) would end after the stop


def test_resume_from_the_checkpoint():
    # stop = 11:04:30: [10:40:07, 10:50:07) and [10:50:07, 11:00:07); [11:00:07, 11:10:07) is not complete
    found = windows("2026-11-26 10:00:07", "2026-11-26 11:05:00", "2026-11-26 10:40:07", "2026-11-26 11:05:01")
    assert found == [
        (at("2026-11-26 10:40:07"), at("2026-11-26 10:50:07")),
        (at("2026-11-26 10:50:07"), at("2026-11-26 11:00:07")),
    ]


def test_no_new_traffic_the_window_closes_once_nothing_can_still_be_in_flight():
    first, last, checkpoint = "2026-11-26 10:00:07", "2026-11-26 10:41:00", "2026-11-26 10:40:07"
    # MLRun's stop (last_request - 30 s = 10:40:30) would never close [10:40:07, 10:50:07)
    assert windows(first, last, checkpoint, "2026-11-26 10:52:06") == []  # now - 120 s = 10:50:06 < 10:50:07
    assert windows(first, last, checkpoint, "2026-11-26 10:52:07") == [
        (at("2026-11-26 10:40:07"), at("2026-11-26 10:50:07"))
    ]


def test_first_run_back_fills_at_most_a_day_moved_down_onto_the_grid():
    # stop = 2026-11-26 11:59:30; stop - 1 day = 11-25 11:59:30, down onto the grid (anchored at midnight):
    # 11-25 11:50:00. Last complete window: [11-26 11:40, 11:50).
    found = windows("2026-11-20 00:00:00", "2026-11-26 12:00:00", None, "2026-11-26 12:00:01")
    assert found[0][0] == at("2026-11-25 11:50:00")
    assert found[-1] == (at("2026-11-26 11:40:00"), at("2026-11-26 11:50:00"))
    assert len(found) == 144
    assert at("2026-11-26 11:59:30") - found[0][0] < DAY + STEP


def test_a_short_back_fill_setting_is_honoured():
    # horizon 1 h: stop - 1 h = 10:59:30, down onto the grid: 10:50
    found = windows(
        "2026-11-20 00:00:00", "2026-11-26 12:00:00", None, "2026-11-26 12:00:01", backfill=timedelta(hours=1)
    )
    assert starts(found) == [f"2026-11-26 {hm}:00" for hm in ("10:50", "11:00", "11:10", "11:20", "11:30", "11:40")]


def test_step_longer_than_a_day_still_gives_one_window_on_the_first_run():
    # step 2 days: horizon = max(1 day, 2 days); stop = 11-10 00:59:30, candidate 11-08 00:59:30 -> 11-07 00:00
    # on the grid 11-01, 11-03, ...; [11-07, 11-09) is complete, [11-09, 11-11) is not.
    step = timedelta(days=2)
    found = windows("2026-11-01 00:00:00", "2026-11-10 01:00:00", None, "2026-11-10 01:00:00", step=step)
    assert found == [(at("2026-11-07 00:00:00"), at("2026-11-09 00:00:00"))]


def test_an_off_grid_checkpoint_is_resumed_exactly():
    # e.g. base_period changed from 3 to 10 minutes: windows stay contiguous with what was analysed
    found = windows("2026-11-26 10:00:07", "2026-11-26 11:05:00", "2026-11-26 10:43:00", "2026-11-26 11:05:00")
    assert found == [
        (at("2026-11-26 10:43:00"), at("2026-11-26 10:53:00")),
        (at("2026-11-26 10:53:00"), at("2026-11-26 11:03:00")),
    ]


@pytest.mark.parametrize(
    ("checkpoint", "now"),
    [
        (None, "2026-11-26 10:05:10"),  # five minutes of traffic: stop = 10:04:30 < 10:10:00
        ("2026-11-26 10:50:00", "2026-11-26 10:55:00"),  # checkpoint already at the last closed window
        ("2026-11-26 11:30:00", "2026-11-26 10:55:00"),  # checkpoint after the stop (another run's clock)
    ],
)
def test_nothing_complete_yet(checkpoint, now):
    assert windows("2026-11-26 10:00:00", "2026-11-26 10:05:00", checkpoint, now) == []


def test_only_the_first_request_known_counts_as_the_last_too():
    assert windows("2026-11-26 10:00:00", None, None, "2026-11-26 10:12:00") == [
        (at("2026-11-26 10:00:00"), at("2026-11-26 10:10:00"))
    ]


def test_a_window_ending_exactly_at_the_stop_is_complete():
    # stop = 10:20:30 - 30 s = 10:20:00 exactly
    found = windows("2026-11-26 10:00:00", "2026-11-26 10:20:30", None, "2026-11-26 10:20:30")
    assert found[-1] == (at("2026-11-26 10:10:00"), at("2026-11-26 10:20:00"))


def test_helpers():
    assert window_stop(at("2026-11-26 10:00:00"), at("2026-11-26 10:01:00"), GRACE, LATENESS) == at(
        "2026-11-26 09:59:30"
    )
    assert window_stop(at("2026-11-26 10:00:00"), at("2026-11-26 10:05:00"), GRACE, LATENESS) == at(
        "2026-11-26 10:03:00"
    )
    assert first_start(at("2026-11-26 10:00:00"), at("2026-11-26 10:35:00"), STEP, DAY) == at("2026-11-26 10:00:00")


def test_naive_times_and_bad_durations_are_refused():
    with pytest.raises(ConfigurationError, match="now: expected a timezone-aware datetime"):
        complete_windows(at("2026-11-26 10:00:00"), None, None, datetime(2026, 11, 26), STEP, GRACE, LATENESS, DAY)
    with pytest.raises(ConfigurationError, match="step: expected a positive duration"):
        windows("2026-11-26 10:00:00", None, None, "2026-11-26 11:00:00", step=timedelta(0))
    with pytest.raises(ConfigurationError, match="max_backfill: expected a duration >= 0"):
        windows("2026-11-26 10:00:00", None, None, "2026-11-26 11:00:00", backfill=timedelta(seconds=-1))
