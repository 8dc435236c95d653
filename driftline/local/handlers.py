"""Load the Lambda handler modules (``lambdas/*/handler.py``, ``apps/handler.py``) by path, exactly the code
Lambda runs. They are files, not a package, as in a Lambda bundle where ``handler.py`` sits at the root."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

REPO_ROOT = Path(__file__).resolve().parents[2]
HANDLER_PATHS = {
    "serving": REPO_ROOT / "lambdas" / "serving" / "handler.py",
    "stream": REPO_ROOT / "lambdas" / "stream" / "handler.py",
    "controller": REPO_ROOT / "lambdas" / "controller" / "handler.py",
    "writer": REPO_ROOT / "lambdas" / "writer" / "handler.py",
    "app": REPO_ROOT / "apps" / "handler.py",
}


def load_handler(name: str, fresh: bool = False) -> ModuleType:
    """The handler module for ``name``. ``fresh`` re-executes it (new module-level state: settings re-read
    from the environment, caches empty), as a new Lambda container would."""
    try:
        path = HANDLER_PATHS[name]
    except KeyError:
        raise KeyError(f"unknown handler {name!r}; expected one of {sorted(HANDLER_PATHS)}") from None
    module_name = f"driftline_lambda_{name}"
    if not fresh and module_name in sys.modules:
        return sys.modules[module_name]
    if not path.exists():
        raise FileNotFoundError(f"handler file {path} is missing; run from a driftline checkout")
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module
