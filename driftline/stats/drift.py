"""Per-feature drift verdicts: a two-sample test corrected for the number of features, and an effect size.

The status rule uses both (p-values alone flag everything at 100k rows; distances alone miss moderate shifts):

    significant = the corrected p-value reached alpha (in the test's direction: p <= alpha)
    detected             if significant and the effect reached its threshold (in its direction: effect >= threshold)
    potential_detection  if significant and it did not
    no_detection         otherwise

The directions are the statistics' own (:class:`~driftline.stats.registry.Direction`, carried by each score),
not assumed here. Only the statistics the configuration names are computed: the test, the judged effect and
the effects to report (``report_effects``), each looked up in the one registry.

Thresholds are configuration (:class:`DriftConfig`, built from an app's ``application_kwargs``), per app and per
feature; nothing needs subclassing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

from driftline.errors import ConfigurationError, InvalidRequestError
from driftline.schemas import ResultStatus
from driftline.stats.correction import CORRECTIONS, adjust
from driftline.stats.profile import CATEGORICAL, NUMERIC
from driftline.stats.reference import Reference, Window
from driftline.stats.registry import REGISTRY, Registry, Role, Score, TestScore

FEATURE_KEYS = ("test", "effect", "threshold")
DEFAULT_TEST = {NUMERIC: "ks", CATEGORICAL: "chi2"}
DEFAULT_EFFECT = {NUMERIC: "wasserstein", CATEGORICAL: "jensenshannon"}
# what a verdict reports beside the judged effect (those that accept the feature's kind)
REPORTED_EFFECTS = ("wasserstein", "jensenshannon", "psi", "hellinger", "tvd")


def _number(name: str, value: Any, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ConfigurationError(f"{name} must be a number in [{low}, {high}], got {value!r}")
    return float(value)


def _check_features(features: Any) -> None:
    if not isinstance(features, Mapping):
        raise ConfigurationError(f"features must map feature names to settings, got {type(features).__name__}")
    for name, overrides in features.items():
        if not isinstance(overrides, Mapping) or set(overrides) - set(FEATURE_KEYS):
            raise ConfigurationError(
                f"features[{name!r}] must be a mapping with keys among {list(FEATURE_KEYS)}, got {overrides!r}"
            )
        for key, role in (("test", Role.TEST), ("effect", Role.EFFECT)):
            if key in overrides and (role, overrides[key]) not in REGISTRY:
                raise ConfigurationError(f"features[{name!r}][{key!r}]: unknown statistic {overrides[key]!r}")
        if "threshold" in overrides:
            _number(f"features[{name!r}]['threshold']", overrides["threshold"], 0.0, math.inf)


def _effect_names(value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ConfigurationError(f"report_effects must be a list of effect names, got {value!r}")
    for name in value:
        REGISTRY.get(name, Role.EFFECT)
    return tuple(dict.fromkeys(value))


@dataclass(frozen=True)
class DriftConfig:
    """How features are judged. ``threshold`` (when set) replaces every effect's default threshold;
    ``features`` maps a feature name to overrides ``{"test", "effect", "threshold"}``; ``report_effects`` names
    the effect sizes reported beside the judged one (each where it accepts the feature's kind; ``[]``: the
    judged one only). Nothing else is computed."""

    alpha: float = 0.05
    correction: str = "bh"
    numeric_test: str = DEFAULT_TEST[NUMERIC]
    categorical_test: str = DEFAULT_TEST[CATEGORICAL]
    numeric_effect: str = DEFAULT_EFFECT[NUMERIC]
    categorical_effect: str = DEFAULT_EFFECT[CATEGORICAL]
    threshold: float | None = None
    min_count: int = 5
    features: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    report_effects: Sequence[str] = REPORTED_EFFECTS

    def __post_init__(self) -> None:
        _number("alpha", self.alpha, 0.0, 1.0)
        if self.correction not in CORRECTIONS:
            raise ConfigurationError(f"correction {self.correction!r}; expected one of {list(CORRECTIONS)}")
        REGISTRY.get(self.numeric_test, Role.TEST, NUMERIC)
        REGISTRY.get(self.categorical_test, Role.TEST, CATEGORICAL)
        REGISTRY.get(self.numeric_effect, Role.EFFECT, NUMERIC)
        REGISTRY.get(self.categorical_effect, Role.EFFECT, CATEGORICAL)
        if self.threshold is not None:
            _number("threshold", self.threshold, 0.0, math.inf)
        if isinstance(self.min_count, bool) or not isinstance(self.min_count, int) or self.min_count < 1:
            raise ConfigurationError(f"min_count must be a whole number >= 1, got {self.min_count!r}")
        _check_features(self.features)
        # frozen: the normalised tuple replaces the list the kwargs (JSON) gave
        object.__setattr__(self, "report_effects", _effect_names(self.report_effects))

    @classmethod
    def from_kwargs(cls, kwargs: Mapping[str, Any]) -> DriftConfig:
        """The config from an app's keyword arguments (other keys are ignored: they belong to the app)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in kwargs.items() if k in names})

    def policy(self, feature: str, kind: str) -> tuple[str, str, float]:
        """(test, effect, effect threshold) for one feature."""
        overrides = self.features.get(feature, {})
        test = overrides.get("test") or (self.numeric_test if kind == NUMERIC else self.categorical_test)
        effect = overrides.get("effect") or (self.numeric_effect if kind == NUMERIC else self.categorical_effect)
        REGISTRY.get(test, Role.TEST, kind)
        descriptor = REGISTRY.get(effect, Role.EFFECT, kind)
        threshold = overrides.get("threshold", self.threshold)
        limit = descriptor.threshold if threshold is None else threshold
        if limit is None:
            raise ConfigurationError(f"effect {effect!r} has no default threshold; set threshold= to judge with it")
        return test, effect, float(limit)

    def effects_for(self, kind: str, judged: str) -> list[str]:
        """The effects computed for a ``kind`` feature: those reported that accept it, and the judged one."""
        names = [n for n in self.report_effects if REGISTRY.get(n, Role.EFFECT).accepts(kind)]
        return names if judged in names else [*names, judged]


