"""README's examples run as written, against `make local` from another shell (no AWS credentials).

A fenced block whose info string says ``run`` (```` ```python run ````, ```` ```sh run ````) is run, in the order of
the README; a block with ``file=NAME`` is written to that file first (the app the SDK example registers). Only the
local stack's port differs: the README says 8780, the test's stack takes a free one. Blocks without ``run`` are the
deploy commands and the two `make` commands, which need an AWS account or are what runs this suite.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"^```(?P<lang>\w+)(?P<info>[^\n]*)\n(?P<body>.*?)^```", re.MULTILINE | re.DOTALL)

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("local-up")]


def readme_blocks() -> list[tuple[str, str, str]]:
    """(language, info string, body) of every top-level fenced block of README.md."""
    text = (ROOT / "README.md").read_text()
    return [(m["lang"], m["info"].strip(), m["body"]) for m in BLOCK.finditer(text)]


def test_the_readme_marks_its_examples():
    kinds = [(lang, info) for lang, info, _ in readme_blocks()]
    assert ("python", "run") in kinds
    assert ("sh", "run") in kinds
    assert ("python", "file=my_app.py") in kinds


def test_every_runnable_readme_block_runs_as_written(local_up):
    for _lang, info, body in readme_blocks():
        if info.startswith("file="):
            (local_up.scratch / info.removeprefix("file=")).write_text(body)
    ran = 0
    for lang, info, body in readme_blocks():
        if info != "run":
            continue
        code = body.replace("http://127.0.0.1:8780", local_up.api_url)
        if lang == "python":
            done = local_up.run(sys.executable, "-c", code)
        else:
            done = local_up.run("bash", "-euo", "pipefail", "-c", code)
        output = f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
        assert done.returncode == 0, f"README block failed:\n{body}\n{output}"
        if "curl" in code and "/infer" in code:
            assert '"model_name": "RandomForestClassifier"' in done.stdout.replace('":"', '": "'), done.stdout
        ran += 1
    assert ran >= 4
