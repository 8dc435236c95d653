"""The Lambda handler for ANY monitoring application (the controller invokes it asynchronously, once per
window with data). Payload: a ``WindowRequest`` dict. Built-in apps are modules of
``driftline.applications.builtin``; user apps are loaded from S3 by the runner. What an app produced goes to
the writer (async invoke)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from driftline.applications.runner import run_application
from driftline.aws.clients import Clients
from driftline.aws.invoke import Invoker, LambdaInvoker
from driftline.config import Settings
from driftline.errors import InvalidRequestError
from driftline.observability import get_logger, get_metrics
from driftline.schemas import WindowRequest

logger = get_logger("driftline-app")
metrics = get_metrics("driftline-app")


@dataclass
class Deps:
    settings: Settings
    clients: Clients
    invoker: Invoker


@functools.cache
def deps() -> Deps:
    """Built once per container; tests replace ``deps().invoker`` or clear the cache."""
    settings = Settings.from_env()
    clients = Clients(settings)
    return Deps(settings=settings, clients=clients, invoker=LambdaInvoker(clients))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: Any, context: Any) -> dict[str, Any]:
    metrics.add_metric(name="AppInvocations", unit=MetricUnit.Count, value=1)
    try:
        window = WindowRequest.from_dict(event)
    except InvalidRequestError:
        logger.exception("invalid window request", extra={"payload_type": type(event).__name__})
        metrics.add_metric(name="InvalidWindowRequests", unit=MetricUnit.Count, value=1)
        raise
    logger.append_keys(
        application_name=window.application_name,
        endpoint_id=window.endpoint_id,
        project=window.project,
        start_infer_time=window.start_infer_time,
        end_infer_time=window.end_infer_time,
    )
    d = deps()
    try:
        outputs = run_application(window, d.clients, logger)
    except Exception:
        # Lambda's async retries apply; the controller's side reports a window that never produced results
        logger.exception("monitoring application failed", extra={"window": window.to_dict()})
        metrics.add_metric(name="AppFailures", unit=MetricUnit.Count, value=1)
        raise
    sent = bool(outputs.results or outputs.metrics)
    if sent:
        try:
            d.invoker.invoke_async(d.settings.writer_function, outputs.to_dict())
        except Exception:
            logger.exception("could not hand the outputs to the writer", extra={"writer": d.settings.writer_function})
            metrics.add_metric(name="WriterInvokeFailures", unit=MetricUnit.Count, value=1)
            raise
    metrics.add_metric(name="AppResults", unit=MetricUnit.Count, value=len(outputs.results))
    logger.info(
        "window analysed",
        extra={"results": len(outputs.results), "metrics": len(outputs.metrics), "sent_to_writer": sent},
    )
    return {
        "application_name": outputs.application_name,
        "endpoint_id": outputs.endpoint_id,
        "start_infer_time": outputs.start_infer_time,
        "end_infer_time": outputs.end_infer_time,
        "results": len(outputs.results),
        "metrics": len(outputs.metrics),
        "sent_to_writer": sent,
    }
