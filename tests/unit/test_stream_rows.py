"""Rows, columns and types; grouping by endpoint, hour and shard; object keys; fast path == reference path."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driftline.aws.events_store import event_key, hour_prefixes, to_parquet_bytes
from driftline.stream.decode import vectorised
from driftline.stream.decode.batch import decode_batch
from driftline.stream.decode.envelope import records_from_event
from driftline.stream.decode.reference import rows_from_events
from driftline.stream.decode.tables import column_names, value_array
from driftline.stream.testing import inference_event, kinesis_event, sequence_number

T0 = datetime(2026, 11, 26, 17, 58, tzinfo=UTC)
FIXED_SCHEMA = [
    ("timestamp", pa.timestamp("us", tz="UTC")),
    ("request_id", pa.string()),
    ("row_index", pa.int32()),
    ("latency", pa.int64()),
    ("model_version", pa.string()),
    ("effective_sample_count", pa.int64()),
]


def _batch(events, **kwargs):
    return decode_batch(records_from_event(kinesis_event(events)), **kwargs)


# ---------------------------------------------------------------------------------------------------- names


def test_default_label_is_prediction_and_label_names_name_columns():
    assert column_names(("a", "b"), (), None) == (("a", "b"), ("prediction",))
    assert column_names(("a",), ("y",), None) == (("a",), ("y",))
    assert column_names(("a",), ("y", "z"), None) == (("a",), ("y",))


def test_multi_output_predictions_get_one_column_each():
    assert column_names(("a",), ("p", "q"), 2)[1] == ("p", "q")  # one name per output
    assert column_names(("a",), ("y",), 3)[1] == ("y_0", "y_1", "y_2")
    assert column_names(("a",), (), 2)[1] == ("prediction_0", "prediction_1")


def test_clashing_names_are_renamed_never_overwritten():
    features, labels = column_names(("hour", "timestamp", "x", "x", ""), ("x",), None)
    assert features == ("feature_hour", "feature_timestamp", "x", "feature_x", "feature_4")
    assert labels == ("label_x",)
    assert len(set(features + labels)) == len(features + labels)


# ---------------------------------------------------------------------------------------------------- values


def test_numbers_are_float64_and_nulls_stay_null():
    array = value_array([1, 2.5, None, True])
    assert array.type == pa.float64()
    assert array.to_pylist() == [1.0, 2.5, None, 1.0]


def test_a_string_makes_the_column_string_with_numbers_cast_like_arrow():
    array = value_array(["a", 5.0, 0.25, None, [1, 2]])
    assert array.type == pa.string()
    assert array.to_pylist() == ["a", "5", "0.25", None, "[1,2]"]


def test_integers_beyond_int64_are_still_numbers():
    assert value_array([10**30, 1]).to_pylist() == [1e30, 1.0]


# ---------------------------------------------------------------------------------------------------- rows


def test_one_row_per_input_row_with_the_documented_types():
    events = [
        inference_event(when=T0, latency_us=2150, inputs=[[5.1, 3.5], [4.9, 3.0]], outputs=[0, 2], model_version="3"),
        inference_event(when=T0 + timedelta(seconds=1), inputs=[[6.0, 1.0]], outputs=[1], effective_sample_count=4),
    ]
    table = rows_from_events(list(enumerate(events))).drop_columns(["_position"])
    assert [(f.name, f.type) for f in table.schema][:6] == FIXED_SCHEMA
    assert table.column_names[6:] == ["f0", "f1", "label"]
    assert table.column("f0").type == pa.float64()
    assert table.column("row_index").to_pylist() == [0, 1, 0]
    assert table.column("latency").to_pylist() == [2150, 2150, 1000]
    assert table.column("effective_sample_count").to_pylist() == [2, 2, 4]
    assert table.column("label").to_pylist() == [0.0, 2.0, 1.0]
    assert table.column("timestamp")[0].as_py() == T0
    assert table.column("model_version").to_pylist() == ["3", "3", "1"]


def test_error_events_and_fully_sampled_out_requests_write_no_rows():
    error = inference_event(error={"type": "ValueError", "message": "bad input"})
    sampled_out = inference_event(inputs=[], outputs=[], feature_names=["f0", "f1"], effective_sample_count=5)
    assert rows_from_events([(0, error), (1, sampled_out)]) is None
    batch = _batch([error, sampled_out])
    assert batch.groups == []
    assert batch.events.column("is_error").to_pylist() == [True, False]


def test_string_features_make_string_columns():
    event = inference_event(inputs=[["red", 1.0]], feature_names=["colour", "size"], outputs=["cat"])
    table = rows_from_events([(0, event)])
    assert table.column("colour").type == pa.string()
    assert table.column("size").type == pa.float64()
    assert table.column("label").to_pylist() == ["cat"]


def test_a_list_prediction_becomes_one_column_per_output():
    event = inference_event(inputs=[[1.0, 2.0]], outputs=[[0.2, 0.8]], label_names=["proba"])
    table = rows_from_events([(0, event)])
    assert table.column("proba_0").to_pylist() == [0.2]
    assert table.column("proba_1").to_pylist() == [0.8]


def test_different_feature_sets_in_one_file_leave_nulls():
    first = inference_event(inputs=[[1.0]], feature_names=["a"])
    second = inference_event(inputs=[[2.0]], feature_names=["b"])
    table = _batch([first, second]).groups[0].table
    assert table.column("a").to_pylist() == [1.0, None]
    assert table.column("b").to_pylist() == [None, 2.0]


# ---------------------------------------------------------------------------------------------------- groups and keys


def test_groups_split_by_endpoint_and_hour_and_start_at_their_first_record():
    a = {"model_name": "a"}
    b = {"model_name": "b"}
    events = [
        inference_event(when=T0, **a),  # 17h a
        inference_event(when=T0, **b),  # 17h b
        inference_event(when=T0 + timedelta(minutes=3), **a),  # 18h a
        inference_event(when=T0 + timedelta(seconds=30), **a),  # 17h a again
        inference_event(when=T0 + timedelta(minutes=3), error={"type": "E", "message": "m"}, **b),  # no rows
    ]
    batch = _batch(events)
    summary = [(g.endpoint_id, g.hour_start.hour, g.first_sequence, g.rows) for g in batch.groups]
    ea, eb = events[0].endpoint_id, events[1].endpoint_id
    assert summary == [
        (ea, 17, sequence_number(0), 2),
        (eb, 17, sequence_number(1), 1),
        (ea, 18, sequence_number(2), 1),
    ]
    assert batch.groups[0].table.column("request_id").to_pylist() == [events[0].request_id, events[3].request_id]


def test_an_event_with_a_utc_offset_is_filed_under_its_utc_hour():
    event = inference_event(when="2026-11-26T19:30:00+02:00")
    group = _batch([event]).groups[0]
    assert group.hour_start == datetime(2026, 11, 26, 17, tzinfo=UTC)
    assert group.table.column("timestamp")[0].as_py() == datetime(2026, 11, 26, 17, 30, tzinfo=UTC)


def test_keys_follow_the_contract():
    hour = datetime(2026, 11, 26, 7, tzinfo=UTC)
    key = event_key("abc", hour, "shardId-000000000001", "4959")
    assert key == "events/endpoint_id=abc/date=2026-11-26/hour=07/shardId-000000000001-4959.parquet"
    assert hour_prefixes("abc", hour + timedelta(minutes=50), hour + timedelta(hours=2)) == [
        "events/endpoint_id=abc/date=2026-11-26/hour=07/",
        "events/endpoint_id=abc/date=2026-11-26/hour=08/",
    ]


def test_a_redelivered_batch_regroups_identically_and_a_bisected_half_keeps_its_keys():
    events = [inference_event(when=T0 + timedelta(seconds=40 * i), model_name="ab"[i % 2]) for i in range(8)]
    raw = kinesis_event(events)
    once = decode_batch(records_from_event(raw))
    again = decode_batch(records_from_event(raw))
    assert [(g.first_sequence, g.table.equals(h.table)) for g, h in zip(once.groups, again.groups, strict=True)] == [
        (g.first_sequence, True) for g in once.groups
    ]
    first_half = decode_batch(records_from_event({"Records": raw["Records"][:4]}))
    second_half = decode_batch(records_from_event({"Records": raw["Records"][4:]}))
    whole = {(g.endpoint_id, g.hour_start, g.first_sequence) for g in once.groups}
    halves = [(g.endpoint_id, g.hour_start, g.first_sequence) for g in first_half.groups + second_half.groups]
    assert whole <= set(halves)  # every whole-batch key is rewritten by a half (with a subset of its rows)
    assert sum(g.rows for g in first_half.groups + second_half.groups) == once.rows == 8


def test_parquet_bytes_round_trip_with_types():
    table = _batch([inference_event()]).groups[0].table
    back = pa.parquet.read_table(pa.BufferReader(to_parquet_bytes(table)))
    assert back.equals(table)


# ---------------------------------------------------------------------------------------------------- fast == reference


def _assert_same(records):
    fast = decode_batch(records)
    reference = decode_batch(records, fast=False)
    assert [(p.record.position, p.reason) for p in fast.poison] == [
        (p.record.position, p.reason) for p in reference.poison
    ]
    assert fast.events.equals(reference.events)
    assert len(fast.groups) == len(reference.groups)
    for got, want in zip(fast.groups, reference.groups, strict=True):
        assert (got.endpoint_id, got.hour_start, got.shard_id, got.first_sequence) == (
            want.endpoint_id,
            want.hour_start,
            want.shard_id,
            want.first_sequence,
        )
        assert got.table.schema == want.table.schema
        assert got.table.equals(want.table), (got.table.to_pylist(), want.table.to_pylist())
    for position in fast.events.column("position").to_pylist():
        assert fast.last_row(position) == reference.last_row(position)
    return fast


def test_fast_path_matches_reference_on_a_mixed_batch():
    events = [
        inference_event(when=T0 + timedelta(minutes=i), model_name="ab"[i % 2], inputs=[[float(i), i]])
        for i in range(6)
    ]
    events.append(inference_event(inputs=[["x", 1.0]], model_name="a"))  # string feature: reference path
    events.append(inference_event(error={"type": "E", "message": "m"}))
    payloads = [*events, b'{"request_id": 1}', b"[]", "!!", json.dumps({"a": 1}).encode()]
    batch = _assert_same(records_from_event(kinesis_event(payloads)))
    assert len(batch.poison) == 4
    assert batch.rows == 7


@pytest.mark.parametrize("error", [{}, {"type": 1, "detail": [None, 1]}, "boom", 7, ["E"]])
def test_an_error_of_any_object_is_an_error_event_and_anything_else_is_poison(error):
    events = [inference_event(latency_us=i) for i in range(3)]
    odd = json.loads(inference_event(latency_us=3).to_json())
    odd["error"], odd["outputs"] = error, []
    batch = _assert_same(records_from_event(kinesis_event([*events, json.dumps(odd).encode()])))
    assert len(batch.poison) == (0 if isinstance(error, dict) else 1)


def test_a_payload_holding_two_objects_is_not_misaligned():
    one = inference_event(latency_us=1)
    two = inference_event(latency_us=2)
    glued = one.to_json() + b"\n" + two.to_json()
    batch = _assert_same(records_from_event(kinesis_event([one, glued, two])))
    assert [p.record.position for p in batch.poison] == [1]


_names = st.sampled_from([["a", "b"], ["a", "c", "d"], ["hour", "a"], []])
_value = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    # within float64's exact integers: beyond 2**53 both paths store the same float64 rows, but the live
    # figures' last_inputs keep the reference's exact int and the fast path's float (a display-only difference)
    st.integers(-(2**53), 2**53),
    st.none(),
    st.sampled_from(["red", "blue"]),
    st.booleans(),
)
_when = st.sampled_from(
    [
        "2026-11-26T17:59:59.999999+00:00",
        "2026-11-26T18:00:00Z",
        "2026-11-26T19:00:00.5+01:00",
        "2026-11-26 18:30:00+00:00",
        "2026-02-30T00:00:00+00:00",
        "2026-11-26T18:00:00",
    ]
)


@st.composite
def _payloads(draw):
    names = draw(_names)
    rows = draw(st.integers(0, 3))
    inputs = [[draw(_value) for _ in names] for _ in range(rows)]
    outputs = draw(
        st.one_of(
            st.lists(st.one_of(st.none(), st.integers(0, 3)), min_size=rows, max_size=rows),
            st.lists(st.sampled_from(["cat", "dog", None]), min_size=rows, max_size=rows),
            st.lists(st.lists(st.floats(0, 1, width=32), min_size=2, max_size=2), min_size=rows, max_size=rows),
        )
    )
    data = {
        "schema_version": 1,
        "request_id": f"r{draw(st.integers(0, 10**6))}",
        "endpoint_id": draw(st.sampled_from(["e1", "e2", "bad/id"])),
        "project": "p",
        "function_name": "f",
        "model_name": "m",
        "model_version": draw(st.sampled_from(["1", "2"])),
        "when": draw(_when),
        "latency_us": draw(st.sampled_from([0, 10, -1])),
        "inputs": inputs,
        "outputs": outputs,
        "feature_names": names,
        "label_names": draw(st.sampled_from([[], ["y"], ["p", "q"]])),
        "sampling_percentage": 100.0,
        "effective_sample_count": rows,
        "error": draw(st.sampled_from([None, None, None, {"type": "E", "message": "m"}, {}, {"type": 1}, "boom"])),
    }
    if draw(st.booleans()) and rows:
        data["outputs"] = outputs[:-1]  # one output short: poison unless it is an error event
    indices = draw(st.sampled_from(["absent", "null", "sampled", "any"]))
    if indices != "absent":
        data["effective_sample_count"] = rows + 3
        data["row_indices"] = {
            "null": None,
            "sampled": sorted(draw(st.sets(st.integers(0, rows + 2), min_size=rows, max_size=rows))),
            "any": draw(st.lists(st.one_of(st.integers(-1, rows + 3), st.none(), st.booleans()), max_size=4)),
        }[indices]
    text = json.dumps(data, separators=(",", ":"))
    return draw(st.sampled_from([text.encode(), text.encode(), (" " + text).encode(), base64.b64encode(b"[]")]))


def _one_change_each(when: str) -> set[str]:
    """Every string one character away from ``when`` (and two-digit fields run through 00-99)."""
    changed = {when[:i] + c + when[i + 1 :] for i in range(len(when)) for c in "0123456789-T:.+Z x/\x00é"}
    for at in (11, 14, 17, 27, 30):  # hours, minutes, seconds, zone hours, zone minutes
        changed |= {f"{when[:at]}{v:02d}{when[at + 2 :]}" for v in range(100)}
    return changed | {when[:-1], when + "0", "", when.replace("+", "-")}


def test_the_check_of_the_serving_functions_times_agrees_with_the_pattern():
    # times as the serving function writes them skip the regex: the numpy check must accept only what it accepts
    for when in _one_change_each("2026-11-26T16:55:00.000000+00:00"):
        matches = pc.match_substring_regex(pa.array([when]), vectorised._WHEN)[0].as_py()
        assert vectorised._serving_times(pa.array([when])) == (matches and len(when.encode()) == 32), when
    written = inference_event(when=T0).when
    assert vectorised._serving_times(pa.array(["x", written, written]).slice(1))
    assert not vectorised._serving_times(pa.array([written, None]))


def test_names_that_join_alike_still_make_two_parts():
    # one endpoint, two layouts whose names, joined with a separator they contain, would read the same
    events = [
        inference_event(feature_names=["a\x1fb"], inputs=[[1.0]]),
        inference_event(feature_names=["a", "b"], inputs=[[2.0, 3.0]]),
        inference_event(feature_names=["ab"], inputs=[[4.0]]),
    ]
    batch = _assert_same(records_from_event(kinesis_event(events)))
    rows = batch.groups[0].table.select(["a\x1fb", "a", "b", "ab"]).to_pylist()
    assert rows == [
        {"a\x1fb": 1.0, "a": None, "b": None, "ab": None},
        {"a\x1fb": None, "a": 2.0, "b": 3.0, "ab": None},
        {"a\x1fb": None, "a": None, "b": None, "ab": 4.0},
    ]


def test_sampled_rows_keep_their_place_in_the_request_on_both_paths():
    sampled = {"effective_sample_count": 10, "inputs": [[1.0, 2.0], [3.0, 4.0]], "outputs": [1, 0]}
    events = [
        inference_event(**sampled, row_indices=[3, 7]),
        inference_event(**sampled),  # every row: 0, 1
        inference_event(**sampled, row_indices=[7, 3]),  # not increasing
        inference_event(**sampled, row_indices=[0, 10]),  # beyond the request's rows
        inference_event(**sampled, row_indices=[-1, 1]),
        inference_event(**sampled, row_indices=[1]),  # one per sampled row
        inference_event(**{**sampled, "effective_sample_count": 2**32}, row_indices=[0, 2**31]),  # not an int32
    ]
    batch = _assert_same(records_from_event(kinesis_event(events)))
    assert batch.groups[0].table.column("row_index").to_pylist() == [3, 7, 0, 1]
    assert [p.record.position for p in batch.poison] == [2, 3, 4, 5, 6]
    assert len(batch._slow) == 0  # the valid ones went through the fast path


def test_a_part_whose_labels_are_all_null_is_float64_whatever_the_rest_of_the_batch_predicts():
    # pyarrow types outputs over the whole read: another endpoint's string predictions made this endpoint's
    # all-null label column a string column on the fast path (the reference, and every other file, say float64)
    events = [inference_event(model_name="a", outputs=["cat"]), inference_event(model_name="b", outputs=[None])] * 5
    batch = _assert_same(records_from_event(kinesis_event(events)))
    assert [g.table.schema.field("label").type for g in batch.groups] == [pa.string(), pa.float64()]
    assert len(batch._slow) == 0


def test_labels_of_a_refused_record_do_not_type_the_accepted_ones():
    # hypothesis's example: the record with string outputs is refused (one output short), the one left has null
    shape = {"inputs": [[0.0, None], [None, 0.0]], "feature_names": ["a", "b"], "label_names": []}
    events = [
        inference_event(**shape, outputs=["cat"]),  # poison: 1 output for 2 rows
        inference_event(inputs=[[]], outputs=[None], feature_names=[], label_names=[]),
    ]
    batch = _assert_same(records_from_event(kinesis_event(events)))
    assert batch.groups[0].table.schema.field("prediction").type == pa.float64()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_payloads(), min_size=1, max_size=25))
def test_fast_path_equals_reference_path(payloads):
    _assert_same(records_from_event(kinesis_event(payloads)))


@pytest.mark.parametrize("size", [9, 40])
def test_one_bad_record_does_not_push_a_large_batch_off_the_fast_path(size):
    events = [inference_event(latency_us=i) for i in range(size)]
    payloads = [*events[:3], b'{"inputs": "not a list"}', *events[3:]]
    batch = _assert_same(records_from_event(kinesis_event(payloads)))
    assert batch.rows == size
    assert len(batch._slow) == 0  # every valid record went through the fast path


def test_records_of_two_shards_are_grouped_apart():
    events = [inference_event(when=T0, latency_us=i) for i in range(4)]
    first = kinesis_event(events[:2], shard_id="shardId-000000000001")
    second = kinesis_event(events[2:], shard_id="shardId-000000000002", start=2)
    batch = _assert_same(records_from_event({"Records": first["Records"] + second["Records"]}))
    assert [(g.shard_id, g.first_sequence, g.rows) for g in batch.groups] == [
        ("shardId-000000000001", sequence_number(0), 2),
        ("shardId-000000000002", sequence_number(2), 2),
    ]


def test_scores_become_proba_columns_after_the_label_on_both_paths():
    from driftline.scores import score_columns

    names = score_columns([0, 1])
    sampled = {"effective_sample_count": 5, "inputs": [[1.0, 2.0], [3.0, 4.0]], "outputs": [1, 0]}
    events = [
        inference_event(**sampled, score_names=names, scores=[[0.25, 0.75], [0.5, None]], row_indices=[1, 4]),
        inference_event(**sampled, score_names=names, scores=[[1, 0], [0.0, 1.0]]),
        inference_event(**sampled, score_names=names),  # the model's names, no scores: no score columns
        inference_event(error={"type": "E", "message": "m"}, score_names=names),
    ]
    payloads = [e.to_json() for e in events]
    bad = [
        {"scores": [[0.5, 0.5]]},  # one row of scores for two rows
        {"scores": [[0.5], [0.5]]},  # one score for two names
        {"scores": [[0.5, True], [0.5, 0.5]]},
        {"scores": [[0.5, 0.5], None]},
        {"score_names": None, "scores": [[0.5, 0.5], [0.5, 0.5]]},  # scores without names
        {"score_names": ["proba_0", None], "scores": [[0.5, 0.5], [0.5, 0.5]]},
    ]
    for change in bad:
        payloads.append(json.dumps({**json.loads(events[1].to_json()), **change}).encode())
    batch = _assert_same(records_from_event(kinesis_event(payloads)))
    assert [p.record.position for p in batch.poison] == list(range(4, 4 + len(bad)))
    (group,) = batch.groups
    table = group.table
    assert table.column_names[-3:] == ["label", "proba_0", "proba_1"]
    assert table.column("proba_0").to_pylist() == [0.25, 0.5, 1.0, 0.0, None, None]
    assert table.column("proba_1").to_pylist() == [0.75, None, 0.0, 1.0, None, None]
    assert table.schema.field("proba_1").type == pa.float64()


def test_a_batch_of_scored_requests_takes_the_fast_path():
    names = ["proba_a", "proba_b", "proba_c"]
    events = [
        inference_event(
            inputs=[[float(i), 1.0]] * 3, outputs=["a"] * 3, score_names=names, scores=[[0.2, 0.3, 0.5]] * 3
        )
        for i in range(20)
    ]
    batch = _assert_same(records_from_event(kinesis_event(events)))
    assert len(batch._slow) == 0
    (group,) = batch.groups
    assert group.table.column("proba_c").to_pylist() == [0.5] * 60
