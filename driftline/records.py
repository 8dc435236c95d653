"""What the registry stores: projects, models, serving functions, monitoring applications, endpoints.

Plain dataclasses that convert to and from the dicts the table adapters store. Large nested values
(``feature_stats``, ``application_kwargs``) are kept as JSON strings in DynamoDB: no Decimal round trips,
and a 400 KB item limit that a 20-bin profile of a few hundred features stays well under.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from driftline.config import DEFAULT_BASE_PERIOD_MINUTES


@dataclass
class ProjectConfig:
    name: str
    base_period_minutes: int = DEFAULT_BASE_PERIOD_MINUTES
    monitoring_enabled: bool = False
    created: str = ""
    # set_model_monitoring_credentials: overrides of the installation's resource names for this project
    credentials: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProjectConfig:
        return cls(
            name=data["name"],
            base_period_minutes=int(data.get("base_period_minutes", DEFAULT_BASE_PERIOD_MINUTES)),
            monitoring_enabled=bool(data.get("monitoring_enabled", False)),
            created=data.get("created", ""),
            credentials=dict(data.get("credentials") or {}),
        )


@dataclass
class ModelRecord:
    """One logged model version. ``feature_stats`` is the reference profile computed from the training set
    (MLRun's shape: per feature count/mean/std/min/quartiles/max and ``hist = [counts, edges]``)."""

    project: str
    name: str
    version: str  # "1", "2", ... in log order
    uri: str  # store://models/{project}/{name}:{version}
    artifact_key: str  # S3 key of the model file
    framework: str = ""
    model_file: str = ""  # the file name as logged (model.pkl)
    feature_names: list[str] = field(default_factory=list)
    label_names: list[str] = field(default_factory=list)
    feature_stats: dict[str, Any] = field(default_factory=dict)
    label_stats: dict[str, Any] = field(default_factory=dict)
    training_rows: int = 0
    tags: list[str] = field(default_factory=list)
    created: str = ""
    # what log_model fitted for the joint-drift and performance-estimation apps: {kind: {key, sha256, bytes}} of
    # each S3 artefact, and {"skipped": {kind: why}} (driftline/stats/model_artefacts.py)
    monitoring_artefacts: dict[str, Any] = field(default_factory=dict)
    # the columns of its class scores (driftline.scores: proba_<class>, classes_ order); empty: no scores
    score_names: list[str] = field(default_factory=list)

    @property
    def servable(self) -> bool:
        """Logged with a model file (else a model served elsewhere, known by its data: monitored from ingests,
        its artifact the ``external-model.json`` that holds its columns)."""
        return bool(self.artifact_key) and not self.artifact_key.endswith("/" + EXTERNAL_MODEL_FILE)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["feature_stats"] = json.dumps(self.feature_stats)
        data["label_stats"] = json.dumps(self.label_stats)
        data["monitoring_artefacts"] = json.dumps(self.monitoring_artefacts)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelRecord:
        values = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        for key in ("feature_stats", "label_stats", "monitoring_artefacts"):
            raw = values.get(key)
            values[key] = json.loads(raw) if isinstance(raw, str) and raw else (raw or {})
        values["version"] = str(values["version"])
        values["training_rows"] = int(values.get("training_rows", 0))
        return cls(**values)


EXTERNAL_MODEL_FILE = "external-model.json"  # the artifact of a model logged without a file


@dataclass
class ModelRoute:
    """One model served by a serving function (``add_model``)."""

    name: str
    model_path: str  # store://models/{project}/{name}:{tag} or an s3:// URI


@dataclass
class FunctionSpec:
    """A serving function: its models and tracking. The serving Lambda reads it (cached briefly)."""

    project: str
    name: str
    models: dict[str, ModelRoute] = field(default_factory=dict)
    tracking: bool = False
    sampling_percentage: float = 100.0
    deployed: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "name": self.name,
            "models": {k: asdict(v) for k, v in self.models.items()},
            "tracking": self.tracking,
            "sampling_percentage": float(self.sampling_percentage),
            "deployed": self.deployed,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FunctionSpec:
        return cls(
            project=data["project"],
            name=data["name"],
            models={k: ModelRoute(**v) for k, v in (data.get("models") or {}).items()},
            tracking=bool(data.get("tracking", False)),
            sampling_percentage=float(data.get("sampling_percentage", 100.0)),
            deployed=data.get("deployed", ""),
        )


@dataclass
class AppRecord:
    """A monitoring application. ``source`` says where its code is:
    ``{"kind": "builtin", "name": "histogram_data_drift"}`` (a module of ``driftline.applications.builtin``,
    in every install) or ``{"kind": "s3", "key": "...", "sha256": "..."}`` (a user's file uploaded by the SDK)."""

    project: str
    name: str
    application_class: str
    source: dict[str, str]
    application_kwargs: dict[str, Any] = field(default_factory=dict)
    function_name: str = ""  # the Lambda to invoke; empty: the installation's generic app function
    requirements: list[str] = field(default_factory=list)
    deployed: bool = False  # monitoring runs an app only once it is deployed (seed semantics)
    created: str = ""
    # its last failure after Lambda's retries (the controller reads them from the async-failures queue)
    failures: int = 0
    last_error: str = ""
    last_error_at: str = ""
    last_error_window: dict[str, Any] = field(default_factory=dict)

    def without_failures(self) -> AppRecord:
        return replace(self, failures=0, last_error="", last_error_at="", last_error_window={})

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["application_kwargs"] = json.dumps(self.application_kwargs)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AppRecord:
        values = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        raw = values.get("application_kwargs")
        values["application_kwargs"] = json.loads(raw) if isinstance(raw, str) and raw else (raw or {})
        values["requirements"] = list(values.get("requirements") or [])
        values["last_error_window"] = dict(values.get("last_error_window") or {})
        return cls(**values)


@dataclass
class EndpointRecord:
    """A model endpoint: identity (written at deploy) plus the live figures the stream keeps current."""

    endpoint_id: str
    project: str
    name: str  # the model name as routed
    function_name: str
    model_uri: str
    model_version: str = ""
    feature_names: list[str] = field(default_factory=list)
    label_names: list[str] = field(default_factory=list)
    monitoring: bool = True
    created: str = ""
    # live figures (stream function)
    first_request: str | None = None
    last_request: str | None = None
    request_count: int = 0
    prediction_count: int = 0  # input rows predicted (re-estimated from sampling)
    error_count: int = 0
    latency_sum_us: int = 0
    latency_count: int = 0
    last_prediction: Any = None
    last_inputs: Any = None

    @property
    def average_latency_us(self) -> float | None:
        return self.latency_sum_us / self.latency_count if self.latency_count else None

    IDENTITY_FIELDS = (
        "project",
        "name",
        "function_name",
        "model_uri",
        "model_version",
        "feature_names",
        "label_names",
        "monitoring",
        "created",
    )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("last_prediction", "last_inputs"):
            data[key] = json.dumps(data[key]) if data[key] is not None else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EndpointRecord:
        values = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        for key in ("last_prediction", "last_inputs"):
            raw = values.get(key)
            values[key] = json.loads(raw) if isinstance(raw, str) else raw
        for key in ("request_count", "prediction_count", "error_count", "latency_sum_us", "latency_count"):
            values[key] = int(values.get(key) or 0)
        return cls(**values)
