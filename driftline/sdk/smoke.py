"""``driftline smoke``: after a deploy (or against the local stack), prove the deployed system answers and monitors.

Each check is one thing a deployment must do, in the order traffic does it:

1. ``GET /v2/health/live`` and ``GET /v2`` on the HTTP API (SigV4-signed when the API is a deployed stack's);
2. a model the serving function serves: ``--model`` names one already routed; otherwise the smoke model
   (``driftline-smoke``, a two-feature model whose class is in the driftline package, so every serving image can
   load it) is logged once and routed by the stack's serving function, next to the routes it already has;
3. its metadata and readiness (``GET /v2/models/{name}``, ``.../ready``);
4. one inference (``POST /v2/models/{name}/infer``);
5. that request's rows in the parquet dataset on S3 (the stream function ran);
6. the endpoint's live figures counting it (the stream function's second half);
7. the endpoint's results readable (the writer's table; empty until a window closes).

Nothing is faked: each check calls the deployment as a user would and says what it saw and how long it took.
"""

from __future__ import annotations

import io
import pickle
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from driftline.config import Settings
from driftline.errors import DriftlineError, NotFoundError

SMOKE_MODEL = "driftline-smoke"
SMOKE_ROWS = [[0.25, 0.75]]


class SmokeModel:
    """The smoke model: class 1 when the first feature is larger than the second. Defined here so every
    serving image (which ships the driftline package) can unpickle it, whatever frameworks it has."""

    feature_names_in_ = ("x1", "x2")

    def predict(self, rows: Any) -> list[int]:
        import numpy as np

        values = np.asarray(rows, dtype=float)  # a DataFrame with the feature names, or a plain array
        return [int(a > b) for a, b in values[:, :2]]


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    seconds: float

    def line(self) -> str:
        return f"  {'ok  ' if self.ok else 'FAIL'}  {self.name:<28}{self.seconds:6.2f} s  {self.detail}"


@dataclass
class SmokeReport:
    api_url: str
    project: str
    function: str
    model: str
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    def text(self) -> str:
        head = (
            f"smoke test of {self.api_url} (project {self.project!r}, function {self.function!r}, model {self.model!r})"
        )
        verdict = "all checks passed" if self.ok else "FAILED: the deployment does not do what it must (see above)"
        return "\n".join([head, *(c.line() for c in self.checks), verdict])

    def to_dict(self) -> dict[str, Any]:
        return {
            "api_url": self.api_url,
            "project": self.project,
            "function": self.function,
            "model": self.model,
            "ok": self.ok,
            "checks": [c.__dict__ for c in self.checks],
        }


class _Stop(Exception):
    """A check failed and the ones after it cannot run."""


def run_smoke(
    settings: Settings,
    *,
    model: str | None = None,
    timeout: float = 180.0,
    headers: dict[str, str] | None = None,
    progress: Callable[[Check], None] | None = None,
) -> SmokeReport:
    """Run every check against the installation ``settings`` describes (its own project and serving function)."""
    from driftline.sdk.http import request_json
    from driftline.sdk.project import get_or_create_project
    from driftline.sdk.serving import served_by_api, serving_url

    served = served_by_api(settings)
    project_name, function_name = served.project, served.serving_function
    base = serving_url(settings, project_name, function_name).rstrip("/")
    report = SmokeReport(base, project_name, function_name, model or SMOKE_MODEL)

    def check(name: str, step: Callable[[], str], *, fatal: bool = True) -> None:
        started = time.monotonic()
        try:
            detail, ok = step(), True
        except (DriftlineError, TimeoutError, AssertionError) as exc:
            detail, ok = f"{type(exc).__name__}: {exc}", False
        except Exception as exc:  # an AWS or network error: what the user must see
            detail, ok = f"{type(exc).__name__}: {exc}", False
        result = Check(name, ok, detail, time.monotonic() - started)
        report.checks.append(result)
        if progress is not None:
            progress(result)
        if not ok and fatal:
            raise _Stop

    def get(path: str) -> Any:
        return request_json(f"{base}{path}", method="GET", headers=headers)

    project = get_or_create_project(project_name, settings=settings)
    state: dict[str, Any] = {}
    try:
        check("health", lambda: f"live: {get('/v2/health/live').get('live')}")
        check("server metadata", lambda: f"{get('/v2').get('name')} {get('/v2').get('version')}")
        check("model routed", lambda: _route(project, function_name, model, state))
        check("model metadata", lambda: _metadata(get, report.model))

        def infer() -> str:
            answer = request_json(
                f"{base}/v2/models/{report.model}/infer", body={"inputs": state["rows"]}, headers=headers
            )
            state["request_id"] = answer["id"]
            state["started"] = time.monotonic()
            return f"request {answer['id']}: outputs {answer['outputs'][0]['data']}"

        check("inference", infer)
        endpoint_id = project.get_model_endpoint(f"{function_name}/{report.model}").endpoint_id
        check("event stored on S3", lambda: _event_stored(project, endpoint_id, state["request_id"], timeout))
        check("live figures", lambda: _live_figures(project, endpoint_id, state, timeout))
        check("results readable", lambda: f"{len(project.get_results(endpoint_id))} result rows so far")
    except _Stop:
        pass
    return report


