"""README's every code block runs as written, against `make local` from another shell (no AWS credentials).

The convention (every fenced block of README.md, at any indentation, ```` ``` ```` or ``~~~``, must follow it;
a block that does not fails ``test_every_readme_block_is_run_or_exempted_with_a_reason``):

* ```` ```python run ```` / ```` ```sh run ````: run, in the README's order, in one scratch folder (Python with
  this interpreter, sh with ``bash -euo pipefail``; the venv's ``bin`` is first on ``PATH``, so ``driftline`` and
  ``python`` are this checkout's). Only the local stack's port differs: the README says 8780, the test's stack
  takes a free one.
* ```` ```python file=NAME ````: written to NAME in the scratch folder before the runs (the app the SDK example
  registers); some ``run`` block must use NAME.
* ```` ```LANG skip: <why> ````: not run; the reason is required and says why (a deploy to AWS, a diagram, the
  ``make`` commands that run this very suite).

Nothing else: a block with no info string, a language alone, or ``skip`` without a reason is an error, so a block
added to the README is either run by this test or visibly exempted.
"""

from __future__ import annotations

import re
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>[^\n`]*)$")
RUNNABLE = {"python", "sh", "bash"}
MIN_REASON_WORDS = 2

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("local-up")]


@dataclass(frozen=True)
class Block:
    line: int  # 1-based line of the opening fence
    lang: str
    directive: str  # "run", "file=NAME", "skip: ...", or whatever else was written
    body: str

    @property
    def where(self) -> str:
        return f"README.md:{self.line} ({self.lang or 'no language'} {self.directive!r})"


def readme_blocks(text: str | None = None) -> list[Block]:
    """Every fenced block of README.md (nested lists included): its language, directive and dedented body."""
    lines = (ROOT / "README.md").read_text().splitlines() if text is None else text.splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        match = FENCE.match(lines[index])
        if not match:
            index += 1
            continue
        fence, indent = match["fence"], match["indent"]
        info = match["info"].strip()
        lang, _, directive = info.partition(" ")
        body: list[str] = []
        end = index + 1
        while end < len(lines) and not re.match(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}\s*$", lines[end]):
            line = lines[end]
            body.append(line[len(indent) :] if line.startswith(indent) else line)
            end += 1
        if end == len(lines):
            raise AssertionError(f"README.md:{index + 1}: a fenced block is never closed")
        blocks.append(Block(index + 1, lang, directive.strip(), textwrap.dedent("\n".join(body)) + "\n"))
        index = end + 1
    return blocks


def problems(blocks: list[Block]) -> list[str]:
    """What is wrong with the blocks' marking (empty when every block is run, a used file, or exempted)."""
    found = []
    run_text = "\n".join(b.body for b in blocks if b.directive == "run")
    for block in blocks:
        directive = block.directive
        if directive == "run":
            if block.lang not in RUNNABLE:
                found.append(f"{block.where}: only {sorted(RUNNABLE)} blocks can be run")
        elif directive.startswith("file="):
            name = directive.removeprefix("file=").strip()
            if not name or "/" in name:
                found.append(f"{block.where}: file= needs a plain file name")
            elif name not in run_text and Path(name).stem not in run_text:
                found.append(f"{block.where}: no run block uses {name}")
        elif directive.startswith("skip:"):
            reason = directive.removeprefix("skip:").strip()
            if len(reason.split()) < MIN_REASON_WORDS:
                found.append(f"{block.where}: skip needs a reason of a few words ('skip: deploys to AWS')")
        else:
            found.append(
                f"{block.where}: neither run nor exempted; mark it '{block.lang or 'LANG'} run', "
                f"'{block.lang or 'LANG'} file=NAME' or '{block.lang or 'LANG'} skip: <why it is not run>'"
            )
    return found


def test_every_readme_block_is_run_or_exempted_with_a_reason():
    blocks = readme_blocks()
    assert blocks
    assert problems(blocks) == []
    assert any(b.lang == "python" and b.directive == "run" for b in blocks)
    assert any(b.lang == "sh" and b.directive == "run" for b in blocks)


def test_the_convention_catches_unmarked_blocks():
    """The check above can fail: an unmarked block, a bare language, a reasonless skip, an unused file."""
    text = textwrap.dedent(
        """\
        ```
        echo no language
        ```
        ```python
        print("no directive")
        ```
          ```sh
          echo indented in a list
          ```
        ```sh skip:
        echo no reason
        ```
        ```python file=unused.py
        x = 1
        ```
        ```python skip: needs an AWS account
        ok = True
        ```
        ~~~sh run
        echo tilde fences count too
        ~~~
        """
    )
    blocks = readme_blocks(text)
    assert [b.line for b in blocks] == [1, 4, 7, 10, 13, 16, 19]
    assert blocks[2].body == "echo indented in a list\n"
    found = problems(blocks)
    assert len(found) == 5, found
    for line in (1, 4, 7, 10, 13):
        assert any(f"README.md:{line} " in p for p in found), (line, found)


def test_every_runnable_readme_block_runs_as_written(local_up):
    blocks = readme_blocks()
    for block in blocks:
        if block.directive.startswith("file="):
            (local_up.scratch / block.directive.removeprefix("file=").strip()).write_text(block.body)
    ran = 0
    for block in blocks:
        if block.directive != "run":
            continue
        code = block.body.replace("http://127.0.0.1:8780", local_up.api_url)
        if block.lang == "python":
            done = local_up.run(sys.executable, "-c", code)
        else:
            done = local_up.run("bash", "-euo", "pipefail", "-c", code)
        output = f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
        assert done.returncode == 0, f"{block.where} failed:\n{block.body}\n{output}"
        if "curl" in code and "/infer" in code:
            assert '"model_name": "RandomForestClassifier"' in done.stdout.replace('":"', '": "'), done.stdout
        ran += 1
    assert ran == sum(b.directive == "run" for b in blocks)
    assert ran >= 6
    # what the report blocks wrote: offline HTML files
    for name in ("report.html", "evaluation.html"):
        text = (local_up.scratch / name).read_text()
        assert "<svg" in text
        assert "<script" not in text
