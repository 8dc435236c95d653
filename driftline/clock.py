"""The one clock every component reads.

In Lambda it is the system clock. The local runtime may fast-forward it (``advance``) so a demo sees real
windowing without waiting real minutes. Its functions run as processes of their own (``driftline/local/``), so
the offset is shared through a small file: the runtime :func:`share`s it, and a process started with
``DRIFTLINE_CLOCK_FILE`` pointing at it follows every change (the one environment variable this module reads,
set only by the local runtime; in Lambda it is absent and the offset is zero).
"""

from __future__ import annotations

import mmap
import os
import struct
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

CLOCK_FILE_ENV = "DRIFTLINE_CLOCK_FILE"
_FORMAT = "<d"  # the offset in seconds, little-endian float64
_SIZE = struct.calcsize(_FORMAT)

_lock = threading.Lock()
_offset = timedelta(0)
_shared: mmap.mmap | None = None  # written by the runtime that shares its clock, read by its functions
_writer = False


def now() -> datetime:
    """Timezone-aware UTC now, shifted by the local runtime's offset (zero in Lambda)."""
    if _shared is not None and not _writer:
        return datetime.now(UTC) + timedelta(seconds=struct.unpack_from(_FORMAT, _shared, 0)[0])
    return datetime.now(UTC) + _offset


def advance(seconds: float) -> datetime:
    """Move the clock forward (local runtime only). Returns the new now."""
    global _offset
    if seconds < 0:
        raise ValueError(f"the clock only moves forward; got {seconds} seconds")
    with _lock:
        _offset += timedelta(seconds=seconds)
        _publish()
    return now()


def offset_seconds() -> float:
    return _offset.total_seconds()


def reset() -> None:
    global _offset
    with _lock:
        _offset = timedelta(0)
        _publish()


def _publish() -> None:
    if _shared is not None and _writer:
        struct.pack_into(_FORMAT, _shared, 0, _offset.total_seconds())


def share(path: Path) -> Path:
    """Write this process's offset to ``path`` from now on (the local runtime); its functions follow it."""
    global _shared, _writer
    with _lock:
        path.write_bytes(struct.pack(_FORMAT, _offset.total_seconds()))
        with open(path, "r+b") as handle:
            _shared = mmap.mmap(handle.fileno(), _SIZE)
        _writer = True
    return path


def unshare() -> None:
    global _shared, _writer
    with _lock:
        if _shared is not None:
            _shared.close()
        _shared = None
        _writer = False


def _follow(path: str) -> None:
    global _shared
    with open(path, "rb") as handle:
        _shared = mmap.mmap(handle.fileno(), _SIZE, access=mmap.ACCESS_READ)


if os.environ.get(CLOCK_FILE_ENV):
    _follow(os.environ[CLOCK_FILE_ENV])
