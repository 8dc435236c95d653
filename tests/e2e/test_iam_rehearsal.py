"""The local stack denies what the role does not allow, as AWS would: take one statement out of the table the stack
is built from and the flow that needed it breaks, visibly."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from driftline.deploy import functions as deploy

pytestmark = pytest.mark.e2e


def _without(key: str, action: str) -> deploy.FunctionDefinition:
    definition = deploy.FUNCTIONS[key]
    kept = tuple(s for s in definition.statements if action not in s.actions)
    assert len(kept) == len(definition.statements) - 1, f"{key} has no single statement with {action}"
    return dataclasses.replace(definition, statements=kept)


@pytest.fixture
def stack_factory(tmp_path, monkeypatch):
    from driftline import clock
    from driftline.config import ServingIdentity
    from driftline.local.runtime import LocalStack

    monkeypatch.setenv("DRIFTLINE_HOME", str(tmp_path))
    started = []

    def start():
        clock.reset()
        stack = LocalStack(serves=ServingIdentity("iam"), port=0, retry_delays=(0.1, 0.2))
        started.append(stack)
        stack.start()
        return stack

    yield start
    for stack in started:
        stack.stop()


def test_serving_without_its_kinesis_statement_is_denied_and_tracks_nothing(stack_factory, monkeypatch, tmp_path):
    sklearn = pytest.importorskip("sklearn.ensemble")
    import pandas as pd

    from driftline.sdk.project import get_or_create_project
    from driftline.sdk.serving import import_function

    monkeypatch.setitem(deploy.FUNCTIONS, "serving", _without("serving", "kinesis:PutRecord"))
    stack = stack_factory()
    frame = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0, 0.0]})
    model = sklearn.RandomForestClassifier(n_estimators=2, random_state=0).fit(frame, [0, 1, 0, 1])
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(model))
    project = get_or_create_project("iam", settings=stack.settings)
    project.log_model("m", model_file=path, training_set=frame.assign(y=[0, 1, 0, 1]), label_column="y")
    fn = import_function("hub://v2_model_server", project=project, new_name="serving")
    fn.add_model("m", model_path="store://models/iam/m:latest")
    fn.set_tracking()
    project.deploy_function(fn)

    answer = fn.invoke("v2/models/m/infer", {"inputs": [[0.5, 0.5]]})  # the prediction is still answered
    assert answer["model_name"] == "m"
    assert stack.drain(timeout=60)
    denied = stack.status()["iam"]["denied"]
    assert any(d.startswith("serving may not kinesis:PutRecord on arn:aws:kinesis:") for d in denied), denied
    assert project.list_model_endpoints()[0].predictions == 0  # nothing reached the stream


def test_stream_without_its_failure_queue_statement_cannot_dead_letter_a_poison_record(stack_factory, monkeypatch):
    """Issue 9, item 2, in reverse: without sqs:SendMessage on its queue the poison record is never kept."""
    monkeypatch.setitem(deploy.FUNCTIONS, "stream", _without("stream", "sqs:SendMessage"))
    stack = stack_factory()
    stack.clients.kinesis.put_record(StreamName=stack.settings.stream_name, Data=b"not json", PartitionKey="e")
    # the batch fails until the mapping gives up, and its on-failure destination is denied too (same role)
    stack.drain(timeout=30)
    denied = stack.status()["iam"]["denied"]
    assert any(d.startswith("stream may not sqs:SendMessage on arn:aws:sqs:") for d in denied), denied
    sqs = stack.clients.client("sqs")
    got = sqs.receive_message(QueueUrl=stack.settings.queue_url("stream-failures"), MaxNumberOfMessages=10)
    assert not any("not json" in m["Body"] for m in got.get("Messages", []))
