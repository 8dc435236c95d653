from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from driftline.aws import kinesis
from driftline.errors import InvalidRequestError, PayloadTooLargeError, StorageError
from driftline.inference_event import MODEL_FIELDS, REQUEST_FIELDS, InferenceEvent
from driftline.schemas import to_iso
from driftline.serving import tracking
from driftline.serving.tracking import EventEncoder, Tracker, encode_event, sample_rows


class FixedRandom:
    """Draws a fixed sequence, so which rows a sample keeps is known in advance."""

    def __init__(self, draws: list[float]) -> None:
        self.draws = list(draws)

    def random(self) -> float:
        return self.draws.pop(0)


def event(**changes: Any) -> InferenceEvent:
    values: dict[str, Any] = {
        "request_id": "r1",
        "endpoint_id": "e" * 32,
        "project": "p",
        "function_name": "serving",
        "model_name": "m",
        "model_version": "1",
        "when": "2026-11-26T17:00:00.123456+00:00",
        "latency_us": 1_500_000,
        "inputs": [[1.0, 2.0]],
        "outputs": [0],
        "feature_names": ["a", "b"],
        "label_names": ["label"],
        "effective_sample_count": 1,
    }
    return InferenceEvent(**(values | changes))


def test_event_times_are_utc_iso_with_microseconds_from_any_zone():
    moment = datetime(2026, 11, 26, 17, 0, 0, tzinfo=UTC)
    assert to_iso(moment) == "2026-11-26T17:00:00.000000+00:00"
    assert to_iso(moment.astimezone(timezone(timedelta(hours=2)))) == "2026-11-26T17:00:00.000000+00:00"
    assert to_iso(moment.replace(microsecond=7)) == "2026-11-26T17:00:00.000007+00:00"
    assert to_iso(datetime(2026, 11, 26, 12, 0, 0, 7, tzinfo=timezone(timedelta(hours=-5)))) == to_iso(
        moment.replace(microsecond=7)
    )
    with pytest.raises(ValueError, match="naive datetime"):
        to_iso(moment.replace(tzinfo=None))


def test_sampling_keeps_rows_whose_draw_is_under_the_percentage():
    rows, outputs, kept = sample_rows(["r0", "r1", "r2", "r3"], [0, 1, 2, 3], 50.0, FixedRandom([0.1, 0.6, 0.49, 0.5]))
    assert (rows, outputs, kept) == (["r0", "r2"], [0, 2], [0, 2])  # kept: each row's position in the request


def test_sampling_edges_draw_nothing():
    never = FixedRandom([])  # any draw would raise
    assert sample_rows([1, 2], [3, 4], 100.0, never) == ([1, 2], [3, 4], None)
    assert sample_rows([1, 2], [3, 4], 0.0, never) == ([], [], None)
    assert sample_rows([1, 2], [], 50.0, FixedRandom([0.2, 0.9])) == ([1], [], [0])  # an error event has no outputs
    assert sample_rows([1, 2], [3, 4], 50.0, FixedRandom([0.9, 0.9])) == ([], [], None)


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"error": {"type": "ValueError", "message": 'bad "row"'}, "outputs": []},
        {"inputs": [], "outputs": [], "sampling_percentage": 0.0, "effective_sample_count": 7},
        {"inputs": [["a", 1], ["b", 2.5]], "outputs": [[0.1, 0.9], [None, 1.0]], "label_names": ["x", "y"]},
        {"sampling_percentage": 40.0, "effective_sample_count": 5, "row_indices": [3]},
    ],
)
def test_encoding_is_the_schema_serialisation(changes):
    e = event(**changes)
    assert json.loads(encode_event(e)) == json.loads(e.to_json())  # the same object, every field
    assert InferenceEvent.from_dict(json.loads(encode_event(e))) == e


def test_one_encoder_serves_every_request_of_its_model():
    encoder = EventEncoder.for_event(event())
    first = event(request_id="r1", inputs=[[1.0, 2.0]], outputs=[0], latency_us=5)
    second = event(request_id="r2", inputs=[[3.0, 4.0], [5.0, 6.0]], outputs=[1, 2], effective_sample_count=2)
    for e in (first, second):
        data = encoder.encode(**{spec.name: getattr(e, spec.name) for spec in REQUEST_FIELDS})
        assert InferenceEvent.from_dict(json.loads(data)) == e


