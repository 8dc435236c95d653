"""Model performance with ground truth: the window's predictions paired with the labels that arrived for them
(keyed by request id, :mod:`driftline.ground_truth`).

Classifiers: ``accuracy, precision, recall, f1`` (binary: of ``pos_label``, default 1 or the larger class;
more classes: macro averages) and ``roc_auc`` from a score column (binary only): ``score_column``, else the
positive class's captured score ``proba_<pos_label or 1>`` when the window holds it.
Regressors: ``mae, rmse, r2``. ``task="auto"`` calls it a classification when the labels are text or booleans,
or whole numbers with at most 20 distinct values.

Labels arrive late. ``label_delay_minutes`` shifts the predictions evaluated back by that much (the window
``[start, end)`` evaluates the predictions of ``[start - delay, end - delay)``, SageMaker's offset), so the
labels have had time to arrive; ``extra_data`` names the predictions' window.

Status: ``thresholds={"accuracy": [0.9, 0.8], "rmse": [1.0, 2.0]}`` gives [potential, detected] bounds
(for scores where higher is better the value must fall below them, for errors rise above them); metrics with no
threshold are reported with status ``irrelevant``. Metrics ``labelled_rows`` and ``label_coverage`` always.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, ClassVar

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
from driftline.ground_truth import TRUE_SUFFIX, join, load

HIGHER_IS_BETTER = {"accuracy", "precision", "recall", "f1", "roc_auc", "r2"}
LOWER_IS_BETTER = {"mae", "rmse"}
MAX_CLASSES = 20


@functools.cache
def deps() -> Any:
    """The app function's AWS clients, built once per container (only when labels are read from S3)."""
    from driftline.aws.clients import Clients
    from driftline.config import Settings

    return Clients(Settings.from_env())


def classification_metrics(truth: np.ndarray, predicted: np.ndarray, pos_label: Any = None) -> dict[str, float]:
    classes = np.unique(np.concatenate([truth, predicted]))
    accuracy = float(np.mean(truth == predicted))
    if classes.size <= 2:
        positive = pos_label if pos_label is not None else (1 if 1 in set(classes.tolist()) else classes.max())
        picks = [positive]
    else:
        picks = list(classes)
    precision, recall, f1 = [], [], []
    for label in picks:
        tp = float(np.sum((predicted == label) & (truth == label)))
        fp = float(np.sum((predicted == label) & (truth != label)))
        fn = float(np.sum((predicted != label) & (truth == label)))
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        precision.append(p)
        recall.append(r)
        f1.append(2 * p * r / (p + r) if p + r else 0.0)
    return {
        "accuracy": accuracy,
        "precision": float(np.mean(precision)),
        "recall": float(np.mean(recall)),
        "f1": float(np.mean(f1)),
    }


