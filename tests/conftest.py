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
    from driftline.local.emulation import make_dynamodb_writes_atomic

    make_dynamodb_writes_atomic()  # as DynamoDB's conditional writes are
    with mock_aws():
        yield provision(settings)


CONTROLLER_SHARDS = (1, 4)


@pytest.fixture(params=CONTROLLER_SHARDS, ids=lambda n: f"{n}-shards")
def tick(request):
    """One controller tick at each shard count: ``tick(clients, invoker, project, now)`` runs the scheduled
    invocation and, with more than one shard, every shard invocation it hands out, in parallel threads as Lambda
    would run them (:func:`driftline.controller.fanout.run_tick`); returns the report with every shard's pairs."""
    from driftline.controller.fanout import run_tick

    def run(clients, invoker, project, now):
        return run_tick(clients, invoker, project, now, shards=request.param)

    run.shards = request.param
    return run


@pytest.fixture
def clients(aws):
    from driftline.aws.clients import Clients

    return Clients(aws)


class IamOn:
    """IAM enforced on the emulation for one test, as the local stack enforces it: a local administrator for the
    test's own setup and checks (:attr:`admin`), and one principal per function, the scheduler and the SDK made
    from driftline.deploy's statements (:meth:`clients`). :attr:`ledger` says who called what."""

    def __init__(self, settings) -> None:
        from driftline.aws.clients import Clients
        from driftline.aws.provision import topic_key_arn
        from driftline.config import Credentials
        from driftline.local.deployment import install_principals
        from driftline.local.iam import Enforcer, create_admin

        bootstrap = Clients(settings.replace(credentials=Credentials("bootstrap", "bootstrap")))
        admin = create_admin(bootstrap.client("iam"))
        self.admin = Clients(settings.replace(credentials=admin.credentials))
        self.principals = install_principals(
            settings,
            self.admin.client("iam"),
            self.admin.client("sts"),
            topic_key_arn=topic_key_arn(self.admin, settings.alerts_topic_arn) or "",
        )
        self.settings = self.principals.settings
        self.admin = Clients(self.settings.replace(credentials=admin.credentials))
        self.enforcer = Enforcer({**self.principals.role_labels, admin.name: "admin"})
        self.ledger = self.enforcer.ledger
        self._clients: dict = {}

    def become(self, label: str, monkeypatch) -> None:
        """The environment's credentials become ``label``'s, as Lambda gives a function its role's: a handler that
        builds its clients from the environment then acts as that function."""
        credentials = self.principals.credentials(label)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", credentials.access_key_id)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", credentials.secret_access_key)
        monkeypatch.setenv("AWS_SESSION_TOKEN", credentials.session_token or "")

    def clients(self, label: str):
        """Clients acting as ``label`` (serving, stream, controller, app, writer, scheduler, sdk)."""
        from driftline.aws.clients import Clients

        if label not in self._clients:
            self._clients[label] = Clients(self.principals.settings_for(label))
        return self._clients[label]


@pytest.fixture
def iam(aws) -> Iterator[IamOn]:
    """IAM enforced for this test (see :class:`IamOn`); no call may be denied unless the test says so."""
    on = IamOn(aws)
    with on.enforcer.active():
        yield on


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
