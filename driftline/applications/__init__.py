"""Monitoring applications, MLRun's contract under MLRun's names.

A user writes::

    from driftline.applications import (
        ModelMonitoringApplicationBase, ModelMonitoringApplicationResult, ResultKindApp, ResultStatusApp,
    )

    class MyApp(ModelMonitoringApplicationBase):
        def do_tracking(self, monitoring_context):
            return ModelMonitoringApplicationResult(
                name="my_result", value=0.1, kind=ResultKindApp.data_drift, status=ResultStatusApp.no_detection
            )

Importing this package is light (no pandas, no AWS); the runner that loads and runs apps is
``driftline.applications.runner``.
"""

from driftline.applications.base import (
    ModelMonitoringApplicationBase,
    TrackingOutput,
    normalise_outputs,
    result_name_for,
)
from driftline.applications.context import MonitoringApplicationContext
from driftline.schemas import AppMetric, AppResult, ResultKind, ResultStatus

ModelMonitoringApplicationResult = AppResult
ModelMonitoringApplicationMetric = AppMetric
ResultKindApp = ResultKind
ResultStatusApp = ResultStatus

__all__ = [
    "AppMetric",
    "AppResult",
    "ModelMonitoringApplicationBase",
    "ModelMonitoringApplicationMetric",
    "ModelMonitoringApplicationResult",
    "MonitoringApplicationContext",
    "ResultKind",
    "ResultKindApp",
    "ResultStatus",
    "ResultStatusApp",
    "TrackingOutput",
    "normalise_outputs",
    "result_name_for",
]
