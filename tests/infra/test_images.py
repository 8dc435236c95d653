"""The images' and zips' installs, rehearsed on the Lambda runtime's Python (3.12) without Docker or AWS.

* The lock covers what each package set resolves to on 3.12 for manylinux x86_64: every distribution pinned
  ``==`` at exactly the resolved version (nothing floats) and installed from a wheel for that platform. The
  resolution is the report of the cached install itself (``infra/images.py``), made by a 3.12 pip, since markers
  are evaluated for the interpreter running pip.
* Each function starts as Lambda starts it: the runtime interface client, under ``python3.12 -I`` with only the
  staged task root, that image's packages (or, for a zip, Powertools + boto3 as the layer and runtime give them)
  and the client itself on ``sys.path``, resolves ``handler.handler`` and is invoked once through a loopback
  Runtime API with a real event envelope (``infra.images.REHEARSALS`` says what each call shows).

The installs are built by ``make test`` before pytest (``python -m infra.images prepare``) or here on first use.
Without Python 3.12 these tests skip, naming what to install; with ``CI`` set they fail instead."""

from __future__ import annotations

from pathlib import Path

import pytest

from driftline.deploy.functions import FUNCTIONS
from infra import images

PACKAGE_SETS = list(images.package_sets())


@pytest.fixture(scope="session")
def python312() -> Path:
    python, why = images.find_python()
    if python is None:
        if images.rehearsal_required():
            pytest.fail(f"CI must rehearse the packages on Python {images.PYTHON}: {why}")
        pytest.skip(why)
    return python


@pytest.fixture(scope="session")
def installed(python312: Path) -> dict[str, images.Install]:
    return images.prepare(python312, log=lambda _: None)


# ------------------------------------------------------------------------------------------------ the lock


@pytest.mark.parametrize("name", PACKAGE_SETS)
def test_each_package_set_resolves_on_3_12_to_locked_wheels_only(installed, name):
    report = installed[name].report()
    requested = [item["metadata"]["name"] for item in report["install"] if item.get("requested")]
    assert {images.canonical_name(n) for n in requested} == {
        images.canonical_name(p) for p in images.package_sets()[name].packages
    }
    assert images.report_problems(report, images.lock_pins()) == []


def test_setuptools_is_what_3_12_adds_for_awswrangler(installed):
    """The case a 3.11 lock missed: only a 3.12 resolution installs setuptools (awswrangler's marker)."""
    resolved = {images.canonical_name(i["metadata"]["name"]) for i in installed["stream"].report()["install"]}
    assert {"awswrangler", "setuptools"} <= resolved


def _report(*items, environment=None):
    env = {"python_version": "3.12", "sys_platform": "linux", "platform_machine": "x86_64"} | (environment or {})
    return {
        "environment": env,
        "install": [
            {"metadata": {"name": n, "version": v}, "download_info": {"url": f"https://files.example/{f}"}}
            for n, v, f in items
        ],
    }


NUMPY = ("numpy", "2.4.6", "numpy-2.4.6-cp312-cp312-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl")


def test_the_report_check_accepts_locked_wheels_for_the_platform():
    assert images.report_problems(_report(NUMPY), {"numpy": "2.4.6"}) == []


@pytest.mark.parametrize(
    ("item", "pins", "environment", "problem"),
    [
        (("setuptools", "84.2.1", "setuptools-84.2.1-py3-none-any.whl"), {}, None, "not in the lock"),
        (NUMPY, {"numpy": "2.4.5"}, None, "the lock pins 2.4.5"),
        (("numpy", "2.4.6", "numpy-2.4.6.tar.gz"), {"numpy": "2.4.6"}, None, "not a wheel"),
        (("numpy", "2.4.6", "numpy-2.4.6-cp312-cp312-macosx_14_0_arm64.whl"), {"numpy": "2.4.6"}, None, "not for"),
        (("numpy", "2.4.6", "numpy-2.4.6-cp311-cp311-manylinux_2_28_x86_64.whl"), {"numpy": "2.4.6"}, None, "not for"),
        (NUMPY, {"numpy": "2.4.6"}, {"python_version": "3.11"}, "python_version='3.11'"),
    ],
)
def test_the_report_check_names_what_floats_or_does_not_fit(item, pins, environment, problem):
    problems = images.report_problems(_report(item, environment=environment), pins)
    assert len(problems) == 1, problems
    assert problem in problems[0]


def test_the_lock_is_read_by_canonical_name():
    pins = images.lock_pins()
    assert pins["aws-lambda-powertools"] == "3.37.0"
    assert pins["typing-extensions"]
    assert "setuptools" in pins
    assert "awslambdaric" in pins


# ------------------------------------------------------------------------------------------------ Dockerfiles


