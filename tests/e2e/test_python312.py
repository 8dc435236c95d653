"""The whole flow on the Lambda runtime's Python, each function with only its image's packages.

The local stack runs every function under Python 3.12 with ``sys.path`` = its staged task root, then exactly the
packages its image installs from the lock (``infra/images.py``'s cached installs; for a zip function the runtime's
boto3, Powertools being in the zip), then the runtime client: a module missing from an image, or code that only
runs on the development Python, fails here as it would in Lambda, on every AWS path (serving, the stream's
parquet and live figures, the controller's windows, the app's statistics, the writer's tables and alerts) with
IAM enforced. Skipped without Python 3.12 (naming what to install); with ``CI`` set it fails instead."""

from __future__ import annotations

import pickle
import warnings

import pytest

from infra import images

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def runtime312():
    python, why = images.find_python()
    if python is None:
        if images.rehearsal_required():
            pytest.fail(f"CI must rehearse the flow on Python {images.PYTHON}: {why}")
        pytest.skip(why)
    return images.local_runtime(python, images.prepare(python, log=lambda _: None))


def test_the_monitoring_flow_runs_on_python_3_12_with_each_images_packages_only(runtime312, tmp_path, monkeypatch):
    import pandas as pd
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier

    from driftline import clock
    from driftline.config import ServingIdentity
    from driftline.local.runtime import LocalStack
    from driftline.sdk.project import get_or_create_project
    from driftline.sdk.serving import import_function

    monkeypatch.setenv("DRIFTLINE_HOME", str(tmp_path))
    iris = load_iris(as_frame=True)
    frame = iris.data.rename(columns=lambda c: c.replace(" (cm)", "").replace(" ", "_"))
    model = RandomForestClassifier(n_estimators=5, random_state=0).fit(frame.to_numpy(), iris.target)
    (tmp_path / "model.pkl").write_bytes(pickle.dumps(model))
    clock.reset()
    stack = LocalStack(serves=ServingIdentity("py312"), port=0, retry_delays=(0.1, 0.2), runtime=runtime312)
    try:
        settings = stack.start()
        project = get_or_create_project("py312", settings=settings)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            project.enable_model_monitoring(base_period=1)
        training = pd.concat([frame, pd.Series(iris.target, name="label")], axis=1)
        project.log_model("iris", model_file=tmp_path / "model.pkl", training_set=training, label_column="label")
        fn = import_function("hub://v2_model_server", project=project, new_name="serving")
        fn.add_model("iris", model_path="store://models/py312/iris:latest")
        fn.set_tracking()
        project.deploy_function(fn)
        stack.scheduler.tick()
        for _ in range(10):
            assert fn.invoke("v2/models/iris/infer", {"inputs": [[0.5, 0.5, 0.5, 0.5]]})["model_name"] == "iris"
        assert stack.drain(timeout=180)
        stack.advance_clock(5 * 60)
        assert stack.drain(timeout=240)

        status = stack.status()
        for key in ("serving", "stream", "controller", "app", "writer"):
            assert status["functions"][key]["calls"] >= 1, (key, status["functions"])
            assert status["functions"][key]["errors"] == 0, (key, status["functions"], _logs(stack))
        assert status["iam"]["denied"] == []
        [endpoint] = project.list_model_endpoints()
        assert endpoint.predictions == 10
        general = project.get_results(endpoint).query("result_name == 'general_drift'")
        assert general["result_status"].tolist() == [2]
        # and it really was 3.12 with the image's packages: the sandbox ran the interpreter we gave it
        assert all(s["pid"] for s in status["sandboxes"].values())
    finally:
        stack.stop()
        clock.reset()


def _logs(stack) -> str:
    return "\n".join(f"--- {name}\n{sandbox.log()[-3000:]}" for name, sandbox in stack.functions.sandboxes().items())