@dataclass
class FeatureVerdict:
    """One feature's test (its p-value corrected across the family once :func:`assess` is done), its judged
    effect and every effect computed for it."""

    feature: str
    kind: str
    test: TestScore
    judged_effect: Score
    correction: str
    effects: dict[str, float] = field(default_factory=dict)
    status: ResultStatus = ResultStatus.no_detection
    count: int = 0
    missing: int = 0
    role: str = "feature"

    @property
    def effect(self) -> float:
        return self.judged_effect.value

    @property
    def p_value_adjusted(self) -> float:
        return self.test.judged

    def extra_data(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "role": self.role,
            "kind": self.kind,
            "method": self.test.method,
            "statistic": self.test.value,
            "p_value": self.test.p_value,
            "p_value_adjusted": self.test.judged,
            "alpha": self.test.threshold,
            "correction": self.correction,
            "effect_method": self.judged_effect.method,
            "effect": self.judged_effect.value,
            "threshold": self.judged_effect.threshold,
            "effects": self.effects,
            "binning": REGISTRY.get(self.judged_effect.method, Role.EFFECT).binning,
            "count": self.count,
            "missing": self.missing,
        }


def status_for(test: Score, effect: Score) -> ResultStatus:
    """The status rule (module docstring), each score judged in its own direction."""
    if not test.drifted:
        return ResultStatus.no_detection
    return ResultStatus.detected if effect.drifted else ResultStatus.potential_detection


def _unusable(name: str, reference: Reference, sketch: Window | None, min_count: int) -> str | None:
    """Why a feature cannot be judged in this window (None: it can)."""
    if sketch is None:
        return "not in the window's columns"
    if sketch.n < min_count:
        return f"{sketch.n} values in the window; at least {min_count} are needed"
    if sketch.kind != reference.kind:
        raise InvalidRequestError(f"{name}: a {sketch.kind} sketch for a {reference.kind} reference")
    return None


def _verdict(
    name: str, reference: Reference, sketch: Window, config: DriftConfig, role: str, registry: Registry
) -> FeatureVerdict:
    kind = reference.kind
    test_name, effect_name, threshold = config.policy(name, kind)
    test = registry.get(test_name, Role.TEST, kind).test(reference, sketch, alpha=config.alpha)
    scores = {
        n: registry.get(n, Role.EFFECT, kind).score(reference, sketch) for n in config.effects_for(kind, effect_name)
    }
    return FeatureVerdict(
        feature=name,
        kind=kind,
        test=test,
        judged_effect=replace(scores[effect_name], threshold=threshold),
        correction=config.correction,
        effects={n: s.value for n, s in scores.items()},
        count=sketch.n,
        missing=sketch.rows - sketch.n,
        role=role,
    )


def assess(
    references: Mapping[str, Reference],
    sketches: Mapping[str, Window],
    config: DriftConfig | None = None,
    role: str = "feature",
    registry: Registry = REGISTRY,
) -> tuple[list[FeatureVerdict], dict[str, str]]:
    """Verdicts for every feature that has both a reference and a window sketch with at least ``min_count``
    values (one family for the correction), and the skipped features with why."""
    config = config or DriftConfig()
    verdicts: list[FeatureVerdict] = []
    skipped: dict[str, str] = {}
    for name, reference in references.items():
        sketch = sketches.get(name)
        problem = _unusable(name, reference, sketch, config.min_count)
        if problem is not None:
            skipped[name] = problem
            continue
        assert sketch is not None
        verdicts.append(_verdict(name, reference, sketch, config, role, registry))
    adjusted = adjust([v.test.p_value for v in verdicts], config.correction)
    for verdict, p_adj in zip(verdicts, adjusted, strict=True):
        verdict.test = verdict.test.corrected(p_adj)
        verdict.status = status_for(verdict.test, verdict.judged_effect)
    return verdicts, skipped


def summary(verdicts: list[FeatureVerdict]) -> dict[str, Any]:
    """How many and which features drifted; the dataset's status is its worst feature's."""
    detected = [v.feature for v in verdicts if v.status == ResultStatus.detected]
    suspected = [v.feature for v in verdicts if v.status == ResultStatus.potential_detection]
    status = ResultStatus.no_detection
    if detected:
        status = ResultStatus.detected
    elif suspected:
        status = ResultStatus.potential_detection
    return {
        "status": status,
        "share": len(detected) / len(verdicts) if verdicts else 0.0,
        "drifted_features": detected,
        "suspected_features": suspected,
        "features_evaluated": len(verdicts),
    }