# What the encoder wrote before the event had one definition: records on a stream must read the same, and the
# encoder, now derived from the definition, writes the very same bytes.
WRITTEN_BEFORE = [
    b'{"request_id":"r1","when":"2026-11-26T17:00:00.123456+00:00","latency_us":1500,"inputs":[[1.0,2]],'
    b'"outputs":[0],"effective_sample_count":3,"error":null,"row_indices":[2],'
    b'"endpoint_id":"eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee","project":"p","function_name":"serving","model_name":"m",'
    b'"model_version":"1","feature_names":["a","b"],"label_names":["label"],"sampling_percentage":50.0,'
    b'"schema_version":1}',
    b'{"request_id":"r2","when":"2026-11-26T17:00:00.123456+00:00","latency_us":7,"inputs":[["x",null]],'
    b'"outputs":[],"effective_sample_count":1,"error":{"type":"ValueError","message":"bad \\"row\\""},'
    b'"endpoint_id":"eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee","project":"p","function_name":"serving","model_name":"m",'
    b'"model_version":"1","feature_names":["a","b"],"label_names":["label"],"sampling_percentage":50.0,'
    b'"schema_version":1}',
]


def test_the_encoder_writes_the_bytes_it_wrote_before():
    # as the serving service builds it: a tuple of names, an int percentage, no schema version
    encoder = EventEncoder(
        endpoint_id="e" * 32,
        project="p",
        function_name="serving",
        model_name="m",
        model_version="1",
        feature_names=("a", "b"),
        label_names=["label"],
        sampling_percentage=50,
    )
    sampled = encoder.encode(
        request_id="r1",
        when="2026-11-26T17:00:00.123456+00:00",
        latency_us=1500,
        inputs=[[1.0, 2]],
        outputs=[0],
        effective_sample_count=3,
        error=None,
        row_indices=[2],
    )
    failed = encoder.encode(
        request_id="r2",
        when="2026-11-26T17:00:00.123456+00:00",
        latency_us=7,
        inputs=[["x", None]],
        outputs=[],
        effective_sample_count=1,
        error={"type": "ValueError", "message": 'bad "row"'},
        row_indices=None,
    )
    assert [sampled, failed] == WRITTEN_BEFORE


def test_an_encoder_without_one_of_the_models_fields_is_refused():
    fields = {spec.name: getattr(event(), spec.name) for spec in MODEL_FIELDS if spec.name != "schema_version"}
    EventEncoder(**fields)  # schema_version has a default
    with pytest.raises(TypeError, match="the model's 'project' is missing"):
        EventEncoder(**{k: v for k, v in fields.items() if k != "project"})
    with pytest.raises(TypeError, match=r"\['when'\] are not fields of the model"):
        EventEncoder(**fields, when="2026-11-26T17:00:00+00:00")


@pytest.mark.parametrize(
    ("row_indices", "problem"),
    [
        ([0], "1 values"),  # two rows, one index
        ([1, 0], "decreasing"),
        ([0, 0], "repeated"),
        ([0, 5], "beyond the request"),
        ([0, True], "a boolean"),
        ("01", "not a list"),
    ],
)
def test_row_indices_must_name_each_sampled_row_of_the_request(row_indices, problem):
    data = json.loads(event(inputs=[[1.0, 2.0], [3.0, 4.0]], outputs=[0, 1], effective_sample_count=5).to_json())
    data["row_indices"] = row_indices
    with pytest.raises(InvalidRequestError, match=r"row_indices must be null or 2 increasing whole numbers below 5"):
        InferenceEvent.from_dict(data)


def test_size_check_names_the_limit():
    tracker = Tracker(SimpleNamespace(), "s")
    small = event()
    tracker.check_size(small.endpoint_id, encode_event(small), 1)
    with pytest.raises(PayloadTooLargeError, match=r"\(3 rows\); split the request"):
        tracker.check_size(small.endpoint_id, b"x" * kinesis.MAX_RECORD_BYTES, 3)


