"""How one controller tick is split: shards of a project's endpoints, each run by its own controller invocation.

A shard is a range of endpoint ids ``[low, high)``. Endpoint ids are the first 32 hex digits of a SHA-1
(:func:`driftline.schemas.endpoint_id_for`), uniform over the hex key space, so ``count`` equal ranges of that
space hold about equal numbers of endpoints without anyone listing them first; the ranges cover every string
(the first is unbounded below, the last above), so an id of any other shape still belongs to exactly one shard.
The ``by-project`` index's sort key is the endpoint id: a shard lists its endpoints with one query
(:meth:`driftline.aws.endpoints.Endpoints.list_range`).

The shard event (controller -> controller, asynchronous invoke)::

    {"source": "driftline.controller-shard", "project": "<name>", "shard": 3, "shards": 20,
     "now": "2026-11-26T10:05:00.000000+00:00", "low": "26666666", "high": "33333333"}

``low``/``high`` are derived from ``shard``/``shards`` and carried for the logs and the reader's eyes; the
receiving shard checks they agree. ``now`` is the tick's clock: every shard cuts its windows at the same time.

Pure: no AWS.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from driftline.errors import InvalidRequestError
from driftline.schemas import parse_time, to_iso

SHARD_SOURCE = "driftline.controller-shard"
KEY_DIGITS = 8  # range boundaries are 8-hex-digit prefixes: up to 16**8 shards, far beyond any need
MAX_SHARDS = 1_000


def boundary(index: int, count: int) -> str | None:
    """The id at which shard ``index`` of ``count`` starts (None: the first shard, unbounded below; ``index ==
    count`` is the end of the last shard, also None)."""
    if index <= 0 or index >= count:
        return None
    return format(index * 16**KEY_DIGITS // count, f"0{KEY_DIGITS}x")


@dataclass(frozen=True)
class ShardSpec:
    """One shard of one project's endpoints in one tick."""

    project: str
    index: int
    count: int
    now: datetime

    def __post_init__(self) -> None:
        if not 1 <= self.count <= MAX_SHARDS:
            raise InvalidRequestError(f"controller shard: 'shards' must be 1..{MAX_SHARDS}, got {self.count}")
        if not 0 <= self.index < self.count:
            raise InvalidRequestError(f"controller shard: 'shard' must be 0..{self.count - 1}, got {self.index}")

    @property
    def low(self) -> str | None:
        return boundary(self.index, self.count)

    @property
    def high(self) -> str | None:
        return boundary(self.index + 1, self.count)

    def holds(self, endpoint_id: str) -> bool:
        return (self.low is None or endpoint_id >= self.low) and (self.high is None or endpoint_id < self.high)

    def to_event(self) -> dict[str, Any]:
        return {
            "source": SHARD_SOURCE,
            "project": self.project,
            "shard": self.index,
            "shards": self.count,
            "now": to_iso(self.now),
            "low": self.low,
            "high": self.high,
        }

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> ShardSpec:
        expected = (
            f'expected {{"source": "{SHARD_SOURCE}", "project": "<name>", "shard": <int>, "shards": <int>, '
            '"now": "<ISO time>", "low", "high"}'
        )
        project = event.get("project")
        if not isinstance(project, str) or not project.strip():
            raise InvalidRequestError(
                f"controller shard: 'project' must be a non-empty name, got {project!r}; {expected}"
            )
        index, count = event.get("shard"), event.get("shards")
        if (
            not isinstance(index, int)
            or not isinstance(count, int)
            or isinstance(index, bool)
            or isinstance(count, bool)
        ):
            raise InvalidRequestError(
                f"controller shard: 'shard' and 'shards' must be integers, got {index!r}, {count!r}; {expected}"
            )
        try:
            now = parse_time(event.get("now"), "controller shard now")
        except Exception as exc:
            raise InvalidRequestError(f"controller shard: 'now' {event.get('now')!r}: {exc}; {expected}") from None
        try:
            spec = cls(project=project, index=index, count=count, now=now)
        except InvalidRequestError as exc:
            raise InvalidRequestError(f"{exc}; {expected}") from None
        if (event.get("low"), event.get("high")) != (spec.low, spec.high):
            raise InvalidRequestError(
                f"controller shard: range [{event.get('low')}, {event.get('high')}) does not match shard "
                f"{index} of {count} ([{spec.low}, {spec.high})); {expected}"
            )
        return spec


def shard_count(endpoints: int, *, shard_size: int, max_shards: int) -> int:
    """How many shards a project of ``endpoints`` endpoints is split into: one per ``shard_size`` endpoints, at
    most ``max_shards`` (one shard: the tick runs in the scheduled invocation itself, no fan-out)."""
    if shard_size < 1 or max_shards < 1:
        raise ValueError(f"shard_size and max_shards must be >= 1, got {shard_size}, {max_shards}")
    return max(1, min(max_shards, MAX_SHARDS, -(-endpoints // shard_size)))
