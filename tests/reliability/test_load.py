"""A bounded load test of the local stack on loopback: concurrent clients send a fixed mix of valid and invalid
requests over HTTP; once the stack has drained, the parquet dataset holds exactly the accepted rows and the
endpoint's figures exactly the accepted requests and predictions. Invalid requests get a 4xx naming what was
expected and leave no trace."""

from __future__ import annotations

import json
import pickle
import threading
import urllib.error
import urllib.request
import warnings
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.reliability.conftest import diff_counts
from tests.reliability.helpers import stored_rows

CLIENTS = 6
REQUESTS = 120  # per run, fixed: 3 of every 4 valid
ROW = [5.1, 3.5, 1.4, 0.2]
INVALID = [
    "{not json",
    '{"inputs": [[NaN, 1, 2, 3]]}',
    '{"inputs": [[1, 2, 3]]}',  # three features for a four-feature model
    '{"inputs": []}',
    '{"rows": [[1, 2, 3, 4]]}',
    '{"inputs": [' + ",".join(["[1, 2, 3, 4]"] * 51) + "]}",  # over max_rows_per_request (50 here)
]


@pytest.fixture
def iris_model(tmp_path):
    import pandas as pd
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier

    iris = load_iris()
    names = ["sepal_length_cm", "sepal_width_cm", "petal_length_cm", "petal_width_cm"]
    frame = pd.DataFrame(iris.data, columns=names)
    model = RandomForestClassifier(n_estimators=3, random_state=0).fit(frame, iris.target)
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(model))
    return path, frame.assign(label=iris.target)


def _post(url: str, body: str) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body.encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.e2e
def test_concurrent_mixed_traffic_ends_with_exact_counts(tmp_path, monkeypatch, iris_model, ledger):
    from driftline import clock
    from driftline.config import ServingIdentity, Settings
    from driftline.local.runtime import LocalStack
    from driftline.sdk.project import get_or_create_project
    from driftline.sdk.serving import import_function

    monkeypatch.setenv("DRIFTLINE_HOME", str(tmp_path))
    model_path, training = iris_model
    clock.reset()
    stack = LocalStack(
        Settings(max_rows_per_request=50), serves=ServingIdentity("load"), port=0, retry_delays=(0.1, 0.2)
    )
    try:
        settings = stack.start()
        project = get_or_create_project("load", settings=settings)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            project.enable_model_monitoring(base_period=10)
        project.log_model("iris", model_file=model_path, training_set=training, label_column="label")
        fn = import_function("hub://v2_model_server", project=project, new_name="serving")
        fn.add_model("iris", model_path="store://models/load/iris:latest")
        fn.set_tracking(sampling_percentage=100)
        project.deploy_function(fn)

        url = f"{settings.api_url}/v2/models/iris/infer"
        lock = threading.Lock()
        accepted: Counter = Counter()  # (request_id, row_index)
        answers: Counter = Counter()

        def send(i: int) -> None:
            if i % 4 == 3:
                status, body = _post(url, INVALID[(i // 4) % len(INVALID)])
                assert 400 <= status < 500, (status, body)
                assert body.get("error"), body
                with lock:
                    answers[status] += 1
                return
            rows = 1 + i % 3
            status, body = _post(url, json.dumps({"id": f"req-{i}", "inputs": [ROW] * rows}))
            assert status == 200, body
            with lock:
                answers[status] += 1
                accepted.update((body["id"], r) for r in range(rows))

        with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
            list(pool.map(send, range(REQUESTS)))
        assert stack.drain(timeout=120)

        assert answers[200] == REQUESTS * 3 // 4
        lost, duplicated = diff_counts(accepted, stored_rows(stack.clients))
        ledger.record(injected=0, lost=lost, duplicated=duplicated)
        assert (lost, duplicated) == (0, 0)
        [endpoint] = project.list_model_endpoints()
        assert (endpoint.requests, endpoint.predictions, endpoint.error_count) == (answers[200], len(accepted), 0)
        status = stack.status()
        assert status["functions"]["stream"]["errors"] == 0
        assert status["iam"]["denied"] == []  # every function ran as its own role
        for url in settings.queue_urls.values():
            depth = stack.clients.client("sqs").get_queue_attributes(
                QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
            )
            assert depth["Attributes"]["ApproximateNumberOfMessages"] == "0", url
    finally:
        stack.stop()
        clock.reset()
