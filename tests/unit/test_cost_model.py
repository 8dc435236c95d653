"""docs/cost.md quotes what its own tables compute (bench/cost_model.py), so no figure drifts from the counted
calls, the prices or the stated assumptions."""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

from cost_model import CALL_TABLE_UNITS, COST_MD, Model, Workload, figures, read_call_table  # noqa: E402


def test_the_figures_section_is_what_the_tables_compute():
    text = COST_MD.read_text()
    quoted = re.search(r"<!-- figures:begin -->\n(.*?)\n<!-- figures:end -->", text, re.S)
    assert quoted is not None
    assert quoted.group(1).strip() == figures(text).strip(), "rerun bench/cost_model.py and paste its output"


def test_every_unit_has_calls_and_every_billing_key_has_a_price():
    table = read_call_table()
    assert set(table) == set(CALL_TABLE_UNITS)
    model = Model()
    for rows in model.billing.values():
        for _action, calls, key, times in rows:
            assert calls > 0
            assert times > 0
            assert key == "none" or key in model.prices, key


def test_the_model_follows_its_inputs():
    """More traffic costs more in total and less per prediction; more endpoints cost more."""
    model = Model()
    ten, hundred = model.monthly(Workload(10)), model.monthly(Workload(100))
    assert sum(hundred.values()) > sum(ten.values())
    assert model.per_million(Workload(100)) < model.per_million(Workload(10))
    assert sum(model.monthly(Workload(100, endpoints=100)).values()) > sum(hundred.values())
    # a doubled GET price shows in the apps' part and nowhere else
    doubled = Model()
    doubled.prices["s3_get"] *= 2
    changed = {k for k, v in doubled.monthly(Workload(100)).items() if v != hundred[k]}
    assert changed == {"apps", "stream"}


def test_alerting_windows_cost_more_in_the_writer_only():
    """An alerting window costs the writer more calls than a quiet one; its share moves the writer's part alone."""
    model = Model()
    assert model.window_written_cost(1.0) > model.window_written_cost(0.0) > 0
    base = model.monthly(Workload(100))
    model.a["alerting_window_share"] = 1.0
    changed = {k for k, v in model.monthly(Workload(100)).items() if v != base[k]}
    assert changed == {"writer"}


def test_the_cold_tier_pays_for_long_retention_of_large_objects_only():
    """Glacier IR after a week lowers a year of events at 100 requests/s; it cannot for 30 days (90 days billed
    at least), nor for objects under 128 KB (S3 leaves them in Standard)."""
    model = Model()
    requests, objects = 100 * 730 * 3600, 43_800  # a month at 100 requests/s, 6,000 rows an object

    def storage(retention, cold, objects=objects):
        return model.events_storage(requests, objects, retention, cold)

    assert storage(400, 7) < storage(400, 0) / 3
    assert storage(30, 7) > storage(30, 0)  # 90 days billed and a transition per object
    assert storage(30, 30) == storage(30, 0)  # nothing moves before the events expire
    tiny = requests  # one row an object: under 128 KB, never moved
    assert storage(400, 7, tiny) == storage(400, 0, tiny)
