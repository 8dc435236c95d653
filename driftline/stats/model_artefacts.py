"""What ``log_model`` fits once so that a window costs one projection: the joint-drift references and the
performance-estimation calibration, as versioned JSON artefacts.

Kinds (each the ``to_dict`` of its library object, see ``docs/multivariate-and-estimation.md``):

* ``reconstruction``: :class:`~driftline.stats.multivariate.ReconstructionReference` (PCA on the training
  features, the held-out error distribution the window is judged against);
* ``classifier``: :class:`~driftline.stats.multivariate.ClassifierReference` (an encoded sample of training rows
  for the domain classifier, sharing the PCA's encoding);
* ``cbpe``: :class:`~driftline.stats.performance_estimation.CBPEReference` (classifiers: calibration of the
  model's ``predict_proba`` on the training rows against their labels);
* ``dle``: :class:`~driftline.stats.performance_estimation.DLEReference` (regressors: loss models of the
  absolute and squared error given the features and the prediction).

Fitting never fails ``log_model``: a kind that cannot be fitted (too few rows, no labels, a model without
``predict_proba``, a model file that does not load) is left out with the reason, which the model record keeps
and the apps repeat. Stored: ``artifacts/{project}/models/{name}/{version}/monitoring/{kind}.json``, referenced
from the model record's ``monitoring_artefacts`` as ``{kind: {"key", "sha256", "bytes"}}`` plus
``{"skipped": {kind: reason}}``.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from driftline.errors import DriftlineError, InvalidRequestError
from driftline.scores import class_of, is_score_column

RECONSTRUCTION = "reconstruction"
CLASSIFIER = "classifier"
CBPE = "cbpe"
DLE = "dle"
KINDS = (RECONSTRUCTION, CLASSIFIER, CBPE, DLE)
SKIPPED = "skipped"
FOLDER = "monitoring"
MAX_CLASSES = 50  # a "classifier" with more classes than this is a regressor in disguise (or not estimable)
CACHE_SIZE = 16


@dataclass
class Fitted:
    """``objects``: kind -> fitted library object; ``skipped``: kind -> why it was not fitted."""

    objects: dict[str, Any] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    def get(self, kind: str) -> Any:
        return self.objects.get(kind)


def _types() -> dict[str, Any]:
    from driftline.stats.multivariate import ClassifierReference, ReconstructionReference
    from driftline.stats.performance_estimation import CBPEReference, DLEReference

    return {
        RECONSTRUCTION: ReconstructionReference,
        CLASSIFIER: ClassifierReference,
        CBPE: CBPEReference,
        DLE: DLEReference,
    }


def to_bytes(obj: Any) -> bytes:
    """An artefact as compact JSON (no NaN: a value JSON cannot hold is a fitting bug, refused here)."""
    return json.dumps(obj.to_dict(), allow_nan=False, separators=(",", ":")).encode()


def from_bytes(kind: str, body: bytes) -> Any:
    if kind not in KINDS:
        raise InvalidRequestError(f"artefact kind {kind!r}; expected one of {list(KINDS)}")
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise InvalidRequestError(f"{kind} artefact: not JSON ({exc})") from exc
    return _types()[kind].from_dict(data)


def artefact_file(kind: str) -> str:
    """The file name under the model version's folder."""
    return f"{FOLDER}/{kind}.json"


def describe(key: str, body: bytes) -> dict[str, Any]:
    return {"key": key, "sha256": hashlib.sha256(body).hexdigest(), "bytes": len(body)}


# ------------------------------------------------------------------------------------------------- fitting


def fit_feature_artefacts(
    features: pd.DataFrame, feature_stats: Mapping[str, Any] | None = None, *, seed: int = 0
) -> Fitted:
    """The PCA reference and the classifier's reference sample (one shared encoding) of the training features."""
    from driftline.stats.multivariate import fit_classifier_reference, fit_reconstruction

    out = Fitted()
    try:
        pca = fit_reconstruction(features, feature_stats=feature_stats, seed=seed)
    except InvalidRequestError as exc:
        out.skipped[RECONSTRUCTION] = str(exc)
        out.skipped[CLASSIFIER] = f"no shared encoding: {exc}"
        return out
    out.objects[RECONSTRUCTION] = pca
    try:
        out.objects[CLASSIFIER] = fit_classifier_reference(features, encoder=pca.encoder, seed=seed + 1)
    except InvalidRequestError as exc:
        out.skipped[CLASSIFIER] = str(exc)
    return out


