"""The CDK app: ``npx cdk synth`` runs ``python -m infra.app`` (cdk.json). Reads the user's knobs from the CDK
context, builds one :class:`DriftlineStack`, and runs cdk-nag's AwsSolutions checks on every synth (an
unacknowledged finding fails it). Calls no AWS API: synth needs no network, Docker or credentials."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from infra.config import StackConfig
from infra.stack import DriftlineStack


def build_app(
    context: Mapping[str, Any] | None = None,
    outdir: str | None = None,
    staging_dir: Path | None = None,
    source_root: Path | None = None,
) -> tuple[cdk.App, DriftlineStack]:
    """The app and its stack. ``context`` adds to (or, run by the CLI, replaces nothing of) the CLI's context."""
    app = cdk.App(context=dict(context or {}), outdir=outdir, analytics_reporting=False)
    config = StackConfig.from_context(_context_values(app))
    extra = {"source_root": source_root} if source_root is not None else {}
    stack = DriftlineStack(
        app, "Driftline", config=config, staging_dir=staging_dir or Path(tempfile.mkdtemp(prefix="driftline-")), **extra
    )
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app, stack


def _context_values(app: cdk.App) -> dict[str, Any]:
    values = {}
    for name in StackConfig.__dataclass_fields__:
        value = app.node.try_get_context(name)
        if value is not None:
            values[name] = value
    return values


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="driftline-assets-") as staging:
        app, _ = build_app(staging_dir=Path(staging))
        app.synth()


if __name__ == "__main__":
    main()
