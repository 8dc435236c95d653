"""Serving functions: MLRun's ``import_function("hub://v2_model_server")``, ``add_model``, ``set_tracking``,
``invoke``. Deploying one (``project.deploy_function``) writes its ``FunctionSpec`` and its endpoints; the
serving Lambda reads the spec."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from driftline.aws.registry import LATEST, parse_model_uri
from driftline.config import ServingIdentity, Settings
from driftline.errors import ConfigurationError, InvalidRequestError, NotFoundError
from driftline.records import FunctionSpec, ModelRoute
from driftline.schemas import endpoint_id_for
from driftline.sdk.names import validate_function_name, validate_model_name

if TYPE_CHECKING:
    from driftline.sdk.project import Project

V2_MODEL_SERVER = "hub://v2_model_server"
HUB_FUNCTIONS = {
    V2_MODEL_SERVER: "serves logged models over the Open Inference Protocol (POST v2/models/<name>/infer)",
}
DEFAULT_FUNCTION_NAME = "v2-model-server"


@dataclass
class BuildSpec:
    """``spec.build``: kept for MLRun compatibility; the serving Lambda's image already carries its packages."""

    requirements: list[str] = field(default_factory=list)
    base_image: str = ""


@dataclass
class ServingSpec:
    build: BuildSpec = field(default_factory=BuildSpec)


class ServingFunction:
    """A serving function: the models it routes and its tracking settings.

    Built by :func:`import_function` or ``project.get_function(name)``; deployed by ``project.deploy_function``.
    """

    kind = "serving"

    def __init__(self, name: str = "serving", project: str | None = None, settings: Settings | None = None) -> None:
        self.name = validate_function_name(name)
        self.project = project
        self.spec = ServingSpec()
        self.tracking = False
        self.sampling_percentage = 100.0
        self.deployed = ""
        self._models: dict[str, ModelRoute] = {}
        self._settings = settings

    def __repr__(self) -> str:
        return f"ServingFunction(name={self.name!r}, project={self.project!r}, models={sorted(self._models)})"

    @property
    def models(self) -> dict[str, ModelRoute]:
        return dict(self._models)

    def add_model(
        self, key: str, model_path: str | None = None, class_name: str | None = None, **class_args: Any
    ) -> ModelRoute:
        """Route ``key`` (the name in ``v2/models/<key>/infer``) to a logged model.

        ``model_path`` is ``store://models/<project>/<name>[:<tag or version>]``; it defaults to this project's
        model of the same name at ``latest``. ``class_name`` and ``class_args`` are accepted for MLRun
        compatibility and ignored: the serving function loads any pickled/joblib scikit-learn-style model.
        """
        validate_model_name(key)
        if model_path is None:
            if not self.project:
                raise ConfigurationError(
                    f"add_model({key!r}): model_path is required when the function has no project "
                    f"(e.g. model_path='store://models/<project>/{key}:latest')"
                )
            model_path = f"store://models/{self.project}/{key}:{LATEST}"
        if not isinstance(model_path, str):
            raise InvalidRequestError(f"model_path: expected a store:// URI string, got {type(model_path).__name__}")
        try:
            _, name, tag = parse_model_uri(model_path)
        except NotFoundError as exc:
            raise InvalidRequestError(str(exc)) from exc
        validate_model_name(name)
        if not tag or any(c in tag for c in "/#:"):
            raise InvalidRequestError(f"model path {model_path!r}: expected a tag or version after ':'")
        route = ModelRoute(name=key, model_path=model_path)
        self._models[key] = route
        return route

    def remove_model(self, key: str) -> None:
        if key not in self._models:
            raise NotFoundError(
                f"serving function {self.name!r} routes no model {key!r}; routed: {sorted(self._models)}"
            )
        del self._models[key]

    def set_tracking(
        self,
        stream_path: str | None = None,
        batch: int | None = None,
        sampling_percentage: float = 100,
        tracking_policy: Any = None,
        enable_tracking: bool = True,
    ) -> None:
        """Turn monitoring on for every model of this function. ``sampling_percentage`` (0 < p <= 100) samples
        input rows; events carry the true row count, so counts can be re-estimated. ``stream_path``, ``batch``
        and ``tracking_policy`` are MLRun parameters with no meaning here (the stream is the installation's)."""
        if isinstance(sampling_percentage, bool) or not isinstance(sampling_percentage, int | float):
            raise InvalidRequestError(
                f"sampling_percentage: expected a number in (0, 100], got {type(sampling_percentage).__name__}"
            )
        value = float(sampling_percentage)
        if not math.isfinite(value) or not 0 < value <= 100:
            raise InvalidRequestError(f"sampling_percentage must be in (0, 100], got {sampling_percentage!r}")
        self.tracking = bool(enable_tracking)
        self.sampling_percentage = value

    def endpoint_ids(self) -> dict[str, str]:
        """The endpoint id of each routed model (stable across redeploys)."""
        if not self.project:
            raise ConfigurationError(f"serving function {self.name!r} has no project: its endpoints are not defined")
        return {key: endpoint_id_for(self.project, self.name, key) for key in sorted(self._models)}

    def invoke(
        self,
        path: str,
        body: Any = None,
        method: str = "POST",
        headers: dict[str, str] | None = None,
        timeout: float = 30.0,
    ) -> Any:
        """Call the deployed API: ``invoke("v2/models/<name>/infer", {"inputs": [[...]]})``. ``body`` may be
        a str, bytes or anything JSON-serialisable; returns the parsed JSON answer. HTTP errors raise the
        matching driftline error with the server's message."""
        from driftline.sdk.http import request_json

        settings = self._settings
        if settings is None:
            from driftline.sdk.discovery import resolve_settings

            settings = resolve_settings()
        url = serving_url(settings, self.project, self.name).rstrip("/") + "/" + path.lstrip("/")
        return request_json(url, body=body, method=method, headers=headers, timeout=timeout)

    # ---------------------------------------------------------------------------------------- registry form

    def to_spec(self, project: str) -> FunctionSpec:
        return FunctionSpec(
            project=project,
            name=self.name,
            models=dict(self._models),
            tracking=self.tracking,
            sampling_percentage=self.sampling_percentage,
            deployed=self.deployed,
        )

    @classmethod
    def from_spec(cls, spec: FunctionSpec, settings: Settings | None = None) -> ServingFunction:
        fn = cls(spec.name, project=spec.project, settings=settings)
        fn._models = dict(spec.models)
        fn.tracking = spec.tracking
        fn.sampling_percentage = spec.sampling_percentage
        fn.deployed = spec.deployed
        return fn

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "project": self.project,
            "models": {k: v.model_path for k, v in sorted(self._models.items())},
            "tracking": self.tracking,
            "sampling_percentage": self.sampling_percentage,
            "requirements": list(self.spec.build.requirements),
            "deployed": self.deployed,
        }


