"""The joint-drift and performance-estimation apps on the local stack, every function real: log_model fits and
stores the artefacts, serving -> Kinesis -> stream write the window, the controller invokes both apps, the apps
read the artefacts from S3 and the writer stores their results.

The window's correlation is flipped while every feature keeps its marginal (the per-feature tests cannot see it),
so the multivariate app must say ``detected``. Score capture is another change (serving writes the model's
``predict_proba`` as ``proba_<class>`` columns); until it is in, this test adds those columns to the window's
parquet objects itself, exactly as :mod:`driftline.scores` names them, after the stream wrote them."""

from __future__ import annotations

import io
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest

FEATURES = ["a", "b", "c"]


def rows(rng: np.random.Generator, n: int, rho: float) -> pd.DataFrame:
    z = rng.normal(size=n)
    return pd.DataFrame({"a": z, "b": rho * z + np.sqrt(1 - rho * rho) * rng.normal(size=n), "c": rng.normal(size=n)})


def add_scores(stack, settings, endpoint_id: str, model) -> int:
    """The model's class scores added to every parquet object of the endpoint (what score capture writes)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from driftline.scores import score_columns

    s3 = stack.clients.s3
    listed = s3.list_objects_v2(Bucket=settings.bucket, Prefix=f"events/endpoint_id={endpoint_id}/")
    keys = [o["Key"] for o in listed.get("Contents", [])]
    columns = score_columns(model.classes_)
    for key in keys:
        table = pq.read_table(io.BytesIO(s3.get_object(Bucket=settings.bucket, Key=key)["Body"].read()))
        if all(c in table.column_names for c in columns):
            continue  # serving already captures scores
        scores = model.predict_proba(table.select(FEATURES).to_pandas())
        for i, column in enumerate(columns):
            table = table.append_column(column, pa.array(scores[:, i], type=pa.float64()))
        sink = io.BytesIO()
        pq.write_table(table, sink)
        s3.put_object(Bucket=settings.bucket, Key=key, Body=sink.getvalue())
    return len(keys)


@pytest.mark.e2e
def test_joint_drift_detected_and_performance_estimated_live(tmp_path, monkeypatch):
    from sklearn.linear_model import LogisticRegression

    from driftline import clock
    from driftline.config import ServingIdentity
    from driftline.local.runtime import LocalStack
    from driftline.sdk.project import get_or_create_project
    from driftline.sdk.serving import import_function

    rng = np.random.default_rng(13)
    train = rows(rng, 2000, 0.8)
    train["label"] = (train["a"] + train["c"] + rng.normal(size=2000) > 0).astype(int)
    model = LogisticRegression().fit(train[FEATURES], train["label"])
    model_path = tmp_path / "model.pkl"
    model_path.write_bytes(pickle.dumps(model))

    monkeypatch.setenv("DRIFTLINE_HOME", str(tmp_path))
    clock.reset()
    stack = LocalStack(serves=ServingIdentity("est"), port=0, retry_delays=(0.1, 0.2), schedule_interval=0.2)
    try:
        settings = stack.start()
        project = get_or_create_project("est", settings=settings)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # base_period=1 is "fine for demos and tests"
            project.enable_model_monitoring(base_period=1)
        record = project.log_model("clf", model_file=model_path, training_set=train, label_column="label")
        assert {"reconstruction", "classifier", "cbpe"} <= set(record.monitoring_artefacts)
        joint = project.set_model_monitoring_function(func="builtin:multivariate_drift", name="joint-drift", seed=0)
        project.deploy_function(joint)
        estimation = project.set_model_monitoring_function(
            func="builtin:performance_estimation", name="estimation", seed=0
        )
        project.deploy_function(estimation)
        fn = import_function("hub://v2_model_server", project=project, new_name="serving")
        fn.add_model("clf", model_path="store://models/est/clf:latest")
        fn.set_tracking(sampling_percentage=100)
        project.deploy_function(fn)
        stack.scheduler.tick()

        window = rows(rng, 1200, -0.8)  # the pair's correlation flipped, every marginal unchanged
        truth = (window["a"] + window["c"] + rng.normal(size=len(window)) > 0).astype(int).to_numpy()
        labels = []
        for start in range(0, len(window), 200):
            chunk = window.iloc[start : start + 200]
            answer = fn.invoke("v2/models/clf/infer", {"inputs": chunk.to_numpy().tolist()})
            if start < 400:  # ground truth arrives for the first 400 rows only
                labels += [
                    {"request_id": answer["id"], "row_index": i, "label": int(truth[start + i])}
                    for i in range(len(chunk))
                ]
        assert fn.invoke("v2/models/clf/ground-truth", {"labels": labels})["stored"] == 400
        assert stack.drain(timeout=120)
        [endpoint] = project.list_model_endpoints()
        assert add_scores(stack, settings, endpoint.endpoint_id, model) >= 1

        stack.advance_clock(5 * 60)
        assert stack.drain(timeout=300)
        status = stack.status()
        assert status["async"]["dead_lettered"] == 0
        assert status["functions"]["app"]["errors"] == 0, status["functions"]
        assert status["iam"]["denied"] == []
        results = project.get_results(endpoint)
        named = {(r.application_name, r.result_name): r for r in results.itertuples()}

        pca = named[("joint-drift", "pca_reconstruction_error")]
        assert int(pca.result_status) == 2
        assert pca.result_value > pca.result_extra_data["band_upper"]
        assert {c["feature"] for c in pca.result_extra_data["contributions"][:2]} == {"a", "b"}
        assert int(named[("joint-drift", "domain_classifier_auc")].result_status) == 2

        accuracy = named[("estimation", "estimated_accuracy")]
        extra = accuracy.result_extra_data
        assert extra["method"] == "cbpe"
        assert extra["n_rows"] == 1200
        assert extra["band_lower"] < accuracy.result_value < extra["band_upper"]
        predicted = model.predict(window[FEATURES])
        realized = float(np.mean(predicted[:400] == truth[:400]))
        assert (extra["realized_rows"], extra["realized"]) == (400, pytest.approx(realized))
        assert abs(extra["labelled_estimate"] - realized) < 0.08
        assert {"estimation:estimated_f1", "estimation:estimated_roc_auc"} <= {f"{a}:{n}" for a, n in named}
        metrics = project.get_metrics(endpoint, application_name="estimation")
        values = dict(zip(metrics["metric_name"], metrics["metric_value"], strict=True))
        assert (values["rows_with_scores"], values["labelled_rows"]) == (1200, 400)
    finally:
        stack.stop()
        clock.reset()
