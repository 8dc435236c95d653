"""The writer's pure parts: Timestream records in MLRun's shapes, alert names, payload validation."""

from __future__ import annotations

import json

import pytest

from driftline.aws.alerts import alert_detail, alert_type, entity_id, kind_name
from driftline.aws.timestream import MAX_EXTRA_DATA_BYTES, batches, metric_records, result_records
from driftline.errors import InvalidRequestError
from driftline.schemas import AppMetric, AppOutputs, AppResult, ResultKind, ResultStatus
from driftline.writer.run import parse_outputs

START = "2026-11-26T10:00:07.000000+00:00"
END = "2026-11-26T10:10:07.250000+00:00"


def outputs(results=(), metrics=()) -> AppOutputs:
    return AppOutputs("p", "e1", "drift", START, END, tuple(results), tuple(metrics))


def payload(**changes) -> dict:
    base = outputs(
        [AppResult("general_drift", 0.75, ResultKind.data_drift, ResultStatus.detected, {"tvd_mean": 0.8})],
        [AppMetric("tvd_mean", 0.8)],
    ).to_dict()
    return base | changes


def test_result_record_has_mlruns_dimensions_and_measures():
    result = AppResult("general_drift", 0.75, ResultKind.data_drift, ResultStatus.detected, {"b": 1, "a": [1, 2]})
    (record,) = result_records(outputs([result]))
    assert {d["Name"]: d["Value"] for d in record["Dimensions"]} == {
        "endpoint_id": "e1",
        "application_name": "drift",
        "result_name": "general_drift",
    }
    assert (record["MeasureName"], record["MeasureValueType"], record["TimeUnit"]) == (
        "result",
        "MULTI",
        "MICROSECONDS",
    )
    measures = {m["Name"]: (m["Value"], m["Type"]) for m in record["MeasureValues"]}
    assert measures == {
        "result_value": ("0.75", "DOUBLE"),
        "result_status": ("2", "BIGINT"),
        "result_kind": ("0", "BIGINT"),
        "result_extra_data": ('{"a":[1,2],"b":1}', "VARCHAR"),
        # 2026-11-26T10:00:07Z in milliseconds since the epoch
        "start_infer_time": ("1795687207000", "TIMESTAMP"),
    }
    assert record["Time"] == "1795687807250000"  # end_infer_time in microseconds, exactly


def test_metric_record_shape():
    (record,) = metric_records(outputs(metrics=[AppMetric("hellinger_mean", 0.125)]))
    assert [d["Name"] for d in record["Dimensions"]] == ["endpoint_id", "application_name", "metric_name"]
    assert {m["Name"]: m["Value"] for m in record["MeasureValues"]} == {
        "metric_value": "0.125",
        "start_infer_time": "1795687207000",
    }
    assert record["MeasureName"] == "metric"


def test_extra_data_too_large_for_a_record_is_replaced_by_a_marker():
    big = {"per_feature": {f"f{i}": 0.123456789 for i in range(200)}}
    (record,) = result_records(outputs([AppResult("x", 1.0, 0, 0, big)]))
    extra = next(m["Value"] for m in record["MeasureValues"] if m["Name"] == "result_extra_data")
    assert len(extra.encode()) <= MAX_EXTRA_DATA_BYTES
    marker = json.loads(extra)
    assert marker["truncated"] is True
    assert marker["bytes"] > MAX_EXTRA_DATA_BYTES


def test_batches_hold_at_most_100_records():
    assert [len(b) for b in batches(list(range(250)))] == [100, 100, 50]
    assert list(batches([])) == []


@pytest.mark.parametrize(
    ("kind", "status", "expected"),
    [
        (ResultKind.data_drift, ResultStatus.detected, "data-drift-detected"),
        (ResultKind.concept_drift, ResultStatus.potential_detection, "concept-drift-suspected"),
        (ResultKind.model_performance, ResultStatus.detected, "model-performance-detected"),
        (ResultKind.system_performance, ResultStatus.potential_detection, "system-performance-suspected"),
        (ResultKind.mm_app_anomaly, ResultStatus.detected, "mm-app-anomaly-detected"),
    ],
)
def test_alert_types_are_mlruns_event_kinds(kind, status, expected):
    assert alert_type(AppResult("r", 1.0, kind, status)) == expected


def test_no_alert_type_below_potential_detection():
    assert kind_name(ResultKind.data_drift) == "data-drift"
    with pytest.raises(ValueError, match="only potential or detected raise an alert"):
        alert_type(AppResult("r", 0.1, ResultKind.data_drift, ResultStatus.no_detection))


def test_alert_detail_names_the_entity():
    result = AppResult("general_drift", 0.75, ResultKind.data_drift, ResultStatus.detected)
    detail = alert_detail(outputs([result]), result)
    assert detail["entity_id"] == entity_id("e1", "drift", "general_drift") == "e1.drift.result.general_drift"
    assert (detail["start_infer_time"], detail["end_infer_time"], detail["result_status"]) == (START, END, 2)


def test_a_valid_payload_round_trips():
    parsed = parse_outputs(payload())
    assert parsed.results[0].status == ResultStatus.detected
    assert parsed.metrics[0].value == 0.8


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"results": [5]}, r"results\[0\] must be an object"),
        ({"results": [{"name": "x", "value": 1, "kind": 9, "status": 0}]}, r"results\[0\]\.kind must be one of"),
        ({"results": [{"name": "x", "value": 1, "kind": 0, "status": 7}]}, r"results\[0\]\.status must be one of"),
        ({"results": [{"name": "x", "value": 1, "kind": True, "status": 0}]}, r"results\[0\]\.kind must be one of"),
        (
            {"results": [{"name": "x", "value": 1, "kind": 0, "status": 0, "extra_data": [1]}]},
            r"extra_data must be an object",
        ),
        ({"results": [{"name": "x", "value": "a", "kind": 0, "status": 0}]}, "expected a number"),
        ({"metrics": ["m"]}, r"metrics\[0\] must be an object"),
        ({"metrics": None}, "field 'metrics' must be list"),
        ({"application_name": "Bad App"}, "application name 'Bad App'"),
        ({"end_infer_time": "2026-11-26T09:00:00Z"}, "start_infer_time must be before end_infer_time"),
        ({"start_infer_time": "yesterday"}, "expected an ISO 8601 time"),
    ],
)
def test_invalid_payloads_are_refused_naming_what_is_expected(changes, message):
    with pytest.raises(InvalidRequestError, match=message) as caught:
        parse_outputs(payload(**changes))
    assert "expected" in str(caught.value)


@pytest.mark.parametrize("bad", ["text", None, [1], 3])
def test_a_payload_that_is_not_an_object_is_refused(bad):
    with pytest.raises(InvalidRequestError, match="expected a JSON object"):
        parse_outputs(bad)
