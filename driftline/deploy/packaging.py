"""What goes into each function's package, staged without Docker and without network.

Every package holds the ``driftline`` package (without ``driftline/local``, the local runtime) and the function's
handler as ``handler.py`` at the root, plus the folders its definition ships beside it (the app function's
built-in applications). ``cdk deploy`` uploads exactly this (the image functions add their Dockerfile and the
lock, see ``infra/packaging.py``), and the local runtime runs exactly this: a module the package does not hold
cannot be imported locally either.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from driftline.deploy.functions import FunctionDefinition
from driftline.errors import ConfigurationError

REPO_ROOT = Path(__file__).resolve().parents[2]
# Never shipped: the local runtime (moto server, emulated triggers).
PACKAGE_EXCLUDES = ("local",)
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", ".DS_Store")


def stage(definition: FunctionDefinition, dest: Path, root: Path = REPO_ROOT) -> Path:
    """Copy what ``definition`` needs into ``dest`` (created; must not exist) and return it."""
    handler = root / definition.source
    if not handler.is_file():
        raise ConfigurationError(
            f"the {definition.key} function's handler {handler} is missing: every function needs its handler file "
            "(run from a complete driftline checkout)"
        )
    package = root / "driftline"
    if not (package / "__init__.py").is_file():
        raise ConfigurationError(f"the driftline package is missing under {root}")
    dest.mkdir(parents=True)
    shutil.copytree(package, dest / "driftline", ignore=_package_ignore(package))
    for folder in definition.extra_dirs:
        # beside handler.py, so the handler imports its neighbours as it does when loaded from the repo
        shutil.copytree(root / folder, dest, ignore=IGNORED, dirs_exist_ok=True)
    shutil.copy2(handler, dest / "handler.py")
    return dest


def _package_ignore(package: Path) -> Callable[[str, list[str]], set[str]]:
    def ignore(directory: str, names: list[str]) -> set[str]:
        skipped = set(IGNORED(directory, names))
        if Path(directory) == package:
            skipped |= {n for n in names if n in PACKAGE_EXCLUDES}
        return skipped

    return ignore
