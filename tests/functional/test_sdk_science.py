"""The SDK's side of issue 4: reference profiles at log_model, offline evaluation, ground truth."""

from __future__ import annotations

import pickle
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from driftline import clock
from driftline.sdk.project import get_or_create_project
from driftline.sdk.serving import ServingFunction

FEATURES = ["a", "b"]


@pytest.fixture
def training() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame({"a": rng.normal(0, 1, 2000), "b": rng.normal(5, 2, 2000), "label": rng.integers(0, 2, 2000)})


@pytest.fixture
def project(aws, tmp_path, training):
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit(training[FEATURES].to_numpy(), training["label"])
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(model))
    project = get_or_create_project("science", settings=aws)
    project.log_model("clf", model_file=path, training_set=training, label_column="label")
    return project


def test_log_model_stores_the_fine_reference_each_drift_test_needs(project):
    stats = project.get_model("clf").feature_stats
    assert {"reference", "hist", "mean"} <= set(stats["a"])  # MLRun's shape kept, the reference added


def test_evaluate_uses_the_logged_reference_and_separates_shift_from_no_shift(project):
    rng = np.random.default_rng(4)
    same = pd.DataFrame({"a": rng.normal(0, 1, 3000), "b": rng.normal(5, 2, 3000)})
    shifted = same.assign(a=same["a"] + 1.0)
    quiet = project.evaluate("feature_drift", same, model="clf", feature_names=FEATURES).results_frame()
    loud = project.evaluate("feature_drift", shifted, model="clf", feature_names=FEATURES).results_frame()
    status = lambda frame, name: int(frame.loc[frame["result_name"] == name, "result_status"].iloc[0])  # noqa: E731
    assert status(quiet, "a_drift") == 0
    assert status(loud, "a_drift") == 2
    assert status(loud, "b_drift") == 0


def test_log_ground_truth_is_keyed_by_request_id(project, clients):
    from driftline.ground_truth import load

    fn = ServingFunction("serving", project="science", settings=project.settings)
    fn.add_model("clf", model_path="store://models/science/clf:latest")
    project.deploy_function(fn)
    labels = pd.DataFrame({"request_id": ["r1", "r2"], "row_index": [0, 0], "label": [1, 0]})
    assert project.log_ground_truth(labels, "clf") == 2
    endpoint = project.get_model_endpoint("clf")
    got = load(clients, endpoint.endpoint_id, clock.now() - timedelta(minutes=1))
    assert dict(zip(got["request_id"], got["label"], strict=True)) == {"r1": 1, "r2": 0}
