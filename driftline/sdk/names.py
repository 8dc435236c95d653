"""Name rules the SDK enforces before anything is written.

Project, serving-function and application names end up in ARNs, schedule names, table keys and entity ids,
so they are DNS-like (lowercase letters, digits, '-'). Model names keep MLRun's freedom (``RandomForestClassifier``)
but may not contain the characters our keys and URIs use as separators (``#``, ``/``, ``:``).
"""

from __future__ import annotations

import re
from typing import Any

from driftline.errors import InvalidRequestError
from driftline.inference_event import ROW_COLUMN_NAMES
from driftline.layout import EVENT_PARTITIONS
from driftline.schemas import APP_NAME_PATTERN, validate_app_name

MODEL_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")

# The event parquet columns the stream writes beside the features and labels, plus the Hive partition columns
# that come back when the folder is read as a dataset: a feature or label with one of these names would collide.
RESERVED_COLUMNS = frozenset((*ROW_COLUMN_NAMES, *EVENT_PARTITIONS))


def validate_project_name(name: Any) -> str:
    if not isinstance(name, str) or not APP_NAME_PATTERN.match(name):
        raise InvalidRequestError(
            f"project name {name!r}: expected a lowercase DNS-like name: letters a-z, digits and '-', "
            "1-63 characters, starting and ending with a letter or digit (e.g. 'iris-demo')"
        )
    return name


def validate_function_name(name: Any) -> str:
    if not isinstance(name, str) or not APP_NAME_PATTERN.match(name):
        raise InvalidRequestError(
            f"function name {name!r}: expected lowercase letters, digits and '-', 1-63 characters, "
            "starting and ending with a letter or digit (e.g. 'serving')"
        )
    return name


def validate_model_name(name: Any) -> str:
    if not isinstance(name, str) or not MODEL_NAME_PATTERN.match(name):
        raise InvalidRequestError(
            f"model name {name!r}: expected letters, digits, '_', '.' and '-', starting with a letter or digit, "
            "at most 128 characters (e.g. 'RandomForestClassifier')"
        )
    return name


def normalise_app_name(name: str) -> str:
    """Turn a class-like name into an application name: ``myApp`` -> ``myapp``, ``Demo_App 2`` -> ``demo-app-2``.
    Raises if nothing usable is left."""
    lowered = name.strip().lower()
    dashed = re.sub(r"[^a-z0-9]+", "-", lowered).strip("-")
    dashed = dashed[:63].rstrip("-")
    return validate_app_name(dashed)
