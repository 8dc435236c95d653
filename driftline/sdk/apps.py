"""Monitoring applications: checking a user's file, uploading its source, and the registry records.

``set_model_monitoring_function`` registers an application with ``deployed=False``: monitoring does not start
until the function is deployed (``project.deploy_function(app)``), as in MLRun.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from driftline.applications.loader import BUILTIN_PREFIX, AppRef, load_class, module_from_source, pick_class
from driftline.applications.parameters import check_application_kwargs
from driftline.aws.artifacts import Artifacts, app_source_key
from driftline.aws.clients import Clients
from driftline.errors import InvalidRequestError, NotFoundError
from driftline.observability import get_logger
from driftline.records import AppRecord
from driftline.sdk.names import normalise_app_name

BUILTIN_APP_NAME = "histogram-data-drift"
BUILTIN_APP_CLASS = "HistogramDataDriftApplication"
BUILTIN_APP_SOURCE = {"kind": "builtin", "name": "histogram_data_drift"}


@dataclass
class MonitoringFunction:
    """A monitoring application as the SDK hands it out. ``registered`` is False for the result of
    ``create_model_monitoring_function`` (checked and uploaded, but not part of the project)."""

    record: AppRecord
    registered: bool = True

    kind = "monitoring-application"

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def project(self) -> str:
        return self.record.project

    @property
    def application_class(self) -> str:
        return self.record.application_class

    @property
    def application_kwargs(self) -> dict[str, Any]:
        return dict(self.record.application_kwargs)

    @property
    def source(self) -> dict[str, str]:
        return dict(self.record.source)

    @property
    def deployed(self) -> bool:
        return self.record.deployed

    @property
    def builtin(self) -> bool:
        return self.record.source.get("kind") == "builtin"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "project": self.project,
            "application_class": self.application_class,
            "source": self.source,
            "application_kwargs": self.application_kwargs,
            "requirements": list(self.record.requirements),
            "deployed": self.deployed,
            "registered": self.registered,
            "created": self.record.created,
            "failures": self.record.failures,
            "last_error": self.record.last_error,
            "last_error_at": self.record.last_error_at,
            "last_error_window": dict(self.record.last_error_window),
        }


def builtin_app_record(project: str, created: str) -> AppRecord:
    return AppRecord(
        project=project,
        name=BUILTIN_APP_NAME,
        application_class=BUILTIN_APP_CLASS,
        source=dict(BUILTIN_APP_SOURCE),
        deployed=True,
        created=created,
    )


def load_application_class(path: Path, class_name: str, source: bytes) -> type:
    """``class_name`` from the user's file, through the one loader (:mod:`driftline.applications.loader`) and
    from the very bytes that are uploaded, checked to be a concrete ``ModelMonitoringApplicationBase``."""
    module = module_from_source(source, str(path), class_name)
    return pick_class(module, class_name, str(path))


def check_kwargs(cls: type, kwargs: Mapping[str, Any], label: str = "", *, instantiate: bool = False) -> dict[str, Any]:
    """application_kwargs go to the class constructor: they must be parameters it declares, of their types, and
    survive JSON (:mod:`driftline.applications.parameters`). ``instantiate`` (built-in apps, whose constructors
    are pure) also builds the app, so a value its constructor refuses is refused now rather than in every window."""
    checked = check_application_kwargs(cls, kwargs, label)
    if instantiate:
        try:
            cls(**checked)
        except Exception as exc:
            raise InvalidRequestError(f"{label or cls.__name__}: {cls.__name__}(**{checked}) refused: {exc}") from exc
    return checked


def app_name_for(name: str | None, class_name: str) -> str:
    """The application name: ``name`` or the class name, normalised to the DNS-like pattern (logged when
    normalising changed it, e.g. ``myApp`` -> ``myapp``)."""
    wanted = name if name is not None else class_name
    if not isinstance(wanted, str) or not wanted.strip():
        raise InvalidRequestError(f"application name {wanted!r}: expected a non-empty string")
    normalised = normalise_app_name(wanted)
    if normalised != wanted:
        # said in the log rather than as a Python warning: the seed's own example (name="myApp") normalises
        get_logger("driftline-sdk").warning(
            "application name normalised: names are lowercase letters, digits and '-'",
            extra={"requested_name": wanted, "application_name": normalised},
        )
    return normalised


def _requirements(requirements: Sequence[str] | str | None) -> list[str]:
    reqs = [requirements] if isinstance(requirements, str) else list(requirements or [])
    if not all(isinstance(r, str) and r for r in reqs):
        raise InvalidRequestError(f"requirements: expected a list of package specifiers, got {requirements!r}")
    return reqs


def _checked_name(name: str | None, default: str) -> str:
    app_name = app_name_for(name, default)
    if app_name == BUILTIN_APP_NAME:
        raise InvalidRequestError(
            f"application name {BUILTIN_APP_NAME!r} is reserved for the built-in drift application; choose another"
        )
    return app_name


def _builtin_application(
    project: str,
    func: str,
    application_class: str | None,
    name: str | None,
    application_kwargs: Mapping[str, Any],
    requirements: list[str],
    created: str,
) -> AppRecord:
    """A built-in module (``builtin:<name>``) registered as is: nothing to upload, every install has it. The
    class defaults to the one the module defines, the name to the module's (``feature_drift`` ->
    ``feature-drift``)."""
    ref = AppRef.parse(func if application_class is None else f"{func}:{application_class}")
    cls = load_class(ref)
    return AppRecord(
        project=project,
        name=_checked_name(name, ref.target.replace("_", "-")),
        application_class=cls.__name__,
        source={"kind": "builtin", "name": ref.target},
        application_kwargs=check_kwargs(cls, application_kwargs, f"application {ref.target!r}", instantiate=True),
        requirements=requirements,
        deployed=False,
        created=created,
    )


def prepare_application(
    clients: Clients,
    project: str,
    *,
    func: str | Path | None,
    application_class: str | None,
    name: str | None,
    requirements: Sequence[str] | None,
    application_kwargs: Mapping[str, Any],
    created: str,
) -> AppRecord:
    """Check the file and the class, upload the source (content-addressed), and build the AppRecord. ``func``
    may also name a built-in application (``builtin:feature_drift``): then nothing is uploaded."""
    if func is None:
        raise InvalidRequestError("func: expected the path of the application's .py file")
    reqs = _requirements(requirements)
    if isinstance(func, str) and func.startswith(BUILTIN_PREFIX):
        return _builtin_application(project, func, application_class, name, application_kwargs, reqs, created)
    if not isinstance(application_class, str) or not application_class:
        raise InvalidRequestError("application_class: expected the name of the application class in the file")
    path = Path(func)
    if not path.is_file():
        raise NotFoundError(f"application file {str(path)!r}: no such file")
    if path.suffix != ".py":
        raise InvalidRequestError(f"application file {str(path)!r}: expected a .py file")
    app_name = _checked_name(name, application_class)
    source = path.read_bytes()
    cls = load_application_class(path, application_class, source)
    kwargs = check_kwargs(cls, application_kwargs, f"application {application_class!r} of {path.name}")
    sha256 = hashlib.sha256(source).hexdigest()
    key = app_source_key(project, app_name, sha256)
    Artifacts(clients).put(key, source, "text/x-python")
    return AppRecord(
        project=project,
        name=app_name,
        application_class=application_class,
        source={"kind": "s3", "key": key, "sha256": sha256},
        application_kwargs=kwargs,
        requirements=reqs,
        deployed=False,
        created=created,
    )


def same_deployment(old: AppRecord, new: AppRecord) -> bool:
    """Setting an application again with identical code and arguments keeps it deployed."""
    return (
        old.source == new.source
        and old.application_class == new.application_class
        and old.application_kwargs == new.application_kwargs
        and list(old.requirements) == list(new.requirements)
    )
