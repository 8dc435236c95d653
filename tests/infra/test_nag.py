"""cdk-nag's AwsSolutions checks run on every synth (build_app registers them): zero findings are left, every
acknowledgement carries a reason a reviewer can judge. (cfn-lint runs in tests/infra/test_regions.py, on every
region.)"""

from __future__ import annotations

import json

import pytest

# one worker synthesises once for the whole module set (pytest -n with --dist loadgroup)
pytestmark = pytest.mark.xdist_group("infra-synth")


def _reports(synth) -> dict[str, dict]:
    report = json.loads((synth.outdir / "validation-report.json").read_text())
    return {r["pluginName"]: r for r in report["pluginReports"]}


@pytest.mark.parametrize("which", ["default", "alternative"])
def test_no_finding_is_left_and_every_acknowledgement_has_a_reason(which, synth, alt):
    reports = _reports(synth if which == "default" else alt)
    assert "AwsSolutions" in reports
    for name, report in reports.items():
        assert report["conclusion"] == "success", name
        assert report["violations"] == [], (name, [v["ruleName"] for v in report["violations"]])
    nag = reports["AwsSolutions"]
    assert nag["suppressedViolations"], "the AwsSolutions pack ran and found what the design accepts"
    for suppressed in (s for r in reports.values() for s in r["suppressedViolations"]):
        reason = suppressed["reason"]
        assert len(reason) >= 40, suppressed["ruleName"]
        assert "historical reasons" not in reason, suppressed["ruleName"]  # CDK's own stock acknowledgement
        # acknowledged on the resource or its own construct, never on the stack or the app
        assert suppressed["acknowledgedAt"].count("/") >= 2, (suppressed["ruleName"], suppressed["acknowledgedAt"])


def test_acknowledged_rules_are_the_expected_ones(synth):
    rules = {s["ruleName"].split("[")[0] for s in _reports(synth)["AwsSolutions"]["suppressedViolations"]}
    assert rules == {"AwsSolutions-IAM5", "AwsSolutions-L1", "AwsSolutions-SQS3", "AwsSolutions-TS3"}


def test_an_unacknowledged_finding_fails_synth(tmp_path):
    """The pack is wired the way build_app wires it: a non-compliant resource stops synth."""
    import aws_cdk as cdk
    from aws_cdk import aws_sqs as sqs
    from cdk_nag import AwsSolutionsChecks

    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "Bad")
    sqs.Queue(stack, "NoDeadLetterQueue", enforce_ssl=True)
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
