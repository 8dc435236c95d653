"""Cold-start import time of every Lambda handler module, as Lambda loads it (a fresh interpreter per
sample, ``driftline.local.handlers.HANDLER_PATHS``), and whether pandas, scipy or pyarrow came with it.

Baseline, measured in the same run the same way: ``boto3`` plus Powertools ``Logger``/``Metrics``, the floor
every handler pays. Prints figures; never passes or fails.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from driftline.local.handlers import HANDLER_PATHS  # noqa: E402

SAMPLES = 5
HEAVY = ("pandas", "scipy", "pyarrow")
PROBE = """
import json, sys, time
heavy = set(sys.argv[2:])
start = time.perf_counter()
if sys.argv[1] == "baseline":
    import boto3
    from aws_lambda_powertools import Logger, Metrics
else:
    from driftline.local.handlers import load_handler
    load_handler(sys.argv[1])
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "heavy": sorted({m.split(".")[0] for m in sys.modules} & heavy)}))
"""


def sample(name: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, name, *HEAVY], capture_output=True, text=True, cwd=ROOT, timeout=300, check=False
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        return {"error": last}
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(name: str) -> dict:
    runs = [sample(name) for _ in range(SAMPLES)]
    errors = [r["error"] for r in runs if "error" in r]
    if errors:
        return {"error": errors[0]}
    seconds = [r["seconds"] for r in runs]
    return {"median": statistics.median(seconds), "min": min(seconds), "max": max(seconds), "heavy": runs[0]["heavy"]}


def main() -> int:
    print(f"cold import, median of {SAMPLES} fresh interpreters per row (seconds)")
    baseline = measure("baseline")
    if "error" in baseline:
        print(f"baseline failed: {baseline['error']}")
        return 1
    header = f"{'module':<12} {'median':>8} {'min':>8} {'max':>8} {'x base':>7}  heavy imports"
    print(header)
    print("-" * len(header))
    print(
        f"{'baseline':<12} {baseline['median']:8.3f} {baseline['min']:8.3f} {baseline['max']:8.3f} {1.0:7.2f}"
        "  (boto3 + powertools Logger/Metrics)"
    )
    for name, path in HANDLER_PATHS.items():
        if not path.exists():
            print(f"{name:<12} {'missing':>8}  ({path.relative_to(ROOT)} not written yet)")
            continue
        row = measure(name)
        if "error" in row:
            print(f"{name:<12} {'error':>8}  {row['error']}")
            continue
        heavy = ", ".join(row["heavy"]) or "none"
        ratio = row["median"] / baseline["median"]
        print(f"{name:<12} {row['median']:8.3f} {row['min']:8.3f} {row['max']:8.3f} {ratio:7.2f}  {heavy}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
