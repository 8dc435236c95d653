"""The app function's logic. :func:`run_application` runs any monitoring application on one window: load its
record and class (through :mod:`driftline.applications.loader`), build the context, call ``do_tracking``,
normalise what it returned. :func:`analyse_window` is the function's whole job for one window: run the app,
hand what it produced to the writer (asynchronous invoke), count it. The app Lambda (``apps/handler.py``)
parses the window request and calls :func:`analyse_window`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from driftline.applications.base import ModelMonitoringApplicationBase, normalise_outputs
from driftline.applications.context import MonitoringApplicationContext
from driftline.applications.data import WindowSource
from driftline.applications.loader import AppRef, load_class
from driftline.aws.artifacts import Artifacts
from driftline.aws.clients import Clients
from driftline.aws.endpoints import Endpoints
from driftline.aws.invoke import Invoker
from driftline.aws.registry import Registry, parse_model_uri
from driftline.errors import ApplicationError, InvalidRequestError, NotFoundError
from driftline.observability import get_logger, get_metrics
from driftline.records import AppRecord, EndpointRecord, ModelRecord
from driftline.schemas import AppOutputs, WindowRequest, parse_time, to_iso

SERVICE = "driftline-app"

logger = get_logger(SERVICE)
metrics = get_metrics(SERVICE)


def load_application_class(record: AppRecord, clients: Clients) -> type[ModelMonitoringApplicationBase]:
    """The app's class, through the one loader: a built-in module, or the uploaded source (fetched from S3 once
    per process and checked against its sha256)."""
    ref = AppRef.from_source(record.source or {}, record.application_class, record.name)
    artifacts = Artifacts(clients)

    def fetch(key: str) -> bytes:
        try:
            return artifacts.get(key)
        except NotFoundError as exc:
            raise ApplicationError(
                f"application {record.name!r}: its source s3://{clients.settings.bucket}/{key} does not exist"
            ) from exc

    return load_class(ref, fetch, record.name)


def instantiate(cls: type[ModelMonitoringApplicationBase], record: AppRecord) -> ModelMonitoringApplicationBase:
    try:
        return cls(**record.application_kwargs)
    except Exception as exc:
        raise ApplicationError(
            f"application {record.name!r}: {cls.__name__}(**{record.application_kwargs}) failed: {exc}; "
            "expected application_kwargs that its constructor accepts"
        ) from exc


def _model_for(endpoint: EndpointRecord, registry: Registry, logger: Any) -> ModelRecord | None:
    """The model version the endpoint serves (its reference profile); None if no longer registered."""
    try:
        project, name, tag = parse_model_uri(endpoint.model_uri)
        return registry.get_model(project, name, endpoint.model_version or tag)
    except NotFoundError as exc:
        logger.warning(
            "model record not found: the application runs without a reference profile",
            extra={"endpoint_id": endpoint.endpoint_id, "model_uri": endpoint.model_uri, "error": str(exc)},
        )
        return None


def run_application(window: WindowRequest, clients: Clients, log: Any = None) -> AppOutputs:
    """Everything one app produced for one window. A window without rows gives empty outputs and
    ``do_tracking`` is not called."""
    log = log or logger
    registry = Registry(clients)
    record = registry.get_app(window.project, window.application_name)
    endpoint = Endpoints(clients).get(window.endpoint_id)
    if endpoint.project != window.project:
        raise InvalidRequestError(
            f"window request: endpoint {window.endpoint_id!r} belongs to project {endpoint.project!r}, "
            f"not {window.project!r}"
        )
    app = instantiate(load_application_class(record, clients), record)
    start = parse_time(window.start_infer_time, "start_infer_time")
    end = parse_time(window.end_infer_time, "end_infer_time")
    context = MonitoringApplicationContext(
        application_name=record.name,
        project_name=window.project,
        start_infer_time=start,
        end_infer_time=end,
        model_endpoint=endpoint,
        model=_model_for(endpoint, registry, log),
        rows=WindowSource(clients, endpoint.endpoint_id, start, end),
        logger=log,
        application_kwargs=record.application_kwargs,
        artefact_reader=Artifacts(clients).get,
    )
    empty = AppOutputs(
        project=window.project,
        endpoint_id=window.endpoint_id,
        application_name=record.name,
        start_infer_time=to_iso(start),
        end_infer_time=to_iso(end),
    )
    if not context.has_rows():
        log.info("window has no rows: nothing to analyse", extra={"rows": 0})
        return empty
    results, metrics = normalise_outputs(app.do_tracking(context), record.name)
    return AppOutputs(
        project=empty.project,
        endpoint_id=empty.endpoint_id,
        application_name=empty.application_name,
        start_infer_time=empty.start_infer_time,
        end_infer_time=empty.end_infer_time,
        results=tuple(results),
        metrics=tuple(metrics),
    )


@dataclass(frozen=True)
class WindowReport:
    """What the app function did with one window (its answer)."""

    application_name: str
    endpoint_id: str
    start_infer_time: str
    end_infer_time: str
    results: int
    metrics: int
    sent_to_writer: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def analyse_window(window: WindowRequest, clients: Clients, invoker: Invoker) -> WindowReport:
    """Run the window's application and hand its outputs to the writer (nothing is sent for a window that
    produced nothing). A failure is logged with the window, counted (``AppFailures``, ``WriterInvokeFailures``)
    and raised: Lambda's asynchronous retries apply, then the async-failures queue."""
    logger.append_keys(
        application_name=window.application_name,
        endpoint_id=window.endpoint_id,
        project=window.project,
        start_infer_time=window.start_infer_time,
        end_infer_time=window.end_infer_time,
    )
    try:
        outputs = run_application(window, clients, logger)
    except Exception:
        logger.exception("monitoring application failed", extra={"window": window.to_dict()})
        metrics.add_metric(name="AppFailures", unit=MetricUnit.Count, value=1)
        raise
    sent = bool(outputs.results or outputs.metrics)
    if sent:
        writer = clients.settings.writer_function
        try:
            invoker.invoke_async(writer, outputs.to_dict())
        except Exception:
            logger.exception("could not hand the outputs to the writer", extra={"writer": writer})
            metrics.add_metric(name="WriterInvokeFailures", unit=MetricUnit.Count, value=1)
            raise
    metrics.add_metric(name="AppResults", unit=MetricUnit.Count, value=len(outputs.results))
    logger.info(
        "window analysed",
        extra={"results": len(outputs.results), "metrics": len(outputs.metrics), "sent_to_writer": sent},
    )
    return WindowReport(
        application_name=outputs.application_name,
        endpoint_id=outputs.endpoint_id,
        start_infer_time=outputs.start_infer_time,
        end_infer_time=outputs.end_infer_time,
        results=len(outputs.results),
        metrics=len(outputs.metrics),
        sent_to_writer=sent,
    )
