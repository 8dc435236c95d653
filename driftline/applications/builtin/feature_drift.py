"""Per-feature drift for numeric and categorical features, prediction drift, and a dataset-level verdict.

Per feature (``<feature>_drift``, kind data_drift, value = the effect size): a two-sample test (KS for numbers,
chi-square on the 2xK table for categories), corrected for testing every feature of the window at once
(Benjamini-Hochberg by default, or Bonferroni), and an effect size (normed Wasserstein for numbers,
Jensen-Shannon distance for categories; PSI, Hellinger and TVD are reported too). Significant and large:
``detected``; significant and small: ``potential_detection``; otherwise ``no_detection``
(:mod:`driftline.stats.drift`).

Prediction drift (``prediction_drift``, or ``<label>_prediction_drift`` with several labels): the window's
outputs against the training labels (the model's ``label_stats``), the same rule, its own family.

``dataset_drift``: value = the share of features detected; status = the worst feature's; ``extra_data`` says how
many and which features drifted. ``general_drift`` (MLRun's averaged number) is added with ``general_drift=True``
(the ``histogram-data-drift`` app keeps MLRun's behaviour whole).

Everything is configuration (``set_model_monitoring_function(..., **application_kwargs)``)::

    alpha=0.05, correction="bh" | "bonferroni" | "none",
    numeric_test="ks", categorical_test="chi2", numeric_effect="wasserstein", categorical_effect="jensenshannon",
    threshold=None (every effect's default: 0.1), min_count=5,
    features={"age": {"effect": "psi", "threshold": 0.2}}, prediction_drift=True, general_drift=False
"""

from __future__ import annotations

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
from driftline.stats.distances import hellinger, tvd
from driftline.stats.drift import DriftConfig, FeatureVerdict, assess, result_name_for, summary
from driftline.stats.histograms import padded_reference, window_counts
from driftline.stats.profile import numeric_values
from driftline.stats.reference import Reference, references_from_profile, window_sketches

DATASET_DRIFT = "dataset_drift"
GENERAL_DRIFT = "general_drift"
PREDICTION_DRIFT = "prediction_drift"
APP_KEYS = ("prediction_drift", "general_drift")


def sketches_for(context: Any, references: dict[str, Reference]) -> dict[str, Any]:
    """Window sketches: from the context itself when it can build them in chunks (offline evaluation of a large
    parquet window), else from ``sample_df``."""
    build = getattr(context, "window_sketches", None)
    if callable(build):
        return build(references)
    return window_sketches(context.sample_df, references)


def mlrun_general_drift(context: MonitoringApplicationContext) -> float | None:
    """MLRun's ``general_drift``: mean of the TVD and Hellinger means over numeric features, on the padded
    20-bin reference histograms."""
    df = context.sample_df
    tvds, hels = [], []
    for name, entry in context.feature_stats.items():
        ref = padded_reference(entry or {}, name)
        if ref is None or name not in df.columns:
            continue
        counts, present = window_counts(numeric_values(pd.to_numeric(df[name], errors="coerce")), ref)
        if not present:
            continue
        p = counts / present
        tvds.append(tvd(p, ref.probabilities))
        hels.append(hellinger(p, ref.probabilities))
    if not tvds:
        return None
    return (float(np.mean(tvds)) + float(np.mean(hels))) / 2