def model_input(model: Any, features: pd.DataFrame) -> Any:
    """What the model is called with, as serving calls it: a float matrix for an all-numeric model fitted without
    column names, else the DataFrame (in the model's fitted column order when it has one)."""
    fitted = getattr(model, "feature_names_in_", None)
    if fitted is not None:
        return features[[str(n) for n in fitted]]
    if all(pd.api.types.is_numeric_dtype(features[c].dtype) for c in features.columns):
        return features.to_numpy(dtype=np.float64)
    return features


def classifier_scores(model: Any, features: pd.DataFrame) -> tuple[np.ndarray, list[Any], np.ndarray] | str:
    """``(scores n x C, classes, predicted labels)`` of a model with ``predict_proba`` and ``classes_``, or why
    there are none."""
    if not callable(getattr(model, "predict_proba", None)) or getattr(model, "classes_", None) is None:
        return "the model has no predict_proba/classes_ (not a probabilistic classifier)"
    x = model_input(model, features)
    scores = np.asarray(model.predict_proba(x), dtype=np.float64)
    classes = [v.item() if isinstance(v, np.generic) else v for v in np.asarray(model.classes_).tolist()]
    predicted = np.asarray(model.predict(x))
    return scores, classes, predicted


def fit_performance_artefacts(
    features: pd.DataFrame,
    truth: pd.Series,
    *,
    model: Any = None,
    scores: np.ndarray | None = None,
    classes: list[Any] | None = None,
    predictions: Any = None,
    feature_stats: Mapping[str, Any] | None = None,
    seed: int = 0,
) -> Fitted:
    """CBPE (a classifier: ``scores`` and ``classes`` given, or the ``model``'s ``predict_proba``) or DLE (a
    regressor: ``predictions`` given, or the ``model``'s ``predict``) against the training labels ``truth``."""
    from driftline.stats.performance_estimation import fit_cbpe, fit_dle

    out = Fitted()
    if truth.isna().any():
        reason = f"the label column has {int(truth.isna().sum())} missing values; expected a label for every row"
        out.skipped[CBPE] = out.skipped[DLE] = reason
        return out
    if scores is None and model is not None:
        found = classifier_scores(model, features)
        if isinstance(found, str):
            out.skipped[CBPE] = found
        else:
            scores, classes, predictions = found
    if scores is not None:
        if classes is None or len(classes) < 2 or len(classes) > MAX_CLASSES:
            out.skipped[CBPE] = f"expected between 2 and {MAX_CLASSES} classes, got {classes}"
        else:
            try:
                out.objects[CBPE] = fit_cbpe(scores, truth.to_numpy(), predictions, classes=classes, seed=seed)
            except InvalidRequestError as exc:
                out.skipped[CBPE] = str(exc)
        out.skipped[DLE] = "a classifier: its performance is estimated by CBPE"
        return out
    if predictions is None and model is not None and callable(getattr(model, "predict", None)):
        predictions = model.predict(model_input(model, features))
    if predictions is None:
        out.skipped[DLE] = "no model predictions of the training rows"
        return out
    prediction = np.asarray(predictions)
    if not pd.api.types.is_numeric_dtype(truth.dtype) or not np.issubdtype(prediction.dtype, np.number):
        out.skipped[DLE] = "labels or predictions are not numbers (a classifier without predict_proba?)"
        return out
    try:
        out.objects[DLE] = fit_dle(features, prediction, truth.to_numpy(), feature_stats=feature_stats, seed=seed)
    except InvalidRequestError as exc:
        out.skipped[DLE] = str(exc)
    return out


