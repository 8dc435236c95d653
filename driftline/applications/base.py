"""MLRun's application contract: subclass :class:`ModelMonitoringApplicationBase`, implement ``do_tracking``.

``do_tracking(monitoring_context)`` returns a result, a metric, a list of them, a ``dict[str, float]`` of
metrics, or None (nothing to report). :func:`normalise_outputs` turns any of these into ``(results, metrics)``
and refuses anything else with an :class:`ApplicationError` that says what was expected.
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from driftline.errors import ApplicationError, InvalidRequestError
from driftline.schemas import AppMetric, AppResult

if TYPE_CHECKING:
    from driftline.applications.context import MonitoringApplicationContext

TrackingOutput = AppResult | AppMetric | list[AppResult | AppMetric] | dict[str, float] | None

EXPECTED = (
    "expected do_tracking to return a ModelMonitoringApplicationResult, a ModelMonitoringApplicationMetric, "
    "a list of them, a dict of metric name -> number, or None"
)


class ModelMonitoringApplicationBase(ABC):
    """Base of every monitoring application (MLRun's name).

    The app's ``application_kwargs`` (``set_model_monitoring_function(..., **kwargs)``) arrive as keyword
    arguments of the constructor; a subclass may declare them as named parameters, or read them from
    ``self.application_kwargs``."""

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
        items = []
        for name, value in output.items():
            try:
                items.append(AppMetric(name=name, value=_plain_number(value)))
            except InvalidRequestError as exc:
                raise ApplicationError(f"{where}: metric {name!r}: {exc}; {EXPECTED}") from exc
    elif isinstance(output, list | tuple):
        items = list(output)
    else:
        raise ApplicationError(f"{where}: do_tracking returned {type(output).__name__}; {EXPECTED}")

    results: list[AppResult] = []
    metrics: list[AppMetric] = []
    for i, item in enumerate(items):
        if isinstance(item, AppResult):
            results.append(item)
        elif isinstance(item, AppMetric):
            metrics.append(item)
        else:
            raise ApplicationError(f"{where}: item {i} of the returned list is {type(item).__name__}; {EXPECTED}")
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
