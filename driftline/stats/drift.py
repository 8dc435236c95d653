"""Per-feature drift verdicts: a two-sample test corrected for the number of features, and an effect size.

The status rule uses both (p-values alone flag everything at 100k rows; distances alone miss moderate shifts):

    significant = corrected p-value <= alpha
    detected             if significant and effect >= threshold
    potential_detection  if significant and effect <  threshold
    no_detection         otherwise

Thresholds are configuration (:class:`DriftConfig`, built from an app's ``application_kwargs``), per app and per
feature; nothing needs subclassing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from driftline.errors import ConfigurationError, InvalidRequestError
from driftline.schemas import ResultStatus
from driftline.stats.correction import CORRECTIONS, adjust
from driftline.stats.reference import Reference, Window
from driftline.stats.stattests import DEFAULT_EFFECT, DEFAULT_TEST, STATS, all_effects, get_stat

FEATURE_KEYS = ("test", "effect", "threshold")


def _number(name: str, value: Any, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ConfigurationError(f"{name} must be a number in [{low}, {high}], got {value!r}")
    return float(value)


@dataclass(frozen=True)
class DriftConfig:
    """How features are judged. ``threshold`` (when set) replaces every effect's default threshold;
    ``features`` maps a feature name to overrides ``{"test", "effect", "threshold"}``."""

    alpha: float = 0.05
    correction: str = "bh"
    numeric_test: str = DEFAULT_TEST["numeric"]
    categorical_test: str = DEFAULT_TEST["categorical"]
    numeric_effect: str = DEFAULT_EFFECT["numeric"]
    categorical_effect: str = DEFAULT_EFFECT["categorical"]
    threshold: float | None = None
    min_count: int = 5
    features: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _number("alpha", self.alpha, 0.0, 1.0)
        if self.correction not in CORRECTIONS:
            raise ConfigurationError(f"correction {self.correction!r}; expected one of {list(CORRECTIONS)}")
        get_stat(self.numeric_test, "test", "numeric")
        get_stat(self.categorical_test, "test", "categorical")
        get_stat(self.numeric_effect, "effect", "numeric")
        get_stat(self.categorical_effect, "effect", "categorical")
        if self.threshold is not None:
            _number("threshold", self.threshold, 0.0, math.inf)
        if isinstance(self.min_count, bool) or not isinstance(self.min_count, int) or self.min_count < 1:
            raise ConfigurationError(f"min_count must be a whole number >= 1, got {self.min_count!r}")
        if not isinstance(self.features, Mapping):
            raise ConfigurationError(f"features must map feature names to settings, got {type(self.features).__name__}")
        for name, overrides in self.features.items():
            if not isinstance(overrides, Mapping) or set(overrides) - set(FEATURE_KEYS):
                raise ConfigurationError(
                    f"features[{name!r}] must be a mapping with keys among {list(FEATURE_KEYS)}, got {overrides!r}"
                )
            for key in ("test", "effect"):
                if key in overrides and overrides[key] not in STATS:
                    raise ConfigurationError(f"features[{name!r}][{key!r}]: unknown statistic {overrides[key]!r}")
            if "threshold" in overrides:
                _number(f"features[{name!r}]['threshold']", overrides["threshold"], 0.0, math.inf)

    @classmethod
    def from_kwargs(cls, kwargs: Mapping[str, Any]) -> DriftConfig:
        """The config from an app's keyword arguments (other keys are ignored: they belong to the app)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in kwargs.items() if k in names})

    def policy(self, feature: str, kind: str) -> tuple[str, str, float]:
        """(test, effect, effect threshold) for one feature."""
        overrides = self.features.get(feature, {})
        test = overrides.get("test") or (self.numeric_test if kind == "numeric" else self.categorical_test)
        effect = overrides.get("effect") or (self.numeric_effect if kind == "numeric" else self.categorical_effect)
        get_stat(test, "test", kind)
        descriptor = get_stat(effect, "effect", kind)
        threshold = overrides.get("threshold", self.threshold)
        return test, effect, float(descriptor.default_threshold if threshold is None else threshold)


@dataclass
class FeatureVerdict:
    feature: str
    kind: str
    method: str
    statistic: float
    p_value: float
    effect_method: str
    effect: float
    threshold: float
    alpha: float
    correction: str
    p_value_adjusted: float = 1.0
    status: ResultStatus = ResultStatus.no_detection
    effects: dict[str, float] = field(default_factory=dict)
    count: int = 0
    missing: int = 0
    role: str = "feature"

    def extra_data(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "role": self.role,
            "kind": self.kind,
            "method": self.method,
            "statistic": self.statistic,
            "p_value": self.p_value,
            "p_value_adjusted": self.p_value_adjusted,
            "alpha": self.alpha,
            "correction": self.correction,
            "effect_method": self.effect_method,
            "effect": self.effect,
            "threshold": self.threshold,
            "effects": self.effects,
            "binning": STATS[self.effect_method].binning,
            "count": self.count,
            "missing": self.missing,
        }


def status_for(p_adjusted: float, alpha: float, effect: float, threshold: float) -> ResultStatus:
    if p_adjusted > alpha:
        return ResultStatus.no_detection
    return ResultStatus.detected if effect >= threshold else ResultStatus.potential_detection


def assess(
    references: Mapping[str, Reference],
    sketches: Mapping[str, Window],
    config: DriftConfig | None = None,
    role: str = "feature",
) -> tuple[list[FeatureVerdict], dict[str, str]]:
    """Verdicts for every feature that has both a reference and a window sketch with at least ``min_count``
    values (one family for the correction), and the skipped features with why."""
    config = config or DriftConfig()
    verdicts: list[FeatureVerdict] = []
    skipped: dict[str, str] = {}
    for name, reference in references.items():
        sketch = sketches.get(name)
        if sketch is None:
            skipped[name] = "not in the window's columns"
            continue
        if sketch.n < config.min_count:
            skipped[name] = f"{sketch.n} values in the window; at least {config.min_count} are needed"
            continue
        if sketch.kind != reference.kind:
            raise InvalidRequestError(f"{name}: a {sketch.kind} sketch for a {reference.kind} reference")
        test, effect_method, threshold = config.policy(name, reference.kind)
        outcome = STATS[test].func(reference, sketch)
        effects = all_effects(reference, sketch)
        verdicts.append(
            FeatureVerdict(
                feature=name,
                kind=reference.kind,
                method=test,
                statistic=outcome.statistic,
                p_value=outcome.p_value,
                effect_method=effect_method,
                effect=effects[effect_method],
                threshold=threshold,
                alpha=config.alpha,
                correction=config.correction,
                effects=effects,
                count=sketch.n,
                missing=sketch.rows - sketch.n,
                role=role,
            )
        )
    adjusted = adjust([v.p_value for v in verdicts], config.correction)
    for verdict, p_adj in zip(verdicts, adjusted, strict=True):
        verdict.p_value_adjusted = p_adj
        verdict.status = status_for(p_adj, config.alpha, verdict.effect, verdict.threshold)
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


def result_name_for(feature: str, taken: set[str], suffix: str = "drift") -> str:
    """``<feature>_<suffix>`` reduced to ``[a-zA-Z0-9_]`` (result names are keys), unique among ``taken``."""
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
