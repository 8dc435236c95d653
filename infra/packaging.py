"""What `cdk deploy` uploads for each function: the package staged by :mod:`driftline.deploy.packaging` (the one
staging the local runtime runs too), and for an image function its Docker build context on top of it: the
Dockerfile from ``infra/docker/<name>`` and ``requirements/constraints.txt`` (the exact versions the tests ran
with); the image is built by ``cdk deploy``, never at synth. Offline, without Docker.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from driftline.deploy.functions import FUNCTIONS, FunctionDefinition
from driftline.deploy.packaging import (
    CONSTRAINTS,
    REPO_ROOT,
    canonical_name,
    copy_distribution,
    locked_versions,
)
from driftline.deploy.packaging import stage as stage_package
from driftline.errors import ConfigurationError

__all__ = ["CONSTRAINTS", "REPO_ROOT", "canonical_name", "copy_distribution", "locked_versions"]

DOCKER_DIR = Path(__file__).resolve().parent / "docker"

# What the zip functions import beyond their package: boto3, which the python3.12 runtime provides (Powertools is
# vendored into the package: driftline.deploy.functions.POWERTOOLS). The rehearsal (infra/images.py) installs
# exactly these, at the lock's versions, beside the staged zip.
ZIP_RUNTIME_PACKAGES = ("boto3",)

# Lambda's documented limit: function code plus all layers, unzipped.
ZIP_LIMIT_BYTES = 250 * 1024 * 1024
IMAGES = tuple(key for key, definition in FUNCTIONS.items() if definition.package == "image")


def stage(definition: FunctionDefinition, dest: Path, root: Path = REPO_ROOT) -> Path:
    """The package of ``definition`` in ``dest`` (created; must not exist), with an image's build context."""
    stage_package(definition, dest, root)
    if definition.package == "image":
        dockerfile = DOCKER_DIR / definition.key / "Dockerfile"
        if not dockerfile.is_file():
            raise ConfigurationError(f"no Dockerfile for the {definition.key} image at {dockerfile}")
        shutil.copy2(dockerfile, dest / "Dockerfile")
        shutil.copy2(root / CONSTRAINTS, dest / "constraints.txt")
    return dest


def directory_size(path: Path) -> int:
    """Bytes of every regular file under ``path`` (what the package unzips to)."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())
