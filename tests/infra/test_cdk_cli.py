"""The real CLI: `npx cdk synth` (the pinned aws-cdk from package.json, installed by `npm ci`) synthesises the
stack with no network, no Docker and no AWS credentials. Where the machine allows it, the run happens inside a
fresh network namespace (`unshare -n`) so any network access would fail it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from tests.infra.conftest import ROOT, skip_unless_every_handler_exists

# one worker synthesises once for the whole module set (pytest -n with --dist loadgroup)
pytestmark = pytest.mark.xdist_group("infra-synth")


def _offline_prefix() -> list[str]:
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-n", "true"], capture_output=True, check=False).returncode == 0:
        return [unshare, "-n"]
    return []


def test_npx_cdk_synth_works_offline_without_credentials(tmp_path):
    skip_unless_every_handler_exists(ROOT)
    cli = ROOT / "node_modules" / ".bin" / "cdk"
    if not cli.exists():
        pytest.fail("the pinned CDK CLI is not installed: run `npm ci` at the repository root (make test does)")
    version = json.loads((ROOT / "node_modules" / "aws-cdk" / "package.json").read_text())["version"]
    assert version == json.loads((ROOT / "package.json").read_text())["devDependencies"]["aws-cdk"]
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "CDK_", "DRIFTLINE_")) and key not in {"PYTEST_CURRENT_TEST"}
    }
    env |= {
        "HOME": str(tmp_path / "home"),  # no ~/.aws, no CDK user settings
        "AWS_EC2_METADATA_DISABLED": "true",
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        "CDK_DISABLE_CLI_TELEMETRY": "true",
        "npm_config_offline": "true",
        "npm_config_update_notifier": "false",
    }
    outdir = tmp_path / "cdk.out"
    command = [*_offline_prefix(), "npx", "--no-install", "cdk", "synth", "--quiet", "--no-notices", "-o", str(outdir)]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=600)
    assert result.returncode == 0, (result.stdout[-2000:], result.stderr[-4000:])
    template = json.loads((outdir / "Driftline.template.json").read_text())
    kinds = {r["Type"] for r in template["Resources"].values()}
    assert {"AWS::Lambda::Function", "AWS::ApiGatewayV2::Api", "AWS::Kinesis::Stream"} <= kinds
    report = json.loads((outdir / "validation-report.json").read_text())
    assert {r["pluginName"]: r["conclusion"] for r in report["pluginReports"]}["AwsSolutions"] == "success"
