"""The local stack end to end: ``driftline local up`` as a process, and the real handlers on the stack."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UP = "import argparse, sys; from driftline.local.runtime import main_up; sys.exit(main_up(argparse.Namespace(port=0)))"


def _lines(stream, sink):
    for line in stream:
        sink.put(line)
    sink.put(None)


@pytest.mark.e2e
def test_local_up_serves_until_sigterm_then_cleans_up(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTLINE_")}
    env["DRIFTLINE_HOME"] = str(tmp_path)
    env["DRIFTLINE_PROJECT"] = "iris-monitoring"  # the one project whose serving function the HTTP API serves
    proc = subprocess.Popen(
        [sys.executable, "-c", UP],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    out: queue.Queue = queue.Queue()
    threading.Thread(target=_lines, args=(proc.stdout, out), daemon=True).start()
    seen = []
    try:
        while not any("Ctrl-C stops it" in line for line in seen):
            line = out.get(timeout=60)
            assert line is not None, f"local up ended early: {''.join(seen)}"
            seen.append(line)
        text = "".join(seen)
        api_url = re.search(r"HTTP API\s+(http://127\.0\.0\.1:\d+)", text).group(1)
        assert re.search(r"AWS \(moto\)\s+http://127\.0\.0\.1:\d+", text)
        assert str(tmp_path / "local-stack.json") in text
        state = json.loads((tmp_path / "local-stack.json").read_text())
        assert (state["pid"], state["settings"]["api_url"]) == (proc.pid, api_url)
        with urllib.request.urlopen(f"{api_url}/_local/status", timeout=30) as answer:
            status = json.loads(answer.read())
        assert status["settings"]["lambda_endpoint_url"] == api_url
        assert status["settings"]["project"] == "iris-monitoring"
        assert "(project 'iris-monitoring', function 'serving')" in text
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    assert code == 0
    assert not (tmp_path / "local-stack.json").exists()


@pytest.fixture
def iris_model(tmp_path):
    pd = pytest.importorskip("pandas")
    datasets = pytest.importorskip("sklearn.datasets")
    ensemble = pytest.importorskip("sklearn.ensemble")
    import pickle

    iris = datasets.load_iris()
    names = ["sepal_length_cm", "sepal_width_cm", "petal_length_cm", "petal_width_cm"]
    frame = pd.DataFrame(iris.data, columns=names)
    model = ensemble.RandomForestClassifier(n_estimators=5, random_state=0).fit(frame, iris.target)
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(model))
    return path, frame.assign(label=iris.target)


@pytest.mark.e2e
def test_real_handlers_turn_requests_into_results(tmp_path, monkeypatch, iris_model):
    """serving -> Kinesis -> stream -> (schedule on the fast clock) controller -> app -> writer, all real."""
    import warnings

    from driftline import clock
    from driftline.config import Settings
    from driftline.local.runtime import LocalStack
    from driftline.sdk.project import get_or_create_project
    from driftline.sdk.serving import import_function

    monkeypatch.setenv("DRIFTLINE_HOME", str(tmp_path))
    model_path, training = iris_model
    clock.reset()
    stack = LocalStack(Settings(project="e2e"), port=0, retry_delays=(0.1, 0.2), schedule_interval=0.2)
    try:
        settings = stack.start()
        project = get_or_create_project("e2e", settings=settings)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # base_period=1 is "fine for demos and tests"
            project.enable_model_monitoring(base_period=1)
        project.log_model("iris", model_file=model_path, training_set=training, label_column="label")
        fn = import_function("hub://v2_model_server", project=project, new_name="serving")
        fn.add_model("iris", model_path="store://models/e2e/iris:latest")
        fn.set_tracking(sampling_percentage=100)
        project.deploy_function(fn)
        stack.scheduler.tick()  # the schedule is seen enabled: its rate counts from now

        for _ in range(20):  # constant inputs: far from the training distribution
            answer = fn.invoke("v2/models/iris/infer", {"inputs": [[0.5, 0.5, 0.5, 0.5]]})
            assert answer["model_name"] == "iris"
        assert stack.drain(timeout=120)
        [endpoint] = project.list_model_endpoints()
        assert (endpoint.requests, endpoint.predictions, endpoint.error_count) == (20, 20, 0)
        assert stack.status()["functions"]["stream"]["errors"] == 0
        listed = stack.clients.s3.list_objects_v2(Bucket=settings.bucket, Prefix="events/")
        keys = [o["Key"] for o in listed.get("Contents", [])]
        assert keys
        assert all(k.startswith(f"events/endpoint_id={endpoint.endpoint_id}/") for k in keys)

        stack.advance_clock(5 * 60)  # past the window, flush grace and lateness: the schedule fires
        assert stack.drain(timeout=180)
        status = stack.status()
        assert status["async"]["dead_lettered"] == 0
        for key in ("controller", "app", "writer"):
            assert status["functions"][key]["calls"] >= 1, (key, status["functions"])
            assert status["functions"][key]["errors"] == 0, (key, status["functions"])
        results = project.get_results(endpoint)
        general = results[results["result_name"] == "general_drift"]
        assert len(general) == 1  # one window had traffic
        assert set(general["application_name"]) == {"histogram-data-drift"}
        assert int(general["result_status"].iloc[0]) == 2  # constant inputs against iris: drift detected
        sqs = stack.clients.client("sqs")
        for url in (settings.async_failures_queue_url, settings.stream_failures_queue_url):
            depth = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
            assert depth["Attributes"]["ApproximateNumberOfMessages"] == "0", url
        # every function ran as its own role, and IAM allowed everything each one did
        iam = stack.status()["iam"]
        assert iam["denied"] == []
        assert iam["allowed"]["serving"]["kinesis:PutRecord"] >= 20
        assert iam["allowed"]["stream"]["s3:PutObject"] >= 1
        assert iam["allowed"]["controller"]["lambda:InvokeFunction"] >= 1
        assert iam["allowed"]["app"]["lambda:InvokeFunction"] >= 1
        assert iam["allowed"]["writer"]["dynamodb:PutItem"] >= 1
    finally:
        stack.stop()
        clock.reset()
