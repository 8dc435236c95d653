"""Writer Lambda: receives one application run's outputs (asynchronous invoke, ``AppOutputs`` as the payload),
stores them in DynamoDB and Timestream and raises alerts.

Thin on purpose: validate the payload, call :func:`driftline.writer.run.write_outputs`, return its report.
An invalid payload raises (Lambda's async retries then send it to the dead-letter queue, where it stays
visible). Imports neither pandas, scipy nor pyarrow (cold start).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from driftline import clock
from driftline.aws.clients import Clients
from driftline.config import Settings
from driftline.errors import InvalidRequestError
from driftline.observability import get_logger, get_metrics
from driftline.writer.run import SERVICE, parse_outputs, write_outputs

logger = get_logger(SERVICE)
metrics = get_metrics(SERVICE)


@dataclass(frozen=True)
class Deps:
    clients: Clients


@functools.cache
def deps() -> Deps:
    """Built once per container, on the first invocation; tests replace or clear it."""
    return Deps(clients=Clients(Settings.from_env()))


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    try:
        outputs = parse_outputs(event)
    except InvalidRequestError as exc:
        metrics.add_metric(name="InvalidPayloads", unit=MetricUnit.Count, value=1)
        logger.error("invalid application outputs", extra={"error": str(exc)})
        raise
    try:
        report = write_outputs(deps().clients, outputs, clock.now())
    except Exception:
        metrics.add_metric(name="WriterFailures", unit=MetricUnit.Count, value=1)
        raise
    return report.to_dict()