def _route(project: Any, function_name: str, model: str | None, state: dict[str, Any]) -> str:
    from driftline.sdk.serving import ServingFunction, import_function

    try:
        fn = project.get_function(function_name)
    except NotFoundError:
        fn = None
    if fn is not None and not isinstance(fn, ServingFunction):
        raise AssertionError(f"{function_name!r} is a monitoring application, not a serving function")
    if model is not None:
        if fn is None or model not in fn.models:
            routed = sorted(fn.models) if fn is not None else []
            raise AssertionError(f"serving function {function_name!r} routes no model {model!r} (it routes {routed})")
        width = len(project.get_model(model).feature_names)
        if not width:
            raise AssertionError(f"model {model!r} has no feature names: pass a model logged with a training set")
        state["rows"] = [[0.0] * width]  # the smoke checks the path, not the model: any row of the right width
        return f"{model!r} routed by {function_name!r}"
    state["rows"] = SMOKE_ROWS
    logged = _smoke_model_logged(project)
    if fn is None:
        fn = import_function("hub://v2_model_server", project=project.name, new_name=function_name)
        fn.set_tracking()
    if SMOKE_MODEL in fn.models and logged:
        return f"{SMOKE_MODEL!r} already routed by {function_name!r}"
    fn.add_model(SMOKE_MODEL, model_path=f"store://models/{project.name}/{SMOKE_MODEL}:latest")
    project.deploy_function(fn)
    return f"{SMOKE_MODEL!r} logged and routed by {function_name!r} (next to {sorted(set(fn.models) - {SMOKE_MODEL})})"


def _smoke_model_logged(project: Any) -> bool:
    import pandas as pd

    try:
        project.get_model(SMOKE_MODEL)
        return True
    except NotFoundError:
        pass
    with TemporaryDirectory(prefix="driftline-smoke-") as folder:
        path = Path(folder) / "model.pkl"
        buffer = io.BytesIO()
        pickle.dump(SmokeModel(), buffer)
        path.write_bytes(buffer.getvalue())
        training = pd.DataFrame({"x1": [0.0, 0.5, 1.0, 0.2], "x2": [1.0, 0.5, 0.0, 0.9], "label": [0, 0, 1, 0]})
        project.log_model(SMOKE_MODEL, model_file=path, training_set=training, label_column="label")
    return False


def _metadata(get: Callable[[str], Any], model: str) -> str:
    metadata = get(f"/v2/models/{model}")
    ready = get(f"/v2/models/{model}/ready")
    if not ready.get("ready"):
        raise AssertionError(f"model {model!r} is not ready: {ready}")
    inputs = [i.get("name") for i in metadata.get("inputs", [])]
    return f"version {metadata.get('versions', ['?'])[-1] if metadata.get('versions') else '?'}, inputs {inputs}"


def _poll(what: str, timeout: float, probe: Callable[[], str | None]) -> str:
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found is not None:
            return found
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what} not seen within {timeout:.0f} s")
        time.sleep(1.0)


def _event_stored(project: Any, endpoint_id: str, request_id: str, timeout: float) -> str:
    import pandas as pd

    from driftline.aws.events_store import list_keys

    clients = project.clients
    seen: set[str] = set()

    def probe() -> str | None:
        for key in list_keys(clients, endpoint_id):
            if key in seen:
                continue
            seen.add(key)
            body = clients.s3.get_object(Bucket=clients.settings.bucket, Key=key)["Body"].read()
            frame = pd.read_parquet(io.BytesIO(body), columns=["request_id"])
            if (frame["request_id"] == request_id).any():
                return f"s3://{clients.settings.bucket}/{key}"
        return None

    return _poll(f"request {request_id} in the parquet dataset", timeout, probe)


def _live_figures(project: Any, endpoint_id: str, state: dict[str, Any], timeout: float) -> str:
    def probe() -> str | None:
        endpoint = project.get_model_endpoint(endpoint_id)
        if endpoint.predictions and endpoint.last_request is not None:
            return f"{endpoint.predictions} predictions, last prediction {endpoint.last_prediction}"
        return None

    return _poll("the endpoint's live figures", timeout, probe)
