"""What the Python 3.12 rehearsal (infra/images.py) costs: the cached installs cold (an empty cache: one wheel
download from the index, then each package set's install, two at a time as `make test` runs them) and warm, and
each function's start on 3.12 through the runtime client, the first one (byte code compiled on import) and a
second. Prints figures; never passes or fails. Needs Python 3.12 and the network (the cold download)."""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from infra import images  # noqa: E402


def main() -> int:
    python, why = images.find_python()
    if python is None:
        print(f"skipped: {why}")
        return 0
    print(f"interpreter: {python}")
    scratch = Path(tempfile.mkdtemp(prefix="driftline-rehearsal-bench-"))
    try:
        cache = scratch / "cache"
        began = time.monotonic()
        every = images.prepare(python, cache_root=cache, log=lambda line: print(f"  {line}"))
        print(f"cold, every package set: {time.monotonic() - began:.1f} s")
        began = time.monotonic()
        images.prepare(python, cache_root=cache, log=print)
        print(f"warm: {time.monotonic() - began:.2f} s")
        for function, rehearsal in images.REHEARSALS.items():
            root = images.staged_task_root(function, scratch / "roots" / function)
            path = images.rehearsal_sys_path(function, root, every)
            times = []
            for _ in range(2):
                began = time.monotonic()
                result = images.run_handler(python, path, "handler.handler", function=function, event=rehearsal.event)
                times.append(time.monotonic() - began)
                if result.outcome is None or rehearsal.check(result.outcome):
                    print(f"{function}: did not answer as expected:\n{result.output[-2000:]}")
                    break
            print(f"{function}: started and answered in {' then '.join(f'{t:.1f} s' for t in times)}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
