"""Build the benchmark's own environment for the peers: ``bench/.venv-peers`` with evidently 0.7.23 and
pandas < 3 (evidently does not import with pandas 3, the project's pin). MLRun itself is not installed: its
histogram drift formula is reproduced in ``bench/drift_quality.py``.

    python bench/_peers_env.py          # build (or reuse) and print the interpreter's path
Exit 0 and the path on the last line when ready; exit 1 with the reason when it cannot be built (no network,
no venv module): the benchmark then prints a note and skips the Evidently columns.
"""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

HERE = Path(__file__).resolve().parent
ENV = HERE / ".venv-peers"
PYTHON = ENV / "bin" / "python"
STAMP = ENV / ".ready"
# botocore: the peer run imports the Evidently app's snapshot parser from the driftline package, whose application
# contract reaches the settings and, through the resource layout, botocore's exceptions
REQUIREMENTS = ["evidently==0.7.23", "pandas>=2.2,<3", "numpy<2.3", "pyarrow>=15", "scipy", "botocore"]


def ready() -> bool:
    return STAMP.exists() and PYTHON.exists() and STAMP.read_text() == " ".join(REQUIREMENTS)


def build() -> Path:
    if ready():
        return PYTHON
    if not PYTHON.exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(ENV)
    pip = [str(PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, *REQUIREMENTS], check=True, timeout=1200)
    subprocess.run([str(PYTHON), "-c", "import evidently, pandas; assert pandas.__version__ < '3'"], check=True)
    STAMP.write_text(" ".join(REQUIREMENTS))
    return PYTHON


def main() -> int:
    try:
        path = build()
    except (OSError, subprocess.SubprocessError) as exc:
        print(f"could not build {ENV}: {exc}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
