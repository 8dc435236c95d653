"""Powertools objects, created once per process and shared by handlers and logic (so logic never imports
from a handler). No Tracer here: it costs ~0.45 s of cold start; the serving handler may add one where it pays."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache, wraps
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics

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
