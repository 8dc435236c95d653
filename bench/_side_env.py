"""The benchmarks' own environments for the peers they compare with, each a venv under ``bench/``:

- ``peers`` (``bench/.venv-peers``): evidently 0.7.23 and pandas < 3 (evidently does not import with pandas 3,
  the project's pin). MLRun itself is not installed: its histogram drift formula is reproduced in
  ``bench/drift_quality.py``.
- ``nannyml`` (``bench/.venv-nannyml``): nannyml 0.13.1 and pandas < 3 (NannyML does not support pandas 3; it
  also imports statsmodels without declaring it).

:func:`run_in` builds (or reuses) one and runs a script inside it; when the environment cannot be built (no
network, no venv module) or the run fails, it prints a note and returns None, and the benchmark prints our figures
alone.

    python bench/_side_env.py peers|nannyml     # build (or reuse) and print the interpreter's path
"""

from __future__ import annotations

import json
import subprocess
import sys
import venv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class SideEnv:
    name: str
    peer: str  # what the benchmark calls it in its notes
    requirements: tuple[str, ...]
    check: str  # Python run in the environment once installed: it must import
    timeout_seconds: int

    @property
    def path(self) -> Path:
        return HERE / f".venv-{self.name}"

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    def _ready(self) -> bool:
        stamp = self.path / ".ready"
        return stamp.exists() and self.python.exists() and stamp.read_text() == " ".join(self.requirements)

    def build(self) -> Path:
        if self._ready():
            return self.python
        if not self.python.exists():
            venv.EnvBuilder(with_pip=True, clear=True).create(self.path)
        pip = [str(self.python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, *self.requirements], check=True, timeout=self.timeout_seconds)
        subprocess.run([str(self.python), "-c", self.check], check=True)
        (self.path / ".ready").write_text(" ".join(self.requirements))
        return self.python


ENVS = {
    env.name: env
    for env in (
        SideEnv(
            "peers",
            "Evidently",
            # botocore: the peer run imports the Evidently app's snapshot parser from the driftline package, whose
            # application contract reaches the settings and, through the resource layout, botocore's exceptions
            ("evidently==0.7.23", "pandas>=2.2,<3", "numpy<2.3", "pyarrow>=15", "scipy", "botocore"),
            "import evidently, pandas; assert pandas.__version__ < '3'",
            1200,
        ),
        SideEnv(
            "nannyml",
            "NannyML",
            ("nannyml==0.13.1", "statsmodels", "pandas>=2.2,<3", "numpy<2.3", "pyarrow>=15"),
            "import nannyml, pandas; assert pandas.__version__ < '3'",
            1800,
        ),
    )
}


def run_in(name: str, script: str, *args: str) -> Any:
    """Run ``bench/{script}`` with ``args`` in the environment ``name``; the JSON on its last line of output, or
    None (with a note printed) when the environment cannot be built or the run fails."""
    env = ENVS[name]
    try:
        python = env.build()
    except (OSError, subprocess.SubprocessError) as exc:
        print(
            f"note: {env.peer} skipped: its environment ({env.path.relative_to(HERE.parent)}) could not be built: {exc}"
        )
        return None
    done = subprocess.run([str(python), str(HERE / script), *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        print(f"note: {env.peer} run failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    if len(sys.argv) != 2 or sys.argv[1] not in ENVS:
        print(f"usage: python bench/_side_env.py {'|'.join(ENVS)}", file=sys.stderr)
        return 2
    env = ENVS[sys.argv[1]]
    try:
        path = env.build()
    except (OSError, subprocess.SubprocessError) as exc:
        print(f"could not build {env.path}: {exc}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
