"""SDK log_model against moto: the file in S3, versions and tags, the reference profile of the training set."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from driftline.aws.artifacts import Artifacts, model_key
from driftline.aws.registry import Registry
from driftline.errors import InvalidRequestError, NotFoundError
from driftline.sdk.project import get_or_create_project
from tests.models import model_bytes

FEATURES = ["sepal_length_cm", "sepal_width_cm", "petal_length_cm", "petal_width_cm"]


@pytest.fixture
def iris() -> pd.DataFrame:
    from sklearn.datasets import load_iris

    data = load_iris(as_frame=True)
    frame = data.data.copy()
    frame.columns = FEATURES
    frame["label"] = data.target
    return frame


@pytest.fixture
def model_file(tmp_path, iris):
    from sklearn.tree import DecisionTreeClassifier

    model = DecisionTreeClassifier(max_depth=2, random_state=0).fit(iris[FEATURES].to_numpy(), iris["label"])
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(model))
    return path


@pytest.fixture
def project(aws):
    return get_or_create_project("iris", settings=aws)


def test_log_model_with_training_set_stores_file_profile_and_version(project, clients, iris, model_file):
    record = project.log_model(
        "RandomForestClassifier", model_file=model_file, training_set=iris, label_column="label", framework="sklearn"
    )
    assert (record.version, record.uri) == ("1", "store://models/iris/RandomForestClassifier:1")
    assert record.artifact_key == "artifacts/iris/models/RandomForestClassifier/1/model.pkl"
    assert Artifacts(clients).get(record.artifact_key) == model_file.read_bytes()
    assert (record.feature_names, record.label_names) == (FEATURES, ["label"])
    assert (record.framework, record.training_rows, record.tags) == ("sklearn", 150, ["latest"])

    stats = record.feature_stats
    assert list(stats) == FEATURES  # the label is not a feature
    sepal = stats["sepal_length_cm"]
    assert sepal["count"] == 150
    assert sepal["mean"] == pytest.approx(iris["sepal_length_cm"].mean())
    assert (sepal["min"], sepal["max"]) == (4.3, 7.9)
    counts, edges = sepal["hist"]
    assert (sum(counts), len(counts), len(edges)) == (150, 20, 21)
    assert edges[0] == pytest.approx(4.3)
    assert edges[-1] == pytest.approx(7.9)
    assert list(record.label_stats) == ["label"]

    stored = Registry(clients).get_model("iris", "RandomForestClassifier")
    assert stored.feature_stats == stats  # the profile survives the DynamoDB round trip
    assert project.get_model("RandomForestClassifier").version == "1"


def test_versions_increase_and_latest_moves_but_old_versions_stay(project, iris, model_file):
    first = project.log_model("m", model_file=model_file, training_set=iris, label_column="label")
    model_file.write_bytes(model_file.read_bytes() + b"\n")  # another file (pickle ignores what follows STOP)
    second = project.log_model("m", model_file=model_file, training_set=iris, label_column="label", tag="prod")
    assert (first.version, second.version) == ("1", "2")
    assert second.tags == ["latest", "prod"]
    assert project.get_model("m").version == "2"
    assert project.get_model("m", "prod").version == "2"
    assert project.get_model("m", "1").artifact_key == "artifacts/iris/models/m/1/model.pkl"
    assert [m.version for m in project.list_models()] == ["1", "2"]


def test_a_file_left_at_the_next_version_is_never_overwritten(project, clients, model_file):
    # e.g. a concurrent log_model that uploaded first: the conditional write makes us take the next version
    orphan = model_key("iris", "m", "1", "model.pkl")
    Artifacts(clients).put(orphan, b"someone else's model")
    with pytest.warns(UserWarning, match="without a training set"):
        record = project.log_model("m", model_file=model_file, feature_columns=FEATURES)
    assert record.version == "2"
    assert Artifacts(clients).get(orphan) == b"someone else's model"
    assert Artifacts(clients).get(record.artifact_key) == model_file.read_bytes()


def test_without_training_set_the_model_is_logged_with_a_clear_warning(project, model_file):
    with pytest.warns(UserWarning, match="drift applications will have nothing to compare"):
        record = project.log_model("m", model_file=model_file)
    assert (record.feature_stats, record.feature_names, record.label_names) == ({}, [], ["prediction"])
    assert record.version == "1"


def test_label_column_absent_gives_prediction_label_and_all_columns_as_features(project, iris, model_file):
    record = project.log_model("m", model_file=model_file, training_set=iris[FEATURES])
    assert (record.feature_names, record.label_names, record.label_stats) == (FEATURES, ["prediction"], {})


def test_training_set_from_a_csv_path_and_feature_columns(project, iris, model_file, tmp_path):
    csv = tmp_path / "train.csv"
    iris.to_csv(csv, index=False)
    model_file.write_bytes(model_bytes(iris[[*FEATURES[:2], "label"]], "label"))  # a model of two features
    record = project.log_model(
        "m", model_file=model_file, training_set=str(csv), label_column="label", feature_columns=FEATURES[:2]
    )
    assert record.feature_names == FEATURES[:2]
    assert list(record.feature_stats) == FEATURES[:2]


def test_categorical_feature_gets_frequencies(project, model_file):
    from sklearn.compose import make_column_transformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OrdinalEncoder
    from sklearn.tree import DecisionTreeClassifier

    frame = pd.DataFrame({"colour": ["red", "red", "blue"], "size": [1.0, 2.0, 3.0], "y": [0, 1, 0]})
    encode = make_column_transformer((OrdinalEncoder(), ["colour"]), remainder="passthrough")
    model = make_pipeline(encode, DecisionTreeClassifier()).fit(frame[["colour", "size"]], frame["y"])
    model_file.write_bytes(pickle.dumps(model))
    record = project.log_model("m", model_file=model_file, training_set=frame, label_column="y")
    assert "frequencies" in record.feature_stats["colour"]
    assert "hist" in record.feature_stats["size"]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"label_column": "target"}, InvalidRequestError, r"label_column 'target' is not a column.*sepal_length_cm"),
        ({"label_column": "label", "feature_columns": ["nope"]}, InvalidRequestError, r"\['nope'\] are not columns"),
        ({"label_column": "label", "feature_columns": ["label"]}, InvalidRequestError, "also listed"),
        ({"label_column": "label", "tag": "7"}, InvalidRequestError, "cannot be all digits"),
        ({"label_column": "label", "tag": "a/b"}, InvalidRequestError, "tag 'a/b'"),
    ],
)
def test_bad_arguments_are_refused_before_anything_is_written(project, clients, iris, model_file, kwargs, error, match):
    with pytest.raises(error, match=match):
        project.log_model("m", model_file=model_file, training_set=iris, **kwargs)
    assert project.list_models() == []
    listed = clients.s3.list_objects_v2(Bucket=project.settings.bucket, Prefix="artifacts/")
    assert listed.get("KeyCount", 0) == 0


def test_missing_file_empty_frame_bad_names_and_reserved_columns(project, iris, model_file, tmp_path):
    with pytest.raises(NotFoundError, match="no such file"):
        project.log_model("m", model_file=tmp_path / "missing.pkl", training_set=iris)
    with pytest.raises(InvalidRequestError, match="give the model_file to serve, or, for a model served elsewhere"):
        project.log_model("m")
    with pytest.raises(InvalidRequestError, match="training_set is empty"):
        project.log_model("m", model_file=model_file, training_set=iris.iloc[0:0])
    with pytest.raises(InvalidRequestError, match="expected a pandas DataFrame"):
        project.log_model("m", model_file=model_file, training_set=np.zeros((3, 2)))
    with pytest.raises(InvalidRequestError, match="reserved by the event dataset"):
        project.log_model("m", model_file=model_file, training_set=iris.rename(columns={"sepal_width_cm": "latency"}))
    with pytest.raises(InvalidRequestError, match="model name 'a/b'"):
        project.log_model("a/b", model_file=model_file, training_set=iris)
    with pytest.raises(InvalidRequestError, match="without a training_set"):
        project.log_model("m", model_file=model_file, label_column="label")
    with pytest.raises(InvalidRequestError, match=r"infinite|finite"):
        project.log_model("m", model_file=model_file, training_set=pd.DataFrame({"a": [1.0, np.inf], "y": [0, 1]}))
    assert project.list_models() == []


def test_extra_data_is_stored_next_to_the_model(project, clients, iris, model_file):
    record = project.log_model(
        "m", model_file=model_file, training_set=iris, label_column="label", extra_data={"accuracy": 0.96}
    )
    body = Artifacts(clients).get(model_key("iris", "m", record.version, "extra_data.json"))
    assert b'"accuracy": 0.96' in body
    with pytest.raises(InvalidRequestError, match="JSON-serialisable"):
        project.log_model("m", model_file=model_file, training_set=iris, extra_data={"x": object()})


def test_a_model_served_elsewhere_is_logged_without_a_file_and_cannot_be_served(project, clients, iris):
    record = project.log_model("external", training_set=iris, label_column="label", classes=["a", "b", "c"])
    assert (record.version, record.model_file, record.servable) == ("1", "", False)
    assert record.artifact_key == "artifacts/iris/models/external/1/external-model.json"
    assert (record.feature_names, record.label_names) == (FEATURES, ["label"])
    assert record.score_names == ["proba_a", "proba_b", "proba_c"]
    assert list(record.feature_stats) == FEATURES  # the reference the drift apps compare its rows with
    assert project.get_model("external").score_names == record.score_names
    with pytest.raises(InvalidRequestError, match="distinct class labels"):
        project.log_model("external", training_set=iris, label_column="label", classes=[1, 1.0])


def test_a_classifier_file_records_its_score_columns_in_classes_order(project, model_file, iris):
    record = project.log_model("tree", model_file=model_file, training_set=iris, label_column="label")
    assert record.servable
    assert record.score_names == ["proba_0", "proba_1", "proba_2"]
    unpicklable = model_file.with_name("not-a-model.pkl")
    unpicklable.write_bytes(b"not a pickle")
    with pytest.raises(InvalidRequestError, match="could not be loaded"):
        project.log_model("other", model_file=unpicklable, training_set=iris)
    served_elsewhere = project.log_model("elsewhere", training_set=iris, label_column="label", classes=[0, 1, 2])
    assert served_elsewhere.score_names == ["proba_0", "proba_1", "proba_2"]
