"""Rehearsing how Lambda runs each package, without AWS and without Docker (infra/README.md, "Rehearsing the
images"). Used by the tests in tests/infra/ and by ``make images``.

The Dockerfiles, the lock (``requirements/constraints.txt``) and ``infra/packaging.py`` stay the single
definitions: each image's package list and command are read from its Dockerfile, the zip functions' runtime
packages from ``packaging.ZIP_RUNTIME_PACKAGES``. For every package set this builds exactly the Dockerfile's
``pip install -c <lock> --target`` for CPython 3.12 on manylinux x86_64 (the base image is Amazon Linux 2023,
glibc 2.34), cached under ``.cache/images`` by a hash of everything that decides it.

pip runs under Python 3.12 itself: environment markers (``setuptools; python_version >= '3.12'`` in awswrangler)
are evaluated for the interpreter that runs pip, whatever ``--python-version`` says, so a 3.11 pip resolves a
different set than the image's pip does.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from driftline.deploy.functions import FUNCTIONS
from driftline.local.containers import Container, ContainerSpec
from driftline.local.functions import Outcome
from infra.packaging import DOCKER_DIR, IMAGES, REPO_ROOT, ZIP_RUNTIME_PACKAGES, stage

PYTHON = "3.12"  # the functions' runtime (infra/components/function.py) and the images' base tag
# pip matches --platform tags literally (it does not widen manylinux_2_34 to older glibc), so every glibc the base
# can load is listed; manylinux2014 is the old name of manylinux_2_17.
PLATFORMS = (*(f"manylinux_2_{minor}_x86_64" for minor in range(34, 16, -1)), "manylinux2014_x86_64")
# The runtime interface client lives outside the task root in the real base image (/var/runtime).
RIC_PACKAGES = ("awslambdaric",)
ZIP_RUNTIME = "zip-runtime"  # the package set standing in for the Powertools layer and the runtime's boto3
RIC = "ric"

LOCK = REPO_ROOT / "requirements" / "constraints.txt"
CACHE_ROOT = REPO_ROOT / ".cache" / "images"
EVENTS_DIR = REPO_ROOT / "tests" / "events"
BASE_IMAGE_ARG = "BASE_IMAGE"
STAND_IN_BASE = "localhost/driftline-lambda-python:3.12"
# Any AWS call a rehearsal makes by mistake is refused at once on loopback instead of leaving the machine.
NO_AWS_ENDPOINT = "http://127.0.0.1:9"
CACHE_FORMAT = 1  # bump when the layout of a cached install changes


class RehearsalError(RuntimeError):
    """A rehearsal could not be prepared or run; the message says what to do."""


# ------------------------------------------------------------------------------------------------ Dockerfiles


@dataclass(frozen=True)
class Dockerfile:
    """What a rehearsal needs from one Dockerfile: its default base, its pip install and its command."""

    path: Path
    base_default: str
    packages: tuple[str, ...]
    command: tuple[str, ...]


# Options of the Dockerfile's pip install that the rehearsal knows; anything else is refused rather than dropped.
_PIP_FLAGS = {"--no-cache-dir"}  # how the image stores the install, not what it installs
_PIP_OPTIONS_WITH_VALUE = {"-c", "--constraint", "-t", "--target"}


def _instructions(text: str) -> Iterator[tuple[str, str]]:
    logical = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not logical and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            logical += line[:-1] + " "
            continue
        logical += line
        keyword, _, rest = logical.partition(" ")
        yield keyword.upper(), rest.strip()
        logical = ""


def read_dockerfile(path: Path) -> Dockerfile:
    text = path.read_text()
    base_default = ""
    installs: list[tuple[str, ...]] = []
    command: tuple[str, ...] = ()
    for keyword, rest in _instructions(text):
        if keyword == "ARG" and rest.startswith(f"{BASE_IMAGE_ARG}="):
            base_default = rest.split("=", 1)[1].strip()
        elif keyword == "RUN":
            installs += _pip_installs(rest, path)
        elif keyword == "CMD":
            try:
                parsed = json.loads(rest)
            except ValueError as exc:
                raise RehearsalError(f"{path}: CMD must be the exec form (a JSON list), got {rest!r}") from exc
            command = tuple(parsed)
    if len(installs) != 1:
        raise RehearsalError(f"{path}: expected exactly one `pip install`, found {len(installs)}")
    if not command:
        raise RehearsalError(f"{path}: no CMD")
    return Dockerfile(path=path, base_default=base_default, packages=installs[0], command=command)


def _pip_installs(run: str, path: Path) -> list[tuple[str, ...]]:
    words = shlex.split(run)
    commands: list[list[str]] = [[]]
    for word in words:
        if word in {"&&", "||", ";"}:
            commands.append([])
        else:
            commands[-1].append(word)
    found = []
    for command in commands:
        if command[:2] != ["pip", "install"]:
            continue
        packages: list[str] = []
        options: dict[str, str] = {}
        rest = iter(command[2:])
        for word in rest:
            if word in _PIP_FLAGS:
                continue
            if word in _PIP_OPTIONS_WITH_VALUE:
                options[word.lstrip("-")[:1]] = next(rest, "")
            elif word.startswith("-"):
                raise RehearsalError(
                    f"{path}: the rehearsal does not know the pip option {word!r}; teach infra/images.py what it "
                    "changes in the install"
                )
            else:
                packages.append(word)
        if "c" not in options or options.get("t") != "${LAMBDA_TASK_ROOT}":
            raise RehearsalError(f"{path}: the pip install must use -c <the lock> and --target ${{LAMBDA_TASK_ROOT}}")
        found.append(tuple(packages))
    return found


# ------------------------------------------------------------------------------------------------ the lock


def canonical_name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_pins(lock: Path = LOCK) -> dict[str, str]:
    """Canonical name -> version of every ``name==version`` line of the lock."""
    pins = {}
    for raw in lock.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;]+)", line)
        if match:
            pins[canonical_name(match.group(1))] = match.group(2)
    return pins


def supported_tags() -> frozenset[str]:
    """Every wheel tag CPython 3.12 on the listed platforms accepts."""
    from packaging import tags

    version = tuple(int(part) for part in PYTHON.split("."))
    supported = {
        *tags.cpython_tags(python_version=version, platforms=PLATFORMS),
        *tags.compatible_tags(python_version=version, interpreter=f"cp{version[0]}{version[1]}", platforms=PLATFORMS),
    }
    return frozenset(str(tag) for tag in supported)


def report_problems(report: Mapping[str, Any], pins: Mapping[str, str]) -> list[str]:
    """Why an install report is not the image's locked wheel set: a distribution the lock does not pin at that
    version (it floats), one installed from something other than a wheel for the platform, or a resolution that
    evaluated markers for another interpreter or platform."""
    problems = []
    environment = report.get("environment", {})
    expected = {"python_version": PYTHON, "sys_platform": "linux", "platform_machine": "x86_64"}
    for key, value in expected.items():
        if environment.get(key) != value:
            problems.append(f"markers were evaluated with {key}={environment.get(key)!r}, not {value!r}")
    supported = supported_tags()
    for item in report.get("install", []):
        name, version = canonical_name(item["metadata"]["name"]), item["metadata"]["version"]
        if name not in pins:
            problems.append(f"{name} {version} is not in the lock (it floats)")
        elif pins[name] != version:
            problems.append(f"{name} resolved to {version}, the lock pins {pins[name]}")
        filename = item.get("download_info", {}).get("url", "").rsplit("/", 1)[-1]
        if not filename.endswith(".whl"):
            problems.append(f"{name} {version} is not a wheel: {filename}")
            continue
        from packaging.utils import parse_wheel_filename

        wheel_tags = {str(tag) for tag in parse_wheel_filename(filename)[3]}
        if not wheel_tags & supported:
            problems.append(f"{name} {version}: {filename} is not for CPython {PYTHON} on {PLATFORMS[0]}")
    return problems


# ------------------------------------------------------------------------------------------------ package sets


@dataclass(frozen=True)
class PackageSet:
    name: str
    packages: tuple[str, ...]
    defined_in: str


def package_sets(docker_dir: Path = DOCKER_DIR) -> dict[str, PackageSet]:
    sets = {
        name: PackageSet(name, read_dockerfile(docker_dir / name / "Dockerfile").packages, f"infra/docker/{name}")
        for name in IMAGES
    }
    sets[ZIP_RUNTIME] = PackageSet(ZIP_RUNTIME, ZIP_RUNTIME_PACKAGES, "infra/packaging.py ZIP_RUNTIME_PACKAGES")
    sets[RIC] = PackageSet(RIC, RIC_PACKAGES, "infra/images.py RIC_PACKAGES")
    return sets


def _key(packages: Sequence[str], lock_text: str) -> str:
    decided_by = {
        "format": CACHE_FORMAT,
        "python": PYTHON,
        "platforms": PLATFORMS,
        "packages": list(packages),
        "lock": lock_text,
    }
    return hashlib.sha256(json.dumps(decided_by, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Install:
    """One cached ``pip install --target`` and its report."""

    name: str
    root: Path

    @property
    def target(self) -> Path:
        return self.root / "target"

    @property
    def report_path(self) -> Path:
        return self.root / "report.json"

    @property
    def complete(self) -> bool:
        return self.report_path.is_file()

    def report(self) -> dict[str, Any]:
        return json.loads(self.report_path.read_text())


def installs(cache_root: Path = CACHE_ROOT, lock: Path = LOCK) -> dict[str, Install]:
    lock_text = lock.read_text()
    return {
        name: Install(name, cache_root / f"{name}-{_key(s.packages, lock_text)}") for name, s in package_sets().items()
    }


# ------------------------------------------------------------------------------------------------ Python 3.12


def rehearsal_required(environ: Mapping[str, str] = os.environ) -> bool:
    """In CI a missing interpreter fails the rehearsal instead of skipping it (it must not vanish silently)."""
    return environ.get("CI", "").strip().lower() not in {"", "0", "false", "no"}


def find_python(environ: Mapping[str, str] = os.environ) -> tuple[Path | None, str]:
    """A working CPython ``PYTHON`` with pip: ``DRIFTLINE_PYTHON312``, then ``python3.12`` on PATH, then pyenv's
    versions. Returns (interpreter, "") or (None, why not and what to install)."""
    candidates: list[str] = []
    if environ.get("DRIFTLINE_PYTHON312"):
        candidates.append(environ["DRIFTLINE_PYTHON312"])
    on_path = shutil.which(f"python{PYTHON}", path=environ.get("PATH"))
    if on_path:
        candidates.append(on_path)
    pyenv = shutil.which("pyenv", path=environ.get("PATH"))
    if pyenv:
        root = _output([pyenv, "root"])
        if root:
            found = Path(root).glob(f"versions/{PYTHON}.*/bin/python{PYTHON}")
            candidates += [str(p) for p in sorted(found, key=_patch_level, reverse=True)]
    tried = []
    for candidate in candidates:
        answer = _output([candidate, "-I", "-c", "import sys, pip; print('%d.%d' % sys.version_info[:2])"])
        if answer == PYTHON:
            return Path(candidate), ""
        tried.append(candidate)
    where = f" (tried: {', '.join(tried)}; each failed to run or had no pip)" if tried else ""
    return None, (
        f"no Python {PYTHON} with pip found{where}. The Lambda runtime's Python is needed to rehearse the "
        f"packages: install it (`pyenv install {PYTHON}`, or the distribution's python{PYTHON} with its pip) or "
        f"point DRIFTLINE_PYTHON312 at an interpreter"
    )


def _patch_level(path: Path) -> tuple[int, ...]:
    version = path.parents[1].name
    return tuple(int(p) for p in re.findall(r"\d+", version))


def _output(command: Sequence[str]) -> str:
    try:
        # our own interpreter candidates and pyenv, with fixed arguments
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)  # noqa: S603
    except OSError:
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


# ------------------------------------------------------------------------------------------------ installing


def _pip(python: Path) -> list[str]:
    return [str(python), "-I", "-m", "pip", "--disable-pip-version-check", "--no-input"]


def _target_args() -> list[str]:
    args = ["--only-binary=:all:", "--python-version", PYTHON, "--implementation", "cp"]
    for platform in PLATFORMS:
        args += ["--platform", platform]
    return args


def _run_pip(command: Sequence[str], what: str) -> None:
    done = subprocess.run(  # noqa: S603 - the 3.12 interpreter's pip with our own arguments
        command, capture_output=True, text=True, timeout=1200, check=False
    )
    if done.returncode != 0:
        raise RehearsalError(f"{what} failed ({' '.join(command[:6])} ...):\n{done.stderr[-4000:]}")


@contextlib.contextmanager
def _exclusive(cache_root: Path) -> Iterator[None]:
    """One preparer at a time (make and pytest workers may race): the others wait, then find the installs."""
    cache_root.mkdir(parents=True, exist_ok=True)
    with open(cache_root / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def prepare(
    python: Path,
    names: Sequence[str] | None = None,
    *,
    cache_root: Path = CACHE_ROOT,
    lock: Path = LOCK,
    jobs: int = 2,
    log: Callable[[str], None] = print,
) -> dict[str, Install]:
    """Build the missing installs (all package sets unless ``names``): first one download of every wheel the
    sets need into a shared wheelhouse (the only network step), then each set's install from it, ``jobs`` at a
    time. Returns every install, built or found."""
    every = installs(cache_root, lock)
    wanted = {name: every[name] for name in (names or every)}
    if all(i.complete for i in wanted.values()):
        return wanted
    with _exclusive(cache_root):
        missing = [i for i in wanted.values() if not i.complete]
        if not missing:
            return wanted
        sets = package_sets()
        wheels = cache_root / "wheels"
        union = sorted({p for i in missing for p in sets[i.name].packages})
        started = time.monotonic()
        _download(python, union, wheels, lock)
        log(f"rehearsal: wheels for {', '.join(i.name for i in missing)} in {time.monotonic() - started:.1f} s")

        def build(install: Install) -> None:
            began = time.monotonic()
            _install(python, sets[install.name].packages, install, wheels, lock)
            log(f"rehearsal: {install.name} installed in {time.monotonic() - began:.1f} s")

        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            list(pool.map(build, missing))
    return wanted


def _download(python: Path, packages: Sequence[str], wheels: Path, lock: Path) -> None:
    stamp = wheels / f".downloaded-{_key(packages, lock.read_text())}"
    if stamp.is_file():
        return
    wheels.mkdir(parents=True, exist_ok=True)
    _run_pip(
        [*_pip(python), "download", "--quiet", "--dest", str(wheels), *_target_args(), "-c", str(lock), *packages],
        f"downloading the wheels of {', '.join(packages)}",
    )
    stamp.touch()


def _install(python: Path, packages: Sequence[str], install: Install, wheels: Path, lock: Path) -> None:
    building = Path(tempfile.mkdtemp(prefix=f"{install.root.name}.", dir=install.root.parent))
    try:
        _run_pip(
            [
                *_pip(python),
                "install",
                "--quiet",
                "--root-user-action=ignore",
                # only the wheels of the download above: the same resolution, and no second trip to the index
                "--no-index",
                "--find-links",
                str(wheels),
                # byte code is compiled on first import; compiling every module here doubles the install time
                "--no-compile",
                "--report",
                str(building / "report.json"),
                *_target_args(),
                "-c",
                str(lock),
                "--target",
                str(building / "target"),
                *packages,
            ],
            f"installing the {install.name} package set",
        )
        building.rename(install.root)
    finally:
        shutil.rmtree(building, ignore_errors=True)


# ------------------------------------------------------------------------------------------------ resolving


_RESOLVE = """
import json, sys
sys.path[:0] = json.loads(sys.argv[1])  # Lambda puts LAMBDA_TASK_ROOT first
from awslambdaric.bootstrap import _get_handler
from awslambdaric.lambda_runtime_exception import FaultException
name = sys.argv[2]
try:
    function = _get_handler(name)