class FeatureDriftApplication(ModelMonitoringApplicationBase):
    """Per-feature and prediction drift with significance and effect size (configuration, not subclassing)."""

    def __init__(self, **application_kwargs: Any) -> None:
        super().__init__(**application_kwargs)
        unknown = set(application_kwargs) - set(DriftConfig.__dataclass_fields__) - set(APP_KEYS)
        if unknown:
            raise ConfigurationError(
                f"feature drift: unknown settings {sorted(unknown)}; expected among "
                f"{sorted(set(DriftConfig.__dataclass_fields__) | set(APP_KEYS))}"
            )
        self.config = DriftConfig.from_kwargs(application_kwargs)
        self.prediction_drift = bool(application_kwargs.get("prediction_drift", True))
        self.general_drift = bool(application_kwargs.get("general_drift", False))

    def _result(self, name: str, verdict: FeatureVerdict) -> ModelMonitoringApplicationResult:
        return ModelMonitoringApplicationResult(
            name=name,
            value=verdict.effect,
            kind=ResultKindApp.data_drift if verdict.role == "feature" else ResultKindApp.concept_drift,
            status=verdict.status,
            extra_data=verdict.extra_data(),
        )

    def do_tracking(self, monitoring_context: MonitoringApplicationContext) -> list[Any]:
        ctx = monitoring_context
        if not ctx.feature_stats:
            ctx.logger.warning(
                "feature drift: the model has no reference profile, so there is nothing to compare the window "
                "with; log the model with training_set=<training DataFrame> to enable drift detection",
                extra={"endpoint_id": ctx.endpoint_id, "model_uri": ctx.model_endpoint.model_uri},
            )
            return []
        feature_refs = references_from_profile(ctx.feature_stats)
        label_stats = (ctx.model.label_stats if ctx.model is not None else None) or {}
        label_refs = references_from_profile(label_stats) if self.prediction_drift else {}
        label_refs = {k: v for k, v in label_refs.items() if k not in feature_refs}
        sketches = sketches_for(ctx, {**feature_refs, **label_refs})
        verdicts, skipped = assess(feature_refs, sketches, self.config)
        label_verdicts, label_skipped = assess(label_refs, sketches, self.config, role="prediction")
        if not verdicts and not label_verdicts:
            ctx.logger.warning(
                "feature drift: no feature with a reference has values in this window",
                extra={"endpoint_id": ctx.endpoint_id, "skipped_features": skipped},
            )
            return []

        taken = {DATASET_DRIFT, GENERAL_DRIFT, PREDICTION_DRIFT}
        outputs: list[Any] = []
        for verdict in label_verdicts:
            name = (
                PREDICTION_DRIFT
                if len(label_refs) == 1
                else result_name_for(verdict.feature, taken, "prediction_drift")
            )
            outputs.append(self._result(name, verdict))
        outputs.extend(self._result(result_name_for(v.feature, taken), v) for v in verdicts)
        if verdicts:
            info = summary(verdicts)
            outputs.insert(
                0,
                ModelMonitoringApplicationResult(
                    name=DATASET_DRIFT,
                    value=info["share"],
                    kind=ResultKindApp.data_drift,
                    status=info["status"],
                    extra_data={
                        "method": "per-feature test + effect size",
                        "alpha": self.config.alpha,
                        "correction": self.config.correction,
                        "features_evaluated": info["features_evaluated"],
                        "drifted_count": len(info["drifted_features"]),
                        "drifted_features": info["drifted_features"],
                        "suspected_count": len(info["suspected_features"]),
                        "suspected_features": info["suspected_features"],
                        "skipped_features": {**skipped, **label_skipped},
                    },
                ),
            )
            outputs.append(
                ModelMonitoringApplicationMetric(name="drifted_features", value=len(info["drifted_features"]))
            )
            outputs.append(
                ModelMonitoringApplicationMetric(name="suspected_features", value=len(info["suspected_features"]))
            )
            outputs.append(ModelMonitoringApplicationMetric(name="features_evaluated", value=len(verdicts)))
        if self.general_drift:
            general = mlrun_general_drift(ctx)
            if general is not None:
                status = (
                    ResultStatusApp.detected
                    if general >= 0.7
                    else ResultStatusApp.potential_detection
                    if general >= 0.5
                    else ResultStatusApp.no_detection
                )
                outputs.append(
                    ModelMonitoringApplicationResult(
                        name=GENERAL_DRIFT,
                        value=general,
                        kind=ResultKindApp.data_drift,
                        status=status,
                        extra_data={"method": "mlrun histogram (mean of tvd and hellinger means)"},
                    )
                )
        return outputs
