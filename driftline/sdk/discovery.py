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
import json
import os
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from driftline.config import ENV_PREFIX, ServingIdentity, Settings, document_source
from driftline.errors import ConfigurationError

STATE_FILE_NAME = "local-stack.json"


def state_dir() -> Path:
    return Path(os.environ.get("DRIFTLINE_HOME") or Path.home() / ".driftline")


def state_path() -> Path:
    return state_dir() / STATE_FILE_NAME


class StackRunning(ConfigurationError):
    """Another local stack owns this home's state file."""


_RUNNING: set[str] = set()  # stack ids started by this process and not stopped
_STATE_LOCK = threading.Lock()


def check_home_free() -> None:
    """Raise :class:`StackRunning` when a running stack owns this home's state file (before starting another)."""
    current = _read_raw()
    if current is not None and _owned_by_a_running_stack(current):
        where = current.get("settings", {}).get("api_url", "?")
        raise StackRunning(
            f"a local stack already runs from {state_path()} (pid {current.get('pid')}, {where}); stop it first "
            "(Ctrl-C in its shell), or give this one another home: DRIFTLINE_HOME=<folder> driftline local up"
        )


def write_local_state(settings: Settings, pid: int | None = None, stack_id: str | None = None, **extra: Any) -> str:
    """Record a running local stack (called by the local runtime once it answers); returns its stack id.

    One stack per home: a state file of a stack that still runs (another process's, or another stack of this
    process) is never overwritten (:class:`StackRunning` says which and how to run a second one). The file holds
    the keys of the stack's SDK principal, so it is readable by its owner only."""
    path = state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    owner = pid or os.getpid()
    stack_id = stack_id or uuid.uuid4().hex
    with _STATE_LOCK:
        check_home_free()
        payload = {
            "pid": owner,
            "stack_id": stack_id,
            "started": datetime.now(UTC).isoformat(),
            "settings": settings.to_document(credentials=True),
            **extra,
        }
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(json.dumps(payload, indent=2))
        tmp.replace(path)
        if owner == os.getpid():
            _RUNNING.add(stack_id)
    return stack_id


def _owned_by_a_running_stack(state: dict[str, Any]) -> bool:
    pid = state.get("pid")
    if not isinstance(pid, int) or not _alive(pid):
        return False
    if pid != os.getpid():
        return True
    return state.get("stack_id") in _RUNNING


def clear_local_state(stack_id: str | None = None, pid: int | None = None) -> None:
    """Remove the state file if it belongs to ``stack_id`` (or, without one, to ``pid``: default this process)."""
    with _STATE_LOCK:
        if stack_id is not None:
            _RUNNING.discard(stack_id)
        state = _read_raw()
        if state is None:
            return
        mine = state.get("stack_id") == stack_id if stack_id is not None else state.get("pid") == (pid or os.getpid())
        if mine:
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
    """The settings of a running local stack (with its SDK principal's credentials), or None when none runs."""
    state = _read_raw()
    if not state or not isinstance(state.get("pid"), int) or not _alive(state["pid"]):
        return None
    return Settings.from_document(state.get("settings", {}), document_source(f"local stack state {state_path()}"))


def resolve_settings(settings: Settings | None = None, environ: dict[str, str] | None = None) -> Settings:
    if settings is not None:
        return settings
    env = dict(os.environ if environ is None else environ)
    if env.get("DRIFTLINE_ENDPOINT_URL") or env.get("DRIFTLINE_BUCKET"):
        return _from_env(env)
    local = read_local_state()
    if local is not None:
        return local
    deployed = _deployed(env)
    if deployed is not None:
        return deployed
    if not _has_aws_credentials():
        raise ConfigurationError(
            "no driftline installation found: no local stack is running (start one with `make local` or "
            "`driftline local up`; the SDK and the CLI then find it from any shell), no DRIFTLINE_* settings are "
            "set, and there are no AWS credentials to look for a deployed stack"
        )
    return _from_env(env)


def _from_env(env: dict[str, str]) -> Settings:
    """The installation from ``DRIFTLINE_*``; ``DRIFTLINE_PROJECT`` and ``DRIFTLINE_SERVING_FUNCTION`` say which
    serving function ``DRIFTLINE_API_URL`` serves, as the settings document of a deployed stack does."""
    settings = Settings.from_env(env)
    if any(ENV_PREFIX + key.upper() in env for key in ServingIdentity().to_values()):
        settings = settings.replace(api_serves=ServingIdentity.from_env(env))
    return settings


def _has_aws_credentials() -> bool:
    import boto3

    return boto3.session.Session().get_credentials() is not None


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
