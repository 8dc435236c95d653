"""The base of the drift apps (``feature_drift``, ``histogram_data_drift``): what every drift app does before it
scores, in one place, so a subclass only scores (:meth:`DriftApplicationBase.score`).

* the guard: a model logged without a training set has no reference profile; the app then says so once, with
  what to do, and reports nothing (MLRun's app silently produces nothing);
* the preprocessing: the window's sketches on the reference's fine bins (built in chunks when the context can,
  :meth:`DriftApplicationBase.window_sketches`), and the window on MLRun's padded 20-bin reference histograms
  (:func:`histogram_windows`);
* MLRun's numbers on those histograms: the distances an app asks the registry for (:func:`distances`) and
  ``general_drift = mean(tvd_mean, hellinger_mean)`` judged with MLRun's thresholds in the distances' direction
  (:func:`general_drift`, :func:`general_status`);
* result names: :func:`~driftline.applications.base.result_name_for`.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from driftline.applications.base import ModelMonitoringApplicationBase
from driftline.applications.context import MonitoringApplicationContext
from driftline.schemas import AppMetric, AppResult, ResultStatus
from driftline.stats.distances import MLRUN_DETECTED, MLRUN_POTENTIAL
from driftline.stats.histograms import padded_reference, window_counts
from driftline.stats.profile import NUMERIC, column_kind, numeric_values
from driftline.stats.reference import Reference, Window, window_sketches
from driftline.stats.registry import REGISTRY, Role

GENERAL_DRIFT = "general_drift"
GENERAL_INPUTS = ("tvd", "hellinger")  # MLRun's general_drift averages these two
NO_REFERENCE = (
    "the model has no reference profile (feature_stats), so there is nothing to compare the window with; "
    "log the model with training_set=<training DataFrame> to enable drift detection"
)
NOTHING_TO_SCORE = "no feature with a reference has values in this window"


@dataclass(frozen=True)
class HistogramWindow:
    """One numeric feature of the window on its padded reference histogram: p (window) and q (reference)
    probabilities on the same 22 bins, the non-null count and the missing values."""

    p: np.ndarray
    q: np.ndarray
    count: int
    missing: int


def reference_profile(context: MonitoringApplicationContext) -> dict[str, Any]:
    """MLRun's ``feature_stats`` as MLRun's ``infer_from_df`` builds it from the training set: the features
    (the model's feature order first, then the rest of the profile) and then the label columns, whose window
    values are the model's predictions (the stream stores them under the label names). driftline keeps the
    labels' profile apart (``ModelRecord.label_stats``), so it is added back here; a label column that is also
    a feature's name is not counted twice."""
    profile = context.feature_stats
    merged = {f: profile[f] for f in context.feature_names if f in profile}
    merged.update((f, stats) for f, stats in profile.items() if f not in merged)
    label_stats = (context.model.label_stats if context.model is not None else None) or {}
    labels = [name for name in context.label_names if name in label_stats] or list(label_stats)
    merged.update((name, label_stats[name]) for name in labels if name not in merged)
    return merged


def histogram_windows(context: MonitoringApplicationContext) -> tuple[dict[str, HistogramWindow], dict[str, str]]:
    """Every column of the reference profile (:func:`reference_profile`: features, then labels) with a reference
    histogram and values in the window, and the skipped columns with why. Values that are not numbers count as
    missing. The counts are summed over the window's pieces (:meth:`MonitoringApplicationContext.iter_chunks`),
    so the window is never loaded whole."""
    profile = reference_profile(context)
    names = list(profile)
    skipped: dict[str, str] = {}
    references = {}
    for feature in names:
        reference = padded_reference(profile[feature] or {}, feature)
        if reference is None:
            skipped[feature] = "no reference histogram (not numeric, or empty in the training set)"
        else:
            references[feature] = reference
    totals: dict[str, tuple[np.ndarray, int, int]] = {}  # feature -> counts, present, values
    seen: set[str] = set()
    for chunk in context.iter_chunks(list(references)):
        for feature, reference in references.items():
            if feature not in chunk.columns:
                continue
            seen.add(feature)
            series = chunk[feature]
            if column_kind(series) != NUMERIC:  # e.g. strings where numbers were expected: those count as missing
                series = pd.to_numeric(series, errors="coerce")
            values = numeric_values(series)
            counts, present = window_counts(values, reference)
            before = totals.get(feature)
            totals[feature] = (
                (counts, present, values.size)
                if before is None
                else (before[0] + counts, before[1] + present, before[2] + values.size)
            )
    windows: dict[str, HistogramWindow] = {}
    for feature, reference in references.items():
        if feature not in seen:
            skipped[feature] = "not in the window's columns"
            continue
        counts, present, size = totals[feature]
        if not present:
            skipped[feature] = "no values in the window"
            continue
        windows[feature] = HistogramWindow(
            p=counts / present, q=reference.probabilities, count=present, missing=int(size - present)
        )
    return windows, {f: skipped[f] for f in names if f in skipped}


def distances(windows: Mapping[str, HistogramWindow], names: Sequence[str]) -> dict[str, dict[str, float]]:
    """Per feature, the registered distances ``names`` (and only those) between its window and reference."""
    statistics = [REGISTRY.get(name, Role.DISTANCE, NUMERIC) for name in names]
    return {f: {s.name: s.score(w.p, w.q).value for s in statistics} for f, w in windows.items()}


def general_drift(values: Mapping[str, float]) -> float:
    """MLRun's ``general_drift`` from the TVD and Hellinger of one feature, or from their means over features."""
    return (values["tvd"] + values["hellinger"]) / 2


def general_status(value: float, potential: float = MLRUN_POTENTIAL, detected: float = MLRUN_DETECTED) -> ResultStatus:
    """MLRun's verdict on a ``general_drift`` value, in the direction its distances mean drift."""
    directions = {REGISTRY.get(name, Role.DISTANCE).direction for name in GENERAL_INPUTS}
    [direction] = directions  # an average of two distances is judged the way both point
    return direction.status(value, detected, potential)


class DriftApplicationBase(ModelMonitoringApplicationBase):
    """Base of the drift apps: ``do_tracking`` applies the guard, then calls :meth:`score`."""

    application_parameters: ClassVar[Mapping[str, Any] | None] = {}  # their constructors' named ones only

    def do_tracking(self, monitoring_context: MonitoringApplicationContext) -> list[AppResult | AppMetric]:
        ctx = monitoring_context
        if not ctx.feature_stats:
            ctx.logger.warning(
                NO_REFERENCE,
                extra={
                    "application_name": ctx.application_name,
                    "endpoint_id": ctx.endpoint_id,
                    "model_uri": ctx.model_endpoint.model_uri,
                },
            )
            return []
        return self.score(ctx)

    @abstractmethod
    def score(self, monitoring_context: MonitoringApplicationContext) -> list[AppResult | AppMetric]:
        """The window's results and metrics; the context has a reference profile."""

    @staticmethod
    def window_sketches(
        context: MonitoringApplicationContext, references: Mapping[str, Reference]
    ) -> dict[str, Window]:
        """Window sketches on the references' bins, built in pieces and merged exactly by the context (a window
        on S3 object by object, a large parquet window offline), else from ``sample_df``."""
        build = getattr(context, "window_sketches", None)
        if callable(build):
            return build(references)
        return window_sketches(context.sample_df, references)

    @staticmethod
    def nothing_to_score(context: MonitoringApplicationContext, skipped: Mapping[str, str]) -> list[Any]:
        """Nothing to report (said once, with why each feature was skipped)."""
        context.logger.warning(
            NOTHING_TO_SCORE,
            extra={
                "application_name": context.application_name,
                "endpoint_id": context.endpoint_id,
                "skipped_features": dict(skipped),
            },
        )
        return []
