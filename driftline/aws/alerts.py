"""Alerts for results with status potential (1) or detected (2), MLRun's event kinds: on the EventBridge bus
(source ``driftline``, detail-type ``<kind>-suspected`` / ``<kind>-detected``, e.g. ``data-drift-detected``)
and on the SNS topic (short subject, the same detail as JSON, message attributes to filter subscriptions on).

The caller decides which results need an alert (:mod:`driftline.alerting`, :mod:`driftline.aws.alert_state`);
this module only sends them: :meth:`Alerts.send` to one target of an alert configuration (the stack's topic, the
stack's or the account's default EventBridge bus, an HTTPS webhook). An AWS target that refuses raises
:class:`StorageError`, so the delivery is retried; a webhook that fails raises :class:`WebhookError`, which the
writer counts and logs without retrying (a receiver that is down must not hold the results back).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

from driftline.alerting import AlertConfig, AlertTarget
from driftline.aws.clients import Clients
from driftline.aws.failures import storage_errors
from driftline.errors import StorageError
from driftline.schemas import AppOutputs, AppResult, ResultKind, ResultStatus

SOURCE = "driftline"
LAG_DETECTED = "mm-lag-detected"  # monitoring fell behind traffic (MLRun's lag alert)
APP_FAILED = "mm-app-failed"  # a window's application could not run; the window is retried
MAX_PUT_EVENTS = 10  # PutEvents takes at most 10 entries
SUBJECT_LIMIT = 100  # SNS subjects are at most 100 characters
WEBHOOK_TIMEOUT_SECONDS = 5.0  # the writer's timeout is 60 s: a slow receiver costs at most this per alert


class WebhookError(Exception):
    """A webhook did not accept an alert (connection error, timeout, a non-2xx answer)."""


def kind_name(kind: ResultKind) -> str:
    """``data_drift`` -> ``data-drift`` (MLRun's alert event names)."""
    return ResultKind(kind).name.replace("_", "-")


def alert_type(result: AppResult) -> str:
    """``<kind>-detected`` for status detected, ``<kind>-suspected`` for potential detection."""
    status = ResultStatus(result.status)
    if status == ResultStatus.detected:
        return f"{kind_name(result.kind)}-detected"
    if status == ResultStatus.potential_detection:
        return f"{kind_name(result.kind)}-suspected"
    raise ValueError(f"result {result.name!r} has status {status.name}: only potential or detected raise an alert")


def entity_id(endpoint_id: str, application_name: str, result_name: str) -> str:
    return f"{endpoint_id}.{application_name}.result.{result_name}"


def alert_detail(outputs: AppOutputs, result: AppResult, config: AlertConfig | None = None) -> dict[str, Any]:
    detail = {
        "project": outputs.project,
        "endpoint_id": outputs.endpoint_id,
        "application_name": outputs.application_name,
        "result_name": result.name,
        "result_value": float(result.value),
        "result_status": int(result.status),
        "result_kind": int(result.kind),
        "start_infer_time": outputs.start_infer_time,
        "end_infer_time": outputs.end_infer_time,
        "entity_id": entity_id(outputs.endpoint_id, outputs.application_name, result.name),
    }
    if config is not None:
        detail["alert_name"] = config.name
        detail["criteria"] = {"count": config.count, "windows": config.windows}
        detail["reset_policy"] = config.reset_policy
    return detail


def result_alert(outputs: AppOutputs, result: AppResult, config: AlertConfig) -> dict[str, Any]:
    """The alert of one result under one configuration: ``{"alert_type": ..., **detail}``."""
    return {"alert_type": alert_type(result), **alert_detail(outputs, result, config)}


class Alerts:
    def __init__(self, clients: Clients) -> None:
        self._clients = clients
        self._settings = clients.settings

    def raise_alerts(self, outputs: AppOutputs, results: Sequence[AppResult]) -> list[dict[str, Any]]:
        """Send one alert per result (all must have status potential or detected); returns the alerts sent, each
        ``{"alert_type": ..., **detail}``."""
        alerts = [{"alert_type": alert_type(r), **alert_detail(outputs, r)} for r in results]
        if not alerts:
            return []
        self._put_events(alerts)
        if self._settings.alerts_topic_arn:
            for alert in alerts:
                self._publish(alert)
        return alerts

    def send(self, target: AlertTarget, alert: dict[str, Any]) -> None:
        """One alert to one target (see the module docstring for what each failure raises)."""
        if target.kind == "sns":
            if self._settings.alerts_topic_arn:
                self._publish(alert)
        elif target.kind == "eventbridge":
            self._put_events([alert], "default" if target.bus == "default" else None)
        else:
            self._webhook(target, alert)

    def _webhook(self, target: AlertTarget, alert: dict[str, Any]) -> None:
        headers = {"Content-Type": "application/json", "User-Agent": "driftline-writer"}
        if target.secret_parameter:
            with storage_errors(f"reading the webhook secret {target.secret_parameter}"):
                value = self._clients.ssm.get_parameter(Name=target.secret_parameter, WithDecryption=True)
            headers[target.header] = str(value["Parameter"].get("Value", ""))
        body = json.dumps({"source": SOURCE, "detail-type": alert["alert_type"], "detail": alert}).encode()
        # the URL's scheme is checked when the configuration is stored (AlertTarget.check): https, or http to loopback
        request = urllib.request.Request(target.url, data=body, headers=headers, method="POST")  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:  # noqa: S310  # nosec B310: AlertTarget.check allows https (and http to loopback) only
                status = response.status
        except urllib.error.HTTPError as exc:
            raise WebhookError(f"webhook {target.url} answered {exc.code} {exc.reason}") from exc
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise WebhookError(f"webhook {target.url} failed: {exc}") from exc
        if not 200 <= status < 300:
            raise WebhookError(f"webhook {target.url} answered {status}")

    def _put_events(self, alerts: list[dict[str, Any]], bus: str | None = None) -> None:
        events = self._clients.events
        bus_name = bus or self._settings.event_bus_name
        for i in range(0, len(alerts), MAX_PUT_EVENTS):
            chunk = alerts[i : i + MAX_PUT_EVENTS]
            with storage_errors(f"putting {len(chunk)} alert(s) on the EventBridge bus {bus_name}"):
                response = events.put_events(
                    Entries=[
                        {
                            "Source": SOURCE,
                            "DetailType": alert["alert_type"],
                            "Detail": json.dumps({k: v for k, v in alert.items() if k != "alert_type"}),
                            "EventBusName": bus_name,
                            "Resources": [],
                        }
                        for alert in chunk
                    ]
                )
            if response.get("FailedEntryCount"):
                failed = [e for e in response.get("Entries", []) if e.get("ErrorCode")]
                reasons = "; ".join(f"{e.get('ErrorCode')}: {e.get('ErrorMessage')}" for e in failed)
                raise StorageError(
                    f"EventBridge bus {bus_name} refused {response['FailedEntryCount']} alert(s): {reasons}"
                )

    def _publish(self, alert: dict[str, Any]) -> None:
        subject = f"driftline {alert['alert_type']}: {alert['application_name']}/{alert['result_name']}"
        self._sns_publish(
            TopicArn=self._settings.alerts_topic_arn,
            Subject=subject[:SUBJECT_LIMIT],
            Message=json.dumps(alert),
            MessageAttributes={
                "alert_type": {"DataType": "String", "StringValue": alert["alert_type"]},
                "project": {"DataType": "String", "StringValue": alert["project"]},
                "endpoint_id": {"DataType": "String", "StringValue": alert["endpoint_id"]},
                "application_name": {"DataType": "String", "StringValue": alert["application_name"]},
                "result_name": {"DataType": "String", "StringValue": alert["result_name"]},
                "result_status": {"DataType": "Number", "StringValue": str(alert["result_status"])},
            },
        )

    def raise_operational(self, alert_type: str, detail: dict[str, Any]) -> None:
        """One operational alert (``mm-lag-detected``, ``mm-app-failed``) on the bus and the topic, in the same
        shapes as result alerts; ``detail`` carries at least project, endpoint_id and application_name."""
        alert = {"alert_type": alert_type, **detail}
        self._put_events([alert])
        if self._settings.alerts_topic_arn:
            subject = f"driftline {alert_type}: {detail.get('application_name', '')}"
            self._sns_publish(
                TopicArn=self._settings.alerts_topic_arn,
                Subject=subject[:SUBJECT_LIMIT],
                Message=json.dumps(alert),
                MessageAttributes={
                    "alert_type": {"DataType": "String", "StringValue": alert_type},
                    "project": {"DataType": "String", "StringValue": str(detail.get("project", ""))},
                    "endpoint_id": {"DataType": "String", "StringValue": str(detail.get("endpoint_id", ""))},
                },
            )

    def _sns_publish(self, **kwargs: Any) -> None:
        alert_type = kwargs["MessageAttributes"]["alert_type"]["StringValue"]
        with storage_errors(f"publishing a {alert_type} alert to {self._settings.alerts_topic_arn}"):
            self._clients.sns.publish(**kwargs)
