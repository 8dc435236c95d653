"""``driftline local up`` running in a process of its own, as a developer runs `make local` in one shell, and a
second shell's environment for the SDK, the CLI and `make demo`: no AWS credentials, no ``DRIFTLINE_*`` settings,
no ``~/.aws``: everything they need comes from the stack's state file."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DRIFTLINE = str(BIN / "driftline")


def second_shell(home: Path, scratch: Path) -> dict[str, str]:
    """A shell with nothing AWS in it: the stack's state file (``DRIFTLINE_HOME``) is all there is."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DRIFTLINE_", "AWS_", "POWERTOOLS_"))}
    env |= {"DRIFTLINE_HOME": str(home), "HOME": str(scratch), "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}"}
    return env


def _lines(stream, sink: queue.Queue) -> None:
    for line in stream:
        sink.put(line)
    sink.put(None)


@dataclass
class LocalUp:
    process: subprocess.Popen
    home: Path
    scratch: Path
    banner: str
    api_url: str

    def env(self) -> dict[str, str]:
        return second_shell(self.home, self.scratch)

    def run(self, *args: str, timeout: float = 300, cwd: Path | None = None) -> subprocess.CompletedProcess:
        """A command in the second shell (``driftline ...`` when the first argument is not a path)."""
        return subprocess.run(
            list(args),
            env=self.env(),
            cwd=cwd or self.scratch,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def state(self) -> dict:
        return json.loads((self.home / "local-stack.json").read_text())


def start_local_up(home: Path, scratch: Path, *extra: str) -> LocalUp:
    env = second_shell(home, scratch)  # the first shell has no AWS credentials either
    process = subprocess.Popen(
        [DRIFTLINE, "local", "up", "--port", "0", *extra],
        cwd=scratch,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    out: queue.Queue = queue.Queue()
    threading.Thread(target=_lines, args=(process.stdout, out), daemon=True).start()
    seen: list[str] = []
    while not any("Ctrl-C stops it" in line for line in seen):
        line = out.get(timeout=120)
        if line is None:
            raise AssertionError(f"local up ended early: {''.join(seen)}")
        seen.append(line)
    banner = "".join(seen)
    match = re.search(r"HTTP API\s+(http://127\.0\.0\.1:\d+)", banner)
    assert match, banner
    return LocalUp(process, home, scratch, banner, match.group(1))


def stop_local_up(stack: LocalUp) -> int:
    stack.process.send_signal(signal.SIGTERM)
    return stack.process.wait(timeout=60)


@pytest.fixture(scope="module")
def local_up(tmp_path_factory) -> Iterator[LocalUp]:
    """One `driftline local up` for a module's tests (group them with ``xdist_group("local-up")``)."""
    home = tmp_path_factory.mktemp("home")
    scratch = tmp_path_factory.mktemp("shell")
    stack = start_local_up(home, scratch)
    try:
        yield stack
    finally:
        stop_local_up(stack)


@pytest.fixture
def iris_model(tmp_path):
    """A small iris classifier file and its training set (label column ``label``), as the flows log it."""
    pd = pytest.importorskip("pandas")
    datasets = pytest.importorskip("sklearn.datasets")
    ensemble = pytest.importorskip("sklearn.ensemble")
    import pickle

    iris = datasets.load_iris()
    names = ["sepal_length_cm", "sepal_width_cm", "petal_length_cm", "petal_width_cm"]
    frame = pd.DataFrame(iris.data, columns=names)
    model = ensemble.RandomForestClassifier(n_estimators=5, random_state=0).fit(frame, iris.target)
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(model))
    return path, frame.assign(label=iris.target)
