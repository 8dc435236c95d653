"""Per-feature drift for numeric and categorical features, prediction drift, and a dataset-level verdict.

Per feature (``<feature>_drift``, kind data_drift, value = the effect size): a two-sample test (KS for numbers,
chi-square on the 2xK table for categories), corrected for testing every feature of the window at once
(Benjamini-Hochberg by default, or Bonferroni), and an effect size (normed Wasserstein for numbers,
Jensen-Shannon distance for categories; PSI, Hellinger and TVD are reported too: ``report_effects``).
Significant and large: ``detected``; significant and small: ``potential_detection``; otherwise
``no_detection`` (:mod:`driftline.stats.drift`).

Prediction drift (``prediction_drift``, or ``<label>_prediction_drift`` with several labels): the window's
outputs against the training labels (the model's ``label_stats``), the same rule, its own family.

``dataset_drift``: value = the share of features detected; status = the worst feature's; ``extra_data`` says how
many and which features drifted. ``general_drift`` (MLRun's averaged number) is added with ``general_drift=True``
(the ``histogram-data-drift`` app keeps MLRun's behaviour whole).

Everything is configuration (``set_model_monitoring_function(..., **application_kwargs)``)::

    alpha=0.05, correction="bh" | "bonferroni" | "none",
    numeric_test="ks", categorical_test="chi2", numeric_effect="wasserstein", categorical_effect="jensenshannon",
    threshold=None (every effect's default: 0.1), min_count=5,
    features={"age": {"effect": "psi", "threshold": 0.2}}, prediction_drift=True, general_drift=False,
    report_effects=["wasserstein", "jensenshannon", "psi", "hellinger", "tvd"]

Any test or effect registered in :mod:`driftline.stats.registry` can be named in these settings; only the
statistics named are computed.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from driftline.applications import (
    ModelMonitoringApplicationMetric,
    ModelMonitoringApplicationResult,
    MonitoringApplicationContext,
    ResultKindApp,
    result_name_for,
)
from driftline.applications.drift import (
    GENERAL_DRIFT,
    GENERAL_INPUTS,
    DriftApplicationBase,
    distances,
    general_drift,
    general_status,
    histogram_windows,
)
from driftline.errors import ConfigurationError
from driftline.stats.drift import DriftConfig, FeatureVerdict, assess, summary
from driftline.stats.reference import Reference, references_from_profile

DATASET_DRIFT = "dataset_drift"
PREDICTION_DRIFT = "prediction_drift"
APP_KEYS = ("prediction_drift", "general_drift")


class FeatureDriftApplication(DriftApplicationBase):
    """Per-feature and prediction drift with significance and effect size (configuration, not subclassing)."""

    # its settings: DriftConfig's fields and the app's own switches (registration checks names and types)
    application_parameters: ClassVar[Mapping[str, Any] | None] = {
        **typing.get_type_hints(DriftConfig),
        "prediction_drift": bool,
        "general_drift": bool,
    }

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

    def _label_references(self, ctx: MonitoringApplicationContext, features: dict[str, Reference]) -> dict:
        label_stats = (ctx.model.label_stats if ctx.model is not None else None) or {}
        labels = references_from_profile(label_stats) if self.prediction_drift else {}
        return {k: v for k, v in labels.items() if k not in features}

    def _dataset(self, verdicts: list[FeatureVerdict], skipped: dict[str, str]) -> list[Any]:
        """``dataset_drift`` and the counts of drifted, suspected and evaluated features."""
        info = summary(verdicts)
        result = ModelMonitoringApplicationResult(
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
                "skipped_features": skipped,
            },
        )
        return [
            result,
            ModelMonitoringApplicationMetric(name="drifted_features", value=len(info["drifted_features"])),
            ModelMonitoringApplicationMetric(name="suspected_features", value=len(info["suspected_features"])),
            ModelMonitoringApplicationMetric(name="features_evaluated", value=len(verdicts)),
        ]

    @staticmethod
    def _general(ctx: MonitoringApplicationContext) -> list[ModelMonitoringApplicationResult]:
        """MLRun's ``general_drift`` (averaged over the profile's numeric columns, labels included, in its order)."""
        windows, _ = histogram_windows(ctx)
        ordered = list(distances(windows, GENERAL_INPUTS).values())
        if not ordered:
            return []
        general = general_drift({name: float(np.mean([d[name] for d in ordered])) for name in GENERAL_INPUTS})
        return [
            ModelMonitoringApplicationResult(
                name=GENERAL_DRIFT,
                value=general,
                kind=ResultKindApp.data_drift,
                status=general_status(general),
                extra_data={"method": "mlrun histogram (mean of tvd and hellinger means)"},
            )
        ]

    def score(self, monitoring_context: MonitoringApplicationContext) -> list[Any]:
        ctx = monitoring_context
        feature_refs = references_from_profile(ctx.feature_stats)
        label_refs = self._label_references(ctx, feature_refs)
        sketches = self.window_sketches(ctx, {**feature_refs, **label_refs})
        verdicts, skipped = assess(feature_refs, sketches, self.config)
        label_verdicts, label_skipped = assess(label_refs, sketches, self.config, role="prediction")
        if not verdicts and not label_verdicts:
            return self.nothing_to_score(ctx, skipped)

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
            dataset, *counts = self._dataset(verdicts, {**skipped, **label_skipped})
            outputs.insert(0, dataset)
            outputs.extend(counts)
        if self.general_drift:
            outputs.extend(self._general(ctx))
        return outputs
