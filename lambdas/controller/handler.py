"""Controller Lambda: started by the project's EventBridge Scheduler schedule (or an EventBridge rule's
Scheduled Event, meaning every project with monitoring enabled); cuts the complete windows and sends each one
with predictions to its monitoring application (asynchronous invoke).

A tick with many endpoints fans out: the scheduled invocation hands shards of the endpoints to invocations of
this same function (shard events), each running :func:`driftline.controller.run.run_shard`.

Thin on purpose: parse the trigger, call :func:`driftline.controller.run.run_controller` (or ``run_shard``),
return its report.
Imports neither pandas, scipy nor pyarrow (cold start).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from driftline import clock
from driftline.aws.clients import Clients
from driftline.aws.invoke import Invoker, LambdaInvoker
from driftline.config import Settings
from driftline.controller.run import SERVICE, run_controller, run_shard
from driftline.controller.shards import ShardSpec
from driftline.controller.trigger import parse_trigger
from driftline.errors import InvalidRequestError
from driftline.observability import get_logger, get_metrics

logger = get_logger(SERVICE)
metrics = get_metrics(SERVICE)


@dataclass(frozen=True)
class Deps:
    clients: Clients
    invoker: Invoker


@functools.cache
def deps() -> Deps:
    """Built once per container, on the first invocation; tests replace or clear it."""
    clients = Clients(Settings.from_env())
    return Deps(clients=clients, invoker=LambdaInvoker(clients))


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    try:
        trigger = parse_trigger(event)
    except InvalidRequestError:
        metrics.add_metric(name="InvalidTriggers", unit=MetricUnit.Count, value=1)
        raise
    try:
        d = deps()
        if isinstance(trigger, ShardSpec):
            report = run_shard(d.clients, d.invoker, trigger)
        else:
            report = run_controller(d.clients, d.invoker, trigger, clock.now())
    except Exception:
        metrics.add_metric(name="ControllerFailures", unit=MetricUnit.Count, value=1)
        raise
    return report.to_dict()
