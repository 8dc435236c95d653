"""MLRun's project API on driftline's resources: ``get_or_create_project(name)`` and the ``Project`` methods
users know from MLRun (``log_model``, ``enable_model_monitoring``, ``set_model_monitoring_function``,
``deploy_function``, ``list_model_endpoints``...).

A Project holds the installation's :class:`~driftline.config.Settings` (from
:func:`driftline.sdk.discovery.resolve_settings`) with the project's monitoring credentials applied on top.
Every method reads the registry afresh, so two SDK sessions on the same project see each other's changes.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

from driftline import clock
from driftline.aws.clients import Clients
from driftline.aws.endpoints import Endpoints
from driftline.aws.registry import LATEST, Registry
from driftline.aws.schedules import Schedules
from driftline.config import DEFAULT_BASE_PERIOD_MINUTES, Settings, Source, validate_base_period
from driftline.errors import ConfigurationError, ConflictError, InvalidRequestError, NotFoundError
from driftline.layout import TABLES
from driftline.records import EndpointRecord, FunctionSpec, ModelRecord, ModelRoute, ProjectConfig
from driftline.schemas import endpoint_id_for, parse_time, to_iso
from driftline.sdk.apps import (
    BUILTIN_APP_NAME,
    MonitoringFunction,
    builtin_app_record,
    prepare_application,
    same_deployment,
)
from driftline.sdk.discovery import resolve_settings
from driftline.sdk.endpoints import ONE_HOUR, ModelEndpoint, model_endpoint
from driftline.sdk.names import validate_project_name
from driftline.sdk.serving import ServingFunction

if TYPE_CHECKING:
    import pandas as pd

    from driftline.alerting import AlertConfig

PRODUCTION_BASE_PERIOD_MINUTES = DEFAULT_BASE_PERIOD_MINUTES
# Settings keys a project may point elsewhere with set_model_monitoring_credentials: its data's resources (the
# registry is not one: it is where the project's configuration lives).
CREDENTIAL_FIELDS = (
    "stream_name",
    "bucket",
    *(table.settings_key for role, table in TABLES.items() if role != "registry"),
    "timestream_enabled",
    "timestream_database",
    "event_bus_name",
    "alerts_topic_arn",
)


def _now_iso() -> str:
    return to_iso(clock.now())


def apply_credentials(settings: Settings, credentials: Mapping[str, str], project: str = "") -> Settings:
    """The installation's settings with a project's stored credentials (strings, as in the environment) on top."""
    known = {k: v for k, v in credentials.items() if k in CREDENTIAL_FIELDS}
    if not known:
        return settings
    return settings.with_values(known, Source(f"model monitoring credentials of project {project!r}: {{key}}"))


def get_or_create_project(name: str, settings: Settings | None = None) -> Project:
    """The project ``name``, created (monitoring off, base period 10 minutes) if it does not exist yet."""
    validate_project_name(name)
    resolved = resolve_settings(settings)
    clients = Clients(resolved)
    registry = Registry(clients)
    config = registry.get_project(name)
    if config is None:
        config = ProjectConfig(name=name, created=_now_iso())
        registry.put_project(config)
    return Project(config, resolved, clients)


def get_project(name: str, settings: Settings | None = None) -> Project:
    """The existing project ``name``; NotFoundError if it was never created."""
    validate_project_name(name)
    resolved = resolve_settings(settings)
    clients = Clients(resolved)
    config = Registry(clients).get_project(name)
    if config is None:
        raise NotFoundError(f"project {name!r} does not exist; create it with get_or_create_project({name!r})")
    return Project(config, resolved, clients)


def list_projects(settings: Settings | None = None) -> list[ProjectConfig]:
    resolved = resolve_settings(settings)
    return sorted(Registry(Clients(resolved)).list_projects(), key=lambda c: c.name)


class Project:
    """One project: its models, serving functions, monitoring applications, endpoints and results."""

    def __init__(self, config: ProjectConfig, settings: Settings, clients: Clients | None = None) -> None:
        self.name = config.name
        self._base_settings = settings
        self._base_clients = clients or Clients(settings)
        self._config = config
        self._apply(config)

    def __repr__(self) -> str:
        return f"Project(name={self.name!r})"

    def _apply(self, config: ProjectConfig) -> None:
        self._config = config
        settings = apply_credentials(self._base_settings, config.credentials, config.name)
        if settings != getattr(self, "_settings", None):
            self._settings = settings
            self._clients = self._base_clients if settings == self._base_settings else Clients(settings)

    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def clients(self) -> Clients:
        return self._clients

    @property
    def registry(self) -> Registry:
        return Registry(self._base_clients)

    @property
    def config(self) -> ProjectConfig:
        """The project's configuration as stored now."""
        return self._load_config()

    def _load_config(self) -> ProjectConfig:
        config = self.registry.get_project(self.name)
        if config is None:
            raise NotFoundError(f"project {self.name!r} no longer exists in the registry")
        self._apply(config)
        return config

    def _save_config(self, config: ProjectConfig) -> None:
        self.registry.put_project(config)
        self._apply(config)

    # -------------------------------------------------------------------------------------------- models

    def log_model(
        self,
        key: str,
        model_file: str | Path | None = None,
        training_set: Any = None,
        label_column: str | None = None,
        framework: str = "",
        tag: str = LATEST,
        feature_columns: Sequence[str] | None = None,
        extra_data: Mapping[str, Any] | None = None,
        monitoring_artefacts: bool = True,
        classes: Sequence[Any] | None = None,
    ) -> ModelRecord:
        """Upload ``model_file`` as the next version of model ``key`` and store its reference profile.

        With a ``training_set`` (DataFrame, or a CSV/parquet path) the features are its columns minus
        ``label_column`` (or ``feature_columns``) and ``feature_stats`` is their profile (MLRun's shape: what the
        drift applications compare traffic against). Without one the model is logged with a warning: drift
        applications will have nothing to compare against. ``latest`` (and ``tag``) move to the new version;
        its URI is ``store://models/{project}/{key}:{version}``.

        With a training set, ``monitoring_artefacts`` (default on) also fits what the joint-drift and
        performance-estimation apps need, stored beside the model file (``record.monitoring_artefacts``): the PCA
        reference and the domain classifier's sample of the features; with ``label_column``, the model is loaded
        and scores the training rows: CBPE's calibration (classifiers, ``predict_proba``) or DLE's loss models
        (regressors). What could not be fitted is listed with why under ``monitoring_artefacts["skipped"]``.

        Without ``model_file`` (then a ``training_set`` or ``feature_columns`` is needed) the model is one served
        elsewhere: it is monitored from the rows sent with :meth:`log_inferences` and cannot be served here.
        Its class-score columns (``proba_<class>``, :mod:`driftline.scores`) are recorded in ``score_names``: from
        ``classes`` when given, else from the model file's ``classes_`` when it has ``predict_proba``.
        """
        from driftline.sdk.models import log_model

        return log_model(
            self._clients,
            self.name,
            key,
            model_file=model_file,
            training_set=training_set,
            label_column=label_column,
            framework=framework,
            tag=tag,
            feature_columns=feature_columns,
            extra_data=extra_data,
            monitoring_artefacts=monitoring_artefacts,
            classes=classes,
        )

    def log_inferences(
        self,
        model_name: str,
        data: Any,
        predictions: Any = None,
        *,
        timestamps: Any = None,
        request_ids: Any = None,
        scores: Any = None,
        classes: Sequence[Any] | None = None,
        model_version: str | int | None = None,
        function: str = "serving",
    ) -> dict[str, Any]:
        """Monitor rows a model served elsewhere (SageMaker, ECS, a batch job) already scored: they go through the
        serving function's ingest route (``POST /v2/models/{name}/events``) onto the stream as the same inference
        events, so the controller and the apps monitor them unchanged. See
        :func:`driftline.sdk.ingest.log_inferences` for the forms of each argument."""
        from driftline.sdk.ingest import log_inferences

        return log_inferences(
            self,
            model_name,
            data,
            predictions,
            timestamps=timestamps,
            request_ids=request_ids,
            scores=scores,
            classes=classes,
            model_version=model_version,
            function=function,
        )

    def get_model(self, key: str, tag: str = LATEST) -> ModelRecord:
        return self.registry.get_model(self.name, key, tag)

    def list_models(self, name: str | None = None) -> list[ModelRecord]:
        models = self.registry.list_models(self.name)
        if name is not None:
            models = [m for m in models if m.name == name]
        return sorted(models, key=lambda m: (m.name, int(m.version)))

    # -------------------------------------------------------------------------------------------- monitoring

    def enable_model_monitoring(
        self,
        base_period: int = DEFAULT_BASE_PERIOD_MINUTES,
        deploy_histogram_data_drift_app: bool = True,
        wait_for_deployment: bool = False,
    ) -> ProjectConfig:
        """Start monitoring: the controller runs every ``base_period`` minutes (its schedule is enabled) and,
        unless told otherwise, the built-in histogram drift application is registered and deployed.

        To change ``base_period`` while enabled: ``disable_model_monitoring()`` then enable again, or
        ``update_model_monitoring_controller(base_period=...)``. ``wait_for_deployment`` is accepted for MLRun
        compatibility: nothing needs building, so everything is ready when this returns.
        """
        base_period = validate_base_period(base_period)
        config = self._load_config()
        if config.monitoring_enabled and config.base_period_minutes != base_period:
            raise ConfigurationError(
                f"model monitoring is already enabled for project {self.name!r} with base_period="
                f"{config.base_period_minutes}; to change it to {base_period}, call disable_model_monitoring() "
                "first and then enable_model_monitoring(base_period=...) again "
                "(or use update_model_monitoring_controller(base_period=...))"
            )
        self._warn_short_period(base_period)
        if deploy_histogram_data_drift_app:
            self._ensure_builtin_app()
        Schedules(self._base_clients).put(self.name, base_period, enabled=True)
        config = dataclasses.replace(config, monitoring_enabled=True, base_period_minutes=base_period)
        self._save_config(config)
        return config

    def update_model_monitoring_controller(
        self, base_period: int = DEFAULT_BASE_PERIOD_MINUTES, wait_for_deployment: bool = False
    ) -> ProjectConfig:
        """Change the controller's period in place (MLRun 1.12); monitoring must be enabled."""
        base_period = validate_base_period(base_period)
        config = self._load_config()
        if not config.monitoring_enabled:
            raise ConfigurationError(
                f"model monitoring is not enabled for project {self.name!r}; "
                f"call enable_model_monitoring(base_period={base_period}) instead"
            )
        self._warn_short_period(base_period)
        Schedules(self._base_clients).put(self.name, base_period, enabled=True)
        config = dataclasses.replace(config, base_period_minutes=base_period)
        self._save_config(config)
        return config

    def disable_model_monitoring(
        self,
        *,
        delete_resources: bool = True,
        delete_stream_function: bool = False,
        delete_histogram_data_drift_app: bool = True,
        delete_user_applications: bool = False,
        user_application_list: Sequence[str] | None = None,
    ) -> list[str]:
        """Stop monitoring: the controller's schedule is disabled (kept, with its history) and the project
        marked off. With ``delete_resources`` the built-in drift app (``delete_histogram_data_drift_app``) and
        user applications (``delete_user_applications``: all, or those in ``user_application_list``) are
        removed. The stream and the data already collected are never deleted. Returns the removed apps."""
        config = self._load_config()
        if delete_stream_function:
            warnings.warn(
                "delete_stream_function=True is ignored: the stream is shared by the installation and deleting "
                "it would lose the events still in it; it is kept",
                UserWarning,
                stacklevel=2,
            )
        if user_application_list is not None and not delete_user_applications:
            warnings.warn(
                "user_application_list is only used with delete_user_applications=True; no application was removed",
                UserWarning,
                stacklevel=2,
            )
        registry = self.registry
        to_delete: list[str] = []
        if delete_resources:
            apps = {a.name: a for a in registry.list_apps(self.name)}
            if delete_histogram_data_drift_app and BUILTIN_APP_NAME in apps:
                to_delete.append(BUILTIN_APP_NAME)
            if delete_user_applications:
                # a built-in module registered under another name is the user's application too
                user_apps = sorted(n for n in apps if n != BUILTIN_APP_NAME)
                if user_application_list is not None:
                    wanted = (
                        [user_application_list] if isinstance(user_application_list, str) else user_application_list
                    )
                    unknown = sorted(set(wanted) - set(user_apps))
                    if unknown:
                        raise NotFoundError(
                            f"user_application_list names {unknown}, which are not user applications of project "
                            f"{self.name!r}; its user applications: {user_apps}"
                        )
                    user_apps = sorted(set(wanted))
                to_delete.extend(user_apps)
        Schedules(self._base_clients).set_state(self.name, enabled=False)
        self._save_config(dataclasses.replace(config, monitoring_enabled=False))
        for name in to_delete:
            registry.delete_app(self.name, name)
        return to_delete

    def monitoring_status(self) -> dict[str, Any]:
        """What is running: project config, the controller's schedule, applications and endpoints."""
        config = self._load_config()
        schedule = Schedules(self._base_clients).get(self.name)
        return {
            "project": self.name,
            "monitoring_enabled": config.monitoring_enabled,
            "base_period_minutes": config.base_period_minutes,
            "schedule": None
            if schedule is None
            else {
                "name": schedule.name,
                "state": "ENABLED" if schedule.enabled else "DISABLED",
                "rate_minutes": schedule.base_period_minutes,
            },
            "applications": [
                {
                    "name": f.name,
                    "class": f.application_class,
                    "deployed": f.deployed,
                    "failures": f.record.failures,
                    "last_error": f.record.last_error,
                    "last_error_at": f.record.last_error_at or None,
                    "last_error_window": dict(f.record.last_error_window),
                }
                for f in self.list_model_monitoring_functions()
            ],
            "endpoints": len(Endpoints(self._clients).list(self.name)),
            "credentials": dict(config.credentials),
        }

    def set_model_monitoring_credentials(
        self,
        *,
        stream_name: str | None = None,
        bucket: str | None = None,
        timestream_database: str | None = None,
        timestream_enabled: bool | None = None,
        endpoints_table: str | None = None,
        results_table: str | None = None,
        checkpoints_table: str | None = None,
        event_bus_name: str | None = None,
        alerts_topic_arn: str | None = None,
        replace_creds: bool = False,
    ) -> dict[str, str]:
        """MLRun's call naming which stream, bucket, tables and time-series database monitoring uses, reshaped
        to what one driftline installation can honour: the values are *checked* against the installation's
        resources and recorded, never applied on their own.

        Every function of an installation (serving, stream, controller, apps, writer) reads and writes that
        installation's resources only: its event source mapping reads one stream, and its IAM role names one
        bucket, one set of tables, one Timestream database, one bus and topic. A project pointed elsewhere
        would be served and monitored from resources the functions cannot reach (serving answered 503 after
        ``bucket="iris-private"``). So a value that names the installation's own resource is accepted (MLRun
        scripts that pass it keep working) and a different one is refused with
        :class:`~driftline.errors.ConfigurationError` naming the installation's resource and the way to get
        separate ones: a separate stack (``npx cdk deploy -c stack_name=<name>``), whose functions and IAM
        cover its own resources; its SDK settings come with ``DRIFTLINE_STACK_NAME=<name>``. Changing a value
        already recorded needs ``replace_creds=True``. Returns the recorded values."""
        given: dict[str, Any] = {
            "stream_name": stream_name,
            "bucket": bucket,
            "timestream_database": timestream_database,
            "timestream_enabled": timestream_enabled,
            "endpoints_table": endpoints_table,
            "results_table": results_table,
            "checkpoints_table": checkpoints_table,
            "event_bus_name": event_bus_name,
            "alerts_topic_arn": alerts_topic_arn,
        }
        given = {k: v for k, v in given.items() if v is not None}
        if not given:
            raise ConfigurationError(
                f"set_model_monitoring_credentials: pass at least one of {list(CREDENTIAL_FIELDS)}"
            )
        stored: dict[str, str] = {}
        for key, value in given.items():
            if key == "timestream_enabled":
                if not isinstance(value, bool):
                    raise InvalidRequestError(f"timestream_enabled: expected True or False, got {value!r}")
                stored[key] = "true" if value else "false"
            else:
                if not isinstance(value, str) or not value.strip():
                    raise InvalidRequestError(f"{key}: expected a non-empty resource name, got {value!r}")
                stored[key] = value.strip()
        self._check_installation_resources(stored)
        config = self._load_config()
        changed = sorted(k for k, v in stored.items() if k in config.credentials and config.credentials[k] != v)
        if changed and not replace_creds:
            raise ConflictError(
                f"model monitoring credentials {changed} are already set for project {self.name!r}; pass "
                "replace_creds=True to change them (then redeploy the serving functions and applications)"
            )
        config = dataclasses.replace(config, credentials={**config.credentials, **stored})
        self._save_config(config)
        return dict(config.credentials)

    def _check_installation_resources(self, given: Mapping[str, str]) -> None:
        """Refuse a resource the installation's functions do not use (see set_model_monitoring_credentials)."""
        installation = self._base_settings
        own = installation.to_document()
        different = {}
        for key, value in given.items():
            current = own.get(key)
            if key == "timestream_enabled":
                current = "true" if installation.timestream_enabled else "false"
            if current is None or str(current) != value:
                different[key] = (value, current)
        if different:
            listed = "; ".join(f"{k}={v!r} (the installation's: {c!r})" for k, (v, c) in sorted(different.items()))
            raise ConfigurationError(
                f"set_model_monitoring_credentials: project {self.name!r} cannot use other resources than the "
                f"installation's: {listed}. Its functions (serving, stream, controller, apps, writer) read and "
                "write the installation's resources only, which their IAM roles are scoped to. For separate "
                "resources deploy a separate stack (`npx cdk deploy -c stack_name=<name>`) and point the SDK at it "
                "with DRIFTLINE_STACK_NAME=<name>"
            )

    @staticmethod
    def _warn_short_period(base_period: int) -> None:
        if base_period < PRODUCTION_BASE_PERIOD_MINUTES:
            warnings.warn(
                f"base_period={base_period} minutes is under {PRODUCTION_BASE_PERIOD_MINUTES}: fine for demos "
                "and tests, not for production (every window then holds only a few minutes of traffic)",
                UserWarning,
                stacklevel=3,
            )

    def _ensure_builtin_app(self) -> None:
        registry = self.registry
        try:
            current = registry.get_app(self.name, BUILTIN_APP_NAME)
        except NotFoundError:
            current = None
        wanted = builtin_app_record(self.name, current.created if current else _now_iso())
        if current is None or current.without_failures() != wanted:
            registry.put_app(wanted)

    # -------------------------------------------------------------------------------------------- applications

    def set_model_monitoring_function(
        self,
        func: str | Path | None = None,
        application_class: str | None = None,
        name: str | None = None,
        requirements: Sequence[str] | None = None,
        **application_kwargs: Any,
    ) -> MonitoringFunction:
        """Register a monitoring application: ``func`` is a .py file defining ``application_class`` (a subclass
        of ``ModelMonitoringApplicationBase``); ``application_kwargs`` go to its constructor. The name defaults
        to the class name, normalised to lowercase letters, digits and '-' (``myApp`` -> ``myapp``).
        Monitoring does not start until the function is deployed: ``project.deploy_function(app)``."""
        record = self.create_model_monitoring_function(
            func, application_class, name, requirements, **application_kwargs
        ).record
        registry = self.registry
        try:
            current = registry.get_app(self.name, record.name)
        except NotFoundError:
            current = None
        if current is not None:
            if current.name == BUILTIN_APP_NAME:
                raise ConflictError(f"application {record.name!r} is the built-in one; choose another name")
            record = dataclasses.replace(
                record,
                created=current.created or record.created,
                deployed=current.deployed and same_deployment(current, record),
            )
        registry.put_app(record)
        return MonitoringFunction(record, registered=True)

    def create_model_monitoring_function(
        self,
        func: str | Path | None = None,
        application_class: str | None = None,
        name: str | None = None,
        requirements: Sequence[str] | None = None,
        **application_kwargs: Any,
    ) -> MonitoringFunction:
        """The same checks and upload as ``set_model_monitoring_function``, without registering the
        application in the project (for troubleshooting)."""
        record = prepare_application(
            self._clients,
            self.name,
            func=func,
            application_class=application_class,
            name=name,
            requirements=requirements,
            application_kwargs=application_kwargs,
            created=_now_iso(),
        )
        return MonitoringFunction(record, registered=False)

    def list_model_monitoring_functions(self, name: str | None = None) -> list[MonitoringFunction]:
        apps = sorted(self.registry.list_apps(self.name), key=lambda a: a.name)
        if name is not None:
            apps = [a for a in apps if a.name == name]
        return [MonitoringFunction(a) for a in apps]

    def remove_model_monitoring_function(self, name: str | Sequence[str]) -> list[str]:
        """Remove applications from the project (their uploaded sources stay in S3). Every name must exist;
        nothing is removed otherwise. Returns the removed names."""
        names = [name] if isinstance(name, str) else list(name)
        if not names:
            raise InvalidRequestError("remove_model_monitoring_function: expected at least one application name")
        registry = self.registry
        known = {a.name for a in registry.list_apps(self.name)}
        unknown = sorted(set(names) - known)
        if unknown:
            raise NotFoundError(
                f"monitoring applications {unknown} are not registered in project {self.name!r}; "
                f"registered: {sorted(known)}"
            )
        for app_name in dict.fromkeys(names):
            registry.delete_app(self.name, app_name)
        return list(dict.fromkeys(names))

    def delete_model_monitoring_function(self, name: str | Sequence[str]) -> list[str]:
        """MLRun 1.12's name for :meth:`remove_model_monitoring_function` (a name or a list)."""
        return self.remove_model_monitoring_function(name)

    # -------------------------------------------------------------------------------------------- functions

    @overload
    def deploy_function(self, function: ServingFunction) -> ServingFunction: ...

    @overload
    def deploy_function(self, function: MonitoringFunction) -> MonitoringFunction: ...

    @overload
    def deploy_function(self, function: str) -> ServingFunction | MonitoringFunction: ...

    def deploy_function(
        self, function: ServingFunction | MonitoringFunction | str
    ) -> ServingFunction | MonitoringFunction:
        """Deploy a serving function (its spec and one endpoint per model, every model path resolved first) or a
        registered monitoring application (monitoring starts running it)."""
        if isinstance(function, str):
            function = self.get_function(function)
        if isinstance(function, MonitoringFunction):
            return self._deploy_application(function)
        if isinstance(function, ServingFunction):
            return self._deploy_serving(function)
        raise InvalidRequestError(
            f"deploy_function: expected a ServingFunction, a MonitoringFunction or a function name, "
            f"got {type(function).__name__}"
        )

    def _deploy_application(self, app: MonitoringFunction) -> MonitoringFunction:
        if app.project != self.name:
            raise InvalidRequestError(f"application {app.name!r} belongs to project {app.project!r}, not {self.name!r}")
        registry = self.registry
        try:
            current = registry.get_app(self.name, app.name)
        except NotFoundError as exc:
            raise NotFoundError(
                f"application {app.name!r} is not registered in project {self.name!r} "
                "(create_model_monitoring_function does not register); call set_model_monitoring_function first"
            ) from exc
        if current.source != app.record.source and app.registered:
            raise ConflictError(
                f"application {app.name!r} was set again with other code since this object was made; "
                f"deploy the current one: project.deploy_function({app.name!r})"
            )
        deployed = dataclasses.replace(current, deployed=True)
        registry.put_app(deployed)
        return MonitoringFunction(deployed)

    def _deploy_serving(self, fn: ServingFunction) -> ServingFunction:
        if not fn.models:
            raise ConfigurationError(
                f"serving function {fn.name!r} routes no model: call add_model(...) before deploy_function"
            )
        registry = self.registry
        resolved: dict[str, ModelRecord] = {}
        for key, route in sorted(fn.models.items()):
            try:
                resolved[key] = registry.get_model_by_uri(route.model_path)
            except NotFoundError as exc:
                raise NotFoundError(
                    f"serving function {fn.name!r}, model {key!r}: {exc}; log the model first "
                    "(project.log_model) or fix its model_path. Nothing was deployed"
                ) from exc
        deployed_at = _now_iso()
        endpoints = Endpoints(self._clients)
        for key, model in resolved.items():
            endpoints.put_identity(
                EndpointRecord(
                    endpoint_id=endpoint_id_for(self.name, fn.name, key),
                    project=self.name,
                    name=key,
                    function_name=fn.name,
                    model_uri=model.uri,
                    model_version=model.version,
                    feature_names=list(model.feature_names),
                    label_names=list(model.label_names),
                    monitoring=fn.tracking,
                    created=deployed_at,
                )
            )
        # models the function no longer routes: keep their history, stop monitoring them
        for stale in endpoints.list(self.name):
            if stale.function_name == fn.name and stale.name not in resolved and stale.monitoring:
                endpoints.put_identity(dataclasses.replace(stale, monitoring=False))
        # each route is pinned to the version it resolved to, so what is served is what the endpoint describes
        spec = FunctionSpec(
            project=self.name,
            name=fn.name,
            models={k: ModelRoute(name=k, model_path=m.uri) for k, m in resolved.items()},
            tracking=fn.tracking,
            sampling_percentage=fn.sampling_percentage,
            deployed=deployed_at,
        )
        registry.put_function(spec)
        fn.project = self.name
        fn._settings = self._settings
        fn._models = dict(spec.models)
        fn.deployed = deployed_at
        return fn

    def get_function(self, name: str) -> ServingFunction | MonitoringFunction:
        """A deployed serving function (ready to ``invoke``) or a registered monitoring application."""
        registry = self.registry
        try:
            return ServingFunction.from_spec(registry.get_function(self.name, name), self._settings)
        except NotFoundError:
            pass
        try:
            return MonitoringFunction(registry.get_app(self.name, name))
        except NotFoundError:
            raise NotFoundError(
                f"project {self.name!r} has no function {name!r}: serving functions exist once deployed "
                "(deploy_function), monitoring applications once set (set_model_monitoring_function)"
            ) from None

    # -------------------------------------------------------------------------------------------- endpoints

    def _endpoint_record(self, endpoint: str | ModelEndpoint | EndpointRecord) -> EndpointRecord:
        if isinstance(endpoint, ModelEndpoint | EndpointRecord):
            endpoint = endpoint.endpoint_id
        if not isinstance(endpoint, str) or not endpoint:
            raise InvalidRequestError(f"endpoint: expected a model endpoint name or id, got {endpoint!r}")
        endpoints = Endpoints(self._clients)
        try:
            record = endpoints.get(endpoint)
        except NotFoundError:
            record = None
        if record is not None and record.project == self.name:
            return record
        records = endpoints.list(self.name)
        function_name, _, model_name = endpoint.rpartition("/")
        matches = [
            r for r in records if r.name == model_name and (not function_name or r.function_name == function_name)
        ]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            known = sorted(f"{r.function_name}/{r.name}" for r in records)
            raise NotFoundError(
                f"project {self.name!r} has no model endpoint {endpoint!r} (by name or id); "
                f"endpoints: {known or 'none'}"
            )
        choices = sorted(f"{r.function_name}/{r.name} ({r.endpoint_id})" for r in matches)
        raise InvalidRequestError(
            f"model endpoint name {endpoint!r} matches {len(matches)} endpoints: {choices}; "
            "pass '<function>/<model>' or the endpoint id"
        )

    def _with_figures(self, record: EndpointRecord, now: datetime) -> ModelEndpoint:
        buckets = Endpoints(self._clients).minute_buckets(record.endpoint_id, now - ONE_HOUR, now)
        return model_endpoint(record, buckets, now)

    def list_model_endpoints(
        self, name: str | None = None, function_name: str | None = None, with_figures: bool = True
    ) -> list[ModelEndpoint]:
        """The project's model endpoints (by model name, then function) with their live figures
        (``with_figures=False`` skips the per-minute figures: one query less per endpoint)."""
        now = clock.now()
        records = sorted(
            (
                r
                for r in Endpoints(self._clients).list(self.name)
                if (name is None or r.name == name) and (function_name is None or r.function_name == function_name)
            ),
            key=lambda r: (r.name, r.function_name),
        )
        if with_figures:
            return [self._with_figures(r, now) for r in records]
        return [model_endpoint(r, (), now) for r in records]

    def get_model_endpoint(self, name_or_id: str) -> ModelEndpoint:
        """One endpoint by id, model name, or ``function/model`` when a name is served by several functions."""
        return self._with_figures(self._endpoint_record(name_or_id), clock.now())

    # -------------------------------------------------------------------------------------------- results

    @staticmethod
    def _time_arg(value: Any, name: str) -> datetime | None:
        return None if value is None else parse_time(value, name)

    def _time_range(self, start: Any, end: Any) -> tuple[datetime | None, datetime | None]:
        since, until = self._time_arg(start, "start"), self._time_arg(end, "end")
        if since is not None and until is not None and since > until:
            raise InvalidRequestError(
                f"time range: start {to_iso(since)} is after end {to_iso(until)}; expected start <= end"
            )
        return since, until

    def require_application(self, name: str) -> None:
        """NotFoundError naming the project's applications unless ``name`` is one of them."""
        known = sorted(f.name for f in self.list_model_monitoring_functions())
        if name not in known:
            raise NotFoundError(
                f"project {self.name!r} has no monitoring application {name!r}; applications: {known or 'none'}"
            )

    def log_ground_truth(
        self,
        df: pd.DataFrame,
        endpoint: str | ModelEndpoint,
        *,
        label_columns: Sequence[str] | None = None,
    ) -> int:
        """Store true labels that arrived after the predictions, keyed by the ``request_id`` the serving
        function returned (and ``row_index`` for multi-row requests); the model-performance app joins them
        to its windows. Returns the number of label rows stored."""
        from driftline.ground_truth import ingest

        record = self._endpoint_record(endpoint)
        return ingest(self._clients, self.name, record.endpoint_id, df, label_columns=label_columns)

    def evaluate(self, app: Any, sample: Any, reference: Any = None, *, model: str | None = None, **kwargs: Any) -> Any:
        """Run a monitoring application offline on a DataFrame or parquet (no stack needed). Without an explicit
        ``reference``, the named logged ``model``'s reference statistics are used, and the artefacts log_model
        stored for it (joint drift, performance estimation) are read from the project's bucket."""
        from driftline.applications.evaluate import evaluate

        if reference is None and model is not None:
            reference = self.get_model(model)
            from driftline.aws.artifacts import Artifacts

            kwargs.setdefault("artefact_reader", Artifacts(self._clients).get)
        return evaluate(app, sample, reference, **kwargs)

    def get_results(
        self,
        endpoint: str | ModelEndpoint,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        application_name: str | None = None,
    ) -> pd.DataFrame:
        """The endpoint's application results, one row per window and result, with MLRun's columns
        (``endpoint_id, application_name, result_name, result_value, result_kind, result_status,
        result_extra_data, start_infer_time, end_infer_time``), ordered by window start."""
        from driftline.aws.results import Results
        from driftline.sdk.results import RESULT_COLUMNS, frame

        since, until = self._time_range(start, end)
        record = self._endpoint_record(endpoint)
        rows = Results(self._clients).query_results(
            record.endpoint_id, start=since, end=until, application_name=application_name
        )
        if not rows and application_name is not None:
            self.require_application(application_name)  # "no results" only for an app that exists
        return frame(rows, RESULT_COLUMNS)

    def get_metrics(
        self,
        endpoint: str | ModelEndpoint,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        application_name: str | None = None,
    ) -> pd.DataFrame:
        """The endpoint's application metrics (``metric_name, metric_value`` instead of the result columns)."""
        from driftline.aws.results import Results
        from driftline.sdk.results import METRIC_COLUMNS, frame

        since, until = self._time_range(start, end)
        record = self._endpoint_record(endpoint)
        rows = Results(self._clients).query_metrics(
            record.endpoint_id, start=since, end=until, application_name=application_name
        )
        if not rows and application_name is not None:
            self.require_application(application_name)  # "no results" only for an app that exists
        return frame(rows, METRIC_COLUMNS)

    def report(
        self,
        path: str | Path = "report.html",
        *,
        model: str | None = None,
        endpoint: str | ModelEndpoint | None = None,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
    ) -> Path:
        """Write an offline HTML report of one model endpoint (``endpoint`` by name or id, else the one serving
        ``model``) over ``[start, end)`` (default: from its first request to now): traffic, every application's
        results and metrics over time, and for each drifted feature the window's distribution against the
        reference. Returns the file's path. See :mod:`driftline.report`."""
        from driftline.report import endpoint_report

        if isinstance(endpoint, ModelEndpoint):
            endpoint = endpoint.endpoint_id
        return endpoint_report(self, path, model=model, endpoint=endpoint, start=start, end=end)

    def get_latest_results(self, endpoint: str | ModelEndpoint) -> pd.DataFrame:
        """The newest window's value of every result of the endpoint (the drift status MLRun's overview shows)."""
        from driftline.aws.results import Results
        from driftline.sdk.results import RESULT_COLUMNS, frame

        record = self._endpoint_record(endpoint)
        rows = Results(self._clients).latest_results(record.endpoint_id)
        return frame([r for r in rows if "result_name" in r], RESULT_COLUMNS)

    # -------------------------------------------------------------------------------------------- alerts

    def set_alert(
        self,
        name: str,
        *,
        endpoints: Sequence[str | ModelEndpoint] | None = None,
        applications: Sequence[str] | str | None = None,
        results: Sequence[str] | str | None = None,
        statuses: Sequence[str | int] | str = ("detected",),
        count: int = 1,
        windows: int | None = None,
        reset_policy: str = "auto",
        cooldown_minutes: int = 0,
        targets: Sequence[Any] | str | None = None,
        description: str = "",
    ) -> AlertConfig:
        """Store an alert configuration (MLRun's ``store_alert_config``; replaces one of the same name).

        It governs the results it selects (``endpoints``: model names or endpoint ids; ``applications`` and
        ``results``: names or ``fnmatch`` patterns; none = all) and fires for a window whose status is one of
        ``statuses`` when at least ``count`` of the last ``windows`` windows (default ``count``) had one, then
        follows ``reset_policy`` (``auto``: once per episode; ``manual``: once until :meth:`reset_alert`;
        ``always``: every such window) and ``cooldown_minutes``. ``targets``: ``"sns"``, ``"eventbridge"``,
        ``"eventbridge:default"``, an ``https://`` URL or ``{"kind": "webhook", "url": ..., "secret_parameter":
        "/driftline/<stack>/webhooks/<name>"}`` (default: the stack's bus and topic; ``[]`` silences). The name
        ``default`` configures what no other configuration selects."""
        from driftline.alerting import DEFAULT_TARGETS, AlertConfig

        config = AlertConfig(
            name=name,
            project=self.name,
            endpoints=tuple(self._endpoint_record(e).endpoint_id for e in (endpoints or ())),
            applications=applications or (),  # type: ignore[arg-type]
            results=results or (),  # type: ignore[arg-type]
            statuses=statuses,  # type: ignore[arg-type]
            count=count,
            windows=count if windows is None else windows,
            reset_policy=reset_policy,
            cooldown_minutes=cooldown_minutes,
            targets=DEFAULT_TARGETS if targets is None else targets,  # type: ignore[arg-type]
            description=description,
            updated=_now_iso(),
        )
        if config.applications:
            known = {f.name for f in self.list_model_monitoring_functions()}
            missing = [p for p in config.applications if not any(ch in p for ch in "*?[") and p not in known]
            if missing:
                raise NotFoundError(
                    f"alert {name!r}: no monitoring application {missing} in project {self.name!r}; "
                    f"applications: {sorted(known) or 'none'}"
                )
        self.registry.put_alert(config.to_dict())
        return config

    def store_alert_config(self, config: AlertConfig) -> AlertConfig:
        """MLRun's name: store an :class:`~driftline.alerting.AlertConfig` made by hand (its project is this one)."""
        from driftline.alerting import AlertConfig

        stored = AlertConfig.from_dict(config.to_dict() | {"project": self.name, "updated": _now_iso()})
        self.registry.put_alert(stored.to_dict())
        return stored

    def get_alert(self, name: str) -> AlertConfig:
        from driftline.alerting import AlertConfig

        item = self.registry.get_alert(self.name, name)
        if item is None:
            known = [a.name for a in self.list_alerts()]
            raise NotFoundError(f"project {self.name!r} has no alert {name!r}; alerts: {known or 'none'}")
        return AlertConfig.from_dict(item)

    def list_alerts(self) -> list[AlertConfig]:
        """The project's alert configurations (without one named ``default``, the built-in default applies:
        one alert when a result enters ``detected``, on the stack's bus and topic)."""
        from driftline.alerting import AlertConfig

        return sorted((AlertConfig.from_dict(i) for i in self.registry.list_alerts(self.name)), key=lambda c: c.name)

    def delete_alert(self, name: str) -> None:
        if not self.registry.delete_alert(self.name, name):
            known = [a.name for a in self.list_alerts()]
            raise NotFoundError(f"project {self.name!r} has no alert {name!r}; alerts: {known or 'none'}")

    def reset_alert(self, name: str) -> AlertConfig:
        """Re-arm a ``manual`` alert: it may fire again from now on."""
        config = dataclasses.replace(self.get_alert(name), reset_at=_now_iso())
        self.registry.put_alert(config.to_dict())
        return config

    # MLRun's names
    get_alert_config = get_alert
    list_alerts_configs = list_alerts
    delete_alert_config = delete_alert
    reset_alert_config = reset_alert
