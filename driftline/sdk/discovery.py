"""How the SDK and the CLI find an installation without configuration.

Order: settings passed explicitly; ``DRIFTLINE_*`` environment variables (if ``DRIFTLINE_ENDPOINT_URL`` or
``DRIFTLINE_BUCKET`` is set); a running local stack (its state file, written by ``driftline local up`` and
removed when it stops; a stale file whose process is gone is ignored); a deployed stack, found by the SSM
parameter ``/driftline/{stack}/settings`` the CDK stack writes (stack name from ``DRIFTLINE_STACK_NAME``, default
``driftline``; looked up only when AWS credentials are available, skipped with ``DRIFTLINE_NO_DEPLOYED_LOOKUP=1``);
otherwise the defaults.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from driftline.config import Settings

STATE_FILE_NAME = "local-stack.json"


def state_dir() -> Path:
    return Path(os.environ.get("DRIFTLINE_HOME") or Path.home() / ".driftline")


def state_path() -> Path:
    return state_dir() / STATE_FILE_NAME


def write_local_state(settings: Settings, pid: int | None = None) -> Path:
    """Record a running local stack (called by the local runtime once it answers)."""
    path = state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fields = {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings) if f.name != "extra"}
    payload = {"pid": pid or os.getpid(), "started": datetime.now(UTC).isoformat(), "settings": fields}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=2))
    tmp.replace(path)
    return path


def clear_local_state(pid: int | None = None) -> None:
    """Remove the state file if it belongs to ``pid`` (default: this process)."""
    state = _read_raw()
    if state is not None and state.get("pid") == (pid or os.getpid()):
        with contextlib.suppress(FileNotFoundError):
            state_path().unlink()


def _read_raw() -> dict[str, Any] | None:
    try:
        return json.loads(state_path().read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_local_state() -> Settings | None:
    """The settings of a running local stack, or None when none runs."""
    state = _read_raw()
    if not state or not isinstance(state.get("pid"), int) or not _alive(state["pid"]):
        return None
    known = {f.name for f in dataclasses.fields(Settings)}
    return Settings(**{k: v for k, v in state.get("settings", {}).items() if k in known})


def resolve_settings(settings: Settings | None = None, environ: dict[str, str] | None = None) -> Settings:
    if settings is not None:
        return settings
    env = dict(os.environ if environ is None else environ)
    if env.get("DRIFTLINE_ENDPOINT_URL") or env.get("DRIFTLINE_BUCKET"):
        return Settings.from_env(env)
    local = read_local_state()
    if local is not None:
        return local
    deployed = _deployed(env)
    if deployed is not None:
        return deployed
    return Settings.from_env(env)


def _deployed(env: dict[str, str]) -> Settings | None:
    if env.get("DRIFTLINE_NO_DEPLOYED_LOOKUP", "").lower() in {"1", "true", "yes"}:
        return None
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    from driftline.sdk.deployed import read_deployed_settings

    session = boto3.session.Session()
    if session.get_credentials() is None:
        return None
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or session.region_name or "us-east-1"
    ssm = session.client(
        "ssm", region_name=region, config=Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 2})
    )
    try:
        return read_deployed_settings(env.get("DRIFTLINE_STACK_NAME", "driftline"), ssm)
    except (BotoCoreError, ClientError):
        return None  # no reachable stack: fall back to the defaults
