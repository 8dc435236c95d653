"""What goes into each Lambda package, staged without Docker and without network.

Zip functions (controller, writer) get the ``driftline`` package plus their handler as ``handler.py`` at the
root; their only third-party import, Powertools, comes from the managed layer (boto3 is in the runtime).
Image functions (serving, stream, apps) get a Docker build context: the Dockerfile from ``infra/docker/<name>``,
``requirements/constraints.txt`` (the exact versions the tests ran with), ``driftline`` and the handler; the image
is built by ``cdk deploy``, never at synth.

Staging copies only these files, so an asset never picks up ``.venv``, ``node_modules`` or ``cdk.out``, and its
hash (hence a redeploy) changes only when code that runs in Lambda changes.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from driftline.errors import ConfigurationError

REPO_ROOT = Path(__file__).resolve().parents[1]
DOCKER_DIR = Path(__file__).resolve().parent / "docker"
# Never shipped: the local runtime (moto server, emulated triggers) and build leftovers.
PACKAGE_EXCLUDES = ("local",)
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", ".DS_Store")

# What the zip functions import beyond their package, and where Lambda gets it: Powertools from the managed layer
# (infra/components/function.py), boto3 from the python3.12 runtime. The rehearsal (infra/images.py) installs exactly
# these, at the lock's versions, beside the staged zip; change this list when the zips bundle more.
ZIP_RUNTIME_PACKAGES = ("aws-lambda-powertools", "boto3")

# Lambda's documented limit: function code plus all layers, unzipped.
ZIP_LIMIT_BYTES = 250 * 1024 * 1024
# Managed layers are not downloaded at synth, so their size is a constant, keyed by a name found in the layer's
# ARN or in the SSM parameter that resolves to it. Powertools documents its layer as "optimized to ~2 MB with all
# extras" (zipped); 20 MB unzipped is a deliberate over-estimate.
MANAGED_LAYER_UNZIPPED_BYTES = {
    "AWSLambdaPowertoolsPythonV3": 20 * 1024 * 1024,
    "/aws/service/powertools/python/": 20 * 1024 * 1024,
}


@dataclass(frozen=True)
class FunctionSource:
    """Where one function's code lives in the repository."""

    name: str  # serving, stream, controller, writer, app
    handler_file: str  # repo-relative path of the handler module
    extra_dirs: tuple[str, ...] = ()  # repo-relative folders shipped beside handler.py (the app's built-ins)
    docker: bool = False


SOURCES = {
    "serving": FunctionSource("serving", "lambdas/serving/handler.py", docker=True),
    "stream": FunctionSource("stream", "lambdas/stream/handler.py", docker=True),
    "controller": FunctionSource("controller", "lambdas/controller/handler.py"),
    "writer": FunctionSource("writer", "lambdas/writer/handler.py"),
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


def managed_layer_size(layer_reference: str) -> int:
    """The documented unzipped size of a managed layer, by its ARN or the SSM parameter that resolves to it."""
    for name, size in MANAGED_LAYER_UNZIPPED_BYTES.items():
        if f":layer:{name}" in layer_reference or layer_reference.startswith(name):
            return size
    raise ConfigurationError(
        f"unknown layer {layer_reference!r}: add its documented unzipped size to MANAGED_LAYER_UNZIPPED_BYTES"
    )
