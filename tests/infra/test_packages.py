"""Every Lambda package fits its limit: zip code plus layers <= 250 MB unzipped (managed layers at their documented
size), or a container image. The zip packages hold exactly the driftline package and the handler, and import
with nothing but the Lambda runtime (boto3) and the Powertools layer: no numpy, pandas, scipy or pyarrow."""

from __future__ import annotations

import subprocess
import sys

import pytest

from infra.packaging import ZIP_LIMIT_BYTES, directory_size, managed_layer_size
from tests.infra.assembly import asset_dir, functions

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
        for layer in props.get("Layers", []):
            reference = synth.template["Parameters"][layer["Ref"]]["Default"] if "Ref" in layer else str(layer)
            size += managed_layer_size(reference)
        measured[name] = size
        assert size <= ZIP_LIMIT_BYTES, (name, size)
    assert set(measured) == {"driftline-controller", "driftline-writer", "driftline-preflight"}
    # the code itself is small: the layer budget dominates
    assert directory_size(asset_dir(synth, functions(synth)["driftline-controller"][0])) < 5 * 1024 * 1024


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
    assert (app_context / "histogram_data_drift.py").is_file()  # built-in apps sit beside the handler


@pytest.mark.parametrize("name", ["driftline-controller", "driftline-writer"])
def test_zip_package_imports_without_the_scientific_stack(synth, name):
    package = asset_dir(synth, functions(synth)[name][0])
    assert sorted(p.name for p in package.iterdir()) == ["driftline", "handler.py"]
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
import handler, driftline
assert driftline.__file__.startswith({str(package)!r}), driftline.__file__
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
