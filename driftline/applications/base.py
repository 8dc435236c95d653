"""MLRun's application contract: subclass :class:`ModelMonitoringApplicationBase`, implement ``do_tracking``.

``do_tracking(monitoring_context)`` returns a result, a metric, a ``dict[str, float]`` of metrics, a list of
any of these (``[result, {"rows": 120.0}]``), or None (nothing to report); MLRun's ``do_tracking`` returns
results and metrics alike. :func:`normalise_outputs` turns any of these into ``(results, metrics)``
and refuses anything else with an :class:`ApplicationError` that says what was expected.
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from driftline.errors import ApplicationError, InvalidRequestError
from driftline.schemas import AppMetric, AppResult

if TYPE_CHECKING:
    from driftline.applications.context import MonitoringApplicationContext

# a Sequence (covariant), so a subclass may say it returns list[AppResult | AppMetric]
TrackingOutput = (
    AppResult | AppMetric | Mapping[str, float] | Sequence[AppResult | AppMetric | Mapping[str, float]] | None
)

EXPECTED = (
    "expected do_tracking to return a ModelMonitoringApplicationResult, a ModelMonitoringApplicationMetric, "
    "a dict of metric name -> number, a list of any of these, or None"
)


def _shown(value: Any, limit: int = 80) -> str:
    """What was returned, for the message: its type and a short repr."""
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= limit else text[: limit - 3] + '...'}"


def _metrics_from(mapping: Mapping[Any, Any], where: str) -> list[AppMetric]:
    out = []
    for name, value in mapping.items():
        try:
            out.append(AppMetric(name=name, value=_plain_number(value)))
        except (InvalidRequestError, TypeError, ValueError) as exc:
            raise ApplicationError(f"{where}: metric {name!r}: {exc}; {EXPECTED}") from exc
    return out


class ModelMonitoringApplicationBase(ABC):
    """Base of every monitoring application (MLRun's name).

    The app's ``application_kwargs`` (``set_model_monitoring_function(..., **kwargs)``) arrive as keyword
    arguments of the constructor; a subclass may declare them as named, typed parameters (registration then
    refuses unknown or ill-typed ones, :mod:`driftline.applications.parameters`), or read them from
    ``self.application_kwargs`` (any name accepted)."""

    # Parameters a constructor with ``**kwargs`` takes beyond its named ones (name -> type); None: any name
    # (driftline.applications.parameters reads the signature and this at registration)
    application_parameters: ClassVar[Mapping[str, Any] | None] = None

    def __init__(self, **application_kwargs: Any) -> None:
        self.application_kwargs: dict[str, Any] = dict(application_kwargs)

    @abstractmethod
    def do_tracking(self, monitoring_context: MonitoringApplicationContext) -> TrackingOutput:
        """Analyse one window (``monitoring_context.sample_df`` and friends) and return what it found."""


def _plain_number(value: Any) -> Any:
    # numpy scalars (np.float32, np.int64) are numbers to a user; AppMetric wants a Python int/float
    if hasattr(value, "item") and not isinstance(value, bool | int | float):
        try:
            return value.item()
        except (TypeError, ValueError):
            return value
    return value


def normalise_outputs(output: Any, application_name: str = "application") -> tuple[list[AppResult], list[AppMetric]]:
    """``(results, metrics)`` from anything ``do_tracking`` may return. Raises :class:`ApplicationError`
    naming the app and what was expected for any other value, a non-finite or badly named metric, or two
    outputs with the same name (the writer would keep only one of them)."""
    where = f"application {application_name!r}"
    if output is None:
        items: list[Any] = []
    elif isinstance(output, AppResult | AppMetric):
        items = [output]
    elif isinstance(output, Mapping):
        items = list(_metrics_from(output, where))
    elif isinstance(output, list | tuple):
        items = []
        for i, item in enumerate(output):
            if isinstance(item, Mapping):
                items.extend(_metrics_from(item, f"{where}: item {i} of the returned list"))
            elif isinstance(item, AppResult | AppMetric):
                items.append(item)
            else:
                raise ApplicationError(f"{where}: item {i} of the returned list is {_shown(item)}; {EXPECTED}")
    else:
        raise ApplicationError(f"{where}: do_tracking returned {_shown(output)}; {EXPECTED}")

    results = [item for item in items if isinstance(item, AppResult)]
    metrics = [item for item in items if isinstance(item, AppMetric)]
    for kind, named in (("result", results), ("metric", metrics)):
        seen: set[str] = set()
        for entry in named:
            if entry.name in seen:
                raise ApplicationError(f"{where}: two {kind}s named {entry.name!r}; expected unique names per window")
            seen.add(entry.name)
            if not math.isfinite(entry.value):  # guarded by the dataclasses; kept for subclasses that bypass them
                raise ApplicationError(f"{where}: {kind} {entry.name!r} is not a finite number")
    return results, metrics


def result_name_for(feature: Any, taken: set[str], suffix: str = "drift") -> str:
    """``<feature>_<suffix>`` reduced to ``[a-zA-Z0-9_]`` (result names are keys), unique among ``taken`` (the
    name is added to it): one result per feature never collides with another or with a window-level result."""
    base = re.sub(r"[^a-zA-Z0-9_]", "_", str(feature)) or "feature"
    if not re.match(r"[a-zA-Z_]", base):
        base = f"f_{base}"
    name = f"{base}_{suffix}"
    n = 2
    while name in taken:
        name = f"{base}_{suffix}_{n}"
        n += 1
    taken.add(name)
    return name
