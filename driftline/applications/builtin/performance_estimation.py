"""Model performance before the labels arrive: CBPE for classifiers, DLE for regressors, with a band, and the
realized value beside the estimate once ground truth for the window's rows exists.

What the model was logged with decides (:mod:`driftline.stats.model_artefacts`, fitted at ``log_model`` from the
training set, its labels and the model's own scores or predictions):

* a classifier (``cbpe`` artefact): the window's class scores, columns ``proba_<class>`` named by
  :func:`driftline.scores.score_columns` for the classes the calibration was fitted on (captured by serving, or
  sent with ingested rows), and the served prediction (the model's label column) give ``estimated_accuracy``,
  ``estimated_f1`` and ``estimated_roc_auc``;
* a regressor (``dle`` artefact): the window's features and prediction give ``estimated_mae`` and
  ``estimated_rmse``.

Each result (kind ``model_performance``) has ``extra_data``: ``method``, ``band`` / ``band_lower`` /
``band_upper`` (where the realized value of these rows falls at ``coverage``, default 0.95), ``threshold``
(the reference value shifted by the tolerance: a band wholly past it is ``detected``), ``reference_value``,
``n_rows``. Status: the whole band on the bad side of the reference's own value is potential_detection, beyond the
tolerance (0.02 for scores, 10 % for errors; ``tolerance={"accuracy": 0.05}``) detected.

Realized: the window's rows are joined with the labels that arrived for them by request id, as the
``model_performance`` app does (:mod:`driftline.ground_truth`). With every row labelled, ``realized``,
``estimate_error`` and ``realized_in_band`` are added to the estimate's ``extra_data``; with some rows labelled,
the estimate and band *of those rows* are computed too (``labelled_estimate``, ``labelled_band``), since the
realized value of a subset belongs beside the subset's estimate. Metrics: ``rows_with_scores`` (or
``rows_estimated``), ``labelled_rows``, and ``realized_<metric>`` when known.

A window without score columns (serving without score capture, a model logged before it) is not an error: the
app logs why and reports only ``rows_with_scores = 0``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from driftline.applications.base import ModelMonitoringApplicationBase
from driftline.applications.context import MonitoringApplicationContext
from driftline.errors import ConfigurationError, InvalidRequestError
from driftline.ground_truth import TRUE_SUFFIX, join
from driftline.schemas import AppMetric, AppResult
from driftline.scores import score_columns
from driftline.stats.model_artefacts import CBPE, DLE
from driftline.stats.performance_estimation import (
    DEFAULT_COVERAGE,
    DEFAULT_DRAWS,
    HIGHER_IS_BETTER,
    CBPEReference,
    DLEReference,
    PerformanceEstimate,
    estimate_classification,
    estimate_regression,
    realized_classification,
    with_realized,
)

LOG_MESSAGE = "performance estimate"  # the CloudWatch dashboard's Logs Insights widget filters on it


def _threshold(name: str, reference: float | None, tolerance: float) -> float | None:
    if reference is None:
        return None
    if HIGHER_IS_BETTER[name]:
        return reference - tolerance
    return reference * (1 + tolerance)


class PerformanceEstimationApplication(ModelMonitoringApplicationBase):
    def __init__(
        self,
        coverage: float = DEFAULT_COVERAGE,
        draws: int = DEFAULT_DRAWS,
        tolerance: Mapping[str, float] | None = None,
        seed: int | None = None,
        reference_prediction_column: str | None = None,
        **kwargs: Any,
    ) -> None:
        if kwargs:
            raise ConfigurationError(
                f"performance estimation: unknown settings {sorted(kwargs)}; expected coverage, draws, tolerance, "
                "seed, reference_prediction_column"
            )
        if isinstance(coverage, bool) or not isinstance(coverage, int | float) or not 0.5 <= coverage < 1:
            raise ConfigurationError(f"performance estimation: coverage must be in [0.5, 1), got {coverage!r}")
        if isinstance(draws, bool) or not isinstance(draws, int) or draws < 100:
            raise ConfigurationError(f"performance estimation: draws must be a whole number >= 100, got {draws!r}")
        unknown = sorted(set(tolerance or {}) - set(HIGHER_IS_BETTER))
        if unknown:
            raise ConfigurationError(
                f"performance estimation: tolerance for {unknown}; expected among {sorted(HIGHER_IS_BETTER)}"
            )
        super().__init__(
            coverage=coverage,
            draws=draws,
            tolerance=tolerance,
            seed=seed,
            reference_prediction_column=reference_prediction_column,
        )
        self.coverage = float(coverage)
        self.draws = draws
        self.tolerance = dict(tolerance or {})
        self.seed = seed
        # offline only (driftline evaluate): the reference DataFrame's column of the model's predictions (DLE)
        self.reference_prediction_column = reference_prediction_column

    # --- ground truth ------------------------------------------------------------------------------------

    @staticmethod
    def truth_for(ctx: MonitoringApplicationContext, window: pd.DataFrame, label: str) -> pd.Series:
        """The true label of each window row (NaN where none arrived), joined by request id as the
        model-performance app joins them."""
        from driftline.applications.builtin.model_performance import ModelPerformanceApplication

        empty = pd.Series(np.nan, index=window.index, dtype=object)
        labels = ModelPerformanceApplication().labels(ctx, window)
        if not len(labels) or "request_id" not in window.columns:
            return empty
        keys = [c for c in ("request_id", "row_index") if c in window.columns]
        keyed = window[keys].assign(_row=np.arange(len(window)))
        if label not in keyed.columns:
            keyed[label] = window[label]
        joined = join(keyed, labels, [label])
        column = label + TRUE_SUFFIX
        if joined.empty or column not in joined.columns:
            return empty
        truth = pd.Series(np.nan, index=range(len(window)), dtype=object)
        truth.iloc[joined["_row"].to_numpy(dtype=np.int64)] = joined[column].to_numpy()
        truth.index = window.index
        return truth

    # --- outputs -----------------------------------------------------------------------------------------

    def _outputs(
        self,
        ctx: MonitoringApplicationContext,
        estimate: PerformanceEstimate,
        labelled: PerformanceEstimate | None,
        labelled_rows: int,
        rows_metric: str,
    ) -> list[AppResult | AppMetric]:
        full = labelled is not None and labelled_rows == estimate.rows
        if full:
            assert labelled is not None
            estimate = with_realized(estimate, {k: m.realized for k, m in labelled.metrics.items()})
        results = estimate.results()
        outputs: list[AppResult | AppMetric] = [
            AppMetric(name=rows_metric, value=estimate.rows),
            AppMetric(name="labelled_rows", value=labelled_rows),
        ]
        for result in results:
            metric = result.extra_data["metric"]
            m = estimate.metrics[metric]
            extra = result.extra_data
            extra.update(
                {
                    "band_lower": m.lower,
                    "band_upper": m.upper,
                    "threshold": _threshold(metric, m.reference, estimate.tolerance.get(metric, 0.0)),
                    "labelled_rows": labelled_rows,
                }
            )
            sub = labelled.metrics.get(metric) if labelled is not None else None
            if sub is not None and sub.realized is not None:
                if not full:
                    extra.update(
                        {
                            "realized": sub.realized,
                            "realized_rows": labelled_rows,
                            "labelled_estimate": sub.value,
                            "labelled_band": [sub.lower, sub.upper],
                            "realized_in_band": bool(sub.lower <= sub.realized <= sub.upper),
                        }
                    )
                outputs.append(AppMetric(name=f"realized_{metric}", value=sub.realized))
            outputs.append(result)
            if not getattr(ctx, "offline", False):  # the CloudWatch widgets read this line; offline prints results
                ctx.logger.info(
                    LOG_MESSAGE,
                    extra={
                        "endpoint_id": ctx.endpoint_id,
                        "application_name": ctx.application_name,
                        "method": estimate.method,
                        "metric": metric,
                        "estimate": m.value,
                        "band_lower": m.lower,
                        "band_upper": m.upper,
                        "realized": extra.get("realized"),
                        "status": int(result.status),
                        "rows": estimate.rows,
                    },
                )
        return outputs

    # --- classifiers -------------------------------------------------------------------------------------

    def _classification(
        self, ctx: MonitoringApplicationContext, reference: CBPEReference
    ) -> list[AppResult | AppMetric]:
        df = ctx.sample_df
        columns = score_columns(reference.classes)
        absent = [c for c in columns if c not in df.columns]
        if absent:
            ctx.logger.warning(
                "performance estimation: the window has no class scores, nothing to estimate",
                extra={
                    "endpoint_id": ctx.endpoint_id,
                    "expected_columns": columns,
                    "absent": absent,
                    "hint": "enable score capture in serving, or send proba_<class> columns with ingested rows",
                },
            )
            return [AppMetric(name="rows_with_scores", value=0)]
        scores = df[columns].apply(pd.to_numeric, errors="coerce")
        scored = scores.notna().all(axis=1).to_numpy()
        if not scored.any():
            ctx.logger.warning(
                "performance estimation: every row's scores are missing", extra={"endpoint_id": ctx.endpoint_id}
            )
            return [AppMetric(name="rows_with_scores", value=0)]
        window = df[scored]
        matrix = scores[scored].to_numpy(dtype=np.float64)
        label = ctx.label_names[0] if ctx.label_names else None
        predicted = self._predicted(ctx, window, label, reference)
        estimate = estimate_classification(
            reference,
            matrix,
            predicted,
            coverage=self.coverage,
            draws=self.draws,
            tolerance=self.tolerance,
            seed=self.seed,
        )
        truth = self.truth_for(ctx, window, label) if label else pd.Series(dtype=object)
        known = truth.notna().to_numpy() if len(truth) else np.zeros(len(window), dtype=bool)
        labelled = None
        if known.any():
            values = truth[known].to_numpy()
            classes = set(reference.classes)
            values = np.asarray([_as_class(v, classes) for v in values], dtype=object)
            in_classes = np.asarray([v in classes for v in values])
            rows = np.flatnonzero(known)[in_classes]
            if rows.size:
                sub_pred = None if predicted is None else np.asarray(predicted)[rows]
                labelled_estimate = estimate_classification(
                    reference,
                    matrix[rows],
                    sub_pred,
                    coverage=self.coverage,
                    draws=self.draws,
                    tolerance=self.tolerance,
                    seed=self.seed,
                )
                realized = realized_classification(reference, matrix[rows], values[in_classes], sub_pred)
                labelled = with_realized(labelled_estimate, realized)
                known = np.zeros_like(known)
                known[rows] = True
        return self._outputs(ctx, estimate, labelled, int(known.sum()), "rows_with_scores")

    @staticmethod
    def _predicted(
        ctx: MonitoringApplicationContext, window: pd.DataFrame, label: str | None, reference: CBPEReference
    ) -> np.ndarray | None:
        """The served predictions as classes of the calibration; None (the model's rule on the scores) when the
        window has no prediction column or values outside the classes."""
        if label is None or label not in window.columns or window[label].isna().any():
            return None
        classes = set(reference.classes)
        values = np.asarray([_as_class(v, classes) for v in window[label].to_numpy()], dtype=object)
        if not all(v in classes for v in values):
            ctx.logger.warning(
                "performance estimation: predictions outside the calibrated classes; using the scores' arg-max",
                extra={"endpoint_id": ctx.endpoint_id, "classes": list(reference.classes)},
            )
            return None
        return values

    # --- regressors --------------------------------------------------------------------------------------

    def _regression(self, ctx: MonitoringApplicationContext, reference: DLEReference) -> list[AppResult | AppMetric]:
        df = ctx.sample_df
        label = ctx.label_names[0] if ctx.label_names else None
        if label is None or label not in df.columns:
            ctx.logger.warning("performance estimation: the window has no prediction column", extra={"label": label})
            return [AppMetric(name="rows_estimated", value=0)]
        predictions = pd.to_numeric(df[label], errors="coerce")
        usable = predictions.notna().to_numpy()
        if not usable.any():
            return [AppMetric(name="rows_estimated", value=0)]
        window = df[usable]
        predicted = predictions[usable].to_numpy(dtype=np.float64)
        estimate = estimate_regression(reference, window, predicted, coverage=self.coverage, tolerance=self.tolerance)
        truth = pd.to_numeric(self.truth_for(ctx, window, label), errors="coerce")
        known = truth.notna().to_numpy()
        labelled = None
        if known.any():
            from driftline.applications.builtin.model_performance import regression_metrics

            sub = estimate_regression(
                reference, window[known], predicted[known], coverage=self.coverage, tolerance=self.tolerance
            )
            realized = regression_metrics(truth[known].to_numpy(dtype=np.float64), predicted[known])
            labelled = with_realized(sub, realized)
        return self._outputs(ctx, estimate, labelled, int(known.sum()), "rows_estimated")

    # --- the window --------------------------------------------------------------------------------------

    def do_tracking(self, monitoring_context: MonitoringApplicationContext) -> list[AppResult | AppMetric]:
        ctx = monitoring_context
        cbpe = ctx.model_artefact(CBPE)
        try:
            if cbpe is not None:
                return self._classification(ctx, cbpe)
            dle = ctx.model_artefact(DLE)
            if dle is not None:
                return self._regression(ctx, dle)
        except InvalidRequestError as exc:  # the window's rows cannot be scored (e.g. a feature is missing)
            ctx.logger.warning(
                "performance estimation: this window cannot be estimated",
                extra={"endpoint_id": ctx.endpoint_id, "reason": str(exc)},
            )
            return []
        ctx.logger.warning(
            "performance estimation: the model has no calibration (cbpe) or loss model (dle), nothing to estimate",
            extra={
                "endpoint_id": ctx.endpoint_id,
                "cbpe": ctx.model_artefact_note(CBPE),
                "dle": ctx.model_artefact_note(DLE),
            },
        )
        return []


def _as_class(value: Any, classes: set[Any]) -> Any:
    """A label read from parquet as a class of the calibration: ``1.0`` is class ``1``, ``"1"`` too when the
    classes are numbers."""
    if value in classes:
        return value.item() if isinstance(value, np.generic) else value
    if isinstance(value, float | np.floating) and float(value).is_integer() and int(value) in classes:
        return int(value)
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return value
        if number.is_integer() and int(number) in classes:
            return int(number)
        if number in classes:
            return number
    return value
