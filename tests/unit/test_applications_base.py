from __future__ import annotations

import numpy as np
import pytest

from driftline.applications import (
    ModelMonitoringApplicationBase,
    ModelMonitoringApplicationMetric,
    ModelMonitoringApplicationResult,
    ResultKindApp,
    ResultStatusApp,
    normalise_outputs,
)
from driftline.errors import ApplicationError
from driftline.schemas import AppMetric, AppResult, ResultKind, ResultStatus

RESULT = ModelMonitoringApplicationResult(
    name="r", value=0.3, kind=ResultKindApp.data_drift, status=ResultStatusApp.no_detection
)
METRIC = ModelMonitoringApplicationMetric(name="m", value=2)


def test_mlrun_names_are_the_schema_types():
    assert ModelMonitoringApplicationResult is AppResult
    assert ModelMonitoringApplicationMetric is AppMetric
    assert ResultKindApp is ResultKind
    assert ResultStatusApp is ResultStatus
    assert (ResultKindApp.system_performance, ResultStatusApp.irrelevant) == (3, -1)


def test_application_kwargs_reach_the_constructor():
    class App(ModelMonitoringApplicationBase):
        def do_tracking(self, monitoring_context):
            return None

    assert App(threshold=0.3).application_kwargs == {"threshold": 0.3}
    with pytest.raises(TypeError):
        ModelMonitoringApplicationBase()  # abstract: do_tracking is required


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        (None, ([], [])),
        ([], ([], [])),
        (RESULT, ([RESULT], [])),
        (METRIC, ([], [METRIC])),
        ([RESULT, METRIC], ([RESULT], [METRIC])),
        ((METRIC, RESULT), ([RESULT], [METRIC])),
        ({"rows": 3, "mean": np.float32(0.5)}, ([], [AppMetric("rows", 3), AppMetric("mean", 0.5)])),
        # README's first MyApp returned this; MLRun's do_tracking mixes results and metrics alike
        ([RESULT, {"rows": 120}], ([RESULT], [AppMetric("rows", 120)])),
    ],
)
def test_every_allowed_return_value_normalises(output, expected):
    assert normalise_outputs(output, "app") == expected


@pytest.mark.parametrize(
    ("output", "message"),
    [
        (0.5, "do_tracking returned float"),
        ("drift", "do_tracking returned str"),
        ([RESULT, "rows"], "item 1 of the returned list is str 'rows'"),
        ([RESULT, {"m": "x"}], "item 1 of the returned list: metric 'm'.*expected a number"),
        ({"m": float("nan")}, "metric 'm'.*finite"),
        ({"bad name": 1.0}, "metric 'bad name'"),
        ({"m": "high"}, "metric 'm'.*expected a number"),
        ([METRIC, METRIC], "two metrics named 'm'"),
        ([RESULT, RESULT], "two results named 'r'"),
    ],
)
def test_anything_else_is_refused_naming_the_app_and_what_was_expected(output, message):
    with pytest.raises(ApplicationError, match=f"application 'my-app'.*{message}") as info:
        normalise_outputs(output, "my-app")
    assert "expected" in str(info.value)
