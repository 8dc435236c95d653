"""The controller and the writer must start cold without pandas, scipy or pyarrow: each handler module is
imported in a fresh interpreter, exactly as Lambda loads it, and ``sys.modules`` is inspected."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("pandas", "scipy", "pyarrow")
PROBE = """
import importlib, json, sys
kind, name, heavy = sys.argv[1], sys.argv[2], set(sys.argv[3:])
if kind == "handler":
    from driftline.local.handlers import load_handler
    assert callable(load_handler(name).handler)
else:
    importlib.import_module(name)
print(json.dumps(sorted({module.split(".")[0] for module in sys.modules} & heavy)))
"""


def heavy_modules_after(kind: str, name: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, kind, name, *HEAVY], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("handler", ["controller", "writer"])
def test_handler_imports_neither_pandas_scipy_nor_pyarrow(handler):
    assert heavy_modules_after("handler", handler) == []


@pytest.mark.parametrize(
    "module",
    ["driftline.controller.run", "driftline.writer.run", "driftline.aws.results", "driftline.aws.timestream"],
)
def test_logic_and_adapters_stay_light_on_their_own(module):
    assert heavy_modules_after("module", module) == []


def test_the_probe_sees_a_heavy_import():
    # guards against a blind probe: the same script reports pandas when something does import it
    assert "pandas" in heavy_modules_after("module", "pandas")