def served_by_api(settings: Settings) -> ServingIdentity:
    """The serving function the installation's API (``api_url``) serves: the settings document says; a stack
    deployed without saying serves the default project's ``serving``."""
    return settings.api_serves or ServingIdentity()


def serving_url(settings: Settings, project: str | None, function: str) -> str:
    """Where the serving function ``function`` of ``project`` answers. A local stack serves every project
    (``serving_url_template``); a deployed stack serves the one project and function it was deployed for."""
    if settings.serving_url_template:
        if not project:
            raise ConfigurationError(f"serving function {function!r} has no project: cannot tell where it answers")
        return settings.serving_url_template.format(project=project, function=function)
    if not settings.api_url:
        raise ConfigurationError(
            "no API URL is known for invoking the serving function: start a local stack with "
            "`driftline local up` (the SDK finds it by itself), or set DRIFTLINE_API_URL to the deployed "
            "stack's HTTP API URL"
        )
    served = served_by_api(settings)
    if project and (project, function) != (served.project, served.serving_function):
        raise ConfigurationError(
            f"the stack at {settings.api_url} serves project {served.project!r}, function "
            f"{served.serving_function!r}, not project {project!r}, function {function!r}: deploy a stack for it "
            f"(cdk deploy -c project={project} -c stack_name=<another name>) and point the SDK at it "
            "(DRIFTLINE_STACK_NAME)"
        )
    return settings.api_url


def import_function(
    url: str, project: str | Project | None = None, new_name: str | None = None, settings: Settings | None = None
) -> ServingFunction:
    """MLRun's ``import_function``: only ``hub://v2_model_server`` is known (the serving Lambda)."""
    if url not in HUB_FUNCTIONS:
        known = ", ".join(f"{k} ({v})" for k, v in HUB_FUNCTIONS.items())
        raise NotFoundError(f"unknown function {url!r}; known functions: {known}")
    project_name: str | None
    if project is None or isinstance(project, str):
        project_name = project
    else:
        project_name = project.name
        settings = settings or project.settings
    return ServingFunction(new_name or DEFAULT_FUNCTION_NAME, project=project_name, settings=settings)
