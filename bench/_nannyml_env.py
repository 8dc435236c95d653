"""Build NannyML's own environment for the benchmarks: ``bench/.venv-nannyml`` with nannyml 0.13.1 and pandas < 3
(NannyML does not support pandas 3, the project's pin; it also imports statsmodels without declaring it).

    python bench/_nannyml_env.py          # build (or reuse) and print the interpreter's path
Exit 0 and the path on the last line when ready; exit 1 with the reason when it cannot be built (no network,
no venv module): the benchmarks then print our figures alone, with a note.
"""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

HERE = Path(__file__).resolve().parent
ENV = HERE / ".venv-nannyml"
PYTHON = ENV / "bin" / "python"
STAMP = ENV / ".ready"
REQUIREMENTS = ["nannyml==0.13.1", "statsmodels", "pandas>=2.2,<3", "numpy<2.3", "pyarrow>=15"]


def ready() -> bool:
    return STAMP.exists() and PYTHON.exists() and STAMP.read_text() == " ".join(REQUIREMENTS)


def build() -> Path:
    if ready():
        return PYTHON
    if not PYTHON.exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(ENV)
    pip = [str(PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, *REQUIREMENTS], check=True, timeout=1800)
    subprocess.run([str(PYTHON), "-c", "import nannyml, pandas; assert pandas.__version__ < '3'"], check=True)
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
