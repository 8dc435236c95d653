"""docs/cost.md stays true: the local stack runs a known workload, the IAM enforcer's ledger counts every AWS call
each function makes, and no count per unit of work may exceed what docs/cost.md's call table states (the table
the cost model's figures are computed from: bench/cost_model.py)."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

from cost_model import CALL_TABLE_UNITS, read_call_table  # noqa: E402

REQUESTS = 30
# the event source mapping's polling: Lambda's, with the stream function's role, included in the shard-hour
POLLING = {"kinesis:GetRecords", "kinesis:GetShardIterator", "kinesis:DescribeStream", "kinesis:ListShards"}


def _per_unit(allowed: dict[str, dict[str, int]], principal: str, units: int) -> dict[str, float]:
    return {action: count / units for action, count in allowed.get(principal, {}).items()} if units else {}


def _calls(status: dict, function: str) -> int:
    return int(status["functions"].get(function, {}).get("calls", 0))


def measure(tmp_path, monkeypatch, iris_model) -> dict[str, dict[str, float]]:
    """Calls per unit of work, by unit (the call table's units) then IAM action."""
    from driftline import clock
    from driftline.config import ServingIdentity
    from driftline.local.runtime import LocalStack
    from driftline.sdk.project import get_or_create_project
    from driftline.sdk.serving import import_function

    monkeypatch.setenv("DRIFTLINE_HOME", str(tmp_path))
    model_path, training = iris_model
    clock.reset()
    stack = LocalStack(serves=ServingIdentity("cost"), port=0, retry_delays=(0.1, 0.2), schedule_interval=0.2)
    measured: dict[str, dict[str, float]] = {}
    try:
        settings = stack.start()
        project = get_or_create_project("cost", settings=settings)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            project.enable_model_monitoring(base_period=1)
        project.log_model("iris", model_file=model_path, training_set=training, label_column="label")
        fn = import_function("hub://v2_model_server", project=project, new_name="serving")
        fn.add_model("iris", model_path="store://models/cost/iris:latest")
        fn.set_tracking(sampling_percentage=100)
        project.deploy_function(fn)
        stack.scheduler.tick()
        fn.invoke("v2/models/iris/infer", {"inputs": [[5.0, 3.0, 1.5, 0.2]]})  # warm: per-container reads
        assert stack.drain(timeout=120)
        ledger = stack.iam.ledger

        # requests and stream batches
        ledger.clear()
        before = stack.status()
        for _ in range(REQUESTS):
            fn.invoke("v2/models/iris/infer", {"inputs": [[0.5, 0.5, 0.5, 0.5]]})
        assert stack.drain(timeout=120)
        after = stack.status()
        allowed = after["iam"]["allowed"]
        assert after["iam"]["denied"] == []
        measured["request"] = _per_unit(allowed, "serving", REQUESTS)
        measured["stream batch"] = _per_unit(allowed, "stream", _calls(after, "stream") - _calls(before, "stream"))

        # one controller tick with new traffic: its windows, the apps' reads, the writer's writes
        ledger.clear()
        before = stack.status()
        stack.advance_clock(5 * 60)
        assert stack.drain(timeout=180)
        after = stack.status()
        allowed = after["iam"]["allowed"]
        assert after["iam"]["denied"] == []
        ticks = _calls(after, "controller") - _calls(before, "controller")
        windows = _calls(after, "app") - _calls(before, "app")
        assert ticks >= 1
        assert windows >= 1
        # a tick analyses each complete window of the pair: the warm-up's minute and the requests' minute are one
        # window or two depending on the machine's pace, so the tick's calls count per window it sent
        measured["busy tick"] = _per_unit(allowed, "controller", max(ticks, windows))
        measured["window read"] = _per_unit(allowed, "app", windows)
        # the workload's constant inputs drift: every feature's result enters detected, the default alert
        # configuration fires for each (EventBridge and SNS), so this window is an alerting one
        measured["window alerting"] = _per_unit(allowed, "writer", _calls(after, "writer") - _calls(before, "writer"))

        # an idle tick: no new traffic
        ledger.clear()
        before = stack.status()
        stack.advance_clock(2 * 60)
        assert stack.drain(timeout=120)
        after = stack.status()
        measured["idle tick"] = _per_unit(
            after["iam"]["allowed"], "controller", _calls(after, "controller") - _calls(before, "controller")
        )

        # a quiet window: the training rows themselves, in one request (one event, so one window), drift nowhere:
        # the writer stores the outputs and reads no alert configuration
        ledger.clear()
        before = stack.status()
        rows = training.drop(columns="label").to_numpy().tolist()
        fn.invoke("v2/models/iris/infer", {"inputs": rows})
        assert stack.drain(timeout=120)
        stack.advance_clock(5 * 60)
        assert stack.drain(timeout=180)
        after = stack.status()
        assert after["iam"]["denied"] == []
        written = _calls(after, "writer") - _calls(before, "writer")
        assert written >= 1
        measured["window written"] = _per_unit(after["iam"]["allowed"], "writer", written)
    finally:
        stack.stop()
    return measured


@pytest.mark.e2e
def test_no_function_makes_more_calls_per_unit_of_work_than_docs_cost_md_states(tmp_path, monkeypatch, iris_model):
    table = read_call_table()
    assert set(table) == set(CALL_TABLE_UNITS)
    measured = measure(tmp_path, monkeypatch, iris_model)
    print("measured calls per unit:", {u: dict(sorted(a.items())) for u, a in measured.items()})
    over: list[str] = []
    for unit, actions in measured.items():
        stated = table[unit]
        for action, per_unit in actions.items():
            if action in POLLING:
                continue
            if per_unit > stated.get(action, 0) + 1e-9:
                over.append(f"{unit}: {action} {per_unit:.2f} per unit, docs/cost.md states {stated.get(action, 0)}")
    assert not over, "calls beyond docs/cost.md (update the code or the cost model):\n" + "\n".join(over)
    # the comparison can fail: every unit of the table was measured doing something it states
    for unit, stated in table.items():
        assert set(stated) & set(measured.get(unit, {})), (unit, stated, measured.get(unit))