def test_a_failed_put_is_logged_and_counted_not_raised(monkeypatch):
    logged: list[tuple[str, dict]] = []
    counted: list[dict] = []
    monkeypatch.setattr(tracking.logger, "error", lambda msg, extra: logged.append((msg, extra)))
    monkeypatch.setattr(tracking.metrics, "add_metric", lambda **kw: counted.append(kw))

    def failing(*_: Any) -> None:
        raise StorageError("put_record failed after 3 attempts")

    e = event()
    sent = Tracker(SimpleNamespace(), "s", put=failing).send(
        encode_event(e), endpoint_id=e.endpoint_id, request_id="r1", model_name="m", rows=4
    )
    assert sent is False
    assert logged[0][0] == "tracking event lost"
    assert {k: logged[0][1][k] for k in ("request_id", "endpoint_id", "model_name", "rows")} == {
        "request_id": "r1",
        "endpoint_id": e.endpoint_id,
        "model_name": "m",
        "rows": 4,
    }
    assert "after 3 attempts" in logged[0][1]["error"]
    assert [(c["name"], c["value"]) for c in counted] == [("TrackingEventsLost", 1)]


def test_a_put_goes_to_the_stream_keyed_by_endpoint():
    calls = []
    e = event()
    ok = Tracker("clients", "stream", put=lambda *a: calls.append(a)).send(
        b"data", endpoint_id=e.endpoint_id, request_id="r1", model_name="m", rows=1
    )
    assert ok is True
    assert calls == [("clients", "stream", e.endpoint_id, b"data")]


# ---------------------------------------------------------------------------------------------- kinesis adapter


class FakeKinesis:
    def __init__(self, outcomes: list[Any]) -> None:
        self.outcomes = list(outcomes)
        self.calls: list[dict] = []

    def put_record(self, **kwargs: Any) -> dict:
        self.calls.append(kwargs)
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, "PutRecord")


OK = {"ShardId": "shardId-000000000001", "SequenceNumber": "42", "ResponseMetadata": {}}


def put(outcomes: list[Any], data: bytes = b"{}") -> tuple[FakeKinesis, list[float], Any]:
    fake = FakeKinesis(outcomes)
    sleeps: list[float] = []
    try:
        result = kinesis.put_event(SimpleNamespace(kinesis=fake), "s", "pk", data, sleep=sleeps.append)
    except Exception as exc:
        result = exc
    return fake, sleeps, result


def test_put_event_returns_where_the_record_went():
    fake, sleeps, result = put([OK])
    assert result == {"ShardId": "shardId-000000000001", "SequenceNumber": "42"}
    assert fake.calls == [{"StreamName": "s", "Data": b"{}", "PartitionKey": "pk"}]
    assert sleeps == []


def test_put_event_retries_throttling_and_connection_errors_with_growing_backoff():
    fake, sleeps, result = put(
        [client_error("ProvisionedThroughputExceededException"), EndpointConnectionError(endpoint_url="x"), OK]
    )
    assert result["SequenceNumber"] == "42"
    assert len(fake.calls) == 3
    assert len(sleeps) == 2
    assert 0 <= sleeps[0] <= kinesis.BASE_DELAY_SECONDS
    assert 0 <= sleeps[1] <= 2 * kinesis.BASE_DELAY_SECONDS


def test_put_event_gives_up_after_its_attempts():
    fake, _, result = put([client_error("InternalFailure")] * 3)
    assert isinstance(result, StorageError)
    assert "failed after 3 attempts" in str(result)
    assert len(fake.calls) == 3


def test_put_event_does_not_retry_what_cannot_succeed():
    fake, sleeps, result = put([client_error("ResourceNotFoundException")])
    assert isinstance(result, StorageError)
    assert "ResourceNotFoundException" in str(result)
    assert (len(fake.calls), sleeps) == (1, [])


def test_put_event_refuses_a_record_over_one_mebibyte_without_calling_kinesis():
    fake, _, result = put([OK], data=b"x" * (kinesis.MAX_RECORD_BYTES - 1))  # + 2 bytes of partition key
    assert isinstance(result, PayloadTooLargeError)
    assert fake.calls == []
    fake, _, result = put([OK], data=b"x" * (kinesis.MAX_RECORD_BYTES - 2))
    assert result["ShardId"] == "shardId-000000000001"
