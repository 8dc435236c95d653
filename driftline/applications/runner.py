"""Run any monitoring application on one window: load its record and class, build the context, call
``do_tracking``, normalise what it returned. The app Lambda (``apps/handler.py``) is a thin shell around
:func:`run_application`.
"""

from __future__ import annotations

import hashlib
import sys
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

from driftline.applications.base import ModelMonitoringApplicationBase, normalise_outputs
from driftline.applications.context import MonitoringApplicationContext
from driftline.applications.data import read_window
from driftline.aws.artifacts import Artifacts
from driftline.aws.clients import Clients
from driftline.aws.endpoints import Endpoints
from driftline.aws.registry import Registry, parse_model_uri
from driftline.errors import ApplicationError, InvalidRequestError, NotFoundError
from driftline.observability import get_logger
from driftline.records import AppRecord, EndpointRecord, ModelRecord
from driftline.schemas import NAME_PATTERN, AppOutputs, WindowRequest, parse_time, to_iso

_classes: dict[tuple[str, str], type[ModelMonitoringApplicationBase]] = {}
_lock = threading.Lock()


def _exec_module(module_name: str, code: bytes, filename: str, app_name: str) -> ModuleType:
    module = ModuleType(module_name)
    module.__file__ = filename
    sys.modules[module_name] = module  # dataclasses and pickling look the module up by name
    try:
        exec(compile(code, filename, "exec"), module.__dict__)  # noqa: S102 - running the app's code is the point
    except Exception as exc:
        sys.modules.pop(module_name, None)
        raise ApplicationError(f"application {app_name!r}: its source {filename} failed to load: {exc!r}") from exc
    return module


def _pick_class(module: ModuleType, record: AppRecord, where: str) -> type[ModelMonitoringApplicationBase]:
    cls = getattr(module, record.application_class, None)
    if cls is None:
        base = ModelMonitoringApplicationBase
        found = sorted(
            n for n, v in vars(module).items() if isinstance(v, type) and issubclass(v, base) and v is not base
        )
        raise ApplicationError(
            f"application {record.name!r}: {where} has no class {record.application_class!r}; "
            f"application classes it defines: {found}"
        )
    if not (isinstance(cls, type) and issubclass(cls, ModelMonitoringApplicationBase)):
        raise ApplicationError(
            f"application {record.name!r}: {record.application_class} in {where} must subclass "
            "driftline.applications.ModelMonitoringApplicationBase"
        )
    return cls


def load_application_class(
    record: AppRecord, clients: Clients, builtin_dir: Path
) -> type[ModelMonitoringApplicationBase]:
    """The app's class: ``builtin`` -> ``{builtin_dir}/{name}.py``; ``s3`` -> the uploaded file, verified
    against its sha256. Classes are cached per process (builtin by path, uploaded by sha256)."""
    source = record.source or {}
    kind = source.get("kind")
    if kind == "builtin":
        name = source.get("name")
        if not isinstance(name, str) or not NAME_PATTERN.match(name):
            raise ApplicationError(f"application {record.name!r}: builtin source name {name!r} is not a module name")
        path = Path(builtin_dir) / f"{name}.py"
        key = (f"builtin:{path}", record.application_class)
        if key in _classes:
            return _classes[key]
        if not path.is_file():
            available = sorted(p.stem for p in Path(builtin_dir).glob("*.py") if p.stem != "handler")
            raise ApplicationError(
                f"application {record.name!r}: builtin module {name!r} not found in {builtin_dir}; "
                f"expected one of {available}"
            )
        with _lock:
            if key not in _classes:  # another thread may have loaded it meanwhile
                module = _exec_module(f"driftline_builtin_app_{name}", path.read_bytes(), str(path), record.name)
                _classes[key] = _pick_class(module, record, str(path))
        return _classes[key]
    if kind == "s3":
        object_key, sha = source.get("key"), source.get("sha256")
        if not isinstance(object_key, str) or not isinstance(sha, str) or len(sha) != 64:
            raise ApplicationError(
                f"application {record.name!r}: an s3 source needs 'key' and a 64-hex 'sha256'; got {source}"
            )
        key = (f"s3:{sha.lower()}", record.application_class)
        if key in _classes:
            return _classes[key]
        where = f"s3://{clients.settings.bucket}/{object_key}"
        try:
            body = Artifacts(clients).get(object_key)
        except NotFoundError as exc:
            raise ApplicationError(f"application {record.name!r}: its source {where} does not exist") from exc
        actual = hashlib.sha256(body).hexdigest()
        if actual != sha.lower():
            raise ApplicationError(
                f"application {record.name!r}: sha256 mismatch for {where}: the registry expects {sha}, the object "
                f"has {actual}; re-register the application (set_model_monitoring_function)"
            )
        with _lock:
            if key not in _classes:
                module = _exec_module(f"driftline_user_app_{actual[:16]}", body, where, record.name)
                _classes[key] = _pick_class(module, record, where)
        return _classes[key]
    raise ApplicationError(f"application {record.name!r}: source kind {kind!r}; expected 'builtin' or 's3'")


