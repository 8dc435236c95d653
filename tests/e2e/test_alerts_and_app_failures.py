"""On the local stack (every function in its own process as its own role, IAM enforced), as a user tries it:
three windows of drift raise ONE alert (to a webhook on this machine and the bus), and an app whose return
value the runner refuses fails its three attempts, lands in the async-failures queue, and the next controller
run turns it into ``mm-app-failed`` and the app's last error in ``apps list`` and ``monitoring status``."""

from __future__ import annotations

import io
import json
import threading
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

BAD_APP = """
from driftline.applications import (
    ModelMonitoringApplicationBase, ModelMonitoringApplicationResult, ResultKindApp, ResultStatusApp,
)

class BadApp(ModelMonitoringApplicationBase):
    def do_tracking(self, monitoring_context):
        result = ModelMonitoringApplicationResult(
            name="rows_seen", value=float(len(monitoring_context.sample_df)), kind=ResultKindApp.mm_app_anomaly,
            status=ResultStatusApp.no_detection,
        )
        return [result, "rows"]  # refused: a list holds results, metrics and dicts of metrics
"""


class Hook:
    def __init__(self) -> None:
        self.received: list[dict] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                hook.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/driftline"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.mark.e2e
def test_one_alert_per_episode_and_app_failures_surface(tmp_path, monkeypatch, iris_model):
    from driftline import clock
    from driftline.cli import main
    from driftline.config import ServingIdentity
    from driftline.local.runtime import LocalStack
    from driftline.sdk.project import get_or_create_project
    from driftline.sdk.serving import import_function

    monkeypatch.setenv("DRIFTLINE_HOME", str(tmp_path))
    model_path, training = iris_model
    hook = Hook()
    clock.reset()
    stack = LocalStack(serves=ServingIdentity("alerts"), port=0, retry_delays=(0.1, 0.2), schedule_interval=0.2)
    try:
        settings = stack.start()
        project = get_or_create_project("alerts", settings=settings)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # base_period=1 is "fine for demos and tests"
            project.enable_model_monitoring(base_period=1)
        project.log_model("iris", model_file=model_path, training_set=training, label_column="label")
        fn = import_function("hub://v2_model_server", project=project, new_name="serving")
        fn.add_model("iris", model_path="store://models/alerts/iris:latest")
        fn.set_tracking(sampling_percentage=100)
        project.deploy_function(fn)
        app_file = tmp_path / "bad_app.py"
        app_file.write_text(BAD_APP)
        project.deploy_function(
            project.set_model_monitoring_function(func=str(app_file), application_class="BadApp", name="bad-app")
        )
        # the CLI, as a user would: the drift result to a webhook and the bus, once per episode
        out = io.StringIO()
        argv = ["alerts", "set", "alerts", "drift-hook", "--app", "histogram-data-drift", "--result", "general_drift"]
        assert main([*argv, "--target", hook.url, "--target", "eventbridge"], stdout=out) == 0, out.getvalue()
        sqs = stack.clients.client("sqs")
        inbox = sqs.create_queue(QueueName="alerts-inbox")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        bus = settings.event_bus_name
        stack.clients.events.put_rule(Name="all", EventBusName=bus, EventPattern=json.dumps({"source": ["driftline"]}))
        stack.clients.events.put_targets(Rule="all", EventBusName=bus, Targets=[{"Id": "q", "Arn": arn}])
        stack.scheduler.tick()

        for _ in range(3):  # three one-minute windows of constant inputs: drift detected in each
            for _ in range(10):
                fn.invoke("v2/models/iris/infer", {"inputs": [[0.5, 0.5, 0.5, 0.5]]})
            assert stack.drain(timeout=120)
            stack.advance_clock(60)
        stack.advance_clock(5 * 60)  # past the last window, flush grace and lateness: the schedule fires
        assert stack.drain(timeout=180)
        [endpoint] = project.list_model_endpoints()
        results = project.get_results(endpoint, application_name="histogram-data-drift")
        general = results[results["result_name"] == "general_drift"]
        assert len(general) >= 3
        assert set(general["result_status"]) == {2}
        assert [a["detail"]["result_name"] for a in hook.received] == ["general_drift"]  # one alert, not three
        assert hook.received[0]["detail"]["alert_name"] == "drift-hook"

        # the bad app failed three times per window; the next controller run drains its records
        assert stack.status()["async"]["dead_lettered"] >= 1
        stack.advance_clock(60)
        assert stack.drain(timeout=180)
        (bad,) = [f for f in project.list_model_monitoring_functions() if f.name == "bad-app"]
        assert bad.record.failures >= 1
        assert "item 1 of the returned list is str 'rows'" in bad.record.last_error
        assert bad.record.last_error_window["endpoint_id"] == endpoint.endpoint_id
        status = project.monitoring_status()
        (entry,) = [a for a in status["applications"] if a["name"] == "bad-app"]
        assert entry["last_error_at"]
        out = io.StringIO()
        assert main(["monitoring", "status", "alerts"], stdout=out) == 0
        assert "ApplicationError: application 'bad-app': item 1 of the returned list" in out.getvalue()

        events = []
        while got := sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10).get("Messages", []):
            for m in got:
                events.append(json.loads(m["Body"]))
                sqs.delete_message(QueueUrl=inbox, ReceiptHandle=m["ReceiptHandle"])
        drift = [e["detail"] for e in events if e["detail-type"].endswith("-detected")]
        # one alert per result that entered detected (the windows are alike: one episode each), not one per window:
        # general_drift under drift-hook, every other detected result under the default configuration
        detected = set(results.loc[results["result_status"] == 2, "result_name"])
        assert sorted(d["result_name"] for d in drift) == sorted(detected)
        assert {d["result_name"]: d["alert_name"] for d in drift}["general_drift"] == "drift-hook"
        assert {d["alert_name"] for d in drift if d["result_name"] != "general_drift"} <= {"default"}
        failed = [e["detail"] for e in events if e["detail-type"] == "mm-app-failed"]
        assert len(failed) == bad.record.failures
        assert {f["application_name"] for f in failed} == {"bad-app"}
        iam = stack.status()["iam"]
        assert iam["denied"] == []
        assert iam["allowed"]["controller"]["sqs:ReceiveMessage"] >= 1
    finally:
        stack.stop()
        hook.server.shutdown()
        clock.reset()
