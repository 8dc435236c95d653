"""The local stack end to end: ``driftline local up`` as a process, and the real handlers on the stack."""

from __future__ import annotations

import json
import re
import subprocess
import urllib.request

import pytest

from tests.e2e.conftest import DRIFTLINE, second_shell, start_local_up, stop_local_up


@pytest.mark.e2e
def test_local_up_serves_other_shells_refuses_a_second_stack_and_cleans_up(tmp_path):
    home, scratch = tmp_path / "home", tmp_path / "shell"
    scratch.mkdir()
    stack = start_local_up(home, scratch, "--project", "iris-monitoring")
    try:
        assert "(project 'iris-monitoring', function 'serving')" in stack.banner
        assert re.search(r"AWS \(moto\)\s+http://127\.0\.0\.1:\d+\s+\(IAM enforced\)", stack.banner)
        assert str(home / "local-stack.json") in stack.banner
        state = stack.state()
        assert (state["pid"], state["settings"]["api_url"]) == (stack.process.pid, stack.api_url)
        with urllib.request.urlopen(f"{stack.api_url}/_local/status", timeout=30) as answer:
            status = json.loads(answer.read())
        assert status["settings"]["lambda_endpoint_url"] == stack.api_url
        assert status["settings"]["project"] == "iris-monitoring"

        # a second shell without AWS credentials reaches it: the CLI acts as the stack's SDK principal
        created = stack.run(DRIFTLINE, "project", "create", "other", "--json")
        assert created.returncode == 0, created.stderr
        assert json.loads(created.stdout)["name"] == "other"
        listed = stack.run(DRIFTLINE, "local", "status", "--json")
        assert listed.returncode == 0, listed.stderr
        assert json.loads(listed.stdout)["iam"]["denied"] == []
        exports = stack.run(DRIFTLINE, "local", "env")
        assert f"export AWS_ENDPOINT_URL={state['settings']['endpoint_url']}" in exports.stdout

        # a second stack in the same home is refused and leaves the first one's state file alone
        second = stack.run(DRIFTLINE, "local", "up", "--port", "0", timeout=120)
        assert second.returncode == 2
        assert "already runs" in second.stderr
        assert "DRIFTLINE_HOME=" in second.stderr
        assert stack.state()["pid"] == stack.process.pid
    finally:
        code = stop_local_up(stack)
    assert code == 0
    assert not (home / "local-stack.json").exists()
    # with no stack and no credentials, the CLI says what to do instead of trying AWS
    gone = subprocess.run(
        [DRIFTLINE, "project", "list"], env=second_shell(home, scratch), capture_output=True, text=True, check=False
    )
    assert gone.returncode == 2
    assert "no driftline installation found" in gone.stderr
    assert "driftline local up" in gone.stderr


@pytest.mark.e2e
def test_real_handlers_turn_requests_into_results(tmp_path, monkeypatch, iris_model):
    """serving -> Kinesis -> stream -> (schedule on the fast clock) controller -> app -> writer, all real. The
    controller fans every tick out to two shards (``controller_shards=2``): the scheduled invocation invokes its
    own function twice, asynchronously, and the shard holding the endpoint sends its window."""
    import warnings

    from driftline import clock
    from driftline.config import ServingIdentity
    from driftline.deploy.functions import FUNCTIONS
    from driftline.local.runtime import LocalStack
    from driftline.sdk.project import get_or_create_project
    from driftline.sdk.serving import import_function

    monkeypatch.setenv("DRIFTLINE_HOME", str(tmp_path))
    model_path, training = iris_model
    clock.reset()
    from driftline.config import Settings

    stack = LocalStack(
        Settings(controller_shards=2),
        serves=ServingIdentity("e2e"),
        port=0,
        retry_delays=(0.1, 0.2),
        schedule_interval=0.2,
    )
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
        labels = {"labels": [{"request_id": answer["id"], "row_index": 0, "label": 0}]}
        assert fn.invoke("v2/models/iris/ground-truth", labels)["stored"] == 1
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
        for url in settings.queue_urls.values():
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
        assert status["functions"]["controller"]["calls"] >= 3  # a tick: the scheduled invocation and its 2 shards
        # least privilege, measured: each statement of each role was needed by some call of this flow (removing
        # it would have denied one), except the service's own (logs, X-Ray, failure destinations: AWS uses them)
        # and those only other paths use (operational alerts, app failures, alert targets, Timestream's endpoint
        # discovery in AWS)
        only_elsewhere = {
            ("controller", "events:PutEvents"),
            ("controller", "sns:Publish"),
            ("controller", "kms:GenerateDataKey"),
            ("controller", "dynamodb:UpdateItem"),  # an app's last failure: no app fails here
            ("writer", "events:PutEvents"),  # the account's default bus: no alert configuration targets it here
            ("writer", "ssm:GetParameter"),  # webhook secrets: no webhook here
            ("writer", "timestream:DescribeEndpoints"),
            # ingest receipts (s3:GetObject/PutObject, s3:ListBucket on state/ingested/): tests/e2e/test_ingest_e2e.py
            ("serving", "s3:GetObject"),
            ("serving", "s3:ListBucket"),
        }
        for key in FUNCTIONS:
            role_name = next(name for name, label in stack.deployment.role_labels.items() if label == key)
            [document] = stack.iam.documents_of_role(role_name)
            service_actions = {a for st in FUNCTIONS[key].statements if st.origin == "service" for a in st.actions}
            unused = {
                (key, statement["Action"][0])
                for statement in stack.iam.ledger.unused(key, document)
                if not set(statement["Action"]) <= service_actions
            }
            assert unused <= only_elsewhere, unused - only_elsewhere
    finally:
        stack.stop()
        clock.reset()
