"""Write one application run's outputs (an :class:`AppOutputs`, delivered by an asynchronous invoke: at least
once, so possibly twice).

Order, chosen so that a failure anywhere is repaired by Lambda's retry of the same delivery:
1. DynamoDB history items, once per window (conditional put), then the latest items;
2. alerts: per result, the project's alert configurations that govern it (:func:`driftline.alerting.applicable`)
   decide once per window (the decision is stored with a conditional put, :mod:`driftline.aws.alert_state`);
   a decision that fires sends to each of its targets still pending and marks each one sent;
3. Timestream, when enabled (a repeated record with the same values is accepted).
Alerts go before Timestream so that a Timestream outage delays no alert; a retry after a failure finds the
decisions and the targets already sent and sends nothing twice. A webhook that fails is counted
(``WebhookFailures``), logged and recorded on the decision, not retried.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from driftline.alerting import AlertConfig, applicable
from driftline.aws.alert_state import AlertStates
from driftline.aws.alerts import Alerts, WebhookError, result_alert
from driftline.aws.clients import Clients
from driftline.aws.registry import Registry
from driftline.aws.results import Results
from driftline.aws.timestream import Timestream
from driftline.errors import InvalidRequestError
from driftline.observability import get_logger, get_metrics
from driftline.schemas import AppOutputs, AppResult, ResultKind, ResultStatus

SERVICE = "driftline-writer"
EXPECTED = (
    "expected application outputs {project, endpoint_id, application_name, start_infer_time, end_infer_time, "
    "results: [{name, value, kind, status, extra_data}], metrics: [{name, value}]}"
)

logger = get_logger(SERVICE)
metrics = get_metrics(SERVICE)


@dataclass
class WriterReport:
    project: str
    endpoint_id: str
    application_name: str
    start_infer_time: str
    end_infer_time: str
    results_new: int = 0
    results_duplicate: int = 0
    metrics_new: int = 0
    metrics_duplicate: int = 0
    alerts_raised: int = 0
    timestream_records: int = 0
    alerts: list[str] = field(default_factory=list)  # "<alert type> <result name> (<config>)" of the alerts raised
    webhook_failures: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _listed(payload: Mapping[str, Any], key: str) -> list[Any]:
    value = payload.get(key)
    return value if isinstance(value, list) else []  # a missing or wrong list is AppOutputs.from_dict's to name


def parse_outputs(payload: Any) -> AppOutputs:
    """Validate an async-invoke payload as :class:`AppOutputs`; every refusal is an InvalidRequestError that
    names the field and what was expected."""
    try:
        _check_items(payload)
        return AppOutputs.from_dict(payload)
    except InvalidRequestError as exc:
        raise InvalidRequestError(f"{exc}; {EXPECTED}") from exc
    except (TypeError, ValueError, KeyError) as exc:
        raise InvalidRequestError(f"application outputs: {exc}; {EXPECTED}") from exc


def _check_items(payload: Any) -> None:
    """What :meth:`AppOutputs.from_dict` would let through as a bare TypeError/ValueError, named here."""
    if not isinstance(payload, Mapping):
        return
    kinds = sorted(int(k) for k in ResultKind)
    statuses = sorted(int(s) for s in ResultStatus)
    for i, result in enumerate(_listed(payload, "results")):
        where = f"application outputs: results[{i}]"
        if not isinstance(result, Mapping):
            raise InvalidRequestError(f"{where} must be an object {{name, value, kind, status, extra_data}}")
        for key, allowed, enum in (("kind", kinds, "ResultKind"), ("status", statuses, "ResultStatus")):
            value = result.get(key)
            if isinstance(value, bool) or value not in allowed:
                raise InvalidRequestError(f"{where}.{key} must be one of {allowed} ({enum}), got {value!r}")
        extra = result.get("extra_data")
        if extra is not None and not isinstance(extra, Mapping):
            raise InvalidRequestError(f"{where}.extra_data must be an object, got {type(extra).__name__}")
    for i, metric in enumerate(_listed(payload, "metrics")):
        if not isinstance(metric, Mapping):
            raise InvalidRequestError(f"application outputs: metrics[{i}] must be an object {{name, value}}")


def write_outputs(clients: Clients, outputs: AppOutputs, now: datetime) -> WriterReport:
    """Store ``outputs`` and raise its alerts (see the module docstring for the order and why)."""
    results = Results(clients)
    stored = results.store(outputs, now)
    canonical = stored.outputs
    report = WriterReport(
        project=canonical.project,
        endpoint_id=canonical.endpoint_id,
        application_name=canonical.application_name,
        start_infer_time=canonical.start_infer_time,
        end_infer_time=canonical.end_infer_time,
        results_new=len(stored.new_results),
        results_duplicate=stored.duplicate_results,
        metrics_new=len(stored.new_metrics),
        metrics_duplicate=stored.duplicate_metrics,
    )

    _raise_alerts(clients, canonical, now, report)

    if clients.settings.timestream_enabled:
        report.timestream_records = Timestream(clients).write_outputs(canonical)

    _publish(report, stored.new_results)
    return report


def load_alert_configs(clients: Clients, project: str) -> list[AlertConfig]:
    """The project's alert configurations; one that no longer validates is logged and skipped."""
    configs = []
    for item in Registry(clients).list_alerts(project):
        try:
            configs.append(AlertConfig.from_dict(item))
        except (InvalidRequestError, TypeError, ValueError) as exc:
            logger.error("invalid alert configuration skipped", extra={"item": item.get("sk"), "error": str(exc)})
    return configs