def roc_auc(truth_positive: np.ndarray, scores: np.ndarray) -> float | None:
    """Area under the ROC curve (the Mann-Whitney statistic, ties counted half); None without both classes."""
    positives = int(truth_positive.sum())
    negatives = int(truth_positive.size - positives)
    if not positives or not negatives:
        return None
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(scores.size)
    sorted_scores = scores[order]
    # average ranks over ties
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    average = first + (counts + 1) / 2
    ranks[order] = np.repeat(average, counts)
    rank_sum = float(ranks[truth_positive].sum())
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def regression_metrics(truth: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    error = predicted - truth
    total = float(np.sum((truth - truth.mean()) ** 2))
    return {
        "mae": float(np.mean(np.abs(error))),
        "rmse": float(np.sqrt(np.mean(error**2))),
        "r2": 1 - float(np.sum(error**2)) / total if total > 0 else 0.0,
    }


def is_classification(truth: pd.Series, predicted: pd.Series) -> bool:
    both = pd.concat([truth, predicted], ignore_index=True).dropna()
    if not pd.api.types.is_numeric_dtype(both.dtype) or pd.api.types.is_bool_dtype(both.dtype):
        return True
    values = both.to_numpy(dtype=np.float64)
    return bool(np.all(values == np.round(values)) and np.unique(values).size <= MAX_CLASSES)


class ModelPerformanceApplication(ModelMonitoringApplicationBase):
    application_parameters: ClassVar[Mapping[str, Any] | None] = {}  # its constructor's named ones only

    def __init__(
        self,
        task: str = "auto",
        pos_label: Any = None,
        score_column: str | None = None,
        label_delay_minutes: int = 0,
        thresholds: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            task=task,
            pos_label=pos_label,
            score_column=score_column,
            label_delay_minutes=label_delay_minutes,
            thresholds=thresholds,
            **kwargs,
        )
        if kwargs:
            raise ConfigurationError(
                f"model performance: unknown settings {sorted(kwargs)}; expected task, pos_label, score_column, "
                "label_delay_minutes, thresholds"
            )
        if task not in ("auto", "classification", "regression"):
            raise ConfigurationError(f"task {task!r}; expected 'auto', 'classification' or 'regression'")
        if isinstance(label_delay_minutes, bool) or not isinstance(label_delay_minutes, int) or label_delay_minutes < 0:
            raise ConfigurationError(f"label_delay_minutes must be a whole number >= 0, got {label_delay_minutes!r}")
        self.task = task
        self.pos_label = pos_label
        self.score_column = score_column
        self.delay = timedelta(minutes=label_delay_minutes)
        self.thresholds: dict[str, tuple[float, float]] = {}
        for name, bounds in (thresholds or {}).items():
            if name not in HIGHER_IS_BETTER | LOWER_IS_BETTER:
                raise ConfigurationError(
                    f"thresholds: unknown metric {name!r}; expected one of {sorted(HIGHER_IS_BETTER | LOWER_IS_BETTER)}"
                )
            if not isinstance(bounds, list | tuple) or len(bounds) != 2:
                raise ConfigurationError(f"thresholds[{name!r}]: expected [potential, detected]")
            self.thresholds[name] = (float(bounds[0]), float(bounds[1]))

    # --- data -------------------------------------------------------------------------------------------

    def predictions(self, ctx: MonitoringApplicationContext) -> pd.DataFrame:
        if not self.delay:
            return ctx.sample_df
        start, end = ctx.start_infer_time - self.delay, ctx.end_infer_time - self.delay
        sample = getattr(ctx, "_sample", None)
        if sample is not None:  # offline evaluation
            return sample.window_frame(start, end) if sample.has_timestamps else ctx.sample_df
        from driftline.applications.data import read_window

        return read_window(deps(), ctx.endpoint_id, start, end)

    def labels(self, ctx: MonitoringApplicationContext, predictions: pd.DataFrame) -> pd.DataFrame:
        given = getattr(ctx, "ground_truth", None)
        if given is not None:
            return given
        if "request_id" not in predictions.columns or predictions.empty:
            return pd.DataFrame(columns=["request_id", "row_index"])
        return load(
            deps(),
            ctx.endpoint_id,
            since=ctx.start_infer_time - self.delay,
            request_ids=predictions["request_id"].astype(str).unique().tolist(),
        )

    # --- judging ----------------------------------------------------------------------------------------

    def status_for(self, name: str, value: float) -> ResultStatusApp:
        bounds = self.thresholds.get(name)
        if bounds is None:
            return ResultStatusApp.irrelevant
        potential, detected = bounds
        if name in HIGHER_IS_BETTER:
            if value < detected:
                return ResultStatusApp.detected
            return ResultStatusApp.potential_detection if value < potential else ResultStatusApp.no_detection
        if value > detected:
            return ResultStatusApp.detected
        return ResultStatusApp.potential_detection if value > potential else ResultStatusApp.no_detection

    def default_score_column(self, joined: pd.DataFrame, truth_column: str) -> str | None:
        """Without ``score_column``: the positive class's captured score (``proba_<pos_label or 1>``, named by
        :mod:`driftline.scores`), when the window holds it and the labels have at most two classes."""
        from driftline.scores import score_column

        column = score_column(self.pos_label if self.pos_label is not None else 1)
        if column not in joined.columns or joined[truth_column].dropna().nunique() > 2:
            return None
        return column

    def do_tracking(self, monitoring_context: MonitoringApplicationContext) -> list[Any]:
        ctx = monitoring_context
        predictions = self.predictions(ctx)
        label_names = [c for c in ctx.label_names if c in predictions.columns]
        if not label_names:
            ctx.logger.warning(
                "model performance: the window has none of the label columns",
                extra={"label_names": ctx.label_names, "columns": list(predictions.columns)},
            )
            return []
        labels = self.labels(ctx, predictions)
        joined = join(predictions, labels, label_names) if len(labels) else predictions.iloc[0:0]
        outputs: list[Any] = [
            ModelMonitoringApplicationMetric(name="labelled_rows", value=len(joined)),
            ModelMonitoringApplicationMetric(name="label_coverage", value=len(joined) / max(len(predictions), 1)),
        ]
        label = label_names[0]
        truth_column = label + TRUE_SUFFIX
        if joined.empty or truth_column not in joined.columns:
            ctx.logger.info(
                "model performance: no labels yet for this window's predictions", extra={"rows": len(predictions)}
            )
            return outputs
        score = self.score_column or self.default_score_column(joined, truth_column)
        pairs = joined[[label, truth_column, *([score] if score in joined.columns else [])]]
        pairs = pairs.dropna(subset=[label, truth_column])
        if pairs.empty:
            return outputs
        truth, predicted = pairs[truth_column], pairs[label]
        classification = self.task == "classification" or (self.task == "auto" and is_classification(truth, predicted))
        if classification:
            numeric = pd.api.types.is_numeric_dtype(truth.dtype) and pd.api.types.is_numeric_dtype(predicted.dtype)
            if numeric:
                values = classification_metrics(truth.to_numpy(), predicted.to_numpy(), self.pos_label)
            else:  # text labels: compare as text
                pos = None if self.pos_label is None else str(self.pos_label)
                values = classification_metrics(truth.astype(str).to_numpy(), predicted.astype(str).to_numpy(), pos)
            if score and score in pairs.columns:
                positive = self.pos_label if self.pos_label is not None else 1
                auc = roc_auc(
                    (truth.to_numpy() == positive),
                    pairs[score].to_numpy(dtype=np.float64),
                )
                if auc is not None:
                    values["roc_auc"] = auc
        else:
            values = regression_metrics(truth.to_numpy(dtype=np.float64), predicted.to_numpy(dtype=np.float64))
        extra = {
            "task": "classification" if classification else "regression",
            "label": label,
            "labelled_rows": len(pairs),
            "predictions_start": (ctx.start_infer_time - self.delay).isoformat(),
            "predictions_end": (ctx.end_infer_time - self.delay).isoformat(),
        }
        for name, value in values.items():
            outputs.append(
                ModelMonitoringApplicationResult(
                    name=name,
                    value=value,
                    kind=ResultKindApp.model_performance,
                    status=self.status_for(name, value),
                    extra_data={**extra, "threshold": list(self.thresholds[name]) if name in self.thresholds else None},
                )
            )
        return outputs