except FaultException as fault:
    answer = {"errorType": fault.exception_type, "errorMessage": fault.msg}
else:
    module = sys.modules[name.rsplit(".", 1)[0].replace("/", ".")]
    answer = {"callable": callable(function), "file": getattr(module, "__file__", None)}
print(json.dumps(answer))
"""


def resolve_handler(python: Path, task_root: Path, handler: str, *, extra_paths: Sequence[Path] = ()) -> dict[str, Any]:
    """``handler`` resolved by the runtime interface client's own ``_get_handler`` (what it runs before the first
    invocation) in a fresh ``python -I`` process whose path starts with ``task_root``: ``{"callable", "file"}``,
    or ``{"errorType": "Runtime.HandlerNotFound" | "Runtime.ImportModuleError" | ..., "errorMessage"}``.
    ``python`` must have awslambdaric (the project's venv has it). ``-B``: the staged asset stays as synth left it."""
    done = subprocess.run(  # noqa: S603 - our interpreter with our own probe
        [str(python), "-I", "-B", "-c", _RESOLVE, json.dumps([str(task_root), *map(str, extra_paths)]), handler],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=task_root,
        env={"PATH": os.defpath, "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": NO_AWS_ENDPOINT},
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise RehearsalError(f"resolving {handler} in {task_root} crashed:\n{done.stderr[-3000:]}")
    return json.loads(lines[-1])


# ------------------------------------------------------------------------------------------------ running


def lambda_environment(function: str, task_root: Path, runtime_dir: Path, handler: str) -> dict[str, str]:
    """What a rehearsal gives a function beyond the variables every sandbox gets (driftline.local.containers): no
    real credentials, and every AWS endpoint refuses at once on loopback."""
    return {
        "LAMBDA_RUNTIME_DIR": str(runtime_dir),
        "AWS_ACCESS_KEY_ID": "rehearsal",
        "AWS_SECRET_ACCESS_KEY": "rehearsal",
        "AWS_SESSION_TOKEN": "rehearsal",
        "AWS_ENDPOINT_URL": NO_AWS_ENDPOINT,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


@dataclass(frozen=True)
class Invocation:
    outcome: Outcome
    output: str  # what the function printed (its logs), for failure messages


def _run_once(spec: ContainerSpec, event: Any) -> Invocation:
    """One invocation in a fresh sandbox (driftline.local.containers: the runtime client against a loopback
    Runtime API, as the local stack runs every function), then the sandbox is gone."""
    sandbox = Container(spec)
    try:
        outcome = sandbox.invoke(event)
        return Invocation(outcome, sandbox.log())
    finally:
        sandbox.stop()


def run_handler(
    python: Path,
    sys_path: Sequence[Path],
    handler: str,
    *,
    function: str,
    event: Any,
    timeout: float = 180.0,
) -> Invocation:
    """``handler`` started by the Runtime Interface Client under ``python -I`` with exactly ``sys_path`` (the task
    root first, the runtime client last) before the standard library."""
    task_root, runtime_dir = sys_path[0], sys_path[-1]
    with tempfile.TemporaryDirectory(prefix="driftline-rehearsal-") as scratch:
        spec = ContainerSpec(
            function_name=f"driftline-{function}",
            handler=handler,
            task_root=task_root,
            environment=lambda_environment(function, task_root, runtime_dir, handler),
            timeout_seconds=timeout,
            python=str(python),
            extra_paths=[str(p) for p in sys_path[1:]],
            isolated=True,
            log_path=Path(scratch) / "log",
        )
        return _run_once(spec, event)


# ------------------------------------------------------------------------------------------------ what each call shows


def _event(name: str) -> Any:
    return json.loads((EVENTS_DIR / name).read_text())


def _http_get(path: str) -> dict[str, Any]:
    event = _event("http-api-v2-event.json")
    event.update(rawPath=path, rawQueryString="", body=None, isBase64Encoded=False, routeKey="$default")
    event.pop("queryStringParameters", None)
    event.pop("pathParameters", None)
    event["requestContext"]["http"].update(method="GET", path=path)
    return event


@dataclass(frozen=True)
class Rehearsal:
    """One call of a function with a real envelope, chosen so that no AWS service is needed, and what its
    answer must be. ``shows`` says honestly what passing proves."""

    function: str
    event: Any
    shows: str
    check: Callable[[Outcome], str | None] = field(repr=False)


def _expect_error(error_type: str, words: str) -> Callable[[Outcome], str | None]:
    def check(outcome: Outcome) -> str | None:
        if outcome.ok or outcome.phase != "invoke" or outcome.error_type != error_type:
            return f"expected the handler's own {error_type} mentioning {words!r}, got {outcome}"
        if words not in outcome.error_message:
            return f"expected the handler's own {error_type} mentioning {words!r}, got {outcome}"
        return None

    return check


def _expect_response(predicate: Callable[[Any], bool], wanted: str) -> Callable[[Outcome], str | None]:
    def check(outcome: Outcome) -> str | None:
        if not outcome.ok or not predicate(outcome.result):
            return f"expected {wanted}, got {outcome}"
        return None

    return check


def _live(answer: Any) -> bool:
    return answer.get("statusCode") == 200 and json.loads(answer.get("body") or "null") == {"live": True}


REHEARSALS = {
    "serving": Rehearsal(
        "serving",
        _http_get("/v2/health/live"),
        "an HTTP API v2 request to GET /v2/health/live is routed by Powertools and answered 200 (no model, no AWS)",
        _expect_response(_live, 'statusCode 200 with body {"live": true}'),
    ),
    "stream": Rehearsal(
        "stream",
        _event("kinesis-stream-event.json"),
        "a Kinesis batch of two records that are not inference events is decoded with pyarrow: both are poison, "
        "logged (no dead-letter queue configured), nothing is retried and no AWS call is made",
        _expect_response(lambda answer: answer == {"batchItemFailures": []}, '{"batchItemFailures": []}'),
    ),
    "controller": Rehearsal(
        "controller",
        _event("eventbridge-event.json"),
        "an EventBridge event that is not a schedule is refused by the controller's own parsing (its real work "
        "needs DynamoDB): the handler, its Powertools decorators and driftline load and run",
        _expect_error("InvalidRequestError", "controller trigger"),
    ),
    "writer": Rehearsal(
        "writer",
        {},
        "an empty payload (the writer's input is driftline's own AppOutputs, there is no AWS envelope) is refused "
        "by its validation; its real work needs DynamoDB",
        _expect_error("InvalidRequestError", "expected application outputs"),
    ),
    "app": Rehearsal(
        "app",
        {},
        "an empty payload (the app's input is driftline's own WindowRequest) is refused by its validation; a real "
        "window needs S3",
        _expect_error("InvalidRequestError", "missing field"),
    ),
}


def staged_task_root(function: str, dest: Path) -> Path:
    """The function's package as cdk deploy ships it (infra/packaging.py), without the build-only files: the
    image copies the code into the task root, the Dockerfile and lock are not in it."""
    root = stage(FUNCTIONS[function], dest)
    for build_only in ("Dockerfile", "constraints.txt"):
        (root / build_only).unlink(missing_ok=True)
    return root


def rehearsal_sys_path(function: str, task_root: Path, every: Mapping[str, Install]) -> list[Path]:
    packages = every[function if FUNCTIONS[function].package == "image" else ZIP_RUNTIME]
    return [task_root, packages.target, every[RIC].target]


def local_runtime(python: Path, every: Mapping[str, Install]) -> Any:
    """A :class:`driftline.local.deployment.Runtime` for the local stack that runs each function on ``python``
    (3.12) with exactly its image's (or its zip's runtime) packages after its task root: the whole flow, every
    AWS path included, rehearsed as Lambda runs it."""
    from driftline.local.deployment import Runtime

    extra = {key: [str(p) for p in rehearsal_sys_path(key, Path("."), every)[1:]] for key in FUNCTIONS}
    return Runtime(python=str(python), extra_paths=extra, isolated=True)


# ------------------------------------------------------------------------------------------------ buildah


def buildah() -> str:
    found = shutil.which("buildah")
    if not found:
        raise RehearsalError(
            "buildah is not installed: `apt-get install -y buildah` (Debian/Ubuntu) builds the Dockerfiles without "
            "a Docker engine"
        )
    return found


_STORAGE = ("--storage-driver", "vfs")


def _buildah(*args: str, capture: bool = False) -> str:
    done = subprocess.run(  # noqa: S603 - buildah with our own arguments
        [buildah(), *_STORAGE, *args], capture_output=capture, text=True, check=False, timeout=3600
    )
    if done.returncode != 0:
        raise RehearsalError(f"buildah {' '.join(args[:3])} failed:\n{(done.stderr or '')[-4000:]}")
    return (done.stdout or "").strip()


def _image_id(tag: str) -> str:
    done = subprocess.run(  # noqa: S603 - buildah with our own arguments
        [buildah(), *_STORAGE, "inspect", "--type", "image", "--format", "{{.FromImageID}}", tag],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    return done.stdout.strip() if done.returncode == 0 else ""


def image_exists(name: str) -> bool:
    done = subprocess.run(  # noqa: S603 - buildah with our own arguments
        [buildah(), *_STORAGE, "inspect", "--type", "image", name], capture_output=True, check=False, timeout=120
    )
    return done.returncode == 0


def build_images(names: Sequence[str], base: str | None, log: Callable[[str], None] = print) -> dict[str, str]:
    """Build each image from the context infra/packaging.py stages (what cdk deploy builds); ``base`` replaces the
    Dockerfile's default base. Returns name -> image tag."""
    built = {}
    with tempfile.TemporaryDirectory(prefix="driftline-images-") as scratch:
        for name in names:
            context = stage(FUNCTIONS[name], Path(scratch) / name)
            tag = f"localhost/driftline-{name}:rehearsal"
            args = ["bud", "--isolation", "chroot", "--platform", "linux/amd64", "--layers=false", "-t", tag]
            if base:
                args += ["--build-arg", f"{BASE_IMAGE_ARG}={base}"]
            if base and base.startswith("localhost/"):
                args.append("--pull=never")  # a local stand-in: there is no registry to ask
            replaced = _image_id(tag)
            began = time.monotonic()
            _buildah(*args, str(context))
            log(f"images: {name} built in {time.monotonic() - began:.0f} s as {tag}")
            if replaced and replaced != _image_id(tag):  # the previous rehearsal's image, now untagged
                _buildah("rmi", replaced, capture=True)
            built[name] = tag
    return built


def image_size(tag: str) -> str:
    """The image's size as buildah reports it (for example ``752 MB``)."""
    listed = json.loads(_buildah("images", "--json", tag, capture=True))
    return str(listed[0].get("size", "?")) if listed else "?"


def installed_in_image(tag: str) -> dict[str, str]:
    """Canonical name -> version of what the image's own pip installed into the task root."""
    container = _buildah("from", "--pull=never", tag, capture=True)
    try:
        listing = _buildah(
            "run",
            "--isolation",
            "chroot",
            container,
            "--",
            "python3",
            "-m",
            "pip",
            "list",
            "--path",
            "/var/task",
            "--format",
            "json",
            "--disable-pip-version-check",
            capture=True,
        )
    finally:
        _buildah("rm", container, capture=True)
    return {canonical_name(d["name"]): d["version"] for d in json.loads(listing)}


def run_in_image(tag: str, rehearsal: Rehearsal, handler: str, timeout: float = 300.0) -> Invocation:
    """The image's own entry point (the base's runtime interface client) started with ``handler``, talking to a
    Runtime API on the host's loopback (chroot isolation keeps the host's network)."""
    container = _buildah("from", "--pull=never", tag, capture=True)
    try:
        config = json.loads(_buildah("inspect", "--type", "container", container, capture=True))
        entrypoint = config.get("OCIv1", {}).get("config", {}).get("Entrypoint") or []
        inherited = {"PATH", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR"}  # the image's own values stand

        def launch(address: str, environment: Mapping[str, str]) -> list[str]:
            argv = [buildah(), *_STORAGE, "run", "--isolation", "chroot", "--network", "host"]
            for key, value in {**environment, "AWS_LAMBDA_RUNTIME_API": address}.items():
                if key not in inherited:
                    argv += ["--env", f"{key}={value}"]
            return [*argv, container, "--", *entrypoint, handler]

        with tempfile.TemporaryDirectory(prefix="driftline-image-") as scratch:
            spec = ContainerSpec(
                function_name=f"driftline-{rehearsal.function}",
                handler=handler,
                task_root=Path("/var/task"),
                environment=lambda_environment(rehearsal.function, Path("/var/task"), Path("/var/runtime"), handler),
                timeout_seconds=timeout,
                log_path=Path(scratch) / "log",
                launcher=launch,
            )
            return _run_once(spec, rehearsal.event)
    finally:
        subprocess.run(  # noqa: S603 - buildah with our own arguments
            [buildah(), *_STORAGE, "rm", container], capture_output=True, check=False, timeout=120
        )


# Debian runtime libraries the CPython build and the manylinux wheels load (ssl, ctypes, sqlite3, the
# compressors, readline, uuid, dbm); the names are Debian 12's, the release this was rehearsed on.
BASE_PACKAGES = (
    "libssl3",
    "libffi8",
    "libsqlite3-0",
    "libbz2-1.0",
    "liblzma5",
    "zlib1g",
    "libreadline8",
    "libncursesw6",
    "libuuid1",
    "libgdbm6",
    "libexpat1",
    "ca-certificates",
)
ENTRYPOINT_SCRIPT = """#!/bin/sh
# Stand-in for the Lambda base image's entry point: the runtime interface client, given the handler.
exec /var/lang/bin/python3 -m awslambdaric "$@"
"""
PIP_SCRIPT = """#!/bin/sh
exec /var/lang/bin/python3 -m pip "$@"
"""


def _host_debian() -> tuple[str, str | None]:
    """The host's Debian release and the archive its apt uses (debootstrap's default archive otherwise): the
    copied interpreter was built against this release's libraries."""
    release = ""
    for line in Path("/etc/os-release").read_text().splitlines():
        if line.startswith("VERSION_CODENAME="):
            release = line.split("=", 1)[1].strip().strip('"')
    mirror = None
    for sources in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        for line in sources.read_text().splitlines():
            if line.startswith("URIs:") and not mirror:
                mirror = line.split()[1]
    if not release:
        raise RehearsalError("the stand-in base is built with debootstrap on a Debian host (no VERSION_CODENAME)")
    return release, mirror


def build_base_image(python: Path, ric: Install, tag: str = STAND_IN_BASE, log: Callable[[str], None] = print) -> str:
    """The stand-in base (infra/docker/stand-in-base/Dockerfile): a minimal Debian root from debootstrap, this
    machine's CPython 3.12 at /var/lang, the locked runtime client at /var/runtime."""
    debootstrap = shutil.which("debootstrap")
    if not debootstrap:
        raise RehearsalError("debootstrap is not installed: `apt-get install -y debootstrap` (it makes the root)")
    release, mirror = _host_debian()
    prefix = Path(_output([str(python), "-I", "-c", "import sys; print(sys.base_prefix)"]))
    if not (prefix / "bin").is_dir():
        raise RehearsalError(f"cannot find the installation of {python}")
    with tempfile.TemporaryDirectory(prefix="driftline-base-") as scratch:
        root = Path(scratch) / "rootfs"
        began = time.monotonic()
        command = [debootstrap, "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}", release, str(root)]
        done = subprocess.run(  # noqa: S603 - debootstrap into our own scratch folder
            [*command, *([mirror] if mirror else [])], capture_output=True, text=True, check=False, timeout=1800
        )
        if done.returncode != 0:
            raise RehearsalError(f"debootstrap failed:\n{(done.stdout + done.stderr)[-4000:]}")
        log(f"base: debootstrap {release} in {time.monotonic() - began:.0f} s")
        lang = root / "var" / "lang"
        shutil.copytree(prefix, lang, symlinks=True, ignore=shutil.ignore_patterns("__pycache__", "test", "idlelib"))
        for script in lang.glob("bin/pip*"):  # their #! names this machine's path
            script.unlink()
            script.write_text(PIP_SCRIPT)
            script.chmod(0o755)
        for name in ("python", "python3"):
            link = lang / "bin" / name
            if not link.exists():
                link.symlink_to(f"python{PYTHON}")
        shutil.copytree(ric.target, root / "var" / "runtime", symlinks=True)
        (root / "var" / "task").mkdir(parents=True, exist_ok=True)
        entrypoint = root / "lambda-entrypoint.sh"
        entrypoint.write_text(ENTRYPOINT_SCRIPT)
        entrypoint.chmod(0o755)
        context = Path(scratch) / "context"
        context.mkdir()
        shutil.copy2(DOCKER_DIR / "stand-in-base" / "Dockerfile", context / "Dockerfile")
        tar = shutil.which("tar") or "tar"
        done = subprocess.run(  # noqa: S603 - tar of our own scratch folder
            [
                tar,
                "-C",
                str(root),
                "--exclude=./dev/*",
                "--exclude=./proc/*",
                "--exclude=./sys/*",
                "-cf",
                str(context / "rootfs.tar"),
                ".",
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=1800,
        )
        if done.returncode != 0:
            raise RehearsalError(f"tar of the root failed: {done.stderr[-2000:]}")
        began = time.monotonic()
        _buildah("bud", "--isolation", "chroot", "--layers=false", "-t", tag, str(context))
        log(f"base: {tag} committed in {time.monotonic() - began:.0f} s")
    return tag


# ------------------------------------------------------------------------------------------------ command line


def _require_python() -> Path:
    python, why = find_python()
    if python is None:
        raise RehearsalError(why)
    return python


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.images", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    prep = commands.add_parser("prepare", help="build the cached 3.12 installs the tests rehearse with")
    prep.add_argument("--jobs", type=int, default=2)
    build = commands.add_parser("build", help="build the images with buildah and start each handler inside")
    build.add_argument("names", nargs="*", default=list(IMAGES))
    build.add_argument("--base", help=f"the base image (default: {STAND_IN_BASE} when it exists, else the real one)")
    commands.add_parser("base-image", help=f"build the stand-in base {STAND_IN_BASE} (debootstrap + this 3.12)")
    args = parser.parse_args(argv)
    try:
        if args.command == "prepare":
            if all(i.complete for i in installs().values()):
                return 0  # warm: nothing to look for
            python, why = find_python()
            if python is None:
                if rehearsal_required():
                    print(f"rehearsal: {why}", file=sys.stderr)
                    return 1
                print(f"rehearsal: skipped, {why}", file=sys.stderr)
                return 0
            prepare(python, jobs=args.jobs)
            return 0
        if args.command == "base-image":
            python = _require_python()
            build_base_image(python, prepare(python, [RIC])[RIC])
            return 0
        return _build_and_run(args.names, args.base)
    except RehearsalError as exc:
        print(f"{parser.prog}: {exc}", file=sys.stderr)
        return 1


def _build_and_run(names: Sequence[str], base: str | None) -> int:
    if base is None and image_exists(STAND_IN_BASE):
        base = STAND_IN_BASE
    built = build_images(names, base)
    python, _ = find_python()
    rehearsed = prepare(python, list(built)) if python else {}
    failures = 0
    for name, tag in built.items():
        problems = []
        compared = ""
        if name in rehearsed:  # the image's own pip, inside its base, against what the tests rehearse with
            report = rehearsed[name].report()["install"]
            expected = {canonical_name(i["metadata"]["name"]): i["metadata"]["version"] for i in report}
            actual = installed_in_image(tag)
            if actual != expected:
                differ = sorted(set(actual.items()) ^ set(expected.items()))
                problems.append(f"its pip installed otherwise than the rehearsal: {differ}")
            compared = f"the same {len(actual)} distributions as the rehearsal; "
        command = read_dockerfile(DOCKER_DIR / name / "Dockerfile").command
        rehearsal = REHEARSALS[name]
        result = run_in_image(tag, rehearsal, command[0])
        problem = rehearsal.check(result.outcome)
        if problem:
            problems.append(f"{problem}\n{result.output[-3000:]}")
        if problems:
            failures += 1
            print(f"images: {name}: FAILED: " + "; ".join(problems))
        else:
            print(f"images: {name}: {image_size(tag)}; {compared}{command[0]} answered: {rehearsal.shows}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
