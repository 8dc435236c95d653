"""EventBridge Scheduler, emulated for the controller's schedules.

A thread reads the projects' schedules from moto (``Schedules.list()``) every ``interval`` real seconds and
fires each enabled one when :func:`driftline.clock.now` passes its next fire time: ``rate(N minutes)`` counted
from when the schedule was first seen enabled (a disabled schedule forgets its phase; re-enabling or changing
the rate starts it again). The fire is an asynchronous Lambda invoke of the controller with the schedule's
input as the event, as EventBridge Scheduler does. When the clock jumps over several periods, the missed fires
collapse into one (the controller catches up every complete window anyway).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from driftline import clock
from driftline.aws.schedules import Schedule
from driftline.observability import get_logger


@dataclass
class _Phase:
    first_seen: datetime
    minutes: int
    next_fire: datetime


class ScheduleRunner:
    def __init__(
        self,
        list_schedules: Callable[[], list[Schedule]],
        fire: Callable[[Schedule], None],
        interval: float = 0.5,
    ) -> None:
        self._list = list_schedules
        self._fire = fire
        self.interval = interval
        self._phases: dict[str, _Phase] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.fired: list[tuple[str, datetime]] = []
        self.last_error: str | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="driftline-scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.tick()
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                get_logger("driftline-local").warning("schedule check failed", error=self.last_error)

    def tick(self) -> list[str]:
        """Check every schedule once against the clock; fire the due ones. Returns the names fired."""
        with self._lock:
            now = clock.now()
            schedules = self._list()
            seen = set()
            due: list[Schedule] = []
            for schedule in schedules:
                if not schedule.enabled:
                    continue
                seen.add(schedule.name)
                phase = self._phases.get(schedule.name)
                period = timedelta(minutes=schedule.base_period_minutes)
                if phase is None or phase.minutes != schedule.base_period_minutes:
                    self._phases[schedule.name] = _Phase(now, schedule.base_period_minutes, now + period)
                    continue
                if now >= phase.next_fire:
                    due.append(schedule)
                    missed = (now - phase.first_seen) // period
                    phase.next_fire = phase.first_seen + (missed + 1) * period
            for name in set(self._phases) - seen:
                del self._phases[name]
            for schedule in due:
                self._fire(schedule)
                self.fired.append((schedule.name, now))
            return [s.name for s in due]

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {
                name: {"rate_minutes": p.minutes, "next_fire": p.next_fire.isoformat()}
                for name, p in sorted(self._phases.items())
            }
