"""Data quality of a window against the reference profile: missing values, type errors, values outside the
training range and categories never seen in training, per feature and for the window.

Per feature (``<feature>_quality``, kind mm_app_anomaly): value = the worst excess rate among the checks below,
``extra_data`` has every figure. Each check compares a window rate with an allowance:

* ``missing_rate``: window missing rate minus the training missing rate;
* ``type_error_rate``: values that are not numbers in a numeric feature;
* ``out_of_range_rate``: numbers below the training minimum or above its maximum, minus ``2 / (n + 1)`` (how
  often a new value of the same distribution falls outside the range of ``n`` training values);
* ``unseen_rate``: categories the training set never had (a reference with truncated frequencies allows its
  own share of rare values).

Status: ``detected`` when an excess reaches ``detected_rate`` (default 0.05), ``potential_detection`` when it
reaches ``potential_rate`` (default 0.01), per check overridable (``thresholds={"missing_rate": [0.02, 0.1]}``)
and per feature (``features={"age": {"missing_rate": [0.2, 0.5]}}``). The window's ``data_quality`` result:
value = the share of features with a problem, status = the worst feature's; metrics: overall rates.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from driftline.applications import (
    ModelMonitoringApplicationBase,
    ModelMonitoringApplicationMetric,
    ModelMonitoringApplicationResult,
    MonitoringApplicationContext,
    ResultKindApp,
    ResultStatusApp,
    result_name_for,
)
from driftline.errors import ConfigurationError
from driftline.stats.reference import (
    CategoricalReference,
    CategoricalWindow,
    NumericReference,
    NumericWindow,
    references_from_profile,
    window_sketches,
)

CHECKS = ("missing_rate", "type_error_rate", "out_of_range_rate", "unseen_rate")
DATA_QUALITY = "data_quality"
TOP_UNSEEN = 10


def _pair(name: str, value: Any) -> tuple[float, float]:
    if (
        not isinstance(value, list | tuple)
        or len(value) != 2
        or any(isinstance(v, bool) or not isinstance(v, int | float) for v in value)
        or not 0 <= value[0] <= value[1]
    ):
        raise ConfigurationError(f"{name}: expected [potential_rate, detected_rate] with 0 <= potential <= detected")
    return float(value[0]), float(value[1])


class DataQualityApplication(ModelMonitoringApplicationBase):
    application_parameters: ClassVar[Mapping[str, Any] | None] = {}  # its constructor's named ones only

    def __init__(
        self,
        potential_rate: float = 0.01,
        detected_rate: float = 0.05,
        thresholds: Mapping[str, Any] | None = None,
        features: Mapping[str, Mapping[str, Any]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            potential_rate=potential_rate,
            detected_rate=detected_rate,
            thresholds=thresholds,
            features=features,
            **kwargs,
        )
        if kwargs:
            raise ConfigurationError(
                f"data quality: unknown settings {sorted(kwargs)}; expected potential_rate, detected_rate, "
                "thresholds, features"
            )
        base = _pair("potential_rate/detected_rate", [potential_rate, detected_rate])
        self.thresholds = dict.fromkeys(CHECKS, base)
        for check, value in (thresholds or {}).items():
            if check not in CHECKS:
                raise ConfigurationError(f"thresholds: unknown check {check!r}; expected one of {list(CHECKS)}")
            self.thresholds[check] = _pair(f"thresholds[{check!r}]", value)
        self.features: dict[str, dict[str, tuple[float, float]]] = {}
        for feature, overrides in (features or {}).items():
            if not isinstance(overrides, Mapping) or set(overrides) - set(CHECKS):
                raise ConfigurationError(f"features[{feature!r}]: expected a mapping with keys among {list(CHECKS)}")
            self.features[feature] = {c: _pair(f"features[{feature!r}][{c!r}]", v) for c, v in overrides.items()}

    def limits(self, feature: str, check: str) -> tuple[float, float]:
        return self.features.get(feature, {}).get(check, self.thresholds[check])

    def status_for(self, feature: str, excesses: Mapping[str, float]) -> ResultStatusApp:
        status = ResultStatusApp.no_detection
        for check, excess in excesses.items():
            potential, detected = self.limits(feature, check)
            if excess >= detected and excess > 0:
                return ResultStatusApp.detected
            if excess >= potential and excess > 0:
                status = ResultStatusApp.potential_detection
        return status

    @staticmethod
    def figures(reference: Any, sketch: Any, rows: int) -> tuple[dict[str, Any], dict[str, float]]:
        """(figures for extra_data, excess rate per check)."""
        ref_rows = reference.n + reference.missing
        ref_missing = reference.missing / ref_rows if ref_rows else 0.0
        missing_rate = (rows - sketch.n - getattr(sketch, "type_errors", 0)) / rows if rows else 0.0
        figures: dict[str, Any] = {
            "rows": rows,
            "missing": rows - sketch.n - getattr(sketch, "type_errors", 0),
            "missing_rate": missing_rate,
            "reference_missing_rate": ref_missing,
        }
        excess = {"missing_rate": missing_rate - ref_missing}
        if isinstance(reference, NumericReference) and isinstance(sketch, NumericWindow):
            outside = sketch.below_n + sketch.above_n
            figures.update(
                type_errors=sketch.type_errors,
                type_error_rate=sketch.type_errors / rows if rows else 0.0,
                infinite=sketch.infinite,
                below_range=sketch.below_n,
                above_range=sketch.above_n,
                out_of_range_rate=outside / sketch.n if sketch.n else 0.0,
                training_min=reference.minimum,
                training_max=reference.maximum,
                min=sketch.vmin if sketch.n else None,
                max=sketch.vmax if sketch.n else None,
                mean=sketch.mean,
            )
            excess["type_error_rate"] = (sketch.type_errors + sketch.infinite) / rows if rows else 0.0
            excess["out_of_range_rate"] = figures["out_of_range_rate"] - 2 / (reference.n + 1)
        elif isinstance(reference, CategoricalReference) and isinstance(sketch, CategoricalWindow):
            _, unseen = sketch.aligned(reference)
            unseen_count = sum(unseen.values())
            rate = unseen_count / sketch.n if sketch.n else 0.0
            top = sorted(unseen.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_UNSEEN]
            figures.update(
                unseen=unseen_count,
                unseen_rate=rate,
                unseen_categories=dict(top),
                unseen_distinct=len(unseen),
            )
            excess["unseen_rate"] = rate - (reference.other / reference.n if reference.n else 0.0)
        return figures, excess

    def do_tracking(self, monitoring_context: MonitoringApplicationContext) -> list[Any]:
        ctx = monitoring_context
        references = references_from_profile(ctx.feature_stats) if ctx.feature_stats else {}
        if not references:
            ctx.logger.warning(
                "data quality: the model has no reference profile; log the model with training_set=<DataFrame>",
                extra={"endpoint_id": ctx.endpoint_id},
            )
            return []
        build = getattr(ctx, "window_sketches", None)
        sketches = build(references) if callable(build) else window_sketches(ctx.sample_df, references)
        rows = max((s.rows for s in sketches.values()), default=0)
        taken = {DATA_QUALITY}
        outputs: list[Any] = []
        problems: dict[str, list[str]] = {"detected": [], "potential": []}
        absent = [f for f in references if f not in sketches]
        totals = {"missing": 0, "type_errors": 0, "out_of_range": 0, "unseen": 0, "cells": 0}
        for feature, reference in references.items():
            sketch = sketches.get(feature)
            if sketch is None:
                continue
            figures, excess = self.figures(reference, sketch, sketch.rows)
            status = self.status_for(feature, excess)
            if status == ResultStatusApp.detected:
                problems["detected"].append(feature)
            elif status == ResultStatusApp.potential_detection:
                problems["potential"].append(feature)
            totals["missing"] += figures["missing"]
            totals["type_errors"] += figures.get("type_errors", 0)
            totals["out_of_range"] += figures.get("below_range", 0) + figures.get("above_range", 0)
            totals["unseen"] += figures.get("unseen", 0)
            totals["cells"] += sketch.rows
            outputs.append(
                ModelMonitoringApplicationResult(
                    name=result_name_for(feature, taken, "quality"),
                    value=max(0.0, *excess.values()),
                    kind=ResultKindApp.mm_app_anomaly,
                    status=status,
                    extra_data={
                        "feature": feature,
                        "method": "data_quality",
                        **figures,
                        "excess": excess,
                        "threshold": {c: list(self.limits(feature, c)) for c in excess},
                    },
                )
            )
        evaluated = len(outputs)
        worst = (
            ResultStatusApp.detected
            if problems["detected"] or absent
            else ResultStatusApp.potential_detection
            if problems["potential"]
            else ResultStatusApp.no_detection
        )
        cells = totals["cells"] or 1
        outputs.insert(
            0,
            ModelMonitoringApplicationResult(
                name=DATA_QUALITY,
                value=(len(problems["detected"]) + len(problems["potential"]) + len(absent)) / len(references),
                kind=ResultKindApp.mm_app_anomaly,
                status=worst,
                extra_data={
                    "method": "data_quality",
                    "rows": rows,
                    "features_evaluated": evaluated,
                    "problem_features": problems["detected"],
                    "suspect_features": problems["potential"],
                    "missing_columns": absent,
                },
            ),
        )
        outputs += [
            ModelMonitoringApplicationMetric(name="missing_rate", value=totals["missing"] / cells),
            ModelMonitoringApplicationMetric(name="type_error_rate", value=totals["type_errors"] / cells),
            ModelMonitoringApplicationMetric(name="out_of_range_rate", value=totals["out_of_range"] / cells),
            ModelMonitoringApplicationMetric(name="unseen_rate", value=totals["unseen"] / cells),
        ]
        return outputs