def _raise_alerts(clients: Clients, outputs: AppOutputs, now: datetime, report: WriterReport) -> None:
    notify = [r for r in outputs.results if r.status != ResultStatus.no_detection]
    if not notify:
        return  # no_detection never notifies: no configuration read, nothing stored
    configs = load_alert_configs(clients, outputs.project)
    states = AlertStates(clients)
    alerts = Alerts(clients)
    for result in notify:
        for config in applicable(configs, outputs.endpoint_id, outputs.application_name, result.name):
            if not config.notifies(result.status):
                continue
            state = states.decide_once(
                config,
                outputs.endpoint_id,
                outputs.application_name,
                result,
                outputs.start_infer_time,
                outputs.end_infer_time,
                now,
            )
            if not state.fire or not state.pending:
                continue
            alert = result_alert(outputs, result, config)
            for target in config.targets:
                if target.id not in state.pending:
                    continue
                try:
                    alerts.send(target, alert)
                except WebhookError as exc:
                    report.webhook_failures += 1
                    metrics.add_metric(name="WebhookFailures", unit=MetricUnit.Count, value=1)
                    logger.error(
                        "alert webhook failed; not retried",
                        extra={"alert": config.name, "result_name": result.name, "error": str(exc)},
                    )
                    states.mark_sent(state, target.id, error=str(exc))
                    continue
                states.mark_sent(state, target.id)
            report.alerts_raised += 1
            report.alerts.append(f"{alert['alert_type']} {result.name} ({config.name})")


def _metric_name(status: ResultStatus) -> str:
    return "Results" + "".join(part.capitalize() for part in status.name.split("_"))


def _publish(report: WriterReport, new_results: Sequence[AppResult]) -> None:
    metrics.add_metric(name="ResultsWritten", unit=MetricUnit.Count, value=report.results_new)
    metrics.add_metric(name="MetricsWritten", unit=MetricUnit.Count, value=report.metrics_new)
    metrics.add_metric(name="DuplicateResults", unit=MetricUnit.Count, value=report.results_duplicate)
    metrics.add_metric(name="AlertsRaised", unit=MetricUnit.Count, value=report.alerts_raised)
    for status in ResultStatus:
        count = sum(1 for r in new_results if r.status == status)
        metrics.add_metric(name=_metric_name(status), unit=MetricUnit.Count, value=count)
    logger.info("application outputs written", extra={"report": report.to_dict()})
