"""The benchmarks' record-and-replay of moto's answers (bench/_replay.py): a replayed run gets the answers the
recorded run got, draws of fresh tokens still match, and a call the recorded run did not make fails loudly."""

import sys
import uuid
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from _replay import Recorder, ReplayMiss

TABLE = "replayed"


@pytest.fixture
def recorder():
    recorder = Recorder()
    yield recorder
    recorder.close()


def _table(db) -> None:
    db.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def _claim(db, pk: str) -> bool:
    try:
        db.update_item(
            TableName=TABLE,
            Key={"pk": {"S": pk}},
            UpdateExpression="SET claim = :claim",
            ConditionExpression="attribute_not_exists(pk)",
            ExpressionAttributeValues={":claim": {"S": uuid.uuid4().hex}},
        )
    except db.exceptions.ConditionalCheckFailedException:
        return False
    return True


def test_a_replay_gets_the_recorded_answers_in_order_without_moto(recorder, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "replay")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "replay")
    with mock_aws():
        db = boto3.client("dynamodb")
        _table(db)
        with recorder.recording():
            recorded = [_claim(db, "a"), _claim(db, "a"), _claim(db, "b")]
    assert recorded == [True, False, True]
    assert recorder.left() == 3
    db = boto3.client("dynamodb")  # no moto from here: only the recording can answer
    with recorder.replaying():
        replayed = [_claim(db, "a"), _claim(db, "a"), _claim(db, "b")]  # fresh claim tokens: still matched
        assert replayed == recorded
        assert (recorder.replayed, recorder.left()) == (3, 0)
        with pytest.raises(ReplayMiss, match="no recorded answer"):
            _claim(db, "c")
    assert len(recorder.misses) == 1


def test_outside_a_replay_the_recorder_answers_nothing(recorder, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        db = boto3.client("dynamodb", aws_access_key_id="x", aws_secret_access_key="x")
        _table(db)  # moto answers: the recorder, not recording, keeps nothing
        assert db.list_tables()["TableNames"] == [TABLE]
    assert recorder.left() == 0
