"""``log_model``: the model file to S3, its reference profile and version to the registry.

The version is claimed with a conditional S3 write (``If-None-Match: *``) before the record is stored, so two
concurrent ``log_model`` calls for the same model can never overwrite each other's file: the loser moves on to
the next version.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from driftline import clock
from driftline.aws.artifacts import Artifacts, model_key
from driftline.aws.clients import Clients
from driftline.aws.registry import LATEST, Registry
from driftline.errors import ConflictError, InvalidRequestError, NotFoundError
from driftline.records import EXTERNAL_MODEL_FILE, ModelRecord
from driftline.schemas import to_iso
from driftline.sdk.names import RESERVED_COLUMNS, validate_model_name

if TYPE_CHECKING:
    import pandas as pd

    from driftline.stats.model_artefacts import Fitted

logger = logging.getLogger(__name__)

DEFAULT_LABEL = "prediction"
VERSION_ATTEMPTS = 5
TAG_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


def read_training_set(path: str | Path) -> pd.DataFrame:
    """A training set from a CSV or parquet file (the CLI's ``--training-set``)."""
    import pandas as pd

    file = Path(path)
    if not file.is_file():
        raise NotFoundError(f"training set {str(file)!r}: no such file")
    suffix = file.suffix.lower()
    if suffix == ".csv":
        return pd.read_csv(file)
    if suffix in {".parquet", ".pq"}:
        return pd.read_parquet(file)
    raise InvalidRequestError(
        f"training set {str(file)!r}: expected a .csv or .parquet file, got {suffix or 'no suffix'}"
    )


def validate_tag(tag: Any) -> str:
    if not isinstance(tag, str) or not tag or not set(tag) <= TAG_CHARS or len(tag) > 64:
        raise InvalidRequestError(f"tag {tag!r}: expected letters, digits, '_', '.' or '-' (at most 64 characters)")
    if tag.isdigit():
        raise InvalidRequestError(f"tag {tag!r}: a tag cannot be all digits (numbers address versions)")
    return tag


def split_training_set(
    training_set: Any, label_column: str | None, feature_columns: Sequence[str] | None
) -> tuple[pd.DataFrame, pd.DataFrame | None, list[str], list[str]]:
    """Check a training set and split it into (features, label frame or None, feature names, label names)."""
    import pandas as pd

    if isinstance(training_set, str | Path):
        training_set = read_training_set(training_set)
    if not isinstance(training_set, pd.DataFrame):
        raise InvalidRequestError(
            f"training_set: expected a pandas DataFrame or a CSV/parquet path, got {type(training_set).__name__}"
        )
    if training_set.shape[1] == 0 or training_set.shape[0] == 0:
        raise InvalidRequestError(
            f"training_set is empty ({training_set.shape[0]} rows, {training_set.shape[1]} columns): "
            "the reference statistics need at least one row and one feature column"
        )
    frame = training_set.copy(deep=False)
    frame.columns = [str(c) for c in frame.columns]
    duplicated = sorted({c for c in frame.columns if list(frame.columns).count(c) > 1})
    if duplicated:
        raise InvalidRequestError(f"training_set has duplicated column names {duplicated}: column names must be unique")
    columns = list(frame.columns)
    if label_column is not None and label_column not in columns:
        raise InvalidRequestError(
            f"label_column {label_column!r} is not a column of the training set; columns: {columns}"
        )
    if feature_columns is not None:
        feature_names = [str(c) for c in feature_columns]
        missing = [c for c in feature_names if c not in columns]
        if missing:
            raise InvalidRequestError(
                f"feature_columns {missing} are not columns of the training set; columns: {columns}"
            )
        if label_column in feature_names:
            raise InvalidRequestError(f"label_column {label_column!r} is also listed in feature_columns")
    else:
        feature_names = [c for c in columns if c != label_column]
    if not feature_names:
        raise InvalidRequestError(
            f"training_set has no feature columns besides the label {label_column!r}; expected at least one"
        )
    label_names = [label_column] if label_column is not None else [DEFAULT_LABEL]
    check_column_names(feature_names, label_names)
    features = frame[feature_names]
    labels = frame[[label_column]] if label_column is not None else None
    return features, labels, feature_names, label_names


def model_score_names(model: Any, classes: Sequence[Any] | None) -> list[str]:
    """The model's score columns (``proba_<class>``, :mod:`driftline.scores`): from ``classes`` when given (a
    model served elsewhere), else from the loaded model's ``classes_`` when it has ``predict_proba``; none
    otherwise (no model object: a model served elsewhere without ``classes``)."""
    from driftline.scores import score_columns

    if classes is not None:
        if isinstance(classes, str) or not isinstance(classes, Sequence) or not classes:
            raise InvalidRequestError(f"classes: expected a non-empty list of class labels, got {classes!r:.80}")
        names = score_columns(classes)
        if len(set(names)) != len(names):
            raise InvalidRequestError(f"classes: expected distinct class labels, got {classes!r:.80}")
        return names
    found = getattr(model, "classes_", None)
    if found is None or not callable(getattr(model, "predict_proba", None)):
        return []
    return score_columns(list(found))


def check_column_names(feature_names: Sequence[str], label_names: Sequence[str]) -> None:
    """Features and labels become columns of the event dataset: they must not collide with its own columns."""
    clash = sorted((set(feature_names) | set(label_names)) & RESERVED_COLUMNS)
    if clash:
        raise InvalidRequestError(
            f"column names {clash} are reserved by the event dataset ({sorted(RESERVED_COLUMNS)}); "
            "rename them in the training set"
        )
    both = sorted(set(feature_names) & set(label_names))
    if both:
        raise InvalidRequestError(f"{both} is both a feature and a label; expected distinct names")
    if any(not name for name in feature_names):
        raise InvalidRequestError("feature names must not be empty strings")


def fit_artefacts(
    model: Any, features: pd.DataFrame, feature_stats: dict[str, Any], labels: pd.DataFrame | None
) -> Fitted:
    """The joint-drift and performance-estimation artefacts of a training set (see
    :mod:`driftline.stats.model_artefacts`). ``model``, the model file as :func:`check_model` loaded it (None:
    a model served elsewhere, which has no file), scores the training rows when there are labels
    (``predict_proba`` of a classifier, ``predict`` of a regressor)."""
    from driftline.stats.model_artefacts import fit_model_artefacts

    truth = labels.iloc[:, 0] if labels is not None else None
    return fit_model_artefacts(features, feature_stats, truth, model if labels is not None else None)


def store_artefacts(artifacts: Artifacts, project: str, key: str, version: str, fitted: Fitted) -> dict[str, Any]:
    """Each fitted artefact to S3 beside the model file; what the model record keeps of them."""
    from driftline.stats.model_artefacts import SKIPPED, artefact_file, describe, to_bytes

    stored: dict[str, Any] = {}
    for kind, obj in fitted.objects.items():
        body = to_bytes(obj)
        object_key = model_key(project, key, version, artefact_file(kind))
        artifacts.put(object_key, body, "application/json")
        stored[kind] = describe(object_key, body)
    if fitted.skipped:
        stored[SKIPPED] = dict(fitted.skipped)
    return stored


MODEL_CHECK_ROWS = 5  # rows of the training set the logged model must predict


def check_model(body: bytes, path: Path, features: Any, feature_names: Sequence[str]) -> Any:
    """The model file loads as the serving function loads it (joblib, which reads plain pickles too), has a
    ``predict``, and accepts the training set's feature columns as serving hands them over (a few rows are
    predicted); otherwise an :class:`InvalidRequestError` saying what was found and what was expected."""
    import numpy as np
    import pandas as pd

    from driftline.serving.models import load_model_object

    where = f"model_file {str(path)!r}"
    try:
        model = load_model_object(body)
    except Exception as exc:
        raise InvalidRequestError(
            f"{where} could not be loaded ({type(exc).__name__}: {exc}); expected a model saved with "
            "pickle.dump or joblib.dump, which is what the serving function loads"
        ) from exc
    if not callable(getattr(model, "predict", None)):
        raise InvalidRequestError(
            f"{where} holds a {type(model).__name__}, which has no predict(); expected a fitted model"
        )
    fitted_names = getattr(model, "feature_names_in_", None)
    if fitted_names is not None and list(feature_names):
        fitted = [str(n) for n in fitted_names]
        if sorted(fitted) != sorted(feature_names):
            raise InvalidRequestError(
                f"{where}: the model was fitted on columns {fitted} but the training set's features are "
                f"{list(feature_names)}; expected the same columns (give label_column, or feature_columns)"
            )
    fitted_count = getattr(model, "n_features_in_", None)
    if isinstance(fitted_count, int | np.integer) and list(feature_names) and int(fitted_count) != len(feature_names):
        raise InvalidRequestError(
            f"{where}: the model was fitted on {int(fitted_count)} features but the training set has "
            f"{len(feature_names)}: {list(feature_names)}; expected one column per model input"
        )
    if features is None:
        return model
    sample = features.head(MODEL_CHECK_ROWS)
    if fitted_names is not None:
        sample = sample[[str(n) for n in fitted_names]]
    elif all(pd.api.types.is_numeric_dtype(dtype) for dtype in sample.dtypes):
        sample = sample.to_numpy(dtype=np.float64)  # what serving passes an all-numeric model without names
    try:
        model.predict(sample)
    except Exception as exc:
        raise InvalidRequestError(
            f"{where}: the model cannot predict the training set's features {list(feature_names)} "
            f"({type(exc).__name__}: {exc}); expected a model fitted on these columns"
        ) from exc
    return model


def _model_file(
    path: Path | None, features: Any, feature_names: Sequence[str], label_names: Sequence[str]
) -> tuple[bytes, str, Any]:
    """What is stored as the model's file (its bytes and name) and the model loaded from it, once, as serving
    loads it: checked before any artefact is fitted (a file that is no model fits nothing). A model served
    elsewhere stores its columns as ``external-model.json`` and has no model object."""
    if path is None:
        body = json.dumps({"kind": "external", "feature_names": feature_names, "label_names": label_names}).encode()
        return body, EXTERNAL_MODEL_FILE, None
    body = path.read_bytes()
    return body, path.name, check_model(body, path, features, feature_names)


def log_model(
    clients: Clients,
    project: str,
    key: str,
    *,
    model_file: str | Path | None,
    training_set: Any = None,
    label_column: str | None = None,
    framework: str = "",
    tag: str = LATEST,
    feature_columns: Sequence[str] | None = None,
    extra_data: Mapping[str, Any] | None = None,
    monitoring_artefacts: bool = True,
    classes: Sequence[Any] | None = None,
) -> ModelRecord:
    validate_model_name(key)
    tags = (LATEST,) if validate_tag(tag) == LATEST else (LATEST, tag)
    path: Path | None = None
    if model_file is None:
        # a model served elsewhere, monitored from its ingested rows: its columns must be known
        if training_set is None and not feature_columns:
            raise InvalidRequestError(
                f"log_model({key!r}): give the model_file to serve, or, for a model served elsewhere (monitored "
                "from ingested rows), a training_set (or feature_columns) that names its features"
            )
    else:
        path = Path(model_file)
        if not path.is_file():
            raise NotFoundError(f"model_file {str(path)!r}: no such file")
    score_names = model_score_names(None, classes)  # the classes checked before anything is read
    if label_column is not None and not isinstance(label_column, str):
        raise InvalidRequestError(f"label_column: expected a column name, got {type(label_column).__name__}")
    extra_body = None
    if extra_data:
        try:
            extra_body = json.dumps(dict(extra_data), allow_nan=False, indent=2).encode()
        except (TypeError, ValueError) as exc:
            raise InvalidRequestError(f"extra_data must be a JSON-serialisable mapping ({exc})") from exc

    feature_stats: dict[str, Any] = {}
    label_stats: dict[str, Any] = {}
    training_rows = 0
    fitted = None
    features = labels = None
    if training_set is not None:
        # MLRun's feature_stats plus, per feature, the fine reference the drift tests need (issue 4): computed
        # once here so a window only bins its own rows
        from driftline.stats.reference import compute_reference_profile

        features, labels, feature_names, label_names = split_training_set(training_set, label_column, feature_columns)
        feature_stats = compute_reference_profile(features)
        label_stats = compute_reference_profile(labels) if labels is not None else {}
        training_rows = len(features)
    else:
        if label_column is not None:
            raise InvalidRequestError(f"label_column {label_column!r} was given without a training_set")
        feature_names = [str(c) for c in feature_columns or []]
        label_names = [DEFAULT_LABEL]
        check_column_names(feature_names, label_names)
        warnings.warn(
            f"model {key!r} is logged without a training set: it has no reference statistics (feature_stats), "
            "so drift applications will have nothing to compare its traffic against. "
            "Pass training_set=<DataFrame> (and label_column=...) to log_model to enable drift detection.",
            UserWarning,
            stacklevel=3,
        )

    body, file_name, model = _model_file(path, features, feature_names, label_names)
    if model is not None and classes is None:
        score_names = model_score_names(model, None)
    if features is not None and monitoring_artefacts:
        fitted = fit_artefacts(model, features, feature_stats, labels)
    registry = Registry(clients)
    artifacts = Artifacts(clients)
    tried = 0
    for _ in range(VERSION_ATTEMPTS):
        # an orphaned file (an upload whose registration failed) holds its version: step past it
        tried = max(int(registry.next_model_version(project, key)), tried + 1)
        version = str(tried)
        artifact_key = model_key(project, key, version, file_name)
        try:
            artifacts.put_new(artifact_key, body)
        except ConflictError:
            continue  # another log_model claimed this version (or left a file behind): take the next one
        if extra_body is not None:
            artifacts.put(model_key(project, key, version, "extra_data.json"), extra_body, "application/json")
        stored = store_artefacts(artifacts, project, key, version, fitted) if fitted is not None else {}
        record = ModelRecord(
            project=project,
            name=key,
            version=version,
            uri=f"store://models/{project}/{key}:{version}",
            artifact_key=artifact_key,
            framework=framework or "",
            model_file=path.name if path is not None else "",
            feature_names=list(feature_names),
            label_names=list(label_names),
            feature_stats=feature_stats,
            label_stats=label_stats,
            training_rows=training_rows,
            tags=list(tags),
            created=to_iso(clock.now()),
            monitoring_artefacts=stored,
            score_names=score_names,
        )
        try:
            registry.put_model(record, tags=tags)
        except ConflictError:
            continue
        return record
    raise ConflictError(
        f"could not claim a new version of model {key!r} after {VERSION_ATTEMPTS} attempts "
        "(many concurrent log_model calls?); try again"
    )
