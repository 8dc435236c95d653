"""Powertools objects, created once per process and shared by handlers and logic (so logic never imports
from a handler). No Tracer here: it costs ~0.45 s of cold start; the serving handler may add one where it pays."""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cache, wraps
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.shared.functions import strtobool

NAMESPACE = "driftline"

F = TypeVar("F", bound=Callable[..., Any])


@cache
def get_logger(service: str = "driftline") -> Logger:
    return Logger(service=service)


@cache
def get_metrics(service: str = "driftline") -> Metrics:
    return Metrics(namespace=NAMESPACE, service=service)


def log_metrics_if_any(metrics: Metrics) -> Callable[[F], F]:
    """Like Powertools' ``@metrics.log_metrics``, for handlers whose metrics are rare events (errors, losses):
    the metrics added during the invocation are published at its end (even when it raises), and an invocation
    that added none prints nothing (``log_metrics`` warns "No application metrics to publish" instead).
    Publishing is Powertools' own ``flush_metrics`` (EMF to stdout, ``POWERTOOLS_METRICS_DISABLED`` honoured)."""

    def decorate(handler: F) -> F:
        @wraps(handler)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return handler(*args, **kwargs)
            finally:
                if metrics.metric_set:
                    metrics.flush_metrics()

        return wrapper  # type: ignore[return-value]

    return decorate


def inject_lambda_context(logger: Logger) -> Callable[[F], F]:
    """Powertools' ``@logger.inject_lambda_context`` for a handler on the hot path: every log line carries the
    same keys (``function_name``, ``function_memory_size``, ``function_arn``, ``function_request_id``,
    ``cold_start``), but the function's name and memory size, which stay the same for the container's life, are
    appended once, on its first invocation; later ones set only the request id and the invoked ARN (and
    ``cold_start`` to false, once). Powertools rebuilds all five per invocation. ``POWERTOOLS_LOGGER_LOG_EVENT``
    and the log sampling rate are honoured as Powertools does; ``clear_state`` and correlation ids are not
    offered (use Powertools' decorator where they are needed).
    """
    log_event = strtobool(os.getenv("POWERTOOLS_LOGGER_LOG_EVENT", "false"))

    def decorate(handler: F) -> F:
        invocations = 0

        @wraps(handler)
        def wrapper(event: Any, context: Any, *args: Any, **kwargs: Any) -> Any:
            nonlocal invocations
            invocations += 1
            if invocations == 1:
                logger.append_keys(
                    # a provisioned-concurrency container was initialised ahead of its first request
                    cold_start=os.getenv("AWS_LAMBDA_INITIALIZATION_TYPE") != "provisioned-concurrency",
                    function_name=context.function_name,
                    function_memory_size=context.memory_limit_in_mb,
                    function_arn=context.invoked_function_arn,
                    function_request_id=context.aws_request_id,
                )
            elif invocations == 2:
                logger.append_keys(
                    cold_start=False,
                    function_arn=context.invoked_function_arn,
                    function_request_id=context.aws_request_id,
                )
            else:  # the ARN as invoked: an alias or a version may come and go
                logger.append_keys(
                    function_arn=context.invoked_function_arn, function_request_id=context.aws_request_id
                )
            if log_event:
                logger.info(event)
            if logger.sampling_rate and invocations > 1:
                logger.refresh_sample_rate_calculation()
            return handler(event, context, *args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
