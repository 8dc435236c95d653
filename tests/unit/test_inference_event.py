"""The inference event is defined once (driftline.inference_event): each field describes itself, and what reads
or writes events follows that description."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from driftline.errors import InvalidRequestError
from driftline.inference_event import (
    EVENT_FIELDS,
    PLAIN_JSON_TYPES,
    ROW_COLUMN_NAMES,
    ROW_COLUMNS,
    InferenceEvent,
)

FIELDS = {spec.name: spec for spec in EVENT_FIELDS}
# A valid event whose every field differs from its default; fields added later that the reference decoder reads
# by type alone get a value of their type (see every_field_set).
SET: dict[str, Any] = {
    "request_id": "r-1",
    "endpoint_id": "e" * 32,
    "project": "p",
    "function_name": "serving",
    "model_name": "m",
    "model_version": "4",
    "when": "2026-11-26T17:00:00.123456+00:00",
    "latency_us": 2150,
    "inputs": [[5.1, "red"], [4.9, None]],
    "outputs": [0, [0.25, 0.75]],
    "feature_names": ["length", "colour"],
    "label_names": ["label"],
    "sampling_percentage": 40.0,
    "effective_sample_count": 9,
    "error": None,  # set in its own case below: an error event has no outputs
    "schema_version": 1,
    "row_indices": [2, 7],
    "received": "2026-11-27T09:00:00.000001+00:00",
    "score_names": ["proba_0", "proba_1"],
    "scores": [[0.25, 0.75], [None, 1.0]],
}
BY_TYPE = {"string": "s", "integer": 3, "number": 2.5}


# what the vectorised decoder takes: rows of numbers, one number per output
NUMBERS = {"inputs": [[5.1, 1.0], [4.9, None]], "outputs": [0, 2]}


def every_field_set(**changes: Any) -> InferenceEvent:
    values = {spec.name: SET[spec.name] if spec.name in SET else BY_TYPE[spec.json] for spec in EVENT_FIELDS}
    return InferenceEvent(**(values | changes))


def test_every_field_says_what_it_is():
    assert [f.name for f in dataclasses.fields(InferenceEvent)] == list(FIELDS)
    for spec in EVENT_FIELDS:
        assert spec.json, spec.name
        assert spec.meaning, spec.name
        assert spec.per in ("request", "model"), spec.name
        # a field with no rule of its own is read by its JSON type, so that type must be one the reader knows
        assert spec.rule is not None or spec.json in PLAIN_JSON_TYPES, spec.name
        # a field written only when set must read back as unset when it is absent
        assert not spec.omit_null or (spec.default is None and not spec.required), spec.name
        if spec.required:
            assert spec.default is dataclasses.MISSING or spec.rule is not None, spec.name


def test_every_field_survives_the_round_trip():
    for event in (every_field_set(), every_field_set(error={"type": "E", "message": "m"}, outputs=[])):
        data = json.loads(event.to_json())
        assert set(data) == set(FIELDS)
        assert InferenceEvent.from_dict(data) == event  # a field from_dict forgot would come back as its default


def test_a_field_written_only_when_set_is_left_out_when_null():
    omitted = [spec.name for spec in EVENT_FIELDS if spec.omit_null]
    assert omitted  # row_indices
    data = json.loads(every_field_set(**dict.fromkeys(omitted)).to_json())
    assert set(data) == set(FIELDS) - set(omitted)
    assert InferenceEvent.from_dict(data) == every_field_set(**dict.fromkeys(omitted))


@pytest.mark.parametrize("spec", [s for s in EVENT_FIELDS if s.rule is None], ids=lambda s: s.name)
def test_a_field_without_a_rule_is_read_by_its_json_type(spec):
    data = json.loads(every_field_set().to_json())
    kind = PLAIN_JSON_TYPES[spec.json]
    wrong = [] if kind is str else ["3"]
    for value in [[1], {"a": 1}, True, *wrong]:
        with pytest.raises(InvalidRequestError, match=f"field '{spec.name}' must be"):
            InferenceEvent.from_dict(data | {spec.name: value})
    del data[spec.name]
    if spec.required:
        with pytest.raises(InvalidRequestError, match=f"missing field '{spec.name}'"):
            InferenceEvent.from_dict(data)
    else:
        assert getattr(InferenceEvent.from_dict(data), spec.name) == spec.default


def test_row_columns_come_from_event_fields():
    assert tuple(c.name for c in ROW_COLUMNS) == ROW_COLUMN_NAMES
    assert len(set(ROW_COLUMN_NAMES)) == len(ROW_COLUMN_NAMES)
    for column in ROW_COLUMNS:
        assert column.source in FIELDS, column.name
        assert column.per in ("request", "row")
    assert [c.name for c in ROW_COLUMNS if c.per == "row"] == ["row_index"]


def test_the_other_lists_of_row_columns_are_the_same_columns():
    # driftline.sdk.names (a feature must not take one) and driftline.applications.evaluate (an app must not read
    # one as a feature) derive theirs from ROW_COLUMN_NAMES and the layout's partitions
    from driftline.applications.evaluate import EVENT_COLUMNS
    from driftline.sdk.names import RESERVED_COLUMNS

    assert EVENT_COLUMNS == ROW_COLUMN_NAMES
    assert frozenset({*ROW_COLUMN_NAMES, "endpoint_id", "date", "hour"}) == RESERVED_COLUMNS


def test_the_serving_encoder_writes_the_models_fields_once_and_every_field():
    from driftline.serving.tracking import encode_event

    for event in (every_field_set(), every_field_set(row_indices=None)):
        data = json.loads(encode_event(event))
        own = [
            s.name for s in EVENT_FIELDS if s.per == "request" and not (s.omit_null and getattr(event, s.name) is None)
        ]
        assert list(data) == own + [s.name for s in EVENT_FIELDS if s.per == "model"]  # the model's part: encoded once
        assert data == json.loads(event.to_json())
        assert InferenceEvent.from_dict(data) == event


# ---------------------------------------------------------------------------------------------------- the stream


def test_every_arrow_type_the_definition_names_is_one():
    from driftline.stream.decode.tables import arrow_type

    named = [s.arrow for s in EVENT_FIELDS] + [s.table for s in EVENT_FIELDS] + [c.arrow for c in ROW_COLUMNS]
    for name in filter(None, named):
        assert str(arrow_type(name)).replace("item: ", "").replace("tz=", "") == name.replace("float64", "double")


def test_the_vectorised_decoder_reads_each_field_as_the_definition_types_it():
    import pyarrow as pa

    from driftline.serving.tracking import encode_event
    from driftline.stream.decode import vectorised
    from driftline.stream.decode.tables import arrow_type

    typed = [s for s in EVENT_FIELDS if s.arrow is not None]
    assert [(f.name, f.type) for f in vectorised.EXPLICIT_SCHEMA] == [(s.name, arrow_type(s.arrow)) for s in typed]
    payload = encode_event(every_field_set(**NUMBERS))
    table = vectorised._read(payload + b"\n" + payload, 2)
    for spec in typed:
        assert table.schema.field(spec.name).type == arrow_type(spec.arrow), spec.name
    untyped = {s.name for s in EVENT_FIELDS if s.arrow is None}
    assert untyped == {"outputs", "error"}  # what the vectorised decoder checks after the read
    assert pa.types.is_list(table.schema.field("outputs").type)


def test_the_decoded_events_table_is_the_envelope_the_fields_with_a_table_type_and_two_facts():
    from driftline.stream.decode.tables import (
        DERIVED_COLUMNS,
        ENVELOPE_COLUMNS,
        EVENT_SCHEMA,
        TABLE_FIELDS,
        arrow_type,
    )

    carried = [(s.name, arrow_type(s.table)) for s in EVENT_FIELDS if s.table is not None]
    assert [s.name for s in TABLE_FIELDS] == [name for name, _ in carried]
    assert [(f.name, f.type) for f in EVENT_SCHEMA] == [*ENVELOPE_COLUMNS, *carried, *DERIVED_COLUMNS]
    for spec in TABLE_FIELDS:  # the vectorised decoder keeps the types it read, but turns times into timestamps
        assert spec.table == spec.arrow or spec.name in ("when", "received"), spec.name


def test_both_decoders_fill_the_derived_tables_with_every_event():
    from driftline.stream.decode.batch import decode_batch
    from driftline.stream.decode.envelope import records_from_event
    from driftline.stream.decode.tables import EVENT_SCHEMA, FIXED_COLUMNS, arrow_type
    from driftline.stream.testing import kinesis_event

    assert tuple((c.name, arrow_type(c.arrow)) for c in ROW_COLUMNS) == FIXED_COLUMNS
    events = [every_field_set(**NUMBERS), every_field_set(**NUMBERS, request_id="r-2")]
    records = records_from_event(kinesis_event(events))
    for fast in (True, False):
        batch = decode_batch(records, fast=fast)
        assert bool(batch._slow) is not fast  # each path did the work
        assert batch.events.schema == EVENT_SCHEMA
        assert batch.events.column("model_version").to_pylist() == ["4", "4"]
        [group] = batch.groups
        fixed = [(f.name, f.type) for f in group.table.schema][: len(ROW_COLUMNS)]
        assert fixed == list(FIXED_COLUMNS)
        assert group.table.column("row_index").to_pylist() == [2, 7, 2, 7]
        assert group.table.column("latency").to_pylist() == [2150] * 4
        assert group.table.column("effective_sample_count").to_pylist() == [9] * 4


def test_records_written_before_the_definition_still_decode_on_both_paths():
    from driftline.stream.decode.batch import decode_batch
    from driftline.stream.decode.envelope import records_from_event
    from driftline.stream.testing import kinesis_event
    from tests.unit.test_serving_tracking import WRITTEN_BEFORE

    sampled, failed = (records_from_event(kinesis_event([payload])) for payload in WRITTEN_BEFORE)
    for records in (sampled, failed):
        fast, reference = decode_batch(records), decode_batch(records, fast=False)
        assert (fast.poison, reference.poison) == ([], [])
        assert fast.events.equals(reference.events)
        assert [g.table for g in fast.groups] == [g.table for g in reference.groups]
    batch = decode_batch(sampled)
    assert not batch._slow  # the vectorised decoder vouched for it
    assert batch.groups[0].table.column("row_index").to_pylist() == [2]
    assert decode_batch(failed).events.column("is_error").to_pylist() == [True]
