"""Which models a serving function serves, and the models themselves, loaded once per container.

The function's spec (``Registry.get_function``) and each route's resolved model version are cached for a
short TTL on :mod:`driftline.clock`, so a redeploy (a new route, tracking switched, ``latest`` moved) is
picked up within ``ttl_seconds`` without a cold start, and the hot path makes no registry call. Model objects
are cached by their artifact (one per resolved version), so re-resolving the same version never reloads it.
If the registry cannot be reached when an entry expires, the cached entry is served a while longer (logged):
a registry hiccup must not take serving down.
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import numpy as np

from driftline import clock
from driftline.aws.registry import parse_model_uri
from driftline.config import ServingIdentity
from driftline.errors import (
    DriftlineError,
    InvalidRequestError,
    NotFoundError,
    ServiceUnavailableError,
    StorageError,
)
from driftline.observability import get_logger
from driftline.records import FunctionSpec, ModelRecord, ModelRoute
from driftline.schemas import endpoint_id_for
from driftline.serving.protocol import Signature, datatype_of

logger = get_logger("serving")

DEFAULT_TTL_SECONDS = 30.0
MAX_LOADED_MODELS = 8
DEFAULT_LABEL = "prediction"  # the event's label column when a model was logged without label names
_STRING_KINDS = frozenset({"string", "str", "object", "category", "categorical", "bytes"})

if TYPE_CHECKING:
    from driftline.ingest import IngestTarget

T = TypeVar("T")


class ModelLoadError(ServiceUnavailableError):
    """A routed model cannot be loaded (missing artifact, not unpicklable, foreign bucket). HTTP 503."""


class RegistryReader(Protocol):
    def get_function(self, project: str, name: str) -> FunctionSpec: ...
    def get_model(self, project: str, name: str, tag: str = ...) -> ModelRecord: ...
    def get_model_by_uri(self, uri: str) -> ModelRecord: ...
    def list_models(self, project: str) -> list[ModelRecord]: ...


class ArtifactReader(Protocol):
    bucket: str

    def get(self, key: str) -> bytes: ...


@dataclass(frozen=True)
class ServedModel:
    """One model as a route serves it: the loaded object and what the protocol and tracking need."""

    name: str  # the routed name (the endpoint's name)
    version: str
    uri: str  # the resolved model URI (store://models/p/m:3) or the s3:// path
    framework: str
    model: Any
    signature: Signature
    endpoint_id: str
    project: str  # the model's project (the function's own, or another one it serves from)

    @property
    def event_label_names(self) -> list[str]:
        return list(self.signature.label_names) or [DEFAULT_LABEL]

    def model_input(self, rows: list[list[Any]]) -> Any:
        """A float matrix for an all-numeric model; a DataFrame when the model was fitted with column names or
        takes strings (scikit-learn warns, or fails, otherwise)."""
        fitted_names = getattr(self.model, "feature_names_in_", None)
        if self.signature.all_numeric and fitted_names is None:
            return np.asarray(rows, dtype=np.float64)
        import pandas as pd  # only for such models: pandas costs ~0.5 s of cold start

        names = fitted_names if fitted_names is not None else self.signature.feature_names
        return pd.DataFrame(rows, columns=[str(n) for n in names])

    def predict(self, rows: list[list[Any]]) -> Any:
        return self.model.predict(self.model_input(rows))

    @property
    def score_names(self) -> list[str] | None:
        """The columns of the model's class scores (``proba_<class>`` in ``classes_`` order), or ``None`` when it
        gives none (no ``predict_proba`` or no ``classes_``)."""
        return _score_names(self.model)

    def scores(self, rows: list[list[Any]]) -> list[list[float | None]]:
        """``predict_proba`` of ``rows`` as JSON values (a non-finite probability becomes null)."""
        if not rows:
            return []
        array = np.asarray(self.model.predict_proba(self.model_input(rows)), dtype=np.float64)
        if array.ndim != 2 or array.shape[0] != len(rows):
            raise ValueError(f"predict_proba returned shape {list(array.shape)} for {len(rows)} rows")
        if not np.isfinite(array).all():
            cells = array.astype(object)
            cells[~np.isfinite(array)] = None
            return cells.tolist()
        return array.tolist()

    def output_datatype(self) -> str:
        classes = getattr(self.model, "classes_", None)
        return datatype_of(np.asarray(classes)) if classes is not None else "FP64"


def _score_names(model: Any) -> list[str] | None:
    classes = getattr(model, "classes_", None)
    if classes is None or not callable(getattr(model, "predict_proba", None)):
        return None
    from driftline.scores import score_columns

    try:
        names = score_columns(list(np.asarray(classes).ravel()))
    except (TypeError, ValueError):
        return None
    return names or None


def is_string_feature(stats: Any) -> bool:
    """A feature is a string (BYTES) feature when its reference statistics say so: an explicit type, or the
    shape pandas ``describe()`` gives text columns (``unique``/``top`` and no ``mean``). Default: numeric."""
    if not isinstance(stats, dict):
        return False
    kind = stats.get("type", stats.get("dtype"))
    if isinstance(kind, str):
        return kind.lower() in _STRING_KINDS
    return "mean" not in stats and ("top" in stats or "unique" in stats)


def signature_for(record: ModelRecord | None, model: Any, where: str) -> Signature:
    names = list(record.feature_names) if record is not None else []
    fitted = getattr(model, "n_features_in_", None)
    if not names:
        fitted_names = getattr(model, "feature_names_in_", None)
        if fitted_names is not None:
            names = [str(n) for n in fitted_names]
        elif isinstance(fitted, int | np.integer):
            names = [f"feature_{i}" for i in range(int(fitted))]
        else:
            raise ModelLoadError(
                f"{where}: the model's features are unknown; log it with feature names (or a training set)"
            )
    if isinstance(fitted, int | np.integer) and int(fitted) != len(names):
        raise ModelLoadError(
            f"{where}: the model record lists {len(names)} features but the model was fitted on {int(fitted)}"
        )
    stats = record.feature_stats if record is not None else {}
    strings = frozenset(i for i, n in enumerate(names) if is_string_feature(stats.get(n)))
    labels = tuple(record.label_names) if record is not None else ()
    return Signature(feature_names=tuple(names), label_names=labels, string_features=strings)


def load_model_object(data: bytes) -> Any:
    """Unpickle a model file with joblib (which reads plain pickles too).

    Security: unpickling runs code. Only files from this installation's own bucket are loaded (the artifact
    keys come from its registry, and an s3:// route must name the same bucket), and writing there takes the
    same trust as deploying code.
    """
    import joblib  # ships with scikit-learn; imported here so the module loads without it

    return joblib.load(io.BytesIO(data))


@dataclass
class _Entry:
    value: Any
    expires: datetime


class ModelStore:
    def __init__(
        self,
        identity: ServingIdentity,
        registry: RegistryReader,
        artifacts: ArtifactReader,
        *,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        now: Callable[[], datetime] = clock.now,
        loader: Callable[[bytes], Any] = load_model_object,
        max_loaded: int = MAX_LOADED_MODELS,
    ) -> None:
        self.project = identity.project
        self.function_name = identity.serving_function
        self._registry = registry
        self._artifacts = artifacts
        self._ttl = timedelta(seconds=ttl_seconds)
        self._now = now
        self._loader = loader
        self._max_loaded = max_loaded
        self._lock = threading.RLock()
        self._spec: _Entry | None = None
        self._served: dict[Hashable, _Entry] = {}
        self._objects: OrderedDict[tuple[str, str], Any] = OrderedDict()

    # ------------------------------------------------------------------------------------------------ spec

    def spec(self) -> FunctionSpec:
        return self._spec_at(self._now())

    def _spec_at(self, now: datetime) -> FunctionSpec:
        entry = self._spec
        if entry is not None and now < entry.expires:
            return entry.value
        with self._lock:
            entry = self._refresh(
                self._spec,
                lambda: self._registry.get_function(self.project, self.function_name),
                f"serving function {self.function_name!r}",
            )
            self._spec = entry
            return entry.value

    def route(self, name: str) -> ModelRoute:
        return self._route(self.spec(), name)

    def _route(self, spec: FunctionSpec, name: str) -> ModelRoute:
        route = spec.models.get(name)
        if route is None:
            served = ", ".join(sorted(spec.models)) or "none"
            raise NotFoundError(
                f"model {name!r} is not served by function {self.function_name!r} of project {self.project!r}; "
                f"served models: {served}"
            )
        return route

    def ingest_target(self, name: str, version: str | None = None) -> IngestTarget:
        """Where rows ingested for ``name`` go: the model this function routes under that name, else the model
        logged under that name in the function's project (which need not have a model file: a model served
        elsewhere). ``version`` picks a logged version (default: the route's, else ``latest``). The endpoint is
        this function's ``name``, as when it serves it. Reads the registry (not the hot path)."""
        from driftline.ingest import IngestTarget

        try:
            route: ModelRoute | None = self._route(self.spec(), name)
        except NotFoundError:
            route = None  # not routed here, or the function is not deployed: a model known by its record
        if route is not None and route.model_path.startswith("s3://"):
            raise InvalidRequestError(
                f"model {name!r} is served from {route.model_path}, which has no record of its features; "
                "ingest rows for a logged model (log_model) instead"
            )
        if route is not None and version is None:
            record = self._registry.get_model_by_uri(route.model_path)
        else:
            project, model_name = self.project, name
            if route is not None:
                project, model_name, _ = parse_model_uri(route.model_path)
            try:
                record = self._registry.get_model(project, model_name, version or "latest")
            except NotFoundError as exc:
                raise NotFoundError(
                    f"{exc}; ingest needs the model logged in project {project!r} with its features: "
                    f"log_model({model_name!r}, training_set=...) (a model file is optional)"
                ) from None
        if not record.feature_names:
            raise InvalidRequestError(
                f"model {name!r} version {record.version} was logged without feature names; log it with a "
                "training_set (or feature_columns) so ingested rows can be checked and stored"
            )
        return IngestTarget(
            project=self.project,
            function_name=self.function_name,
            model_name=name,
            model_version=record.version,
            endpoint_id=endpoint_id_for(self.project, self.function_name, name),
            feature_names=tuple(record.feature_names),
            label_names=tuple(record.label_names) or (DEFAULT_LABEL,),
            score_names=tuple(record.score_names),
        )

    def model_names(self) -> list[str]:
        return sorted(self.spec().models)

    # ------------------------------------------------------------------------------------------------ models

    def get(self, name: str, version: str | None = None) -> ServedModel:
        """The model routed as ``name`` (its current version, or ``version`` of the same model)."""
        return self.serve(name, version)[1]

    def serve(self, name: str, version: str | None = None) -> tuple[FunctionSpec, ServedModel]:
        """The function's spec and the model routed as ``name``, both checked against one reading of the clock
        (the hot path reads it once instead of three times)."""
        now = self._now()
        spec = self._spec_at(now)
        route = self._route(spec, name)
        key = (name, route.model_path, version)
        entry = self._served.get(key)
        if entry is not None and now < entry.expires:
            return spec, entry.value
        with self._lock:
            what = f"model {name!r}" + (f" version {version}" if version else "")
            entry = self._refresh(self._served.get(key), lambda: self._resolve(name, route, version), what)
            self._served[key] = entry
            return spec, entry.value

    def versions(self, name: str) -> list[str]:
        """Every logged version of the model routed as ``name`` (metadata; not on the hot path)."""
        route = self.route(name)
        if not route.model_path.startswith("store://"):
            return [self.get(name).version]
        project, model_name, _ = parse_model_uri(route.model_path)
        versions = {r.version for r in self._registry.list_models(project) if r.name == model_name}
        return sorted(versions, key=lambda v: (len(v), v))

    def _resolve(self, name: str, route: ModelRoute, version: str | None) -> ServedModel:
        path = route.model_path
        if path.startswith("s3://"):
            if version is not None:
                raise NotFoundError(f"model {name!r} is served from {path} and has no versions to choose from")
            bucket, _, key = path[len("s3://") :].partition("/")
            if bucket != self._artifacts.bucket or not key:
                raise ModelLoadError(
                    f"model {name!r}: {path} is not in this installation's bucket {self._artifacts.bucket!r}; "
                    "only models from that bucket are loaded"
                )
            model = self._load(key, f"model {name!r} ({path})")
            signature = signature_for(None, model, f"model {name!r}")
            return self._served_model(name, "", path, "", model, signature, self.project)
        if version is None:
            record = self._registry.get_model_by_uri(path)
        else:
            project, model_name, _ = parse_model_uri(path)
            record = self._registry.get_model(project, model_name, version)
        where = f"model {name!r} version {record.version}"
        if not record.servable:
            raise ModelLoadError(
                f"{where} was logged without a model file (a model served elsewhere): it cannot be served here; "
                f"send its predictions to POST /v2/models/{name}/events (Project.log_inferences) to monitor it"
            )
        model = self._load(record.artifact_key, f"{where} (s3://{self._artifacts.bucket}/{record.artifact_key})")
        signature = signature_for(record, model, where)
        return self._served_model(name, record.version, record.uri, record.framework, model, signature, record.project)

    def _served_model(
        self, name: str, version: str, uri: str, framework: str, model: Any, signature: Signature, project: str
    ) -> ServedModel:
        platform = framework or type(model).__module__.split(".")[0]
        return ServedModel(
            name=name,
            version=version,
            uri=uri,
            framework=platform,
            model=model,
            signature=signature,
            endpoint_id=endpoint_id_for(self.project, self.function_name, name),
            project=project,
        )

    def _load(self, key: str, where: str) -> Any:
        cache_key = (self._artifacts.bucket, key)
        cached = self._objects.get(cache_key)
        if cached is not None:
            self._objects.move_to_end(cache_key)
            return cached
        try:
            data = self._artifacts.get(key)
        except NotFoundError as exc:
            raise ModelLoadError(f"{where} cannot be loaded: {exc}") from exc
        try:
            model = self._loader(data)
        except Exception as exc:
            raise ModelLoadError(f"{where} cannot be loaded: {type(exc).__name__}: {exc}") from exc
        if not callable(getattr(model, "predict", None)):
            raise ModelLoadError(f"{where}: the loaded {type(model).__name__} has no predict() method")
        logger.info("model loaded", extra={"model_key": key, "model_class": type(model).__name__})
        self._objects[cache_key] = model
        while len(self._objects) > self._max_loaded:
            self._objects.popitem(last=False)
        return model

    # ------------------------------------------------------------------------------------------------ cache

    def _refresh(self, stale: _Entry | None, fetch: Callable[[], T], what: str) -> _Entry:
        now = self._now()
        if stale is not None and now < stale.expires:  # another thread refreshed it meanwhile
            return stale
        try:
            return _Entry(value=fetch(), expires=now + self._ttl)
        except StorageError as exc:  # the registry could not be read: a hiccup, not an answer
            failure: Exception = exc
        except DriftlineError:
            raise  # a definite answer (not deployed, unknown version, unloadable): never serve stale over it
        except Exception as exc:
            failure = exc
        # what failed underneath the adapter's StorageError (a throttle, a timeout), as the log should name it
        cause = failure.__cause__ if isinstance(failure, StorageError) and failure.__cause__ else failure
        if stale is None:
            raise ServiceUnavailableError(f"{what}: the registry cannot be read ({type(cause).__name__})") from failure
        logger.warning(
            "registry unreachable; serving the cached entry",
            extra={"entry": what, "error": f"{type(cause).__name__}: {failure}"},
        )
        return _Entry(value=stale.value, expires=now + self._ttl)
