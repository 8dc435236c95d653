"""MLRun's window rules, with one improvement: a window also closes when the clock has moved far enough past
it, so an endpoint whose traffic stopped still gets its last windows analysed (MLRun needed heartbeat events).

Pure: no AWS, no clock. The caller passes every time in; all times are timezone-aware.

    step  = base_period
    stop  = last_request - flush_grace, or now - max_lateness if that is later
    start = the pair's checkpoint; the first time max(first_request, stop - max(max_backfill, step)),
            moved down onto the grid anchored at first_request
    windows [t, t + step) from start, complete ones only (t + step <= stop)

Two choices MLRun's rules leave open, made here:

* The first-time start moves *down* to the grid point at or before it. Moving it up would, for a step longer
  than the back-fill horizon (``step > max_backfill`` makes the horizon exactly one step), leave no complete
  window at all on the first run; moving down analyses the window that contains the horizon whole instead of
  silently dropping its older part. The first run therefore looks back at most ``max(max_backfill, step)``
  plus less than one step.
* A checkpoint is resumed exactly, even off the grid (e.g. after ``base_period`` changed): windows stay
  contiguous, so no row is analysed twice and none is skipped.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from driftline.errors import ConfigurationError

Window = tuple[datetime, datetime]


def _aware(name: str, moment: datetime | None) -> None:
    if moment is not None and (moment.tzinfo is None or moment.utcoffset() is None):
        raise ConfigurationError(f"{name}: expected a timezone-aware datetime, got naive {moment!r}")


def window_stop(last_request: datetime, now: datetime, flush_grace: timedelta, max_lateness: timedelta) -> datetime:
    """The time before which no event can still arrive: MLRun's ``last_request - flush_grace``, or, once the
    traffic stopped, ``now - max_lateness`` (whichever is later)."""
    return max(last_request - flush_grace, now - max_lateness)


def first_start(first_request: datetime, stop: datetime, step: timedelta, max_backfill: timedelta) -> datetime:
    """Where a pair with no checkpoint starts: at most ``max(max_backfill, step)`` before ``stop``, never before
    the first request, moved down onto the grid ``first_request + k * step``."""
    candidate = max(first_request, stop - max(max_backfill, step))
    return first_request + ((candidate - first_request) // step) * step


def complete_windows(
    first_request: datetime,
    last_request: datetime | None,
    checkpoint: datetime | None,
    now: datetime,
    step: timedelta,
    flush_grace: timedelta,
    max_lateness: timedelta,
    max_backfill: timedelta,
) -> list[Window]:
    """The complete windows ``[t, t + step)`` a pair still has to analyse, oldest first.

    ``last_request`` None means "only the first request is known" (it is then the last one too);
    ``checkpoint`` None means the pair has never been analysed.
    """
    for name, moment in (
        ("first_request", first_request),
        ("last_request", last_request),
        ("checkpoint", checkpoint),
        ("now", now),
    ):
        _aware(name, moment)
    if step <= timedelta(0):
        raise ConfigurationError(f"step: expected a positive duration (base_period), got {step}")
    durations = {"flush_grace": flush_grace, "max_lateness": max_lateness, "max_backfill": max_backfill}
    for name, duration in durations.items():
        if duration < timedelta(0):
            raise ConfigurationError(f"{name}: expected a duration >= 0, got {duration}")

    stop = window_stop(last_request or first_request, now, flush_grace, max_lateness)
    start = checkpoint if checkpoint is not None else first_start(first_request, stop, step, max_backfill)
    if start + step > stop:
        return []
    count = (stop - start) // step
    return [(start + i * step, start + (i + 1) * step) for i in range(count)]
