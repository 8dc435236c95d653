"""Find a deployed driftline stack by its name: the CDK stack writes its settings as one JSON document to the SSM
parameter ``/driftline/{stack}/settings`` (fields of :class:`driftline.config.Settings`), so the SDK and CLI need
no ARNs copied by hand."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from driftline.config import Settings, document_source
from driftline.errors import ConfigurationError, StorageError
from driftline.layout import Names

if TYPE_CHECKING:
    from types_boto3_ssm.client import SSMClient


def settings_parameter_name(stack_name: str) -> str:
    return Names(stack_name).settings_parameter


def read_deployed_settings(stack_name: str, ssm_client: SSMClient) -> Settings | None:
    """The settings of the deployed stack ``stack_name``, or None when no such stack is deployed (no parameter).

    ``ssm_client`` is a boto3 SSM client for the stack's region (the caller's credentials). Unknown keys in the
    document (written by a newer stack) are ignored; values are parsed to their types by driftline.config's one
    parser (:meth:`Settings.from_document`), which names the parameter and the key of a value that does not fit.
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
    return Settings.from_document(document, document_source(f"SSM parameter {name}"))
