"""One synthesised app per session (synth takes seconds; Template.from_stack would synthesise again), plus one
with every non-default knob turned. Templates are read from the cloud assembly the synth wrote.

Synth packages the real handlers: while one is not written yet, the tests that need a synth are skipped, naming
it (as tests/e2e does); the packaging itself refuses a missing handler. DRIFTLINE_INFRA_SOURCE_ROOT points the
packaging at another checkout (a folder with driftline/, lambdas/*/handler.py, apps/, requirements/)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

# The longest names StackConfig accepts: every name derived from them must still fit its service's limit.
ALT_STACK = "dl-alt-stack-name-max-24"
ALT_PROJECT = "churn-project-name-at-the-limit-of-41-cha"
# Every knob away from its default (the alternative synth): the longest names, no Timestream, JWT authorisation,
# provisioned shards, a dedicated app function, subscriptions, and monitoring enabled from the start.
ALTERNATIVE_CONTEXT = {
    "stack_name": ALT_STACK,
    "project": ALT_PROJECT,
    "base_period": 1,
    "monitoring_enabled": True,
    "timestream": False,
    "api_auth": "jwt",
    "jwt_issuer": "https://issuer.example.com/",
    "jwt_audience": ["driftline"],
    "kinesis_shards": 0,  # on demand, the switch away from the provisioned default
    "serving_tracing": True,
    "api_access_logs": "full",
    "results_ttl_days": 0,
    "per_endpoint_metrics": True,
    "apps": [{"name": "my-drift", "memory_mb": 3008, "timeout_seconds": 600}],
    "alert_emails": ["ops@example.com"],
    "alert_subscriptions": [{"protocol": "https", "endpoint": "https://hooks.example.com/driftline"}],
    "retain_data": False,
    "log_retention_days": 90,
    "events_retention_days": 400,  # a year of events, in Glacier Instant Retrieval after a week
    "events_cold_after_days": 7,
}


@dataclass
class Synth:
    app: Any
    stack: Any
    outdir: Path
    template: dict[str, Any]

    def resources(self, kind: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.template["Resources"].items() if v["Type"] == kind}

    def assertions(self) -> Any:
        from aws_cdk.assertions import Template

        return Template.from_json(self.template)


def cdk_json_context() -> dict[str, Any]:
    return json.loads((ROOT / "cdk.json").read_text())["context"]


def source_root() -> Path:
    return Path(os.environ.get("DRIFTLINE_INFRA_SOURCE_ROOT", ROOT))


def skip_unless_every_handler_exists(root: Path) -> None:
    from driftline.deploy.functions import FUNCTIONS

    missing = [d.source for d in FUNCTIONS.values() if not (root / d.source).is_file()]
    if missing:
        pytest.skip("a handler file is not written yet: " + ", ".join(missing))


def _synth(tmp_path_factory: pytest.TempPathFactory, context: dict[str, Any], name: str) -> Synth:
    from infra.app import build_app

    source_root_ = source_root()
    skip_unless_every_handler_exists(source_root_)
    outdir = tmp_path_factory.mktemp(f"{name}-cdk.out")
    app, stack = build_app(
        context,
        outdir=str(outdir),
        staging_dir=tmp_path_factory.mktemp(f"{name}-staging"),
        source_root=source_root_,
    )
    assembly = app.synth()
    template = assembly.get_stack_by_name(stack.stack_name).template
    return Synth(app=app, stack=stack, outdir=outdir, template=template)


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The stack as `npx cdk synth` builds it from cdk.json (cdk-nag included: synth fails on a finding)."""
    return _synth(tmp_path_factory, cdk_json_context(), "default")


@pytest.fixture(scope="session")
def alt(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return _synth(tmp_path_factory, cdk_json_context() | ALTERNATIVE_CONTEXT, "alternative")


@pytest.fixture(scope="session")
def template(synth: Synth) -> Any:
    return synth.assertions()