def instantiate(cls: type[ModelMonitoringApplicationBase], record: AppRecord) -> ModelMonitoringApplicationBase:
    try:
        return cls(**record.application_kwargs)
    except Exception as exc:
        raise ApplicationError(
            f"application {record.name!r}: {cls.__name__}(**{record.application_kwargs}) failed: {exc}; "
            "expected application_kwargs that its constructor accepts"
        ) from exc


def _model_for(endpoint: EndpointRecord, registry: Registry, logger: Any) -> ModelRecord | None:
    """The model version the endpoint serves (its reference profile); None if no longer registered."""
    try:
        project, name, tag = parse_model_uri(endpoint.model_uri)
        return registry.get_model(project, name, endpoint.model_version or tag)
    except NotFoundError as exc:
        logger.warning(
            "model record not found: the application runs without a reference profile",
            extra={"endpoint_id": endpoint.endpoint_id, "model_uri": endpoint.model_uri, "error": str(exc)},
        )
        return None


def run_application(window: WindowRequest, clients: Clients, builtin_dir: Path, logger: Any = None) -> AppOutputs:
    """Everything one app produced for one window. A window without rows gives empty outputs and
    ``do_tracking`` is not called."""
    logger = logger or get_logger()
    registry = Registry(clients)
    record = registry.get_app(window.project, window.application_name)
    endpoint = Endpoints(clients).get(window.endpoint_id)
    if endpoint.project != window.project:
        raise InvalidRequestError(
            f"window request: endpoint {window.endpoint_id!r} belongs to project {endpoint.project!r}, "
            f"not {window.project!r}"
        )
    app = instantiate(load_application_class(record, clients, builtin_dir), record)
    start = parse_time(window.start_infer_time, "start_infer_time")
    end = parse_time(window.end_infer_time, "end_infer_time")
    context = MonitoringApplicationContext(
        application_name=record.name,
        project_name=window.project,
        start_infer_time=start,
        end_infer_time=end,
        model_endpoint=endpoint,
        model=_model_for(endpoint, registry, logger),
        sample_df_loader=lambda: read_window(clients, endpoint.endpoint_id, start, end),
        logger=logger,
        application_kwargs=record.application_kwargs,
    )
    empty = AppOutputs(
        project=window.project,
        endpoint_id=window.endpoint_id,
        application_name=record.name,
        start_infer_time=to_iso(start),
        end_infer_time=to_iso(end),
    )
    if context.sample_df.empty:
        logger.info("window has no rows: nothing to analyse", extra={"rows": 0})
        return empty
    results, metrics = normalise_outputs(app.do_tracking(context), record.name)
    return AppOutputs(
        project=empty.project,
        endpoint_id=empty.endpoint_id,
        application_name=empty.application_name,
        start_infer_time=empty.start_infer_time,
        end_infer_time=empty.end_infer_time,
        results=tuple(results),
        metrics=tuple(metrics),
    )
