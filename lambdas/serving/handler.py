"""Serving Lambda: the Open Inference Protocol (KServe v2) behind an API Gateway HTTP API (payload 2.0).

Thin on purpose: each route calls one method of :class:`driftline.serving.service.ServingService`; errors are
turned into the OIP error shape ``{"error": "..."}`` in one place (``on_error``), with the status carried by
the :mod:`driftline.errors` exception.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError as RouteNotFoundError
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from driftline.aws.clients import Clients
from driftline.config import ServingIdentity, Settings
from driftline.errors import DriftlineError, InvalidRequestError, UnsupportedMediaTypeError
from driftline.observability import get_logger, get_metrics, inject_lambda_context, log_metrics_if_any
from driftline.serving.protocol import check_body_headers, encode_json, error_body
from driftline.serving.service import ROUTES, ServingService, allowed_methods

logger = get_logger("serving")
metrics = get_metrics("serving")
app = APIGatewayHttpResolver()


@dataclass(frozen=True)
class Deps:
    settings: Settings
    clients: Clients
    service: ServingService


@functools.cache
def deps() -> Deps:
    """Built once per container, on the first request (tests clear or replace it): the installation, and which
    of its serving functions this one is."""
    settings = Settings.from_env()
    clients = Clients(settings)
    service = ServingService.create(settings, ServingIdentity.from_env(), clients)
    return Deps(settings=settings, clients=clients, service=service)


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=encode_json(body).decode(),  # text: Powertools sends a bytes body base64-encoded
        headers=headers,
    )


def _body() -> tuple[str | None, bool]:
    """The request's body and whether it is base64 (its headers are looked at only if it is refused: on_error)."""
    event = app.current_event
    return event.body, bool(event.is_base64_encoded)


@app.get("/v2")
def server_metadata() -> Response:
    return _json(deps().service.server_metadata())


@app.get("/v2/health/live")
def live() -> Response:
    return _json(deps().service.live())


@app.get("/v2/health/ready")
def ready() -> Response:
    return _json(deps().service.ready())


@app.get("/v2/models/<name>")
def model_metadata(name: str) -> Response:
    return _json(deps().service.model_metadata(name))


@app.get("/v2/models/<name>/ready")
def model_ready(name: str) -> Response:
    return _json(deps().service.model_ready(name))


@app.post("/v2/models/<name>/infer")
def infer(name: str) -> Response:
    event = app.current_event
    return _json(deps().service.infer(name, None, event.body, bool(event.is_base64_encoded)))


@app.post("/v2/models/<name>/ground-truth")
def ground_truth(name: str) -> Response:
    return _json(deps().service.ground_truth(name, *_body()))


@app.post("/v2/models/<name>/events")
def ingest(name: str) -> Response:
    return _json(deps().service.ingest(name, *_body()))


@app.get("/v2/models/<name>/versions/<version>")
def version_metadata(name: str, version: str) -> Response:
    return _json(deps().service.model_metadata(name, version))


@app.get("/v2/models/<name>/versions/<version>/ready")
def version_ready(name: str, version: str) -> Response:
    return _json(deps().service.model_ready(name, version))


@app.post("/v2/models/<name>/versions/<version>/infer")
def version_infer(name: str, version: str) -> Response:
    return _json(deps().service.infer(name, version, *_body()))


@app.not_found
def unknown_route(_: RouteNotFoundError) -> Response:
    metrics.add_metric(name="Errors", unit=MetricUnit.Count, value=1)
    event = app.current_event
    allowed = allowed_methods(event.path)
    if allowed:  # a known path asked with another method (it reaches here through the API's $default route)
        message = f"{event.http_method} is not allowed on {event.path}; allowed: {', '.join(allowed)}"
        return _json(error_body(message, allowed=list(allowed)), 405, {"Allow": ", ".join(allowed)})
    message = f"no route for {event.http_method} {event.path}; the routes are: {', '.join(ROUTES)}"
    return _json(error_body(message, routes=list(ROUTES)), 404)


@app.exception_handler(Exception)
def on_error(exc: Exception) -> Response:
    """The one place errors become HTTP answers: a driftline error's own status and message; anything
    else is a bug, answered 500 without internals (they go to the log)."""
    metrics.add_metric(name="Errors", unit=MetricUnit.Count, value=1)
    if isinstance(exc, InvalidRequestError):
        # a body refused as unreadable may be one in an encoding or extension not supported: say that instead
        # (only here, so a request that is read pays nothing for the check)
        try:
            check_body_headers(app.current_event.get("headers"))  # the event's own dict, lowercase names
        except UnsupportedMediaTypeError as precise:
            exc = precise
    if isinstance(exc, DriftlineError):
        status = int(getattr(exc, "status_code", 500))
        if status >= 500:
            logger.error("request failed", extra={"status": status, "error": str(exc)})
        return _json(error_body(str(exc)), status)
    logger.exception("unexpected error", extra={"error_type": type(exc).__name__})
    return _json(error_body(f"internal error ({type(exc).__name__}); see the function's log"), 500)


# Request counts and latencies are API Gateway's and Lambda's own metrics (Count, Latency, 4xx, 5xx; Invocations,
# Duration): the EMF metrics here are the rare events only (Errors, TrackingEventsLost), published when some were
# added, so the hot path pays for none. The log keys are Powertools' inject_lambda_context's, set per container
# once and per request only where they change.
@inject_lambda_context(logger)
@log_metrics_if_any(metrics)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
