"""Property-based tests (bounded, so the suite stays fast): no request body makes request parsing raise anything
but a driftline refusal (400/413), and no Kinesis record makes stream decoding raise: each record is either
decoded or a poison record with a reason. Inputs mix arbitrary JSON, mutations of valid documents, raw bytes,
bad base64, deep nesting, NaN/inf tokens and huge numbers."""

from __future__ import annotations

import base64
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driftline.errors import InvalidRequestError
from driftline.serving.protocol import Signature, parse_infer_request
from driftline.stream.decode.batch import decode_batch
from driftline.stream.decode.envelope import records_from_event
from driftline.stream.testing import inference_event, kinesis_event, kinesis_record, sequence_number

SIGNATURE = Signature(feature_names=("a", "b", "c"), label_names=("label",))
MIXED = Signature(feature_names=("a", "s"), label_names=("label",), string_features=frozenset({1}))
LIMITS = {"max_rows": 50, "max_bytes": 20_000}

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=20,
)
tensor = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["a", "b", "c", "input-0", "s"]),
        "shape": st.lists(st.integers(min_value=-2, max_value=5), max_size=3),
        "datatype": st.sampled_from(["FP64", "FP32", "INT64", "BOOL", "BYTES", "UINT8", "FP16", "nope"]),
        "data": st.lists(st.one_of(scalars, st.lists(scalars, max_size=3)), max_size=12),
    },
    optional={"parameters": json_values},
)
documents = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {"inputs": st.one_of(st.lists(st.lists(scalars, max_size=4), max_size=6), st.lists(tensor, max_size=3))},
        optional={"id": json_values, "parameters": json_values},
    ),
)
special_bodies = st.sampled_from(
    [
        "[" * 100_000,  # deeper than the decoder's stack
        '{"inputs": ' + "[" * 50_000 + "]" * 50_000 + "}",
        '{"inputs": [[NaN, 1, 2]]}',
        '{"inputs": [[Infinity, 1, 2]]}',
        '{"inputs": [[1e999, 1, 2]]}',
        '{"inputs": [[' + "9" * 5000 + ", 1, 2]]}",
        '{"inputs": [[1, 2, 3]]',
        "\ud800",
        "",
        '{"inputs": [[1, 2, 3]]}' + " " * 30_000,
    ]
)
bodies = st.one_of(
    documents.map(lambda d: json.dumps(d)),
    st.text(max_size=60),
    st.binary(max_size=60),
    special_bodies,
)


def _parse(body, signature, is_base64=False) -> None:
    try:
        request = parse_infer_request(body, signature, is_base64=is_base64, **LIMITS)
    except InvalidRequestError as exc:  # PayloadTooLargeError is one
        refusal = str(exc)
    else:
        refusal = ""
    if refusal:
        assert len(refusal) > 20  # a sentence saying what was wrong, not a bare type name
        return
    assert 1 <= len(request.rows) <= LIMITS["max_rows"]
    assert all(len(row) == signature.n_features for row in request.rows)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies, signature=st.sampled_from([SIGNATURE, MIXED]))
def test_no_request_body_makes_parsing_raise_anything_but_a_refusal(body, signature):
    _parse(body, signature)


@settings(max_examples=100, deadline=None)
@given(body=bodies)
def test_base64_bodies_too(body):
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    _parse(base64.b64encode(raw).decode(), SIGNATURE, is_base64=True)
    _parse(body if isinstance(body, str) else body.decode("latin-1"), SIGNATURE, is_base64=True)


# ------------------------------------------------------------------------------------------------- stream

VALID = json.loads(inference_event().to_json())


@st.composite
def mutated_events(draw) -> bytes:
    """A valid event with some fields replaced, dropped or added."""
    event = dict(VALID)
    for key in draw(st.lists(st.sampled_from(sorted(VALID)), max_size=4, unique=True)):
        if draw(st.booleans()):
            event[key] = draw(json_values)
        else:
            event.pop(key)
    if draw(st.booleans()):
        event[draw(st.text(max_size=5))] = draw(json_values)
    return json.dumps(event).encode()


payloads = st.one_of(
    mutated_events().map(lambda b: base64.b64encode(b).decode()),
    json_values.map(lambda v: base64.b64encode(json.dumps(v).encode()).decode()),
    st.binary(max_size=80).map(lambda b: base64.b64encode(b).decode()),
    st.text(max_size=40),  # mostly not base64
    st.sampled_from(
        [
            base64.b64encode(b"[" * 100_000).decode(),
            base64.b64encode(json.dumps(dict(VALID, inputs=[[1e308, -1e308]], outputs=[1e308])).encode()).decode(),
            base64.b64encode(json.dumps(dict(VALID, when="not a time")).encode()).decode(),
            base64.b64encode(json.dumps(dict(VALID, inputs=[[1.0]], outputs=[0, 1])).encode()).decode(),
            base64.b64encode(b'{"schema_version": 1, "inputs": NaN}').decode(),
            base64.b64encode(
                json.dumps(VALID).replace('"latency_us": 1000', '"latency_us": ' + "9" * 5000).encode()
            ).decode(),
            base64.b64encode(json.dumps(VALID).encode() + b"\xff").decode(),
        ]
    ),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.lists(payloads, min_size=1, max_size=6), valid=st.integers(min_value=0, max_value=3))
def test_no_record_makes_decoding_raise_and_each_is_rows_or_poison(data, valid):
    good = [inference_event() for _ in range(valid)]
    event = kinesis_event(good)
    event["Records"] += [kinesis_record(d, sequence_number(valid + i)) for i, d in enumerate(data)]
    records = records_from_event(event)
    for fast in (True, False):
        batch = decode_batch(records, fast=fast)
        poisoned = {p.record.position for p in batch.poison}
        assert all(p.reason for p in batch.poison)
        assert not poisoned & set(range(valid))  # the valid records are never poisoned by their neighbours
        decoded = set(batch.events.column("position").to_pylist())
        assert decoded | poisoned == set(range(len(records)))
        assert not decoded & poisoned
