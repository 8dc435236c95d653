"""What a multivariate method says about one window, shaped as MLRun's application result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from driftline.schemas import AppResult, ResultKind, ResultStatus


@dataclass(frozen=True)
class MultivariateVerdict:
    """``value`` is the judged statistic (mean reconstruction error; cross-validated AUC); ``band`` is where it
    falls with probability ``1 - false_alarm_rate`` when the window is drawn from the reference distribution."""

    method: str
    value: float
    status: ResultStatus
    band: tuple[float, float]
    false_alarm_rate: float
    p_value: float
    effect: float
    effect_threshold: float
    rows: int
    reference_value: float
    contributions: list[dict[str, Any]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    kind: ResultKind = ResultKind.data_drift

    def extra_data(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "threshold": [self.band[0], self.band[1]],
            "false_alarm_rate": self.false_alarm_rate,
            "p_value": self.p_value,
            "effect": self.effect,
            "effect_threshold": self.effect_threshold,
            "reference_value": self.reference_value,
            "n_rows": self.rows,
            "contributions": self.contributions,
            **self.details,
        }

    def result(self, name: str) -> AppResult:
        return AppResult(name=name, value=self.value, kind=self.kind, status=self.status, extra_data=self.extra_data())


def status_for(p_value: float, alpha: float, effect: float, threshold: float) -> ResultStatus:
    """The house rule (:mod:`driftline.stats.drift`): significant and large = detected, significant and small =
    potential_detection; a p-value alone flags everything in a window of 100k rows."""
    if p_value > alpha:
        return ResultStatus.no_detection
    return ResultStatus.detected if abs(effect) >= threshold else ResultStatus.potential_detection
