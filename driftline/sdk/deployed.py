"""Find a deployed driftline stack by its name: the CDK stack writes its settings as one JSON document to the SSM
parameter ``/driftline/{stack}/settings`` (fields of :class:`driftline.config.Settings`), so the SDK and CLI need
no ARNs copied by hand."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from botocore.exceptions import ClientError

from driftline.config import Settings
from driftline.errors import ConfigurationError, StorageError
from driftline.layout import Names


def settings_parameter_name(stack_name: str) -> str:
    return Names(stack_name).settings_parameter


def read_deployed_settings(stack_name: str, ssm_client: Any) -> Settings | None:
    """The settings of the deployed stack ``stack_name``, or None when no such stack is deployed (no parameter).

    ``ssm_client`` is a boto3 SSM client for the stack's region (the caller's credentials). Unknown keys in the
    document (written by a newer stack) are ignored; values are coerced to the field types.
    """
    name = settings_parameter_name(stack_name)
    try:
        raw = ssm_client.get_parameter(Name=name)["Parameter"]["Value"]
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "ParameterNotFound":
            return None
        raise StorageError(f"cannot read the driftline settings parameter {name}: {code or exc}") from exc
    try:
        document = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"SSM parameter {name}: expected a JSON object of driftline settings ({exc})") from exc
    if not isinstance(document, dict):
        raise ConfigurationError(f"SSM parameter {name}: expected a JSON object, got {type(document).__name__}")
    values: dict[str, Any] = {}
    for field in dataclasses.fields(Settings):
        if field.name == "extra" or field.name not in document:
            continue
        value = document[field.name]
        if value is None or value == "":
            continue
        values[field.name] = _typed(name, field.name, str(field.type), value)
    return Settings(**values)


def _typed(parameter: str, key: str, kind: str, value: Any) -> Any:
    if kind == "bool":
        if isinstance(value, bool):
            return value
        lowered = str(value).strip().lower()
        if lowered in {"true", "1", "yes", "on"}:
            return True
        if lowered in {"false", "0", "no", "off"}:
            return False
        raise ConfigurationError(f"SSM parameter {parameter}: {key} must be true or false, got {value!r}")
    if kind == "int":
        if isinstance(value, bool):
            raise ConfigurationError(f"SSM parameter {parameter}: {key} must be a whole number, got {value!r}")
        try:
            return int(value)
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"SSM parameter {parameter}: {key} must be a whole number, got {value!r}") from exc
    return str(value)
