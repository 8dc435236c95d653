"""Every Lambda package fits its limit: zip code <= 250 MB unzipped (no layers), or a container image. The zip
packages hold the driftline package, the handler and Powertools with its requirements at the lock's versions, and
import with nothing else but the Lambda runtime's boto3: no numpy, pandas, scipy or pyarrow."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from driftline.deploy.functions import POWERTOOLS as VENDORED_DISTRIBUTIONS
from infra.packaging import (
    ZIP_LIMIT_BYTES,
    canonical_name,
    directory_size,
    locked_versions,
)
from tests.infra.assembly import asset_dir, functions
from tests.infra.conftest import ROOT

# one worker synthesises once for the whole module set (pytest -n with --dist loadgroup)
pytestmark = pytest.mark.xdist_group("infra-synth")

HEAVY = ("numpy", "pandas", "scipy", "pyarrow", "awswrangler", "sklearn")


def test_zip_packages_and_layers_fit_250_mb(synth):
    measured = {}
    for name, (logical_id, resource) in functions(synth).items():
        props = resource["Properties"]
        if props.get("PackageType") == "Image":
            continue
        if "ZipFile" in props["Code"]:
            size = len(props["Code"]["ZipFile"].encode())
        else:
            size = directory_size(asset_dir(synth, logical_id))
        assert not props.get("Layers"), name  # everything it imports beyond boto3 is in the package
        measured[name] = size
        assert size <= ZIP_LIMIT_BYTES, (name, size)
    assert set(measured) == {"driftline-controller", "driftline-writer", "driftline-preflight"}
    # far below the limit: the driftline package and Powertools (~3 MB of source) are all there is
    assert measured["driftline-controller"] < 10 * 1024 * 1024, measured


def test_scientific_functions_are_images_with_small_build_contexts(synth):
    for name in ("driftline-serving", "driftline-stream", "driftline-app"):
        logical_id, resource = functions(synth)[name]
        assert resource["Properties"]["PackageType"] == "Image"
        context = asset_dir(synth, logical_id)
        dockerfile = (context / "Dockerfile").read_text()
        # deployed on Lambda's own base; the argument only lets a rehearsal substitute a stand-in
        assert "ARG BASE_IMAGE=public.ecr.aws/lambda/python:3.12\nFROM ${BASE_IMAGE}\n" in dockerfile
        assert 'CMD ["handler.handler"]' in dockerfile
        assert "-c /tmp/constraints.txt" in dockerfile  # the versions the tests ran with
        assert (context / "handler.py").is_file()
        assert (context / "driftline" / "__init__.py").is_file()
        assert not (context / "driftline" / "local").exists()
        assert directory_size(context) < 10 * 1024 * 1024, "the build context picked up more than the code"
    serving = (asset_dir(synth, functions(synth)["driftline-serving"][0]) / "Dockerfile").read_text()
    for package in ("aws-lambda-powertools", "numpy", "orjson", "scikit-learn"):  # what the serving path imports
        assert f" {package} " in serving, package
    app_context = asset_dir(synth, functions(synth)["driftline-app"][0])
    # built-in apps are part of the driftline package; apps/ adds nothing beside the handler
    assert (app_context / "driftline" / "applications" / "builtin" / "histogram_data_drift.py").is_file()
    assert not (app_context / "demo_app.py").exists()


def _vendored(package: Path) -> dict[str, str]:
    """canonical distribution name -> version, from the .dist-info folders in a package."""
    found = {}
    for info in package.glob("*.dist-info"):
        name, version = info.name.removesuffix(".dist-info").rsplit("-", 1)
        found[canonical_name(name)] = version
    return found


def test_vendored_distributions_are_powertools_and_its_requirements():
    """Powertools' requirements outside extras, and theirs: the package needs nothing else from PyPI."""
    from importlib import metadata

    from packaging.requirements import Requirement

    closure, todo = set(), ["aws-lambda-powertools"]
    while todo:
        name = canonical_name(todo.pop())
        if name in closure:
            continue
        closure.add(name)
        for requirement in metadata.distribution(name).requires or ():
            parsed = Requirement(requirement)
            if parsed.marker is None or parsed.marker.evaluate({"extra": ""}):
                todo.append(parsed.name)
    assert closure == {canonical_name(n) for n in VENDORED_DISTRIBUTIONS}


@pytest.mark.parametrize("name", ["driftline-controller", "driftline-writer"])
def test_zip_package_ships_powertools_at_the_locked_version(synth, name):
    package = asset_dir(synth, functions(synth)[name][0])
    locked = locked_versions(ROOT)
    vendored = _vendored(package)
    assert vendored == {canonical_name(n): locked[canonical_name(n)] for n in VENDORED_DISTRIBUTIONS}
    assert (package / "aws_lambda_powertools" / "metrics" / "__init__.py").is_file()
    version = (package / "aws_lambda_powertools" / "shared" / "version.py").read_text()
    assert f'VERSION = "{locked["aws-lambda-powertools"]}"' in version
    assert not list(package.rglob("*.so")), "a compiled module would be this machine's, not Lambda's"


@pytest.mark.parametrize("name", ["driftline-controller", "driftline-writer"])
def test_zip_package_imports_without_the_scientific_stack(synth, name):
    package = asset_dir(synth, functions(synth)[name][0])
    shipped = {p.name for p in package.iterdir() if not p.name.endswith(".dist-info")}
    assert shipped == {"driftline", "handler.py", "aws_lambda_powertools", "jmespath", "typing_extensions.py"}
    assert not (package / "driftline" / "local").exists()
    assert not list(package.rglob("__pycache__"))
    probe = f"""
import importlib.abc, sys
BLOCKED = {HEAVY!r}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError("the zip package must not import " + name)
        return None
sys.meta_path.insert(0, Block())
sys.path.insert(0, {str(package)!r})
import handler, driftline, aws_lambda_powertools, typing_extensions
for module in (driftline, aws_lambda_powertools, typing_extensions):  # from the package, not this machine
    assert module.__file__.startswith({str(package)!r}), module.__file__
assert callable(handler.handler)
print("ok")
"""
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=package,
        env={"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "us-east-1", "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")
