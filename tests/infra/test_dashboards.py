"""The Grafana dashboards: the committed JSON is exactly the builder's output, and each file is a valid dashboard
(unique ids, panels on the 24-column grid without overlap, every query bound to a declared data source variable,
every template variable it uses declared, metric names the functions really emit)."""

from __future__ import annotations

import importlib.util
import json
import re
import sys

import pytest

from driftline.deploy.functions import SERVICES
from tests.infra.conftest import ROOT

DASHBOARDS = ROOT / "dashboards"


def _builder():
    spec = importlib.util.spec_from_file_location("driftline_dashboards_build", DASHBOARDS / "build.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is created
    spec.loader.exec_module(module)
    return module


BUILDER = _builder()
FILES = sorted(BUILDER.DASHBOARDS)


def test_committed_json_is_the_builders_output():
    built = BUILDER.build_all()
    assert sorted(built) == FILES == sorted(p.name for p in DASHBOARDS.glob("*.json"))
    for name, text in built.items():
        assert (DASHBOARDS / name).read_text() == text, f"{name} is stale: run python dashboards/build.py"
    assert BUILDER.main(["--check"]) == 0


def test_four_dashboards_after_mlrun_with_unique_uids():
    boards = [json.loads((DASHBOARDS / f).read_text()) for f in FILES]
    uids = [b["uid"] for b in boards]
    assert len(set(uids)) == 4
    assert all(len(uid) <= 40 for uid in uids)
    titles = " ".join(b["title"] for b in boards)
    for part in ("overview", "details", "performance", "applications"):
        assert part in titles


def _overlap(a: dict, b: dict) -> bool:
    return not (
        a["x"] + a["w"] <= b["x"] or b["x"] + b["w"] <= a["x"] or a["y"] + a["h"] <= b["y"] or b["y"] + b["h"] <= a["y"]
    )


@pytest.mark.parametrize("name", FILES)
def test_each_file_is_a_valid_dashboard(name):
    board = json.loads((DASHBOARDS / name).read_text())
    for key in ("uid", "title", "panels", "templating", "schemaVersion", "time", "tags"):
        assert key in board, key
    assert isinstance(board["schemaVersion"], int)
    variables = {v["name"]: v for v in board["templating"]["list"]}
    datasource_variables = {n for n, v in variables.items() if v["type"] == "datasource"}
    assert datasource_variables == {"timestream", "cloudwatch"}
    panels = board["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0
        assert grid["w"] > 0
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] == "text":
            continue
        targets = panel["targets"]
        assert targets, panel["title"]
        assert len({t["refId"] for t in targets}) == len(targets), panel["title"]
        for target in targets:
            uid = target["datasource"]["uid"]
            assert uid.startswith("${"), (panel["title"], uid)
            assert uid[2:-1] in datasource_variables, (panel["title"], uid)
            text = json.dumps(target)
            for used in re.findall(r"\$(?!__)\{?([a-z_]+)", text):
                assert used in variables, (panel["title"], used)
            if target["datasource"]["type"] == "grafana-timestream-datasource":
                assert "$__timeFilter" in target["rawQuery"], panel["title"]
                assert '"$database".' in target["rawQuery"], panel["title"]
    for i, a in enumerate(panels):
        for b in panels[i + 1 :]:
            assert not _overlap(a["gridPos"], b["gridPos"]), (a["title"], b["title"])


def test_cloudwatch_queries_use_the_emitted_names_and_services():
    assert BUILDER.SERVICE == SERVICES
    emitted = set()
    for path in [*ROOT.glob("lambdas/*/handler.py"), ROOT / "apps" / "handler.py", *ROOT.glob("driftline/**/*.py")]:
        emitted |= set(re.findall(r'add_metric\(name="([A-Za-z]+)"', path.read_text()))
    # the writer's per-status counts: "Results" + the status name in CamelCase (driftline/writer/run.py)
    emitted |= {"ResultsIrrelevant", "ResultsNoDetection", "ResultsPotentialDetection", "ResultsDetected"}
    used = set()
    for name in FILES:
        for panel in json.loads((DASHBOARDS / name).read_text())["panels"]:
            for target in panel.get("targets", []):
                if target["datasource"]["type"] == "cloudwatch" and target["namespace"] == "driftline":
                    used.add(target["metricName"])
                    assert target["dimensions"]["service"] in SERVICES.values()
    assert used
    assert used <= emitted, used - emitted


def test_serving_traffic_comes_from_the_http_apis_own_metrics():
    """Requests and latency are API Gateway's metrics of the stack's HTTP API (chosen by the `api` variable)."""
    api_targets = []
    for name in FILES:
        board = json.loads((DASHBOARDS / name).read_text())
        assert "api" in {v["name"] for v in board["templating"]["list"]}
        for panel in board["panels"]:
            api_targets += [t for t in panel.get("targets", []) if t.get("namespace") == "AWS/ApiGateway"]
    assert {t["metricName"] for t in api_targets} == {"Count", "Latency", "IntegrationLatency", "4xx", "5xx"}
    assert all(t["dimensions"] == {"ApiId": "$api"} for t in api_targets)


def test_readme_explains_the_import():
    readme = (DASHBOARDS / "README.md").read_text()
    for needle in ("Amazon Managed Grafana", "Timestream", "CloudWatch", "build.py", "Import"):
        assert needle in readme, needle


def test_details_charts_joint_drift_and_estimated_against_realized_performance():
    board = json.loads((DASHBOARDS / "details.json").read_text())
    queries = {p["title"]: " ".join(t.get("rawQuery", "") for t in p.get("targets", [])) for p in board["panels"]}
    joint = queries["Joint drift over time"]
    for needle in ("'pca_reconstruction_error'", "'domain_classifier_auc'", "$.band_upper"):
        assert needle in joint, needle
    estimated = queries["Estimated vs realized performance"]
    for needle in ("estimated\\_%", "$.band_lower", "$.band_upper", "$.realized"):
        assert needle in estimated, needle
    assert "$.contributions[0].feature" in queries["Joint drift: what changed (newest window)"]
