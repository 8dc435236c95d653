"""What goes into each Lambda package, staged without Docker and without network.

Zip functions (controller, writer) get the ``driftline`` package plus their handler as ``handler.py`` at the
root, and their only third-party import, Powertools, with its two requirements, copied from the installed
distributions, which must be the lock's versions and pure Python (boto3 is in the runtime). Image functions
(serving, stream, apps) get a Docker build context: the Dockerfile from ``infra/docker/<name>``,
``requirements/constraints.txt`` (the exact versions the tests ran with), ``driftline`` and the handler; the image
is built by ``cdk deploy``, never at synth.

Staging copies only these files, so an asset never picks up ``.venv``, ``node_modules`` or ``cdk.out``, and its
hash (hence a redeploy) changes only when code that runs in Lambda changes.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from driftline.errors import ConfigurationError

REPO_ROOT = Path(__file__).resolve().parents[1]
DOCKER_DIR = Path(__file__).resolve().parent / "docker"
# Never shipped: the local runtime (moto server, emulated triggers) and build leftovers.
PACKAGE_EXCLUDES = ("local",)
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", ".DS_Store")

# What the zip functions import beyond their package: boto3, which the python3.12 runtime provides (Powertools is
# in the package, VENDORED_DISTRIBUTIONS below). The rehearsal (infra/images.py) installs exactly these, at the
# lock's versions, beside the staged zip.
ZIP_RUNTIME_PACKAGES = ("boto3",)

# Lambda's documented limit: function code plus all layers, unzipped.
ZIP_LIMIT_BYTES = 250 * 1024 * 1024
# Shipped inside the zip functions rather than as the managed Powertools layer, whose ARN comes from one public
# SSM parameter per version and region: such parameters have gone missing in a region before
# (powertools-lambda-python issue 7689), which fails the deploy. Copied from the installed distributions, so
# the functions run the exact versions the tests ran with, offline and without Docker: Powertools and its
# requirements outside extras (tests/infra/test_packages.py checks that this is the whole set).
VENDORED_DISTRIBUTIONS = ("aws-lambda-powertools", "jmespath", "typing-extensions")
CONSTRAINTS = Path("requirements") / "constraints.txt"


@dataclass(frozen=True)
class FunctionSource:
    """Where one function's code lives in the repository."""

    name: str  # serving, stream, controller, writer, app
    handler_file: str  # repo-relative path of the handler module
    extra_dirs: tuple[str, ...] = ()  # repo-relative folders shipped beside handler.py (the app's built-ins)
    docker: bool = False
    vendored: tuple[str, ...] = ()  # installed distributions copied into the package (zip functions)


SOURCES = {
    "serving": FunctionSource("serving", "lambdas/serving/handler.py", docker=True),
    "stream": FunctionSource("stream", "lambdas/stream/handler.py", docker=True),
    "controller": FunctionSource("controller", "lambdas/controller/handler.py", vendored=VENDORED_DISTRIBUTIONS),
    "writer": FunctionSource("writer", "lambdas/writer/handler.py", vendored=VENDORED_DISTRIBUTIONS),
    "app": FunctionSource("app", "apps/handler.py", extra_dirs=("apps",), docker=True),
}


def stage(source: FunctionSource, dest: Path, root: Path = REPO_ROOT) -> Path:
    """Copy what ``source`` needs into ``dest`` (created; must not exist) and return it."""
    handler = root / source.handler_file
    if not handler.is_file():
        raise ConfigurationError(
            f"the {source.name} function's handler {handler} is missing: every function needs its handler file "
            "to synthesise (run from a complete driftline checkout)"
        )
    package = root / "driftline"
    if not (package / "__init__.py").is_file():
        raise ConfigurationError(f"the driftline package is missing under {root}")
    dest.mkdir(parents=True)
    shutil.copytree(package, dest / "driftline", ignore=_package_ignore(package))
    for folder in source.extra_dirs:
        # beside handler.py, so the handler imports its neighbours as it does when loaded from the repo
        shutil.copytree(root / folder, dest, ignore=IGNORED, dirs_exist_ok=True)
    shutil.copy2(handler, dest / "handler.py")
    locked = locked_versions(root)
    for name in source.vendored:
        copy_distribution(name, dest, locked)
    if source.docker:
        dockerfile = DOCKER_DIR / source.name / "Dockerfile"
        if not dockerfile.is_file():
            raise ConfigurationError(f"no Dockerfile for the {source.name} image at {dockerfile}")
        shutil.copy2(dockerfile, dest / "Dockerfile")
        shutil.copy2(root / "requirements" / "constraints.txt", dest / "constraints.txt")
    return dest


def _package_ignore(package: Path):  # type: ignore[no-untyped-def]
    def ignore(directory: str, names: list[str]) -> set[str]:
        skipped = set(IGNORED(directory, names))
        if Path(directory) == package:
            skipped |= {n for n in names if n in PACKAGE_EXCLUDES}
        return skipped

    return ignore


def directory_size(path: Path) -> int:
    """Bytes of every regular file under ``path`` (what the package unzips to)."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


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
        raise ConfigurationError(f"{name} is not installed: synth ships it in the zip functions (make test)") from exc
    wanted = locked.get(canonical_name(name))
    if distribution.version != wanted:
        raise ConfigurationError(
            f"{name} {distribution.version} is installed, the lock ({CONSTRAINTS}) says {wanted}: synth ships the "
            "installed one in the zip functions, so install the lock's (make test does)"
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
