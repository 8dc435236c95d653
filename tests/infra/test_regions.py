"""One template for every region. Timestream for LiveAnalytics exists in only some regions: the default template
creates its database and tables under a condition on the region, and tells the functions and the SDK
``timestream_enabled`` "true" exactly there. The region list is CloudFormation's own (the per-region resource
specifications cfn-lint ships), and cfn-lint checks both templates against every region it knows."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from infra.components.preflight import CHECK_SOURCE
from infra.regions import TIMESTREAM_REGIONS
from tests.infra.test_deployed import condition_holds, resolve

# one worker synthesises once for the whole module set (pytest -n with --dist loadgroup)
pytestmark = pytest.mark.xdist_group("infra-synth")

TIMESTREAM_TYPES = {"AWS::Timestream::Database", "AWS::Timestream::Table"}
CONDITION = "TimestreamInThisRegion"
# cfn-lint warnings these templates are allowed to carry, and why
ACCEPTED_WARNINGS = {
    # Timestream for LiveAnalytics is in maintenance mode (closed to new customers since 2025-06-20); it is
    # optional (timestream=false) and acknowledged in infra/nag.py
    "W3697",
    # CDK's lambda.Function lists its role in DependsOn beside the GetAtt of its ARN (it adds the role's
    # default policy there too, which is the dependency that matters); the duplicate changes nothing
    "W3005",
}


def _specified_regions() -> dict[str, set[str]]:
    """Region -> resource types, from the specifications cfn-lint ships (a region without a file of its own is
    left out: cfn-lint would lint it with us-east-1's, which says nothing about that region)."""
    providers = resources.files("cfnlint") / "data" / "schemas" / "providers"
    return {
        entry.name.removesuffix(".json"): set(json.loads(entry.read_text()))
        for entry in providers.iterdir()
        if entry.name.endswith(".json") and entry.name != "sam.json"
    }


def test_the_timestream_regions_are_cloudformations():
    specified = _specified_regions()
    offering = {region for region, types in specified.items() if types >= TIMESTREAM_TYPES}
    assert set(TIMESTREAM_REGIONS) == offering, (
        "infra/regions.py disagrees with cfn-lint's specifications: "
        f"add {sorted(offering - set(TIMESTREAM_REGIONS))}, remove {sorted(set(TIMESTREAM_REGIONS) - offering)}"
    )
    assert len(specified) - len(offering) >= 28  # the regions the issue found without Timestream


def _all_regions() -> list[str]:
    from cfnlint.helpers import REGIONS

    return list(REGIONS)


def test_the_condition_holds_exactly_in_those_regions(synth):
    regions = _all_regions()
    assert set(TIMESTREAM_REGIONS) < set(regions)
    for region in regions:
        assert condition_holds(synth.template, CONDITION, region) == (region in TIMESTREAM_REGIONS), region


def test_timestream_resources_and_the_writers_grant_exist_only_under_the_condition(synth):
    resources_ = synth.template["Resources"]
    timestream = {k: r for k, r in resources_.items() if r["Type"] in TIMESTREAM_TYPES}
    assert len(timestream) == 3
    assert all(r.get("Condition") == CONDITION for r in timestream.values())
    # the writer's grant names the tables (the preflight's asks only account-wide questions, on "*")
    granting = [
        k
        for k, r in resources_.items()
        if r["Type"] == "AWS::IAM::Policy"
        and any(f'"{name}"' in json.dumps(r["Properties"]["PolicyDocument"]) for name in timestream)
    ]
    assert granting
    assert all(resources_[k].get("Condition") == CONDITION for k in granting)
    # nothing else names a resource that may not exist
    conditional = set(timestream) | set(granting)
    for logical_id, resource in resources_.items():
        if logical_id in conditional:
            continue
        rendered = json.dumps({k: v for k, v in resource.items() if k != "Metadata"})
        for name in conditional:
            assert f'"{name}"' not in rendered, (logical_id, name)


@pytest.mark.parametrize(("region", "expected"), [("eu-west-1", True), ("eu-west-2", False), ("ca-central-1", False)])
def test_functions_and_sdk_read_timestream_enabled_true_exactly_where_the_tables_exist(synth, region, expected):
    from driftline.config import Settings, document_source

    text = "true" if expected else "false"
    for function in synth.resources("AWS::Lambda::Function").values():
        variables = function["Properties"].get("Environment", {}).get("Variables", {})
        if "DRIFTLINE_TIMESTREAM_ENABLED" in variables:
            value = resolve(variables["DRIFTLINE_TIMESTREAM_ENABLED"], synth.template, region)
            assert Settings.from_env({"DRIFTLINE_TIMESTREAM_ENABLED": value}).timestream_enabled is expected
    document = next(
        r["Properties"]["Value"]
        for r in synth.resources("AWS::SSM::Parameter").values()
        if r["Properties"]["Name"].endswith("/settings")
    )
    settings = json.loads(resolve(document, synth.template, region))
    assert Settings.from_document(settings, document_source("settings")).timestream_enabled is expected
    (check,) = synth.resources("Custom::TimestreamPreflight").values()
    assert resolve(check["Properties"]["TimestreamInThisRegion"], synth.template, region) == text
    assert condition_holds(synth.template, CONDITION, region) is expected


def test_timestream_off_means_no_condition_and_false_everywhere(alt):
    assert CONDITION not in alt.template.get("Conditions", {})
    for function in alt.resources("AWS::Lambda::Function").values():
        assert function["Properties"]["Environment"]["Variables"]["DRIFTLINE_TIMESTREAM_ENABLED"] == "false"


def _run_check(properties: dict[str, Any], request_type: str = "Create") -> tuple[list[Any], list[str]]:
    """The preflight's inline handler, with CloudFormation's cfnresponse and a boto3 that records calls."""
    sent: list[Any] = []
    calls: list[str] = []
    cfnresponse = ModuleType("cfnresponse")
    cfnresponse.SUCCESS, cfnresponse.FAILED = "SUCCESS", "FAILED"  # type: ignore[attr-defined]
    cfnresponse.send = lambda *args, **kwargs: sent.append((args[2], kwargs.get("reason")))  # type: ignore[attr-defined]

    class Client:
        def __getattr__(self, name: str) -> Any:
            def call(**_: Any) -> dict[str, Any]:
                calls.append(name)
                raise RuntimeError("AccessDeniedException: not a Timestream customer")

            return call

    boto3 = SimpleNamespace(client=lambda service: Client())
    namespace: dict[str, Any] = {}
    saved = {name: sys.modules.get(name) for name in ("boto3", "cfnresponse")}
    sys.modules.update({"boto3": boto3, "cfnresponse": cfnresponse})  # type: ignore[dict-item]
    try:
        exec(compile(CHECK_SOURCE, "preflight", "exec"), namespace)  # nosec B102 - our own source
        namespace["handler"]({"RequestType": request_type, "ResourceProperties": properties}, None)
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
    return sent, calls


def test_the_preflight_passes_without_asking_where_the_template_creates_no_timestream():
    sent, calls = _run_check({"TimestreamInThisRegion": "false"})
    assert sent == [("SUCCESS", None)]
    assert calls == []


def test_the_preflight_still_refuses_an_account_that_cannot_use_timestream():
    sent, calls = _run_check({"TimestreamInThisRegion": "true"})
    assert calls == ["describe_endpoints"]
    ((status, reason),) = sent
    assert status == "FAILED"
    assert "timestream=false" in reason


@pytest.fixture(scope="module")
def cfn_lint_all_regions(synth, alt, tmp_path_factory) -> dict[str, tuple[subprocess.CompletedProcess[str], float]]:
    """One cfn-lint run per template, both at once (each takes several seconds: it checks 46 regions)."""
    cli = Path(sys.executable).with_name("cfn-lint")
    assert cli.exists(), f"cfn-lint is not installed beside {sys.executable}"
    folder = tmp_path_factory.mktemp("cfn-lint")
    started, running = time.perf_counter(), {}
    for which, chosen in (("default", synth), ("alternative", alt)):
        path = folder / f"{which}.json"
        path.write_text(json.dumps(chosen.template))
        command = [str(cli), "--regions", "ALL_REGIONS", "--format", "json", "--", str(path)]
        running[which] = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    results = {}
    for which, process in running.items():
        stdout, stderr = process.communicate(timeout=300)
        results[which] = (
            subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr),
            time.perf_counter() - started,
        )
    return results


@pytest.mark.parametrize("which", ["default", "alternative"])
def test_cfn_lint_finds_no_error_in_any_region(which, cfn_lint_all_regions):
    result, seconds = cfn_lint_all_regions[which]
    # the exit code is a bitmask: 2 errors, 4 warnings, 8 informational; anything else means it did not run
    assert result.returncode & ~(2 | 4 | 8) == 0, result.stderr[-3000:]
    findings = json.loads(result.stdout)
    errors = [f"{f['Rule']['Id']} {f['Message']}" for f in findings if f["Level"] == "Error"]
    assert not errors, errors[:20]
    assert not result.returncode & 2
    warnings = {f["Rule"]["Id"] for f in findings if f["Level"] == "Warning"}
    assert warnings <= ACCEPTED_WARNINGS, warnings - ACCEPTED_WARNINGS
    print(f"cfn-lint --regions ALL_REGIONS on the {which} template: {seconds:.1f} s")
