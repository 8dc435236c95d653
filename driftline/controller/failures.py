"""App failures after Lambda's retries, surfaced: every controller run drains the async-failures queue of the
records that name an app function, keeps each failure on the app's record (``apps list``, ``monitoring status``
show the last error, when, and the window) and raises ``mm-app-failed``.

Why the controller (decision, docs/architecture.md "Delivery semantics"): it already runs every base period and
already raises operational alerts; draining costs one SQS ``ReceiveMessage`` per run when the queue is empty
(a few cents a year), needs no new trigger, and the failure is reported within one base period of Lambda giving
up (which itself takes ~3 minutes of retries). An SQS event source on the writer would be faster but keeps
pollers running around the clock and a second consumer of a queue operators read; a Lambda-to-Lambda on-failure
destination would take the failure out of the queue for good, where the stack's queue-depth alarm watches it.

Exactness: SQS delivers at least once and a run may die between steps. A failure is keyed by the failed
invocation's request id: the app record counts it once (conditional update) and keeps ``failure_alert_pending``
until its alert went out; a message is deleted only once both are done, so a crash in between is repaired by
the next run, with no alert doubled. Records of other functions (the controller's own, the writer's) are left in
the queue (they reappear after the visibility timeout) for operators; a run examines at most
``MAX_MESSAGES`` messages.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from driftline.aws.alerts import APP_FAILED, Alerts
from driftline.aws.clients import Clients
from driftline.aws.failures import storage_errors
from driftline.aws.registry import Registry
from driftline.observability import get_logger
from driftline.schemas import to_iso

MAX_MESSAGES = 100
VISIBILITY_SECONDS = 120  # a message this run does not delete is hidden this long (the next run may see it)
MAX_ERROR_CHARS = 2000

logger = get_logger("driftline-controller")


@dataclass(frozen=True)
class AppFailure:
    project: str
    endpoint_id: str
    application_name: str
    start_infer_time: str
    end_infer_time: str
    error: str
    failed_at: str
    request_id: str
    attempts: int

    def detail(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "endpoint_id": self.endpoint_id,
            "application_name": self.application_name,
            "start_infer_time": self.start_infer_time,
            "end_infer_time": self.end_infer_time,
            "error": self.error,
            "failed_at": self.failed_at,
            "attempts": self.attempts,
            "handed_back": False,  # Lambda gave up on the window: it is not retried
            "source": "async-failures",
        }


def parse_failure(body: str, app_function_prefix: str) -> AppFailure | None:
    """An app failure from one message of the async-failures queue (Lambda's on-failure invocation record);
    None for anything else (another function's record, a schedule's dead letter, a body that is no record)."""
    try:
        record = json.loads(body)
    except ValueError:
        return None
    if not isinstance(record, dict):
        return None
    context = record.get("requestContext") or {}
    function = str(context.get("functionArn", "")).split(":function:")[-1].split(":")[0]
    if not (function == app_function_prefix or function.startswith(f"{app_function_prefix}-")):
        return None
    window = record.get("requestPayload")
    if not isinstance(window, dict) or not all(
        isinstance(window.get(k), str) for k in ("project", "endpoint_id", "application_name")
    ):
        return None
    response = record.get("responsePayload")
    if isinstance(response, dict):
        error = f"{response.get('errorType', 'Error')}: {response.get('errorMessage', '')}"
    else:
        error = str(response or "unknown error")
    return AppFailure(
        project=window["project"],
        endpoint_id=window["endpoint_id"],
        application_name=window["application_name"],
        start_infer_time=str(window.get("start_infer_time", "")),
        end_infer_time=str(window.get("end_infer_time", "")),
        error=error[:MAX_ERROR_CHARS],
        failed_at=str(record.get("timestamp", "")),
        request_id=str(context.get("requestId", "")),
        attempts=int(context.get("approximateInvokeCount") or 0),
    )


@dataclass
class FailuresReport:
    examined: int = 0
    app_failures: int = 0  # new failures recorded
    alerts: int = 0
    left: int = 0  # messages of other functions, left in the queue
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "examined": self.examined,
            "app_failures": self.app_failures,
            "alerts": self.alerts,
            "left": self.left,
            "errors": list(self.errors),
        }


def surface_app_failures(clients: Clients, alerts: Alerts, now: datetime) -> FailuresReport:
    """Drain the app failures of the async-failures queue (see the module docstring). Never raises: a failed
    call is logged and left for the next run."""
    report = FailuresReport()
    url = clients.settings.queue_url("async-failures")
    if not url:
        return report
    prefix = clients.settings.app_function
    registry = Registry(clients)
    sqs = clients.sqs
    try:
        while report.examined < MAX_MESSAGES:
            with storage_errors(f"receiving failure records from {url}"):
                messages = sqs.receive_message(
                    QueueUrl=url,
                    MaxNumberOfMessages=10,
                    VisibilityTimeout=VISIBILITY_SECONDS,
                    WaitTimeSeconds=0,
                ).get("Messages", [])
            if not messages:
                break
            for message in messages:
                report.examined += 1
                failure = parse_failure(message.get("Body", ""), prefix)
                if failure is None:
                    report.left += 1
                    continue
                if _surface(registry, alerts, failure, now, report):
                    with storage_errors(f"deleting a failure record from {url}"):
                        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    except Exception as exc:  # the run's own work matters more: log, and the next run retries
        logger.exception("could not drain the async-failures queue")
        report.errors.append(str(exc))
    return report


def _surface(registry: Registry, alerts: Alerts, failure: AppFailure, now: datetime, report: FailuresReport) -> bool:
    """Record one failure and raise its alert; True when the message may be deleted."""
    window = {"start_infer_time": failure.start_infer_time, "end_infer_time": failure.end_infer_time}
    window["endpoint_id"] = failure.endpoint_id
    new = registry.record_app_failure(
        failure.project,
        failure.application_name,
        error=failure.error,
        at=failure.failed_at or to_iso(now),
        window=window,
        request_id=failure.request_id,
    )
    if new:
        report.app_failures += 1
        logger.warning("monitoring application failed after its retries", extra=failure.detail())
    elif not registry.failure_alert_pending(failure.project, failure.application_name, failure.request_id):
        return True  # recorded and alerted before (a repeated message), or the app is gone
    try:
        alerts.raise_operational(APP_FAILED, failure.detail())
    except Exception as exc:
        logger.error("mm-app-failed could not be sent; the next run retries", extra={"error": str(exc)})
        report.errors.append(str(exc))
        return False
    registry.clear_failure_alert(failure.project, failure.application_name, failure.request_id)
    report.alerts += 1
    return True