def fit_model_artefacts(
    features: pd.DataFrame,
    feature_stats: Mapping[str, Any] | None,
    truth: pd.Series | None = None,
    model: Any = None,
    *,
    seed: int = 0,
) -> Fitted:
    """Everything ``log_model`` stores for the joint-drift and estimation apps (see the module docstring)."""
    out = fit_feature_artefacts(features, feature_stats, seed=seed)
    if truth is None:
        out.skipped[CBPE] = out.skipped[DLE] = "logged without label_column: no labels to calibrate on"
        return out
    if model is None:
        out.skipped[CBPE] = out.skipped[DLE] = "the model file could not be loaded to score the training set"
        return out
    try:
        performance = fit_performance_artefacts(features, truth, model=model, feature_stats=feature_stats, seed=seed)
    except DriftlineError as exc:
        performance = Fitted(skipped={CBPE: str(exc), DLE: str(exc)})
    except Exception as exc:  # the user's model failed on its own training set: say so, do not fail log_model
        reason = f"the model failed on the training set ({type(exc).__name__}: {exc})"
        performance = Fitted(skipped={CBPE: reason, DLE: reason})
    out.objects.update(performance.objects)
    out.skipped.update(performance.skipped)
    return out


def fit_from_reference_frame(
    reference: pd.DataFrame,
    feature_names: list[str],
    label: str | None,
    *,
    prediction_column: str | None = None,
    seed: int = 0,
) -> Fitted:
    """Offline (``driftline evaluate``): the artefacts from a reference DataFrame holding the features, the true
    label column ``label``, and for CBPE the model's reference scores as score columns (``proba_<class>``,
    :mod:`driftline.scores`), for DLE the model's reference predictions in ``prediction_column``."""
    from driftline.stats.reference import compute_reference_profile

    features = reference[feature_names]
    profile = compute_reference_profile(features)
    out = fit_feature_artefacts(features, profile, seed=seed)
    if label is None or label not in reference.columns:
        out.skipped[CBPE] = out.skipped[DLE] = f"the reference has no label column {label!r}"
        return out
    truth = reference[label]
    score_cols = [c for c in reference.columns if is_score_column(str(c)) and c not in feature_names]
    if score_cols:
        classes = classes_of_columns(score_cols, truth)
        performance = fit_performance_artefacts(
            features, truth, scores=reference[score_cols].to_numpy(dtype=np.float64), classes=classes, seed=seed
        )
    elif prediction_column and prediction_column in reference.columns:
        performance = fit_performance_artefacts(
            features, truth, predictions=reference[prediction_column].to_numpy(), feature_stats=profile, seed=seed
        )
    else:
        reason = (
            "the reference has no score columns (proba_<class>) and no prediction column "
            f"({prediction_column!r}); expected the model's scores or predictions of the reference rows"
        )
        performance = Fitted(skipped={CBPE: reason, DLE: reason})
    out.objects.update(performance.objects)
    out.skipped.update(performance.skipped)
    return out


def classes_of_columns(columns: list[str], truth: pd.Series) -> list[Any]:
    """The classes named by score columns, typed like the labels (``proba_1`` is class ``1`` for numeric labels)."""
    texts = [class_of(str(c)) for c in columns]
    if pd.api.types.is_numeric_dtype(truth.dtype) and not pd.api.types.is_bool_dtype(truth.dtype):
        try:
            numbers = [float(t) for t in texts]
        except ValueError:
            return texts
        return [int(v) if v.is_integer() else v for v in numbers]
    return texts


# ------------------------------------------------------------------------------------------------- loading


_cache: OrderedDict[tuple[str, str, str], Any] = OrderedDict()
_lock = threading.Lock()


def load_cached(kind: str, entry: Mapping[str, Any], read: Callable[[str], bytes]) -> Any:
    """The artefact a model record's entry points at, read once per process (keys are per model version and
    never rewritten; the digest is checked)."""
    key, digest = str(entry["key"]), str(entry.get("sha256", ""))
    ident = (kind, key, digest)
    with _lock:
        if ident in _cache:
            _cache.move_to_end(ident)
            return _cache[ident]
    body = read(key)
    if digest and hashlib.sha256(body).hexdigest() != digest:
        raise InvalidRequestError(f"{kind} artefact {key}: its content does not match the digest in the model record")
    obj = from_bytes(kind, body)
    with _lock:
        _cache[ident] = obj
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return obj
