"""The built-in histogram data drift app: MLRun's numbers exactly, plus one result per feature.

Per numeric feature with a reference histogram: the window's distribution on the padded reference bins (p)
against the reference (q) -> TVD, Hellinger, KLD. Metrics ``tvd_mean, hellinger_mean, kld_mean`` are plain
means over those features; ``general_drift = mean(tvd_mean, hellinger_mean)`` as in MLRun. MLRun stops there,
so one feature replaced by another distribution is averaged away among twenty; here every feature also gets
its own ``<feature>_drift`` result (``mean(tvd, hellinger)`` of that feature, same thresholds).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from driftline.applications import (
    ModelMonitoringApplicationBase,
    ModelMonitoringApplicationMetric,
    ModelMonitoringApplicationResult,
    MonitoringApplicationContext,
    ResultKindApp,
    ResultStatusApp,
)
from driftline.errors import ConfigurationError
from driftline.stats.distances import hellinger, kld, tvd
from driftline.stats.histograms import padded_reference, window_counts
from driftline.stats.profile import NUMERIC, column_kind, numeric_values

GENERAL_DRIFT = "general_drift"
METHOD = "histogram"


def result_name_for(feature: str, taken: set[str]) -> str:
    """``<feature>_drift`` with the feature name reduced to ``[a-zA-Z0-9_]`` (result names are keys), made
    unique among ``taken``."""
    base = re.sub(r"[^a-zA-Z0-9_]", "_", str(feature)) or "feature"
    if not re.match(r"[a-zA-Z_]", base):
        base = f"f_{base}"
    name = f"{base}_drift"
    suffix = 2
    while name in taken:
        name = f"{base}_drift_{suffix}"
        suffix += 1
    taken.add(name)
    return name


class HistogramDataDriftApplication(ModelMonitoringApplicationBase):
    """MLRun's ``HistogramDataDriftApplication`` (thresholds overridable: ``potential_threshold``,
    ``detected_threshold``)."""

    def __init__(self, potential_threshold: float = 0.5, detected_threshold: float = 0.7, **kwargs: Any) -> None:
        super().__init__(potential_threshold=potential_threshold, detected_threshold=detected_threshold, **kwargs)
        for name, value in (("potential_threshold", potential_threshold), ("detected_threshold", detected_threshold)):
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
                raise ConfigurationError(f"{name} must be a number between 0 and 1, got {value!r}")
        if potential_threshold > detected_threshold:
            raise ConfigurationError(
                f"potential_threshold ({potential_threshold}) must not exceed detected_threshold ({detected_threshold})"
            )
        self.potential_threshold = float(potential_threshold)
        self.detected_threshold = float(detected_threshold)

    @property
    def thresholds(self) -> dict[str, float]:
        return {"potential_detection": self.potential_threshold, "detected": self.detected_threshold}

    def status_for(self, value: float) -> ResultStatusApp:
        if value >= self.detected_threshold:
            return ResultStatusApp.detected
        if value >= self.potential_threshold:
            return ResultStatusApp.potential_detection
        return ResultStatusApp.no_detection

    def feature_distances(
        self, context: MonitoringApplicationContext
    ) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
        """Per evaluated feature ``{tvd, hellinger, kld, count, missing}``, and the skipped features with why."""
        df = context.sample_df
        names = [f for f in context.feature_names if f in context.feature_stats]
        names += [f for f in context.feature_stats if f not in names]
        evaluated: dict[str, dict[str, Any]] = {}
        skipped: dict[str, str] = {}
        for feature in names:
            reference = padded_reference(context.feature_stats[feature] or {}, feature)
            if reference is None:
                skipped[feature] = "no reference histogram (not numeric, or empty in the training set)"
                continue
            if feature not in df.columns:
                skipped[feature] = "not in the window's columns"
                continue
            series = df[feature]
            if column_kind(series) != NUMERIC:  # e.g. strings where numbers were expected: those count as missing
                series = pd.to_numeric(series, errors="coerce")
            values = numeric_values(series)
            counts, present = window_counts(values, reference)
            if not present:
                skipped[feature] = "no values in the window"
                continue
            p = counts / present
            q = reference.probabilities
            evaluated[feature] = {
                "tvd": tvd(p, q),
                "hellinger": hellinger(p, q),
                "kld": kld(p, q),
                "count": present,
                "missing": int(values.size - present),
            }
        return evaluated, skipped

    def do_tracking(self, monitoring_context: MonitoringApplicationContext) -> list[Any]:
        ctx = monitoring_context
        if not ctx.feature_stats:
            ctx.logger.warning(
                "histogram drift: the model has no reference feature_stats, so there is nothing to compare the "
                "window with; log the model with training_set=<training DataFrame> to enable drift detection",
                extra={"endpoint_id": ctx.endpoint_id, "model_uri": ctx.model_endpoint.model_uri},
            )
            return []
        evaluated, skipped = self.feature_distances(ctx)
        if not evaluated:
            ctx.logger.warning(
                "histogram drift: no numeric feature with a reference histogram has values in this window",
                extra={"endpoint_id": ctx.endpoint_id, "skipped_features": skipped},
            )
            return []
        tvd_mean = float(np.mean([d["tvd"] for d in evaluated.values()]))
        hellinger_mean = float(np.mean([d["hellinger"] for d in evaluated.values()]))
        kld_mean = float(np.mean([d["kld"] for d in evaluated.values()]))
        general = (tvd_mean + hellinger_mean) / 2

        taken = {GENERAL_DRIFT}
        per_feature: list[ModelMonitoringApplicationResult] = []
        for feature, d in evaluated.items():
            value = (d["tvd"] + d["hellinger"]) / 2
            per_feature.append(
                ModelMonitoringApplicationResult(
                    name=result_name_for(feature, taken),
                    value=value,
                    kind=ResultKindApp.data_drift,
                    status=self.status_for(value),
                    extra_data={
                        "feature": feature,
                        "tvd": d["tvd"],
                        "hellinger": d["hellinger"],
                        "kld": d["kld"],
                        "method": METHOD,
                        "threshold": self.thresholds,
                        "count": d["count"],
                        "missing": d["missing"],
                    },
                )
            )
        by_status = {
            status: [r.extra_data["feature"] for r in per_feature if r.status == status]
            for status in (ResultStatusApp.detected, ResultStatusApp.potential_detection)
        }
        general_result = ModelMonitoringApplicationResult(
            name=GENERAL_DRIFT,
            value=general,
            kind=ResultKindApp.data_drift,
            status=self.status_for(general),
            extra_data={
                "method": METHOD,
                "threshold": self.thresholds,
                "features_evaluated": len(evaluated),
                "drifted_features": by_status[ResultStatusApp.detected],
                "suspected_features": by_status[ResultStatusApp.potential_detection],
                "skipped_features": skipped,
                "tvd_mean": tvd_mean,
                "hellinger_mean": hellinger_mean,
                "kld_mean": kld_mean,
            },
        )
        return [
            general_result,
            *per_feature,
            ModelMonitoringApplicationMetric(name="tvd_mean", value=tvd_mean),
            ModelMonitoringApplicationMetric(name="hellinger_mean", value=hellinger_mean),
            ModelMonitoringApplicationMetric(name="kld_mean", value=kld_mean),
        ]
