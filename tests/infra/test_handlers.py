"""Every handler string the template gives Lambda resolves the way Lambda resolves it: the runtime interface
client's own ``_get_handler`` (awslambdaric), in a fresh process per package (each one's module is named
``handler``), with the staged asset from the cloud assembly first on ``sys.path`` as ``LAMBDA_TASK_ROOT`` is.
Reading the command string alone let ``handler.handler`` ship against a module that defined only
``lambda_handler``. Third-party packages come from this venv here; tests/infra/test_images.py repeats the
start on Python 3.12 with each image's own packages."""

from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path

import pytest

from infra.images import resolve_handler
from tests.infra.assembly import entries

pytestmark = pytest.mark.xdist_group("infra-synth")

# CloudFormation adds its cfn-response module beside inline Python code; this stands in for it with the names
# the inline code uses, so that resolution checks our code and not AWS's module.
CFNRESPONSE_STAND_IN = "SUCCESS = 'SUCCESS'\nFAILED = 'FAILED'\n\n\ndef send(*args, **kwargs):\n    return None\n"


def _task_root(entry, scratch: Path) -> Path:
    if entry.kind != "inline":
        return entry.code
    root = scratch / entry.function
    root.mkdir()
    (root / "index.py").write_text(entry.code)  # Lambda's file name for inline (ZipFile) Python code
    (root / "cfnresponse.py").write_text(CFNRESPONSE_STAND_IN)
    return root


# Both synths ship the same code under the same asset hashes; a (code, handler) pair resolved once is not
# resolved again (each resolution is a fresh interpreter importing the scientific stack).
_RESOLVED: dict[tuple[str, str], dict] = {}


def _code_key(entry) -> str:
    if entry.kind == "inline":
        return hashlib.sha256(entry.code.encode()).hexdigest()
    return entry.code.name  # asset.<hash of the staged contents>


@pytest.mark.parametrize("which", ["synth", "alt"])
def test_every_function_in_the_template_resolves_its_handler(request, tmp_path, which):
    found = entries(request.getfixturevalue(which))
    for kind in ("serving", "stream", "app", "controller", "writer"):
        assert any(e.function.endswith(f"-{kind}") for e in found), (kind, sorted(e.function for e in found))
    for entry in found:
        assert entry.handlers, entry
        for handler in entry.handlers:
            key = (_code_key(entry), handler)
            if key not in _RESOLVED:
                root = _task_root(entry, tmp_path)
                answer = resolve_handler(Path(sys.executable), root, handler)
                assert answer.get("callable") is True, (entry.function, handler, answer)
                module_file = Path(answer["file"]).resolve()
                assert module_file.is_relative_to(Path(root).resolve()), (entry.function, module_file)
                _RESOLVED[key] = answer
    if which == "alt":  # the dedicated app function of the alternative context runs the app image's handler
        assert any(e.function.endswith("-app-my-drift") for e in found), sorted(e.function for e in found)


def _copy(entry, scratch: Path) -> Path:
    copy = scratch / "copy"
    shutil.copytree(entry.code, copy)
    return copy


def _controller(synth):
    return next(e for e in entries(synth) if e.function == "driftline-controller")


def test_a_handler_name_the_module_does_not_define_is_handler_not_found(synth, tmp_path):
    package = _copy(_controller(synth), tmp_path)
    module = package / "handler.py"
    source = module.read_text()
    assert "\ndef handler(" in source
    module.write_text(source.replace("\ndef handler(", "\ndef lambda_handler("))  # the serving image's old bug
    answer = resolve_handler(Path(sys.executable), package, "handler.handler")
    assert answer["errorType"] == "Runtime.HandlerNotFound", answer
    assert "Handler 'handler' missing on module 'handler'" in answer["errorMessage"]


def test_a_module_missing_from_the_package_is_import_module_error(synth, tmp_path):
    package = _copy(_controller(synth), tmp_path)
    (package / "handler.py").rename(package / "main.py")
    answer = resolve_handler(Path(sys.executable), package, "handler.handler")
    assert answer["errorType"] == "Runtime.ImportModuleError", answer
