"""The controller's schedules (EventBridge Scheduler), one per project, named by :func:`schedule_name`
(``{schedule_prefix}-{project}``), ``rate(base_period minutes)``, delivering
``{"source": "driftline.schedule", "project": ...}`` to the controller. ``enable_model_monitoring`` creates or
re-enables it; ``disable_model_monitoring`` disables it (kept, not deleted, so its history stays visible). The
local runtime reads the same schedules to fire them."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from driftline.aws.failures import error_code, storage_errors

if TYPE_CHECKING:  # the CDK app imports schedule_name; it has no use for the clients
    from types_boto3_scheduler.type_defs import GetScheduleOutputTypeDef, TargetTypeDef

    from driftline.aws.clients import Clients

SCHEDULE_SOURCE = "driftline.schedule"
SCHEDULE_NAME_MAX = 64  # EventBridge Scheduler's limit on a schedule name
_DIGEST_CHARS = 8


def schedule_name(prefix: str, project: str) -> str:
    """The name of ``project``'s controller schedule: ``{prefix}-{project}``, or, when that is longer than
    Scheduler accepts, its beginning followed by 8 hex digits of its SHA-256.

    The one naming rule: the CDK stack names the schedule it creates with it and the SDK the ones it creates at
    run time, so both find the same schedule. The digest is of the full name, so it is the same on every machine,
    and two long projects that differ only past the cut still get different names; the beginning keeps the name
    readable and under ``prefix`` (``list`` finds schedules by that prefix).
    """
    full = f"{prefix}-{project}"
    if len(full) <= SCHEDULE_NAME_MAX:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:_DIGEST_CHARS]
    head = full[: SCHEDULE_NAME_MAX - _DIGEST_CHARS - 1].rstrip("-_")
    return f"{head}-{digest}"


@dataclass(frozen=True)
class Schedule:
    name: str
    project: str
    base_period_minutes: int
    enabled: bool
    payload: dict[str, Any]
    target_arn: str = ""  # what the schedule invokes (the controller)
    role_arn: str = ""  # the role the scheduler assumes to invoke it


def _rate(minutes: int) -> str:
    return f"rate({minutes} minute{'s' if minutes != 1 else ''})"


def _parse_rate(expression: str) -> int:
    inner = expression.removeprefix("rate(").removesuffix(")").split()
    if len(inner) != 2 or not inner[0].isdigit() or not inner[1].startswith("minute"):
        raise ValueError(f"unexpected schedule expression {expression!r}; expected rate(N minutes)")
    return int(inner[0])


class Schedules:
    def __init__(self, clients: Clients) -> None:
        self._settings = clients.settings
        self._client = clients.scheduler

    def name_for(self, project: str) -> str:
        return schedule_name(self._settings.schedule_prefix, project)

    def _target(self, project: str) -> TargetTypeDef:
        s = self._settings
        return {
            "Arn": s.controller_arn or f"arn:aws:lambda:{s.region}:123456789012:function:{s.controller_function}",
            "RoleArn": s.scheduler_role_arn or f"arn:aws:iam::123456789012:role/{s.schedule_prefix}-role",
            "Input": json.dumps({"source": SCHEDULE_SOURCE, "project": project}),
        }

    def put(self, project: str, base_period_minutes: int, enabled: bool) -> Schedule:
        """Create or update the project's schedule (rate and state)."""
        name = self.name_for(project)
        kwargs: dict[str, Any] = {
            "Name": name,
            "GroupName": self._settings.schedule_group,
            "ScheduleExpression": _rate(base_period_minutes),
            "State": "ENABLED" if enabled else "DISABLED",
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "Description": f"driftline monitoring controller for project {project}",
        }
        with storage_errors(f"writing schedule {self._settings.schedule_group}/{name}"):
            try:
                current = self._client.get_schedule(Name=name, GroupName=self._settings.schedule_group)
            except ClientError as exc:
                if error_code(exc) != "ResourceNotFoundException":
                    raise
                self._client.create_schedule(Target=self._target(project), **kwargs)
            else:
                self._client.update_schedule(Target=current["Target"], **kwargs)
        return Schedule(name, project, base_period_minutes, enabled, {"source": SCHEDULE_SOURCE, "project": project})

    def set_state(self, project: str, enabled: bool) -> Schedule | None:
        current = self.get(project)
        if current is None:
            return None
        return self.put(project, current.base_period_minutes, enabled)

    def get(self, project: str) -> Schedule | None:
        name = self.name_for(project)
        with storage_errors(f"reading schedule {self._settings.schedule_group}/{name}"):
            try:
                raw = self._client.get_schedule(Name=name, GroupName=self._settings.schedule_group)
            except ClientError as exc:
                if error_code(exc) == "ResourceNotFoundException":
                    return None
                raise
        return self._from_raw(raw)

    def list(self) -> list[Schedule]:
        out: list[Schedule] = []
        group, prefix = self._settings.schedule_group, self._settings.schedule_prefix
        with storage_errors(f"listing the schedules {group}/{prefix}*"):
            paginator = self._client.get_paginator("list_schedules")
            for page in paginator.paginate(GroupName=group, NamePrefix=prefix):
                for summary in page.get("Schedules", []):
                    raw = self._client.get_schedule(Name=summary["Name"], GroupName=group)
                    out.append(self._from_raw(raw))
        return out

    @staticmethod
    def _from_raw(raw: GetScheduleOutputTypeDef) -> Schedule:
        target = raw["Target"]
        payload = json.loads(target.get("Input") or "{}")
        return Schedule(
            name=raw["Name"],
            project=str(payload.get("project", "")),
            base_period_minutes=_parse_rate(raw["ScheduleExpression"]),
            enabled=raw.get("State") == "ENABLED",
            payload=payload,
            target_arn=str(target.get("Arn", "")),
            role_arn=str(target.get("RoleArn", "")),
        )
