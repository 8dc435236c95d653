"""Monitoring a model served elsewhere, as a user does it on the local stack: the model is logged without a file,
a batch job sends 10,000 scored rows spanning several windows (SDK), a CSV goes in through `driftline ingest`
(CLI, twice: stored once), labels arrive, and the real controller, apps and writer produce drift results per
window and roc_auc from the captured scores. Also: serving a classifier captures its scores, and
set_model_monitoring_credentials refuses what the functions cannot honour while serving keeps answering."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
linear = pytest.importorskip("sklearn.linear_model")
datasets = pytest.importorskip("sklearn.datasets")

FEATURES = ["f0", "f1", "f2", "f3"]
BASE_PERIOD = 10  # minutes
DRIFTLINE = str(Path(sys.executable).parent / "driftline")


def _frame(x: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(x, columns=FEATURES)


@pytest.mark.e2e
def test_a_batch_job_and_the_cli_feed_monitoring_of_a_model_served_elsewhere(tmp_path, monkeypatch):
    from driftline import clock
    from driftline.config import ServingIdentity
    from driftline.errors import ConfigurationError
    from driftline.local.runtime import LocalStack
    from driftline.sdk.project import get_or_create_project
    from driftline.sdk.serving import import_function

    monkeypatch.setenv("DRIFTLINE_HOME", str(tmp_path))
    x, y = datasets.make_classification(n_samples=12_000, n_features=4, n_informative=3, n_redundant=0, random_state=3)
    train_x, train_y, batch_x, batch_y = x[:2000], y[:2000], x[2000:], y[2000:]
    model = linear.LogisticRegression().fit(train_x, train_y)  # "served elsewhere": never logged as a file

    clock.reset()
    stack = LocalStack(serves=ServingIdentity("batch"), port=0, retry_delays=(0.1, 0.2), schedule_interval=3600)
    try:
        settings = stack.start()
        project = get_or_create_project("batch", settings=settings)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            project.enable_model_monitoring(base_period=BASE_PERIOD)
        record = project.log_model(
            "scorer", training_set=_frame(train_x).assign(label=train_y), label_column="label", classes=[0, 1]
        )
        assert (record.model_file, record.score_names) == ("", ["proba_0", "proba_1"])
        perf = project.set_model_monitoring_function(func="builtin:model_performance", name="perf")
        project.deploy_function(perf)

        # the batch job: 10,000 rows scored over the last 45 minutes, sent with their times, ids and scores
        now = clock.now()
        n = len(batch_x)
        times = [now - timedelta(minutes=50) + timedelta(seconds=i * 2700 / n) for i in range(n)]
        scored = _frame(batch_x).assign(
            label=model.predict(batch_x),
            proba_0=model.predict_proba(batch_x)[:, 0],
            proba_1=model.predict_proba(batch_x)[:, 1],
            timestamp=times,
            request_id=[f"job-{i}" for i in range(n)],
        )
        sent = project.log_inferences("scorer", scored, request_ids="request_id")
        assert (sent["rows"], sent["requests"], sent["chunks"], sent["duplicates"]) == (n, n, 2, 0)
        again = project.log_inferences("scorer", scored, request_ids="request_id")  # a re-run of the job
        assert (again["rows"], again["duplicates"]) == (n, 2)

        # a CSV through the CLI, in another shell that finds the stack by its state file; twice
        csv = tmp_path / "scored.csv"
        extra = scored.iloc[:200].drop(columns=["request_id"]).copy()
        extra["timestamp"] = [(now - timedelta(minutes=3)).isoformat()] * 200
        extra.to_csv(csv, index=False)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DRIFTLINE_", "AWS_"))}
        env["DRIFTLINE_HOME"] = str(tmp_path)
        argv = [DRIFTLINE, "ingest", "batch", str(csv), "--model", "scorer", "--json"]
        first = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300, check=False)
        assert first.returncode == 0, first.stderr
        assert json.loads(first.stdout)["rows"] == 200
        second = subprocess.run(argv[:-1], env=env, capture_output=True, text=True, timeout=300, check=False)
        assert second.returncode == 0, second.stderr
        assert "1 of them already stored" in second.stdout
        bad = subprocess.run(
            [*argv[:-1], "--prediction-column", "nope"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert bad.returncode == 2
        assert "predictions='nope' is not a column of data" in bad.stderr

        assert stack.drain(timeout=300)
        [endpoint] = project.list_model_endpoints()
        assert endpoint.predictions == n + 200  # the re-sent ingests stored nothing
        assert endpoint.function_name == "serving"
        labels = pd.DataFrame({"request_id": scored["request_id"], "row_index": 0, "label": batch_y})
        assert project.log_ground_truth(labels, endpoint) == n

        assert stack.run_controller("batch") is not None
        assert stack.drain(timeout=300)
        status = stack.status()
        assert status["async"]["dead_lettered"] == 0
        for key in ("serving", "stream", "controller", "app", "writer"):
            assert status["functions"][key]["errors"] == 0, (key, status["functions"])
        results = project.get_results(endpoint)
        drift = results[results["result_name"] == "general_drift"]
        assert len(drift) >= 4  # one per complete 10-minute window of the batch
        auc = results[results["result_name"] == "roc_auc"]
        assert len(auc) >= 4
        assert (auc["result_value"] > 0.8).all()  # the model's own scores against the true labels
        iam = stack.status()["iam"]
        assert iam["denied"] == []
        assert iam["allowed"]["serving"]["kinesis:PutRecords"] >= 2
        assert iam["allowed"]["serving"]["s3:PutObject"] >= 3  # the receipts

        # served here, a classifier's scores are captured too
        path = tmp_path / "model.pkl"
        import pickle

        path.write_bytes(pickle.dumps(model))
        project.log_model(
            "served", model_file=path, training_set=_frame(train_x).assign(label=train_y), label_column="label"
        )
        assert project.get_model("served").score_names == ["proba_0", "proba_1"]
        fn = import_function("hub://v2_model_server", project=project, new_name="online")
        fn.add_model("served", model_path="store://models/batch/served:latest")
        fn.set_tracking()
        project.deploy_function(fn)
        fn.invoke("v2/models/served/infer", {"inputs": batch_x[:3].tolist()})
        assert stack.drain(timeout=120)
        listed = stack.clients.s3.list_objects_v2(
            Bucket=settings.bucket, Prefix=f"events/endpoint_id={fn.endpoint_ids()['served']}/"
        )
        [key] = [o["Key"] for o in listed["Contents"]]
        import io

        import pyarrow.parquet as pq

        table = pq.read_table(io.BytesIO(stack.clients.s3.get_object(Bucket=settings.bucket, Key=key)["Body"].read()))
        assert np.allclose(
            table.select(["proba_0", "proba_1"]).to_pandas().to_numpy(), model.predict_proba(batch_x[:3])
        )

        # credentials the functions cannot honour are refused; serving keeps answering
        with pytest.raises(ConfigurationError, match="cannot use other resources"):
            project.set_model_monitoring_credentials(bucket="iris-private")
        answer = fn.invoke("v2/models/served/infer", {"inputs": batch_x[:1].tolist()})
        assert answer["model_name"] == "served"
    finally:
        stack.stop()
        clock.reset()
