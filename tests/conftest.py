"""Shared fixtures. Tiers: tests/unit (pure, milliseconds), tests/functional (handlers in-process against
moto), tests/e2e (the local stack). Every AWS call in tests goes to moto; the fake credentials below make sure
nothing can reach a real account."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Real AWS envelopes live in ../shared/aws-events (beside the checkout); tests/events holds a copy so the
# suite does not depend on that folder being present.
EVENTS_DIR = ROOT / "tests" / "events"

for key, value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "POWERTOOLS_METRICS_NAMESPACE": "driftline",
    "POWERTOOLS_SERVICE_NAME": "driftline-tests",
    "POWERTOOLS_DEV": "false",
    # the SDK's discovery would otherwise look for a deployed stack in SSM with these fake credentials
    "DRIFTLINE_NO_DEPLOYED_LOOKUP": "1",
}.items():
    os.environ[key] = value
for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
    os.environ.pop(key, None)


def load_event(name: str) -> dict:
    """A real AWS event envelope (``http-api-v2-event``, ``kinesis-stream-event``, ``eventbridge-event``)."""
    return json.loads((EVENTS_DIR / f"{name}.json").read_text())


@pytest.fixture
def settings():
    from driftline.config import Settings

    return Settings(region="us-east-1")


@pytest.fixture
def aws(settings) -> Iterator:
    """moto in-process with every resource provisioned; yields the completed Settings."""
    from moto import mock_aws

    from driftline.aws.provision import provision

    with mock_aws():
        yield provision(settings)


@pytest.fixture
def clients(aws):
    from driftline.aws.clients import Clients

    return Clients(aws)


@pytest.fixture
def lambda_env(aws, monkeypatch):
    """The environment a deployed handler sees (``DRIFTLINE_*`` from the provisioned settings); returns a
    loader that executes a handler module afresh, as a new container would."""
    from driftline.local.handlers import load_handler

    for key, value in aws.to_env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")

    def load(name: str):
        return load_handler(name, fresh=True)

    return load


@pytest.fixture
def lambda_context():
    from driftline.local.lambda_context import LocalLambdaContext

    return LocalLambdaContext()


# The reliability suite's summary line (faults injected, survived, rows lost, rows duplicated). Hooks live here,
# at the root, so that pytest-xdist's controller has them: workers keep the ledger, the controller adds them up.
@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    figures = getattr(node, "workeroutput", {}).get("reliability_ledger")
    if figures:
        from tests.reliability.conftest import merge_worker_ledger

        merge_worker_ledger(figures)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    from tests.reliability.conftest import ledger_line

    line = ledger_line()
    if line:
        terminalreporter.write_line(line)
