"""What goes into each function's package, staged without Docker and without network.

Every package holds the ``driftline`` package (without ``driftline/local``, the local runtime) and the function's
handler as ``handler.py`` at the root, plus the folders its definition ships beside it (none today: the app
function's built-in applications are modules of ``driftline.applications.builtin``) and, for a zip function, the
distributions it vendors (Powertools), copied from the installed ones, which must be the lock's versions and pure
Python. ``cdk deploy`` uploads exactly this (an image adds its Dockerfile and the lock: ``infra/packaging.py``),
and the local runtime runs exactly this: a module the package does not hold cannot be imported locally either.

Staging copies only these files, so a package never picks up ``.venv``, ``node_modules`` or ``cdk.out``, and its
hash (hence a redeploy) changes only when code that runs in Lambda changes.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from driftline.deploy.functions import FunctionDefinition
from driftline.errors import ConfigurationError

REPO_ROOT = Path(__file__).resolve().parents[2]
# Never shipped: the local runtime (moto server, emulated triggers).
PACKAGE_EXCLUDES = ("local",)
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", ".DS_Store")
CONSTRAINTS = Path("requirements") / "constraints.txt"


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
    if definition.vendored:
        locked = locked_versions(root)
        for name in definition.vendored:
            copy_distribution(name, dest, locked)
    return dest


def _package_ignore(package: Path) -> Callable[[str, list[str]], set[str]]:
    def ignore(directory: str, names: list[str]) -> set[str]:
        skipped = set(IGNORED(directory, names))
        if Path(directory) == package:
            skipped |= {n for n in names if n in PACKAGE_EXCLUDES}
        return skipped

    return ignore


def canonical_name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_versions(root: Path = REPO_ROOT) -> dict[str, str]:
    """name -> version pinned in the lock (``requirements/constraints.txt``)."""
    versions = {}
    for line in (root / CONSTRAINTS).read_text().splitlines():
        name, separator, version = line.split("#", 1)[0].strip().partition("==")
        if separator:
            versions[canonical_name(name)] = version.strip()
    return versions


def copy_distribution(name: str, dest: Path, locked: dict[str, str]) -> metadata.Distribution:
    """Copy an installed distribution's own files (its modules and its .dist-info) into ``dest``: the layout
    pip gives site-packages, which Lambda puts on ``sys.path`` from the package root."""
    try:
        distribution = metadata.distribution(name)
    except metadata.PackageNotFoundError as exc:
        raise ConfigurationError(f"{name} is not installed: the zip functions ship it (make test installs it)") from exc
    wanted = locked.get(canonical_name(name))
    if distribution.version != wanted:
        raise ConfigurationError(
            f"{name} {distribution.version} is installed, the lock ({CONSTRAINTS}) says {wanted}: the zip functions "
            "ship the installed one, so install the lock's (make test does)"
        )
    wheel = distribution.read_text("WHEEL") or ""
    if "Root-Is-Purelib: true" not in wheel or "Tag: py3-none-any" not in wheel:
        raise ConfigurationError(
            f"{name} is not a pure-Python wheel: a copy from this machine's Python would not run on Lambda's"
        )
    for file in distribution.files or ():
        # skip scripts installed outside site-packages and this interpreter's bytecode
        if file.parts[0] == ".." or "__pycache__" in file.parts or file.suffix == ".pyc":
            continue
        target = dest / Path(*file.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(Path(str(distribution.locate_file(file))), target)
    return distribution
