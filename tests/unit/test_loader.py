"""The one application loader: built-ins as modules of the package, module paths, user files and S3 sources."""

from __future__ import annotations

import hashlib
import sys
import tomllib
import traceback
from pathlib import Path

import pytest
import setuptools

from driftline.applications.builtin.feature_drift import FeatureDriftApplication
from driftline.applications.builtin.histogram_data_drift import HistogramDataDriftApplication
from driftline.applications.loader import (
    AppRef,
    builtin_names,
    load_class,
    load_module,
    module_from_source,
)
from driftline.errors import ApplicationError, InvalidRequestError

ROOT = Path(__file__).resolve().parents[2]
APP = b"""
from driftline.applications import ModelMonitoringApplicationBase


class Lines(ModelMonitoringApplicationBase):
    def do_tracking(self, monitoring_context):
        raise RuntimeError("boom from the user's code")
"""


def test_builtins_are_the_modules_of_the_package_and_nothing_else():
    assert builtin_names() == (
        "data_quality",
        "evidently_app",
        "feature_drift",
        "histogram_data_drift",
        "model_performance",
        "multivariate_drift",
        "performance_estimation",
    )
    assert "demo_app" not in builtin_names()  # a user example, not shipped with the app function


def test_a_plain_install_has_the_builtin_apps():
    """pyproject's package discovery (what the wheel holds) includes the built-in apps' package."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    include = config["tool"]["setuptools"]["packages"]["find"]["include"]
    assert "driftline.applications.builtin" in setuptools.find_packages(where=str(ROOT), include=include)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("feature_drift", AppRef("builtin", "feature_drift")),
        ("builtin:feature_drift", AppRef("builtin", "feature_drift")),
        ("builtin:feature_drift:FeatureDrift", AppRef("builtin", "feature_drift", "FeatureDrift")),
        ("my_package.apps:MyApp", AppRef("module", "my_package.apps", "MyApp")),
        ("apps/demo_app.py", AppRef("file", "apps/demo_app.py")),
        ("my_app.py:DemoMonitoringApp", AppRef("file", "my_app.py", "DemoMonitoringApp")),
    ],
)
def test_references_typed_by_a_user(text, expected):
    assert AppRef.parse(text) == expected


def test_an_unknown_builtin_is_refused_with_the_known_ones():
    with pytest.raises(InvalidRequestError, match=r"'nope' not found; expected one of \['data_quality'"):
        AppRef.parse("builtin:nope")
    with pytest.raises(ApplicationError, match="not found"):
        AppRef.from_source({"kind": "builtin", "name": "nope"}, "X", "x")


def test_a_builtin_is_the_module_itself_whichever_way_it_is_named():
    assert load_class("histogram_data_drift") is HistogramDataDriftApplication
    assert load_class("builtin:feature_drift") is FeatureDriftApplication
    assert load_class("driftline.applications.builtin.feature_drift:FeatureDriftApplication") is FeatureDriftApplication
    record = AppRef.from_source({"kind": "builtin", "name": "feature_drift"}, "FeatureDriftApplication", "fd")
    assert load_class(record) is FeatureDriftApplication


def test_a_user_file_runs_once_per_content(tmp_path):
    path = tmp_path / "lines.py"
    path.write_bytes(APP)
    first = load_module(path)
    assert load_module(str(path)) is first  # same bytes: the module already loaded
    path.write_bytes(APP + b"\n# edited\n")
    assert load_module(path) is not first  # new bytes: a new module
    assert load_class(f"{path}:Lines").__name__ == "Lines"


def test_an_s3_source_is_fetched_once_and_checked_against_its_digest():
    body = APP + b"\n# s3\n"
    sha = hashlib.sha256(body).hexdigest()
    fetched: list[str] = []

    def fetch(key: str) -> bytes:
        fetched.append(key)
        return body

    ref = AppRef.from_source({"kind": "s3", "key": "artifacts/p/apps/a/x.py", "sha256": sha}, "Lines", "a")
    assert load_class(ref, fetch, "a").__name__ == "Lines"
    assert load_class(ref, fetch, "a").__name__ == "Lines"
    assert fetched == ["artifacts/p/apps/a/x.py"]  # the second load found the digest already loaded
    wrong = AppRef.from_source({"kind": "s3", "key": "k", "sha256": "0" * 64}, "Lines", "a")
    with pytest.raises(ApplicationError, match="sha256 mismatch"):
        load_class(wrong, fetch, "a")


def test_a_traceback_from_an_uploaded_source_shows_its_code():
    module = module_from_source(APP + b"\n# traceback\n", "artifacts/p/apps/lines/abc.py", "lines")
    with pytest.raises(RuntimeError) as caught:
        module.Lines().do_tracking(None)
    text = "".join(traceback.format_exception(caught.value))
    assert 'raise RuntimeError("boom from the user\'s code")' in text
    assert "artifacts/p/apps/lines/abc.py" in text


def test_code_that_fails_to_import_leaves_nothing_behind():
    code = b"import does_not_exist_anywhere\n"
    name = f"driftline_app_{hashlib.sha256(code).hexdigest()[:16]}"
    with pytest.raises(ApplicationError, match=r"could not import .*ModuleNotFoundError"):
        module_from_source(code, "broken.py", "broken")
    assert name not in sys.modules


@pytest.mark.parametrize(
    ("source", "match"),
    [
        ({"kind": "builtin", "name": "../../etc"}, "is not a module name"),
        ({"kind": "s3", "key": "k", "sha256": "short"}, "64-hex"),
        ({"kind": "ftp"}, "expected 'builtin' or 's3'"),
    ],
)
def test_broken_stored_sources_say_what_was_expected(source, match):
    with pytest.raises(ApplicationError, match=match):
        AppRef.from_source(source, "X", "x")


def test_class_checks(tmp_path):
    path = tmp_path / "two.py"
    path.write_text(
        "from driftline.applications import ModelMonitoringApplicationBase\n"
        "class A(ModelMonitoringApplicationBase):\n    def do_tracking(self, c):\n        return None\n"
        "class B(A):\n    pass\n"
        "class Half(ModelMonitoringApplicationBase):\n    pass\n"
        "class Other:\n    pass\n"
    )
    with pytest.raises(InvalidRequestError, match=r"defines \['A', 'B'\]; name one"):
        load_class(path)
    with pytest.raises(ApplicationError, match=r"defines no class 'C'; application classes found there: \['A', 'B'\]"):
        load_class(f"{path}:C")
    with pytest.raises(ApplicationError, match="not a subclass"):
        load_class(f"{path}:Other")
    with pytest.raises(ApplicationError, match="does not implement do_tracking"):
        load_class(f"{path}:Half")
    with pytest.raises(InvalidRequestError, match="no such file"):
        load_class(tmp_path / "missing.py")
    with pytest.raises(ApplicationError, match="cannot import module"):
        load_class("no_such_package.apps:X")
