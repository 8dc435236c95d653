"""The one registry of statistics: every two-sample test, effect size and distance driftline computes.

Each statistic is one small pure function plus a descriptor (:class:`Statistic`) saying its name, its role
(:class:`Role`), what it is computed from (:class:`Inputs`), the feature kinds it accepts, its default
threshold(s), which direction means drift (:class:`Direction`) and the binning it works on. The function is
registered where it is defined, with the :func:`statistic` decorator: adding a statistic is that one definition.

Scoring a statistic (:meth:`Statistic.score`) returns a typed result: a :class:`Score` (method, value, threshold,
direction) or, for a test, a :class:`TestScore` that adds the p-value. Whether a score reached its threshold is
read from the direction the result carries (:attr:`Score.drifted`), never assumed: a p-value and a distance
point opposite ways.

Apps ask the registry for the statistics they report, by role and name (:meth:`Registry.get`); nothing is
computed that no app asked for. Names are unique per role: MLRun's ``tvd`` on two probability vectors (a
distance) and driftline's ``tvd`` on the coarse bins of a reference and a window sketch (an effect) are two
statistics.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, TypeVar

from driftline.errors import ConfigurationError
from driftline.schemas import ResultStatus


class Role(StrEnum):
    """What a statistic's number is for."""

    TEST = "test"  # a two-sample test: judged by its p-value against a significance level
    EFFECT = "effect"  # the size of a difference between reference and window: judged against the size that matters
    DISTANCE = "distance"  # a distance between two probability vectors on the same bins (MLRun's histogram drift)


class Direction(StrEnum):
    """Which way means drift for the judged number."""

    HIGHER = "higher"  # distances and effect sizes: at or above the threshold is drift
    LOWER = "lower"  # p-values: at or below the significance level is drift

    def reached(self, value: float, threshold: float) -> bool:
        return value >= threshold if self is Direction.HIGHER else value <= threshold

    def status(self, value: float, detected: float, potential: float | None = None) -> ResultStatus:
        """``detected`` when ``value`` reached ``detected``, ``potential_detection`` when it reached
        ``potential``, else ``no_detection``."""
        if self.reached(value, detected):
            return ResultStatus.detected
        if potential is not None and self.reached(value, potential):
            return ResultStatus.potential_detection
        return ResultStatus.no_detection


class Inputs(StrEnum):
    """What a statistic's function takes."""

    SKETCHES = "sketches"  # (reference, window): a feature's Reference and the window's sketch on its bins
    PROBABILITIES = "probabilities"  # (p, q): the window's and the reference's probabilities on the same bins


@dataclass(frozen=True)
class TestOutcome:
    """What a test's pure function returns."""

    __test__ = False  # a name pytest would otherwise try to collect in modules that import it

    statistic: float
    p_value: float
    dof: int | None = None


@dataclass(frozen=True)
class Score:
    """One statistic computed once: ``value`` judged against ``threshold`` in ``direction`` (no threshold: the
    value is reported, not judged)."""

    method: str
    value: float
    direction: Direction
    threshold: float | None = None

    @property
    def judged(self) -> float:
        return self.value

    @property
    def drifted(self) -> bool:
        return self.threshold is not None and self.direction.reached(self.judged, self.threshold)


@dataclass(frozen=True, kw_only=True)
class TestScore(Score):
    """A test's result: ``value`` is the test statistic, the p-value is what is judged (``threshold`` is the
    significance level), after correction for testing many features when one was applied."""

    __test__ = False

    p_value: float
    dof: int | None = None
    p_value_adjusted: float | None = None

    @property
    def judged(self) -> float:
        return self.p_value if self.p_value_adjusted is None else self.p_value_adjusted

    def corrected(self, p_value_adjusted: float) -> TestScore:
        return replace(self, p_value_adjusted=p_value_adjusted)


@dataclass(frozen=True)
class Statistic:
    """What a statistic is. ``threshold`` is the default: a significance level (tests), the effect size that
    matters (effects), MLRun's ``detected`` level (distances, with ``potential_threshold``); None: reported only."""

    name: str
    role: Role
    func: Callable[..., float] | Callable[..., TestOutcome]
    inputs: Inputs
    feature_types: tuple[str, ...]
    direction: Direction
    threshold: float | None
    potential_threshold: float | None = None
    binning: str = ""
    description: str = ""
    bounded: bool = True  # in [0, 1]

    def accepts(self, kind: str) -> bool:
        return kind in self.feature_types

    def score(self, *inputs: Any, threshold: float | None = None) -> Score:
        """The statistic on ``inputs`` (see :attr:`inputs`), judged against ``threshold`` (default: its own)."""
        raw = self.func(*inputs)
        limit = self.threshold if threshold is None else threshold
        if isinstance(raw, TestOutcome):
            return TestScore(self.name, raw.statistic, self.direction, limit, p_value=raw.p_value, dof=raw.dof)
        return Score(self.name, float(raw), self.direction, limit)

    def test(self, *inputs: Any, alpha: float | None = None) -> TestScore:
        """:meth:`score` of a test, typed as one."""
        result = self.score(*inputs, threshold=alpha)
        if not isinstance(result, TestScore):
            raise ConfigurationError(f"statistic {self.name!r} is a {self.role}, not a test with a p-value")
        return result


@dataclass
class Registry:
    """Statistics by role and name, in the order they were registered."""

    _items: dict[tuple[Role, str], Statistic] = field(default_factory=dict)

    def register(self, descriptor: Statistic) -> Statistic:
        key = (descriptor.role, descriptor.name)
        if key in self._items:
            raise ConfigurationError(f"{descriptor.role} {descriptor.name!r} is registered twice; names are unique")
        if descriptor.role is Role.TEST and descriptor.direction is not Direction.LOWER:
            raise ConfigurationError(f"test {descriptor.name!r}: a p-value means drift when it is low")
        self._items[key] = descriptor
        return descriptor

    def __iter__(self) -> Iterator[Statistic]:
        return iter(self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def names(self, role: Role, kind: str | None = None) -> list[str]:
        """The names of ``role`` statistics (that accept ``kind`` features), in registration order."""
        return [s.name for s in self if s.role is role and (kind is None or s.accepts(kind))]

    def get(self, name: str, role: Role, kind: str | None = None) -> Statistic:
        """The statistic ``name`` of ``role``, checked to accept ``kind`` features when a kind is given."""
        descriptor = self._items.get((role, name))
        if descriptor is None:
            raise ConfigurationError(f"unknown {role} {name!r}; expected one of {sorted(self.names(role))}")
        if kind is not None and not descriptor.accepts(kind):
            raise ConfigurationError(
                f"{role} {name!r} does not accept {kind} features; expected one of {sorted(self.names(role, kind))}"
            )
        return descriptor


REGISTRY = Registry()

F = TypeVar("F", bound=Callable[..., Any])


def statistic(
    name: str,
    role: Role,
    *,
    inputs: Inputs,
    feature_types: tuple[str, ...],
    direction: Direction,
    threshold: float | None,
    potential_threshold: float | None = None,
    binning: str = "",
    description: str = "",
    bounded: bool = True,
    registry: Registry = REGISTRY,
) -> Callable[[F], F]:
    """Register the decorated pure function as the statistic ``name`` (the function itself is unchanged)."""

    def register(func: F) -> F:
        registry.register(
            Statistic(
                name=name,
                role=role,
                func=func,
                inputs=inputs,
                feature_types=feature_types,
                direction=direction,
                threshold=threshold,
                potential_threshold=potential_threshold,
                binning=binning,
                description=description,
                bounded=bounded,
            )
        )
        return func

    return register
