"""What may start the controller, and which projects that means.

* EventBridge Scheduler (one schedule per project) delivers exactly the configured input:
  ``{"source": "driftline.schedule", "project": "<name>"}`` -> that project.
* An EventBridge rule with a schedule delivers its ``Scheduled Event`` envelope (``source`` ``aws.events``,
  ``detail`` ``{}``) -> every project with monitoring enabled (None).
* The controller itself, fanning a tick out, sends a shard event (``source`` ``driftline.controller-shard``,
  :mod:`driftline.controller.shards`) -> that shard (a :class:`ShardSpec`).

Anything else is refused with an error naming both accepted forms.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from driftline.aws.schedules import SCHEDULE_SOURCE
from driftline.controller.shards import SHARD_SOURCE, ShardSpec
from driftline.errors import InvalidRequestError

RULE_SOURCE = "aws.events"
RULE_DETAIL_TYPE = "Scheduled Event"
EXPECTED = (
    f'expected the schedule input {{"source": "{SCHEDULE_SOURCE}", "project": "<name>"}} or an EventBridge '
    f'"{RULE_DETAIL_TYPE}" envelope (source "{RULE_SOURCE}") or a controller shard event (source "{SHARD_SOURCE}")'
)


def parse_trigger(event: Any) -> str | ShardSpec | None:
    """The project to run (None: every project with monitoring enabled), or the shard to run;
    InvalidRequestError otherwise."""
    if not isinstance(event, Mapping):
        raise InvalidRequestError(f"controller trigger: {EXPECTED}; got {type(event).__name__}")
    source = event.get("source")
    if source == SHARD_SOURCE:
        return ShardSpec.from_event(event)
    if source == SCHEDULE_SOURCE:
        project = event.get("project")
        if not isinstance(project, str) or not project.strip():
            raise InvalidRequestError(
                f"controller trigger: field 'project' must be a non-empty project name, got {project!r}; {EXPECTED}"
            )
        return project
    detail_type = event.get("detail-type")
    if source == RULE_SOURCE and detail_type == RULE_DETAIL_TYPE:
        if not isinstance(event.get("detail", {}), Mapping):
            raise InvalidRequestError(f"controller trigger: a Scheduled Event's detail must be an object; {EXPECTED}")
        return None
    raise InvalidRequestError(f"controller trigger: {EXPECTED}; got source {source!r}, detail-type {detail_type!r}")
