"""A plain install has the built-in apps: the wheel built from the sources, installed in a fresh virtual
environment, away from the checkout.

The wheel is built from a copy of the package's sources (``pyproject.toml``, ``README.md``, ``driftline/``), so a
stale ``build/`` folder of the checkout cannot hide a missing file, with pip's build isolation (the same index
``make test``'s editable install uses). The fresh environment gets the wheel only (``--no-deps``); its
dependencies come from this test environment's site-packages through a ``.pth`` line, which adds that folder to
``sys.path`` without running its ``.pth`` files, so the checkout's editable install of driftline is not on the
path: ``driftline`` can only come from the wheel (checked). Commands run in a scratch folder, not the checkout.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REGISTER = """
import json, os
for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION":
                   "us-east-1", "DRIFTLINE_NO_DEPLOYED_LOOKUP": "1", "DRIFTLINE_HOME": os.getcwd()}.items():
    os.environ[key] = value
from moto import mock_aws

import driftline
from driftline.applications.loader import AppRef, builtin_names, load_class
from driftline.aws.provision import provision
from driftline.config import Settings

with mock_aws():
    settings = provision(Settings(region="us-east-1"))
    project = driftline.get_or_create_project("wheel", settings=settings)
    app = project.set_model_monitoring_function(func="builtin:feature_drift", alpha=0.01)
    quality = project.set_model_monitoring_function(func="builtin:data_quality", name="dq")
    # what the app function does with the stored record: the one loader, from the installed package
    loaded = load_class(AppRef.from_source(app.source, app.application_class, app.name), app_name=app.name)
    print(json.dumps({
        "driftline": driftline.__file__,
        "builtins": list(builtin_names()),
        "app": [app.name, app.application_class, app.source, app.application_kwargs],
        "quality": [quality.name, quality.source],
        "loaded": f"{loaded.__module__}.{loaded.__qualname__}",
    }))
"""


def _run(*args: str | Path, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    done = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, f"{args}:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv with the wheel installed; returns its ``bin`` folder."""
    base = tmp_path_factory.mktemp("wheel")
    source = base / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(ROOT / "driftline", source / "driftline", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    dist = base / "dist"
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", dist, source, cwd=base)
    [wheel] = dist.glob("driftline-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    builtins = set((ROOT / "driftline" / "applications" / "builtin").glob("*.py"))
    for path in builtins:
        assert f"driftline/applications/builtin/{path.name}" in names
    data = [p for p in (ROOT / "driftline").rglob("*") if p.is_file() and p.suffix not in {".py", ".pyc"}]
    for path in data:  # any data file the package holds (templates, dashboards) travels with it
        if "__pycache__" not in path.parts:
            assert path.relative_to(ROOT).as_posix() in names, path

    venv = base / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=base)
    python = venv / "bin" / "python"
    _run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "-q", wheel, cwd=base)
    purelib = _run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=base).stdout.strip()
    (Path(purelib) / "zz_test_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return venv / "bin"


def test_evaluate_finds_a_builtin_app_in_a_plain_install(installed, tmp_path):
    import pandas as pd
    from sklearn.datasets import load_iris

    frame = load_iris(as_frame=True).frame
    frame.to_parquet(tmp_path / "train.parquet")
    frame.sample(60, random_state=1).to_parquet(tmp_path / "data.parquet")
    done = _run(
        installed / "driftline",
        "evaluate",
        "feature_drift",
        "--sample",
        "data.parquet",
        "--reference",
        "train.parquet",
        "--labels",
        "target",
        "--json",
        "--report",
        "evaluation.html",
        cwd=tmp_path,
    )
    evaluation = json.loads(done.stdout)
    assert evaluation["application_name"] == "feature-drift"
    names = {r["name"] for w in evaluation["windows"] for r in w["results"]}
    assert {"dataset_drift", "prediction_drift"} <= names
    assert "<svg" in (tmp_path / "evaluation.html").read_text()
    assert pd.read_parquet(tmp_path / "data.parquet").shape == (60, 5)


def test_a_builtin_is_registered_by_name_from_a_plain_install(installed, tmp_path):
    done = _run(installed / "python", "-c", REGISTER, cwd=tmp_path)
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["driftline"].startswith(str(installed.parent)), seen["driftline"]  # the wheel's, not the checkout's
    assert {"feature_drift", "data_quality", "histogram_data_drift", "model_performance"} <= set(seen["builtins"])
    assert seen["app"] == [
        "feature-drift",
        "FeatureDriftApplication",
        {"kind": "builtin", "name": "feature_drift"},
        {"alpha": 0.01},
    ]
    assert seen["quality"] == ["dq", {"kind": "builtin", "name": "data_quality"}]
    assert seen["loaded"] == "driftline.applications.builtin.feature_drift.FeatureDriftApplication"
