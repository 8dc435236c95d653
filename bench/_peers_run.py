"""Runs inside bench/.venv-peers (evidently 0.7.23, pandas < 3): Evidently's default data drift report on the
benchmark's data, written by bench/drift_quality.py. Prints one JSON object: per-column verdicts on the shifted
window, the report's wall time, and false alarms over the no-drift windows."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# the parser the driftline app uses, on real output
from driftline.applications.builtin.evidently_app import column_verdicts  # noqa: E402


def main() -> int:
    folder = Path(sys.argv[1])
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    ref = pd.read_parquet(folder / "reference.parquet")
    cur = pd.read_parquet(folder / "current.parquet")
    Report([DataDriftPreset()]).run(current_data=cur.head(1000), reference_data=ref.head(1000))  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        snapshot = Report([DataDriftPreset()]).run(current_data=cur, reference_data=ref)
        verdicts = column_verdicts(snapshot.dict())
        times.append(time.perf_counter() - start)
    windows = pd.read_parquet(folder / "nodrift.parquet")
    alarms, evaluated = 0, 0
    for _, window in windows.groupby("window"):
        snap = Report([DataDriftPreset()]).run(current_data=window.drop(columns=["window"]), reference_data=ref)
        alarms += any(v["drifted"] for v in column_verdicts(snap.dict()).values())
        evaluated += 1
    print(json.dumps({"verdicts": verdicts, "seconds": min(times), "alarms": alarms, "windows": evaluated}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
