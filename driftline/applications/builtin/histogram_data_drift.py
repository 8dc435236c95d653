"""The built-in histogram data drift app: MLRun's numbers exactly, plus one result per feature.

Per numeric column of the reference profile with a reference histogram: the window's distribution on the padded
reference bins (p) against the reference (q) -> TVD, Hellinger, KLD. As in MLRun, the profile is the whole
training set's (MLRun's ``infer_from_df`` profiles the label column too), so the label columns are among them:
the window's predictions against the training labels. Metrics ``tvd_mean, hellinger_mean, kld_mean`` are plain
means over those columns; ``general_drift = mean(tvd_mean, hellinger_mean)`` as in MLRun. MLRun stops there,
so one feature replaced by another distribution is averaged away among twenty; here every column also gets
its own ``<column>_drift`` result (``mean(tvd, hellinger)`` of that column, same thresholds; ``extra_data``
says whether it is a ``feature`` or a ``label``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from driftline.applications import (
    ModelMonitoringApplicationMetric,
    ModelMonitoringApplicationResult,
    MonitoringApplicationContext,
    ResultKindApp,
    ResultStatusApp,
    result_name_for,
)
from driftline.applications.drift import (
    GENERAL_DRIFT,
    DriftApplicationBase,
    distances,
    general_drift,
    general_status,
    histogram_windows,
)
from driftline.errors import ConfigurationError
from driftline.stats.distances import MLRUN_DETECTED, MLRUN_POTENTIAL

METHOD = "histogram"


class HistogramDataDriftApplication(DriftApplicationBase):
    """MLRun's ``HistogramDataDriftApplication`` (thresholds overridable: ``potential_threshold``,
    ``detected_threshold``)."""

    DISTANCES = ("tvd", "hellinger", "kld")  # what it reports, asked of the statistics registry

    def __init__(
        self, potential_threshold: float = MLRUN_POTENTIAL, detected_threshold: float = MLRUN_DETECTED, **kwargs: Any
    ) -> None:
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
        return general_status(value, self.potential_threshold, self.detected_threshold)

    def score(self, monitoring_context: MonitoringApplicationContext) -> list[Any]:
        ctx = monitoring_context
        windows, skipped = histogram_windows(ctx)
        if not windows:
            return self.nothing_to_score(ctx, skipped)
        evaluated = distances(windows, self.DISTANCES)
        means = {name: float(np.mean([d[name] for d in evaluated.values()])) for name in self.DISTANCES}
        general = general_drift(means)

        labels = set(ctx.label_names) - set(ctx.feature_names)
        taken = {GENERAL_DRIFT}
        per_feature: list[ModelMonitoringApplicationResult] = []
        for feature, d in evaluated.items():
            value = general_drift(d)
            per_feature.append(
                ModelMonitoringApplicationResult(
                    name=result_name_for(feature, taken),
                    value=value,
                    kind=ResultKindApp.data_drift,
                    status=self.status_for(value),
                    extra_data={
                        "feature": feature,
                        "role": "label" if feature in labels else "feature",
                        **d,
                        "method": METHOD,
                        "threshold": self.thresholds,
                        "count": windows[feature].count,
                        "missing": windows[feature].missing,
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
                "features_evaluated": len(evaluated),  # labels included, as in MLRun's means
                "drifted_features": by_status[ResultStatusApp.detected],
                "suspected_features": by_status[ResultStatusApp.potential_detection],
                "skipped_features": skipped,
                **{f"{name}_mean": value for name, value in means.items()},
            },
        )
        return [
            general_result,
            *per_feature,
            *(ModelMonitoringApplicationMetric(name=f"{name}_mean", value=value) for name, value in means.items()),
        ]
