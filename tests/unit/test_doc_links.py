"""Every link in the repository's Markdown stays inside the repository: a relative link resolves to a file or
folder of this checkout, never above its root (``../shared/...``), and no link is an absolute or ``file:`` path.
Web addresses (``https://...``) are not paths and are left alone; code blocks and code spans are not links."""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[2]
# what is not the project's own: installs, build output, the demo's workspace (and every hidden folder: caches)
SKIPPED_DIRS = {"node_modules", "cdk.out", "driftline-demo", "build", "dist"}

_FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
_CODE_SPAN = re.compile(r"(`+).+?\1", re.DOTALL)
_INLINE = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+[\"'(][^)]*)?\)")
_REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.MULTILINE)
_HTML = re.compile(r"""\b(?:href|src)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def markdown_files(root: Path = ROOT) -> list[Path]:
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and not d.startswith("."))
        found.extend(Path(folder) / name for name in sorted(files) if name.endswith(".md"))
    return found


def link_targets(text: str) -> list[str]:
    """The targets of the Markdown's links: inline links and images, reference definitions, HTML href/src."""
    prose = _CODE_SPAN.sub("", _FENCE.sub("", text))
    return [m for pattern in (_INLINE, _REFERENCE, _HTML) for m in pattern.findall(prose)]


def problem(document: Path, target: str, root: Path = ROOT) -> str | None:
    """Why ``target`` (a link in ``document``) leaves the repository or leads nowhere; None when it is fine."""
    if target.lower().startswith("file:"):
        return "a file: URL is a machine path"
    if _SCHEME.match(target):
        return None  # a web address, not a path
    path = unquote(target.split("#", 1)[0].split("?", 1)[0])
    if not path:
        return None  # an anchor in the same document
    if path.startswith(("/", "\\")):
        return "an absolute path: link relative to the document"
    resolved = (document.parent / path).resolve()
    if not resolved.is_relative_to(root.resolve()):
        return "it resolves outside the repository"
    if not resolved.exists():
        return "no such file in the repository"
    return None


def test_the_extractor_sees_links_and_skips_code():
    text = (
        "See [the seed](../shared/seed.md) and ![a figure](docs/fig.png 'title'), [ref][r], <a href=\"x.md\">x</a>\n"
        "[r]: /home/someone/shared/brief.md\n"
        "`[not a link](nowhere.md)` and\n```\n[also not](nowhere.md)\n```\n"
        "[web](https://example.com/a) [anchor](#development)\n"
    )
    assert link_targets(text) == [
        "../shared/seed.md",
        "docs/fig.png",
        "https://example.com/a",
        "#development",
        "/home/someone/shared/brief.md",
        "x.md",
    ]


def test_the_rule_refuses_what_leaves_the_repository(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("")
    (tmp_path / "README.md").write_text("")
    document = tmp_path / "docs" / "a.md"
    assert problem(document, "../README.md#development", tmp_path) is None
    assert problem(document, "a.md", tmp_path) is None
    assert problem(document, "https://docs.aws.amazon.com/lambda/", tmp_path) is None
    assert problem(document, "../../shared/seed.md", tmp_path) == "it resolves outside the repository"
    assert problem(document, "/home/someone/seed.md", tmp_path) == "an absolute path: link relative to the document"
    assert problem(document, "file:///etc/hosts", tmp_path) == "a file: URL is a machine path"
    assert problem(document, "missing.md", tmp_path) == "no such file in the repository"


@pytest.mark.parametrize("document", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_in_the_docs_stays_inside_the_repository(document):
    text = document.read_text(encoding="utf-8")
    bad = [f"{target}: {why}" for target in link_targets(text) if (why := problem(document, target)) is not None]
    assert not bad, f"{document.relative_to(ROOT)}: links that leave the repository or lead nowhere: {bad}"
