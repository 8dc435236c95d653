"""Project.log_inferences refuses what it cannot send, before any request: the model's features missing from the
data, no predictions, naive times, score rows of the wrong length (the accepted path runs on the local stack:
tests/e2e/test_ingest_e2e.py)."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest

from driftline.errors import InvalidRequestError
from driftline.sdk.project import get_or_create_project

FEATURES = ["a", "b"]


@pytest.fixture
def project(aws):
    project = get_or_create_project("elsewhere", settings=aws)
    train = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [3.0, 2.0, 1.0], "label": [0, 1, 0]})
    project.log_model("m", training_set=train, label_column="label", classes=[0, 1])
    return project


@pytest.mark.parametrize(
    ("data", "kwargs", "message"),
    [
        (pd.DataFrame({"a": [1.0]}), {}, "data lacks the model's features ['b']"),
        (pd.DataFrame({"a": [1.0], "b": [2.0]}), {}, "no predictions: pass predictions=... or give data a 'label'"),
        (pd.DataFrame({"a": [1.0], "b": [2.0]}), {"predictions": "p"}, "predictions='p' is not a column of data"),
        (pd.DataFrame({"a": [1.0], "b": [2.0]}), {"predictions": [0, 1]}, "predictions has 2 values for 1 rows"),
        (
            pd.DataFrame({"a": [1.0], "b": [2.0], "label": [0], "timestamp": [datetime(2026, 11, 26, 17)]}),
            {},
            "timestamps must be timezone-aware",
        ),
        (pd.DataFrame({"a": [1.0], "b": [2.0], "label": [0]}), {"scores": [[0.5, 0.5]] * 2}, "scores has 2 rows"),
        (pd.DataFrame({"a": [1.0], "b": [2.0], "label": [0]}), {"scores": ["proba_9"]}, "['proba_9'] are not"),
        ("rows", {}, "data must be a DataFrame, a list of records or a list of rows"),
    ],
)
def test_what_cannot_be_sent_is_refused_before_any_request(project, data, kwargs, message):
    with pytest.raises(InvalidRequestError) as caught:
        project.log_inferences("m", data, **kwargs)
    assert message in str(caught.value)
