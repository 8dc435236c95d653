"""log_model against moto: the joint-drift and estimation artefacts next to the model file, referenced (key and
digest) from the model record, read back by the app function's path (the runner's context)."""

from __future__ import annotations

import hashlib
import pickle

import numpy as np
import pandas as pd
import pytest

from driftline.aws.artifacts import Artifacts
from driftline.errors import InvalidRequestError
from driftline.sdk.project import get_or_create_project
from driftline.stats import model_artefacts

FEATURES = ["a", "b", "c"]


@pytest.fixture
def training() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    z = rng.normal(size=600)
    frame = pd.DataFrame({"a": z, "b": 0.8 * z + 0.6 * rng.normal(size=600), "c": rng.normal(size=600)})
    frame["label"] = (frame["a"] + frame["c"] + rng.normal(size=600) > 0).astype(int)
    return frame


def test_log_model_stores_the_artefacts_beside_the_model_file(aws, clients, tmp_path, training):
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit(training[FEATURES].to_numpy(), training["label"])
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(model))
    project = get_or_create_project("est", settings=aws)
    record = project.log_model("clf", model_file=path, training_set=training, label_column="label")

    entries = record.monitoring_artefacts
    assert {k for k in entries if k != "skipped"} == {"reconstruction", "classifier", "cbpe"}
    assert set(entries["skipped"]) == {"dle"}
    artifacts = Artifacts(clients)
    for kind in ("reconstruction", "classifier", "cbpe"):
        entry = entries[kind]
        assert entry["key"] == f"artifacts/est/models/clf/1/monitoring/{kind}.json"
        body = artifacts.get(entry["key"])
        assert hashlib.sha256(body).hexdigest() == entry["sha256"]
        assert model_artefacts.from_bytes(kind, body) is not None
    cbpe = model_artefacts.from_bytes("cbpe", artifacts.get(entries["cbpe"]["key"]))
    assert cbpe.classes == (0, 1)
    # the accuracy it stores is the model's own on the training rows, from its predict_proba
    expected = float(np.mean(model.predict(training[FEATURES].to_numpy()) == training["label"]))
    assert cbpe.reference_metrics["accuracy"] == pytest.approx(expected)
    # the registry keeps the references, and reads them back as they were
    assert project.get_model("clf").monitoring_artefacts == entries
    # offline against the logged model: the stored artefacts, not a refit (the record holds no training rows)
    rng = np.random.default_rng(1)
    z = rng.normal(size=800)
    flipped = pd.DataFrame({"a": z, "b": -0.8 * z + 0.6 * rng.normal(size=800), "c": rng.normal(size=800)})
    evaluation = project.evaluate("multivariate_drift", flipped, model="clf", application_kwargs={"methods": ["pca"]})
    [result] = evaluation.windows[0].results
    assert (result.name, int(result.status)) == ("pca_reconstruction_error", 2)
    stored = model_artefacts.from_bytes("reconstruction", artifacts.get(entries["reconstruction"]["key"]))
    assert result.extra_data["reference_value"] == pytest.approx(stored.error_mean)


def test_a_model_served_elsewhere_gets_the_feature_artefacts_and_a_file_that_is_no_model_is_refused(
    aws, tmp_path, training
):
    project = get_or_create_project("est", settings=aws)
    # served elsewhere (monitored from ingests): no file to score the training rows with, so no estimation
    record = project.log_model("external", training_set=training, label_column="label")
    assert "reconstruction" in record.monitoring_artefacts
    assert "cbpe" not in record.monitoring_artefacts
    assert "dle" not in record.monitoring_artefacts
    assert record.monitoring_artefacts["skipped"]
    path = tmp_path / "model.bin"
    path.write_bytes(b"not a pickle")
    with pytest.raises(InvalidRequestError, match="could not be loaded"):
        project.log_model("opaque", model_file=path, training_set=training, label_column="label")
    off = project.log_model("off", training_set=training, label_column="label", monitoring_artefacts=False)
    assert off.monitoring_artefacts == {}
