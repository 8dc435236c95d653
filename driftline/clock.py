"""The one clock every component reads.

In Lambda it is the system clock. The local runtime may fast-forward it (``advance``) so a demo sees real
windowing without waiting real minutes; handlers running in the same process see the same shifted time.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

_lock = threading.Lock()
_offset = timedelta(0)


def now() -> datetime:
    """Timezone-aware UTC now, shifted by the local runtime's offset (zero in Lambda)."""
    return datetime.now(UTC) + _offset


def advance(seconds: float) -> datetime:
    """Move the clock forward (local runtime only). Returns the new now."""
    global _offset
    if seconds < 0:
        raise ValueError(f"the clock only moves forward; got {seconds} seconds")
    with _lock:
        _offset += timedelta(seconds=seconds)
    return now()


def offset_seconds() -> float:
    return _offset.total_seconds()


def reset() -> None:
    global _offset
    with _lock:
        _offset = timedelta(0)
