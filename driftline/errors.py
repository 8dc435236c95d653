"""One typed exception per failure. HTTP answers are mapped from these in one place (serving handler)."""

from __future__ import annotations


class DriftlineError(Exception):
    """Base of every error driftline raises on purpose."""


class ConfigurationError(DriftlineError):
    """Settings or arguments that cannot work (says which and what was expected)."""


class InvalidRequestError(DriftlineError):
    """A request or record the system refuses; the message says what was expected. HTTP 400."""

    status_code = 400


class PayloadTooLargeError(InvalidRequestError):
    status_code = 413


class UnsupportedMediaTypeError(InvalidRequestError):
    """A request body in an encoding or protocol extension the server does not read (HTTP 415)."""

    status_code = 415


class NotFoundError(DriftlineError):
    """An unknown model, endpoint, application or route. HTTP 404."""

    status_code = 404


class ConflictError(DriftlineError):
    """The request contradicts stored state (e.g. re-logging an immutable model version). HTTP 409."""

    status_code = 409


class ModelError(DriftlineError):
    """The model raised while predicting. HTTP 500 and an error event."""

    status_code = 500


class ServiceUnavailableError(DriftlineError):
    """The function cannot answer right now (registry unreachable with nothing cached). HTTP 503."""

    status_code = 503


class StorageError(DriftlineError):
    """An AWS call failed after its retries; the message says what was being done."""


class ApplicationError(DriftlineError):
    """A monitoring application is broken (cannot load, bad output)."""


class WindowTooLargeError(ApplicationError):
    """A window has more rows than ``sample_df`` loads (``settings.sample_df_max_rows``); the message says how to
    read it in pieces instead."""
