"""driftline: serverless model monitoring on AWS (MLRun's monitoring flow on Lambda, Kinesis, S3, DynamoDB).

Keep this module import-light: Lambda handlers import `driftline.*` submodules, and the controller and the
writer must not pay for pandas or scipy. The SDK's names are loaded lazily on first access.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_SDK_NAMES = {
    "get_or_create_project": "driftline.sdk.project",
    "get_project": "driftline.sdk.project",
    "Project": "driftline.sdk.project",
    "import_function": "driftline.sdk.serving",
    "ServingFunction": "driftline.sdk.serving",
    "list_projects": "driftline.sdk.project",
    "MonitoringFunction": "driftline.sdk.apps",
    "ModelEndpoint": "driftline.sdk.endpoints",
    "evaluate": "driftline.applications.evaluate",
    "record_results": "driftline.sdk.ingest",
}


def __getattr__(name: str) -> Any:
    module = _SDK_NAMES.get(name)
    if module is None:
        raise AttributeError(f"module 'driftline' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = sorted(_SDK_NAMES)
