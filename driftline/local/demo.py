"""``driftline demo``: the seed's model-monitoring tutorial, end to end, on the local stack.

1. train a RandomForestClassifier on iris and log it with its training set;
2. enable monitoring with a small ``base_period``;
3. deploy the serving function with tracking and invoke it 150 times with ``[0.5, 0.5, 0.5, 0.5]`` over HTTP;
4. register the user's monitoring application, then invoke 150 times with rows sampled from iris;
5. fast-forward the local clock so both windows close, let the schedule fire the controller, the apps and the
   writer run, and print the endpoint summary and one line per window and result;
6. leave ``events/`` (the parquet dataset), ``results.parquet`` and ``report.html`` in ``--out``.

It uses a running ``driftline local up`` if there is one, else starts a local stack in this process.
"""

from __future__ import annotations

import argparse
import json
import pickle
import shutil
import time
import urllib.request
import warnings
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from driftline import layout
from driftline.config import ServingIdentity, Settings
from driftline.local.handlers import REPO_ROOT
from driftline.schemas import ResultStatus

PROJECT = "iris-monitoring"
MODEL_NAME = "RandomForestClassifier"
BASE_PERIOD_MINUTES = 1
REQUESTS_PER_PHASE = 150
SEED = 7


class Admin:
    """The local stack's admin routes (clock, drain, controller), reached over HTTP like any client would."""

    def __init__(self, api_url: str) -> None:
        self.api_url = api_url.rstrip("/")

    def _post(self, path: str, body: dict[str, Any], timeout: float = 120.0) -> dict[str, Any]:
        request = urllib.request.Request(  # noqa: S310 - a loopback URL of our own stack
            f"{self.api_url}{path}",
            data=json.dumps(body).encode(),
            headers={"content-type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return json.loads(response.read() or b"{}")

    def advance_clock(self, seconds: float) -> dict[str, Any]:
        return self._post("/_local/clock/advance", {"seconds": seconds})

    def drain(self) -> dict[str, Any]:
        return self._post("/_local/drain", {"timeout": 120})

    def run_controller(self, project: str) -> dict[str, Any]:
        return self._post("/_local/controller/run", {"project": project})

    def status(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.api_url}/_local/status", timeout=30) as response:  # noqa: S310
            return dict(json.loads(response.read()))


def _say(message: str = "") -> None:
    print(message, flush=True)


def train_model(out: Path) -> tuple[Path, pd.DataFrame, pd.DataFrame]:
    """The seed's model: a RandomForestClassifier on iris (scikit-learn ships the data set)."""
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier

    iris = load_iris(as_frame=True)
    features = iris.data.rename(columns=lambda c: c.replace(" (cm)", "").replace(" ", "_"))
    train_set = features.assign(label=iris.target)
    model = RandomForestClassifier(n_estimators=20, random_state=SEED).fit(features.to_numpy(), iris.target)
    assets = out / "assets"
    assets.mkdir(parents=True, exist_ok=True)
    model_file = assets / "model.pkl"
    model_file.write_bytes(pickle.dumps(model))
    return model_file, train_set, features


PAUSES = (0.01, 0.04)  # seconds between two requests, drawn per request


def window_inputs(features: pd.DataFrame) -> tuple[list[list[float]], list[list[float]], np.ndarray, np.ndarray]:
    """The demo's two windows of inputs (150 constant rows ``[0.5, 0.5, 0.5, 0.5]``, then 150 rows sampled from
    iris) and the pauses after each request of each window: all drawn here, so a test rebuilds the windows
    the demo sends (with or without pauses)."""
    rng = np.random.default_rng(SEED)
    constant = [[0.5] * features.shape[1]] * REQUESTS_PER_PHASE
    first_pauses = rng.choice(PAUSES, size=REQUESTS_PER_PHASE)
    sampled = features.to_numpy()[rng.integers(0, len(features), REQUESTS_PER_PHASE)].tolist()
    return constant, sampled, first_pauses, rng.choice(PAUSES, size=REQUESTS_PER_PHASE)


def _invoke_many(serving: Any, rows: list[list[float]], pauses: np.ndarray | None) -> None:
    for index, row in enumerate(rows):
        serving.invoke(f"v2/models/{MODEL_NAME}/infer", json.dumps({"inputs": [row]}))
        if pauses is not None:
            time.sleep(float(pauses[index]))


def _wait_for_results(project: Any, endpoint_id: str, windows: int, timeout: float = 90.0) -> pd.DataFrame:
    deadline = time.monotonic() + timeout
    results = project.get_results(endpoint_id)
    while time.monotonic() < deadline:
        results = project.get_results(endpoint_id)
        done = results[results["result_name"] == "general_drift"] if not results.empty else results
        if len(done) >= windows:
            return results
        time.sleep(0.5)
    return results


def copy_events(settings: Settings, destination: Path) -> int:
    """Copy the stream's parquet dataset out of the emulated S3, keys kept (Hive layout)."""
    from driftline.aws.clients import Clients

    s3 = Clients(settings).s3
    if destination.exists():
        shutil.rmtree(destination)
    count = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=settings.bucket, Prefix=layout.EVENTS_PREFIX):
        for obj in page.get("Contents", []):
            target = destination / obj["Key"].removeprefix(layout.EVENTS_PREFIX)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(s3.get_object(Bucket=settings.bucket, Key=obj["Key"])["Body"].read())
            count += 1
    return count


def _fmt_latency(us: float | None) -> str:
    return "n/a" if us is None else f"{us / 1000:.2f} ms"


def run_demo(out: Path, settings: Settings | None = None, pause: bool = True) -> dict[str, Any]:
    """Run the flow; returns what it observed (the e2e test asserts on it)."""
    import driftline
    from driftline import clock
    from driftline.sdk.discovery import read_local_state

    out.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        settings = settings or read_local_state()
        if settings is None:
            from driftline.local.runtime import LocalStack

            _say("Starting a local stack in this process (AWS emulated on loopback, IAM enforced, each function in a")
            _say("process of its own under the Lambda runtime interface client)...")
            local = stack.enter_context(LocalStack(serves=ServingIdentity(PROJECT), port=0))
            settings = local.settings
        else:
            _say(f"Using the running local stack at {settings.api_url}")
        assert settings.api_url, "the local stack did not report its API URL"
        project_name = PROJECT  # the local stack serves every project's functions
        admin = Admin(settings.api_url)

        _say("\n1. Train a RandomForestClassifier on iris and log it with its training set")
        model_file, train_set, features = train_model(out)
        constant, sampled, first_pauses, second_pauses = window_inputs(features)
        project = driftline.get_or_create_project(project_name, settings=settings)
        model = project.log_model(
            MODEL_NAME, model_file=str(model_file), training_set=train_set, label_column="label", framework="sklearn"
        )
        _say(f"   logged {model.uri} with reference statistics for {len(model.feature_names)} features")

        _say(f"\n2. Enable model monitoring (base_period={BASE_PERIOD_MINUTES} minute)")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "under 10 minutes is not for production": a demo
            project.enable_model_monitoring(base_period=BASE_PERIOD_MINUTES)

        _say("\n3. Deploy the serving function with tracking, invoke it 150 times with [0.5, 0.5, 0.5, 0.5]")
        serving_fn = driftline.import_function("hub://v2_model_server", project=project_name, new_name="serving")
        serving_fn.add_model(MODEL_NAME, model_path=f"store://models/{project_name}/{MODEL_NAME}:latest")
        serving_fn.set_tracking()
        project.deploy_function(serving_fn)
        serving = project.get_function("serving")
        _invoke_many(serving, constant, first_pauses if pause else None)
        admin.drain()
        endpoint = project.get_model_endpoint(MODEL_NAME)
        _say(
            f"   endpoint {endpoint.endpoint_id}: {endpoint.predictions} predictions, "
            f"average latency {_fmt_latency(endpoint.average_latency_us)}, last prediction {endpoint.last_prediction}"
        )

        _say("\n4. Register the monitoring application, then invoke 150 times with rows sampled from iris")
        my_app = project.set_model_monitoring_function(
            func=str(REPO_ROOT / "apps" / "demo_app.py"), application_class="DemoMonitoringApp", name="myApp"
        )
        project.deploy_function(my_app)
        admin.advance_clock(BASE_PERIOD_MINUTES * 60)  # the next window starts
        _invoke_many(serving, sampled, second_pauses if pause else None)
        admin.drain()

        _say("\n5. Let the windows close: fast-forward the clock; the schedule fires the controller")
        admin.advance_clock(settings.max_lateness_seconds + 2 * BASE_PERIOD_MINUTES * 60)
        admin.drain()
        admin.run_controller(project_name)  # a no-op if the schedule already cut both windows
        admin.drain()
        results = _wait_for_results(project, endpoint.endpoint_id, windows=2)

        endpoint = project.get_model_endpoint(MODEL_NAME)
        summary = {
            "endpoint": f"{endpoint.name} ({endpoint.endpoint_id})",
            "model": endpoint.model_uri,
            "predictions": endpoint.predictions,
            "errors": endpoint.error_count,
            "average latency (ms)": (endpoint.average_latency_us or 0) / 1000,
            "last prediction": endpoint.last_prediction,
            "first request": endpoint.first_request,
            "last request": endpoint.last_request,
        }
        _say("\nEndpoint summary")
        for key, value in summary.items():
            _say(f"   {key:<22}{value}")

        verdicts = []
        _say("\nResults, one line per window and result")
        if not results.empty:
            for row in results.sort_values(["start_infer_time", "application_name", "result_name"]).itertuples():
                status = ResultStatus(int(row.result_status)).name
                window = f"{row.start_infer_time:%H:%M:%S}-{row.end_infer_time:%H:%M:%S}"
                _say(f"   {window}  {row.application_name:<22}{row.result_name:<26}{row.result_value:>8.4f}  {status}")
                if row.result_name == "general_drift":
                    verdicts.append(status)

        events_count = copy_events(settings, out / "events")
        events_df = pd.read_parquet(out / "events") if events_count else pd.DataFrame()
        results_path = out / "results.parquet"
        # extra_data is free-form per app: kept as a JSON string column (as MLRun's TSDB keeps it), so one
        # parquet schema holds every app's results
        results.assign(result_extra_data=results["result_extra_data"].map(json.dumps)).to_parquet(
            results_path, index=False
        )
        from driftline.report import ReportInput, write_report

        write_report(
            out / "report.html",
            ReportInput(
                title=f"driftline demo: {project_name} / {MODEL_NAME}",
                summary=summary,
                results=results,
                metrics=project.get_metrics(endpoint.endpoint_id),
                events=events_df,
                feature_names=list(model.feature_names),
                label_names=list(model.label_names),
                profile={**model.feature_stats, **model.label_stats},
            ),
        )
        iam = admin.status().get("iam", {})
        _say("\nAWS calls per function, as IAM on the local stack allowed them (each function runs as its own role)")
        for principal, actions in sorted(iam.get("allowed", {}).items()):
            if principal in {"admin", "sdk"}:
                continue
            _say(f"   {principal:<11}{', '.join(sorted(actions))}")
        denied = list(iam.get("denied", []))
        _say(f"   denied: {len(denied)}" + "".join(f"\n      {d}" for d in denied))

        expected = ["detected", "no_detection"]
        ok = verdicts == expected and not denied
        _say(
            "\nVerdicts per window (general_drift): "
            + ", ".join(verdicts or ["none"])
            + ("  -> as expected: constant inputs drift, iris samples do not" if ok else f"  (expected {expected})")
        )
        _say(f"\nArtifacts in {out}/: events/ ({events_count} parquet files), results.parquet, report.html")
        _say(f'   pandas.read_parquet("{out / "events"}") gives {len(events_df)} rows')
        return {
            "ok": ok,
            "verdicts": verdicts,
            "iam": iam,
            "summary": summary,
            "events_rows": len(events_df),
            "results": results,
            "clock_offset": timedelta(seconds=clock.offset_seconds()),
        }


def main(args: argparse.Namespace | None = None) -> int:
    out = Path(getattr(args, "out", None) or "driftline-demo")
    outcome = run_demo(out, pause=not getattr(args, "no_pause", False))
    return 0 if outcome["ok"] else 1
