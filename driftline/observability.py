"""Powertools objects, created once per process and shared by handlers and logic (so logic never imports
from a handler). No Tracer here: it costs ~0.45 s of cold start; the serving handler may add one where it pays."""

from __future__ import annotations

from functools import cache

from aws_lambda_powertools import Logger, Metrics

NAMESPACE = "driftline"


@cache
def get_logger(service: str = "driftline") -> Logger:
    return Logger(service=service)


@cache
def get_metrics(service: str = "driftline") -> Metrics:
    return Metrics(namespace=NAMESPACE, service=service)
