"""Joint drift: what per-feature tests cannot see (a correlation that flips, a population mix that moves while
every marginal stays put).

Two methods, each one result (MLRun-shaped, kind ``data_drift``), both against artefacts ``log_model`` fitted on
the training features (:mod:`driftline.stats.model_artefacts`), so a window costs:

* ``pca_reconstruction_error``: one encoding and one projection on the stored PCA (numpy only). Value: the
  window's mean reconstruction error; ``extra_data``: the band where a no-drift window's mean falls at the stated
  false-alarm rate (``threshold``, ``band_lower``, ``band_upper``), the p-value, the relative change, the features
  whose residuals grew most (``contributions``) and the components whose variance or centre moved (``components``).
* ``domain_classifier_auc``: a gradient-boosted classifier telling reference rows from window rows,
  cross-validated; value: its AUC, judged against the Mann-Whitney null (0.5). Bounded time: at most ``max_rows``
  rows a side, ``max_iter`` trees, ``folds`` folds, one thread, whatever the window's size (the seconds it took are
  in ``extra_data``). When significant, ``contributions`` ranks features by the AUC lost when each is permuted.

Status: significant (p <= ``false_alarm_rate``) and large (relative error change / AUC - 0.5 at least the effect
threshold) -> detected; significant and small -> potential_detection.

``application_kwargs``: ``methods`` (default both: ``["pca", "classifier"]``), ``false_alarm_rate`` (0.01),
``pca_effect_threshold`` (0.05), ``classifier_effect_threshold`` (0.05), ``classifier_model`` (``hgb`` or
``logistic``), ``max_rows`` (5,000), ``folds`` (5), ``max_iter`` (50), ``top`` (5), ``seed``.
A model logged without a training set (or one too small: fewer than 100 rows) has no artefact: the app logs why
and reports nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from driftline.applications.base import ModelMonitoringApplicationBase
from driftline.applications.context import MonitoringApplicationContext
from driftline.errors import ConfigurationError, InvalidRequestError
from driftline.schemas import AppMetric, AppResult
from driftline.stats.model_artefacts import CLASSIFIER, RECONSTRUCTION
from driftline.stats.multivariate import classifier as classifier_method
from driftline.stats.multivariate import reconstruction as reconstruction_method

PCA = "pca"
DOMAIN_CLASSIFIER = "classifier"
METHODS = (PCA, DOMAIN_CLASSIFIER)
RESULT_NAMES = {PCA: reconstruction_method.METHOD, DOMAIN_CLASSIFIER: classifier_method.METHOD}
ARTEFACTS = {PCA: RECONSTRUCTION, DOMAIN_CLASSIFIER: CLASSIFIER}
LOG_MESSAGE = "joint drift result"  # the CloudWatch dashboard's Logs Insights widget filters on it


def _number(value: Any, name: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low < float(value) < high:
        raise ConfigurationError(f"multivariate drift: {name} must be a number in ({low}, {high}), got {value!r}")
    return float(value)


def _whole(value: Any, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigurationError(f"multivariate drift: {name} must be a whole number >= {low}, got {value!r}")
    return value


class MultivariateDriftApplication(ModelMonitoringApplicationBase):
    def __init__(
        self,
        methods: Sequence[str] = METHODS,
        false_alarm_rate: float = 0.01,
        pca_effect_threshold: float = reconstruction_method.DEFAULT_EFFECT_THRESHOLD,
        classifier_effect_threshold: float = classifier_method.DEFAULT_AUC_EFFECT,
        classifier_model: str = "hgb",
        max_rows: int = classifier_method.DEFAULT_MAX_ROWS,
        folds: int = classifier_method.DEFAULT_FOLDS,
        max_iter: int = classifier_method.DEFAULT_MAX_ITER,
        top: int = 5,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        if kwargs:
            raise ConfigurationError(
                f"multivariate drift: unknown settings {sorted(kwargs)}; expected methods, false_alarm_rate, "
                "pca_effect_threshold, classifier_effect_threshold, classifier_model, max_rows, folds, max_iter, "
                "top, seed"
            )
        chosen = [methods] if isinstance(methods, str) else list(methods)
        unknown = [m for m in chosen if m not in METHODS]
        if unknown or not chosen:
            raise ConfigurationError(f"multivariate drift: methods {chosen}; expected a non-empty subset of {METHODS}")
        if classifier_model not in classifier_method.MODELS:
            raise ConfigurationError(
                f"multivariate drift: classifier_model {classifier_model!r}; expected one of "
                f"{list(classifier_method.MODELS)}"
            )
        super().__init__(
            methods=chosen,
            false_alarm_rate=false_alarm_rate,
            pca_effect_threshold=pca_effect_threshold,
            classifier_effect_threshold=classifier_effect_threshold,
            classifier_model=classifier_model,
            max_rows=max_rows,
            folds=folds,
            max_iter=max_iter,
            top=top,
            seed=seed,
        )
        self.methods = tuple(dict.fromkeys(chosen))
        self.false_alarm_rate = _number(false_alarm_rate, "false_alarm_rate", 0.0, 1.0)
        self.pca_effect_threshold = _number(pca_effect_threshold, "pca_effect_threshold", 0.0, float("inf"))
        self.classifier_effect_threshold = _number(classifier_effect_threshold, "classifier_effect_threshold", 0, 0.5)
        self.classifier_model = classifier_model
        self.max_rows = _whole(max_rows, "max_rows", classifier_method.MIN_ROWS)
        self.folds = _whole(folds, "folds", 2)
        self.max_iter = _whole(max_iter, "max_iter", 1)
        self.top = _whole(top, "top", 1)
        self.seed = seed

    def _verdict(self, method: str, reference: Any, ctx: MonitoringApplicationContext) -> Any:
        if method == PCA:
            return reconstruction_method.reconstruction_drift(
                reference,
                ctx.sample_df,
                false_alarm_rate=self.false_alarm_rate,
                effect_threshold=self.pca_effect_threshold,
                top=self.top,
            )
        return classifier_method.classifier_drift(
            reference,
            ctx.sample_df,
            model=self.classifier_model,
            max_rows=self.max_rows,
            folds=self.folds,
            max_iter=self.max_iter,
            false_alarm_rate=self.false_alarm_rate,
            effect_threshold=self.classifier_effect_threshold,
            top=self.top,
            seed=self.seed,
        )

    def do_tracking(self, monitoring_context: MonitoringApplicationContext) -> list[AppResult | AppMetric]:
        ctx = monitoring_context
        outputs: list[AppResult | AppMetric] = []
        for method in self.methods:
            kind = ARTEFACTS[method]
            reference = ctx.model_artefact(kind)
            where = {"method": method, "endpoint_id": ctx.endpoint_id, "application_name": ctx.application_name}
            if reference is None:
                ctx.logger.warning(
                    f"multivariate drift: no {kind} reference, {method} skipped",
                    extra={**where, "reason": ctx.model_artefact_note(kind)},
                )
                continue
            try:
                verdict = self._verdict(method, reference, ctx)
            except InvalidRequestError as exc:  # the window cannot be judged (missing features, too few rows)
                ctx.logger.warning(
                    f"multivariate drift: {method} skipped for this window", extra={**where, "reason": str(exc)}
                )
                continue
            result = verdict.result(RESULT_NAMES[method])
            low, high = verdict.band
            result.extra_data.update({"band_lower": low, "band_upper": high, "statistic": result.name})
            outputs.append(result)
            if not getattr(ctx, "offline", False):  # the CloudWatch widgets read this line; offline prints results
                ctx.logger.info(
                    LOG_MESSAGE,
                    extra={
                        **where,
                        "result_name": result.name,
                        "value": result.value,
                        "band_lower": low,
                        "band_upper": high,
                        "status": int(result.status),
                        "rows": verdict.rows,
                    },
                )
        return outputs
