"""Turns the staged packages (infra/packaging.py) into CDK code objects, once per function kind."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_lambda as lambda_

from driftline.deploy.functions import FUNCTIONS
from infra.packaging import REPO_ROOT, stage


class Packager:
    """Stages each package once into ``staging_dir`` (a scratch folder: CDK copies every asset into the cloud
    assembly when the construct is created, so the folder may be removed after synth)."""

    def __init__(self, staging_dir: Path, root: Path = REPO_ROOT) -> None:
        self.staging_dir = staging_dir
        self.root = root
        self._staged: dict[str, Path] = {}

    def _stage(self, name: str) -> Path:
        if name not in self._staged:
            self._staged[name] = stage(FUNCTIONS[name], self.staging_dir / name, self.root)
        return self._staged[name]

    def zip_code(self, name: str) -> lambda_.Code:
        if FUNCTIONS[name].package == "image":
            raise ValueError(f"the {name} function is a container image; use image_code")
        return lambda_.Code.from_asset(str(self._stage(name)))

    def image_code(self, name: str) -> lambda_.DockerImageCode:
        if FUNCTIONS[name].package != "image":
            raise ValueError(f"the {name} function is a zip package; use zip_code")
        return lambda_.DockerImageCode.from_image_asset(
            str(self._stage(name)),
            platform=ecr_assets.Platform.LINUX_AMD64,
            cmd=[FUNCTIONS[name].handler],  # the handler string Lambda resolves (driftline.deploy)
        )
