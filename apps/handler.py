"""The Lambda handler for ANY monitoring application (the controller invokes it asynchronously, once per window
with data). Payload: a ``WindowRequest`` dict.

Thin on purpose: parse the window request, call :func:`driftline.applications.runner.analyse_window` (run the
app, built-in or uploaded, and hand its outputs to the writer), return its report.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from driftline.applications.runner import SERVICE, analyse_window
from driftline.aws.clients import Clients
from driftline.aws.invoke import Invoker, LambdaInvoker
from driftline.config import Settings
from driftline.errors import InvalidRequestError
from driftline.observability import get_logger, get_metrics
from driftline.schemas import WindowRequest

logger = get_logger(SERVICE)
metrics = get_metrics(SERVICE)


@dataclass
class Deps:
    clients: Clients
    invoker: Invoker


@functools.cache
def deps() -> Deps:
    """Built once per container; tests replace ``deps().invoker`` or clear the cache."""
    clients = Clients(Settings.from_env())
    return Deps(clients=clients, invoker=LambdaInvoker(clients))


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
    d = deps()
    return analyse_window(window, d.clients, d.invoker).to_dict()
