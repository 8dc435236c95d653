"""The seed's user-written example app (``set_model_monitoring_function(func="demo_app.py",
application_class="DemoMonitoringApp")``): how much traffic a window had and how fast the model answered.

A model for your own apps: read ``monitoring_context.sample_df`` (one row per predicted input row; ``latency``
in microseconds, the request's), return metrics and results.
"""

from __future__ import annotations

from typing import Any

from driftline.applications import (
    ModelMonitoringApplicationBase,
    ModelMonitoringApplicationMetric,
    ModelMonitoringApplicationResult,
    MonitoringApplicationContext,
    ResultKindApp,
    ResultStatusApp,
)


class DemoMonitoringApp(ModelMonitoringApplicationBase):
    def __init__(self, latency_threshold_ms: float = 100.0, **kwargs: Any) -> None:
        super().__init__(latency_threshold_ms=latency_threshold_ms, **kwargs)
        self.latency_threshold_ms = float(latency_threshold_ms)

    def do_tracking(self, monitoring_context: MonitoringApplicationContext) -> list[Any]:
        df = monitoring_context.sample_df
        # every row of a request carries that request's latency: count each request once
        latency_ms = df.drop_duplicates("request_id")["latency"] / 1000
        p95 = float(latency_ms.quantile(0.95))
        if p95 >= self.latency_threshold_ms:
            status = ResultStatusApp.detected
        elif p95 >= 0.8 * self.latency_threshold_ms:
            status = ResultStatusApp.potential_detection
        else:
            status = ResultStatusApp.no_detection
        monitoring_context.logger.info("demo app: window analysed", extra={"rows": len(df), "p95_latency_ms": p95})
        return [
            ModelMonitoringApplicationMetric(name="row_count", value=len(df)),
            ModelMonitoringApplicationMetric(name="mean_latency_ms", value=float(latency_ms.mean())),
            ModelMonitoringApplicationResult(
                name="latency_p95",
                value=p95,
                kind=ResultKindApp.system_performance,
                status=status,
                extra_data={"unit": "ms", "threshold_ms": self.latency_threshold_ms, "requests": len(latency_ms)},
            ),
        ]