def test_each_image_list_is_read_from_its_dockerfile():
    for name in images.IMAGES:
        dockerfile = images.read_dockerfile(images.DOCKER_DIR / name / "Dockerfile")
        assert dockerfile.base_default == f"public.ecr.aws/lambda/python:{images.PYTHON}"
        assert dockerfile.command == ("handler.handler",)
        assert {"boto3", "aws-lambda-powertools", "numpy", "pandas"} <= set(dockerfile.packages)
    assert set(images.IMAGES) == {n for n, d in FUNCTIONS.items() if d.package == "image"}
    # the zips carry Powertools themselves; the runtime provides boto3
    assert images.package_sets()[images.ZIP_RUNTIME].packages == ("boto3",)


@pytest.mark.xdist_group("infra-synth")  # where jsii is already loaded
def test_the_runtime_version_is_the_one_the_functions_use():
    from infra.components.function import RUNTIME

    assert RUNTIME.name == f"python{images.PYTHON}"


DOCKERFILE = """\
ARG BASE_IMAGE=example/base:1
FROM ${BASE_IMAGE}
COPY constraints.txt /tmp/constraints.txt
# a comment
RUN pip install --no-cache-dir -c /tmp/constraints.txt --target "${LAMBDA_TASK_ROOT}" \\
        boto3 numpy \\
    && rm /tmp/constraints.txt
CMD ["handler.handler"]
"""


def test_a_dockerfile_is_parsed_for_its_base_packages_and_command(tmp_path):
    path = tmp_path / "Dockerfile"
    path.write_text(DOCKERFILE)
    parsed = images.read_dockerfile(path)
    assert (parsed.base_default, parsed.packages, parsed.command) == (
        "example/base:1",
        ("boto3", "numpy"),
        ("handler.handler",),
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("--no-cache-dir", "--no-cache-dir --upgrade"), "does not know the pip option '--upgrade'"),
        (('-c /tmp/constraints.txt --target "${LAMBDA_TASK_ROOT}"', "--target /var/task"), "must use -c"),
        (('CMD ["handler.handler"]', "CMD handler.handler"), "exec form"),
        (("RUN pip install", "RUN pip3 install"), "exactly one `pip install`"),
    ],
)
def test_a_dockerfile_the_rehearsal_cannot_reproduce_is_refused(tmp_path, change, message):
    path = tmp_path / "Dockerfile"
    path.write_text(DOCKERFILE.replace(*change))
    with pytest.raises(images.RehearsalError, match=message.replace("[", r"\[").replace("$", r"\$")):
        images.read_dockerfile(path)


# ------------------------------------------------------------------------------------------------ finding 3.12


def test_a_missing_python_3_12_is_explained_and_ci_requires_it(tmp_path):
    python, why = images.find_python({"PATH": str(tmp_path)})
    assert python is None
    assert "pyenv install 3.12" in why
    assert "DRIFTLINE_PYTHON312" in why
    assert images.rehearsal_required({"CI": "true"})
    assert not images.rehearsal_required({})
    assert not images.rehearsal_required({"CI": "false"})


def test_an_interpreter_of_another_version_is_not_taken(tmp_path):
    import sys

    python, why = images.find_python({"PATH": str(tmp_path), "DRIFTLINE_PYTHON312": sys.executable})
    if sys.version_info[:2] != (3, 12):
        assert python is None
        assert sys.executable in why


# ------------------------------------------------------------------------------------------------ starting them


@pytest.mark.parametrize("function", list(images.REHEARSALS))
def test_each_function_starts_and_answers_on_3_12_with_only_its_packages(python312, installed, tmp_path, function):
    rehearsal = images.REHEARSALS[function]
    root = images.staged_task_root(function, tmp_path / function)
    sys_path = images.rehearsal_sys_path(function, root, installed)
    assert not any((p / "driftline").exists() for p in sys_path[1:]), "driftline must come from the task root"
    result = images.run_handler(python312, sys_path, "handler.handler", function=function, event=rehearsal.event)
    assert rehearsal.check(result.outcome) is None, f"{rehearsal.check(result.outcome)}\n{result.output[-4000:]}"


def test_the_runtime_client_reports_a_wrong_handler_name_at_init(python312, installed, tmp_path):
    root = images.staged_task_root("writer", tmp_path / "writer")
    sys_path = images.rehearsal_sys_path("writer", root, installed)
    result = images.run_handler(python312, sys_path, "handler.lambda_handler", function="writer", event={})
    assert result.outcome.phase == "init", (result.outcome, result.output[-3000:])
    assert result.outcome.error_type == "Runtime.HandlerNotFound"


def test_a_zip_cannot_import_what_only_the_images_install(python312, installed, tmp_path):
    """The isolation is real: a zip package that imported numpy would fail to start, as it would in Lambda."""
    root = images.staged_task_root("controller", tmp_path / "controller")
    (root / "probe.py").write_text("import numpy\n\n\ndef handler(event, context):\n    return {}\n")
    sys_path = images.rehearsal_sys_path("controller", root, installed)
    result = images.run_handler(python312, sys_path, "probe.handler", function="controller", event={})
    assert result.outcome.phase == "init", (result.outcome, result.output[-3000:])
    assert result.outcome.error_type == "Runtime.ImportModuleError"
    assert "numpy" in result.outcome.error_message
