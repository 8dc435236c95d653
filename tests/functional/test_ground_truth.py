"""Ground truth against moto: labels keyed by request id, stored per endpoint and arrival day, read back once."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from driftline.aws.endpoints import Endpoints
from driftline.aws.ground_truth import PREFIX
from driftline.errors import InvalidRequestError, NotFoundError
from driftline.ground_truth import ingest, ingest_records, join, load
from driftline.records import EndpointRecord
from driftline.schemas import endpoint_id_for

PROJECT = "gt"
ENDPOINT_ID = endpoint_id_for(PROJECT, "serving", "m")
DAY1 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
DAY2 = DAY1 + timedelta(days=1)


@pytest.fixture
def endpoint(clients):
    Endpoints(clients).put_identity(
        EndpointRecord(
            endpoint_id=ENDPOINT_ID,
            project=PROJECT,
            name="m",
            function_name="serving",
            model_uri=f"store://models/{PROJECT}/m:latest",
            feature_names=["x"],
            label_names=["label"],
        )
    )
    return ENDPOINT_ID


def keys(clients) -> list[str]:
    listed = clients.s3.list_objects_v2(Bucket=clients.settings.bucket, Prefix=PREFIX)
    return sorted(o["Key"] for o in listed.get("Contents", []))


def test_ingest_writes_parquet_under_the_endpoint_and_day_and_a_retry_writes_nothing_new(clients, endpoint):
    labels = pd.DataFrame({"request_id": ["a", "b", "c"], "label": [1, 0, 1], "ignored": [9, 9, 9]})
    assert ingest(clients, PROJECT, endpoint, labels, received=DAY1) == 3
    assert ingest(clients, PROJECT, endpoint, labels, received=DAY1 + timedelta(hours=2)) == 3  # a retry
    [key] = keys(clients)
    assert key.startswith(f"ground-truth/endpoint_id={ENDPOINT_ID}/date=2026-11-26/")
    assert key.endswith(".parquet")
    loaded = load(clients, endpoint, since=DAY1, until=DAY1 + timedelta(days=1))
    assert loaded[["request_id", "row_index", "label"]].to_dict("records") == [
        {"request_id": "a", "row_index": 0, "label": 1},
        {"request_id": "b", "row_index": 0, "label": 0},
        {"request_id": "c", "row_index": 0, "label": 1},
    ]
    assert "ignored" not in loaded.columns


def test_http_records_are_gzip_json_lines_and_the_latest_label_wins(clients, endpoint):
    ingest(clients, PROJECT, endpoint, pd.DataFrame({"request_id": ["a", "b"], "label": [0, 0]}), received=DAY1)
    body = {"labels": [{"request_id": "a", "label": 1}, {"request_id": "z", "row_index": 2, "label": 1}]}
    assert ingest_records(clients, PROJECT, endpoint, body, received=DAY2) == 2
    jsonl = [k for k in keys(clients) if k.endswith(".jsonl.gz")]
    assert len(jsonl) == 1
    assert "date=2026-11-27" in jsonl[0]
    raw = clients.s3.get_object(Bucket=clients.settings.bucket, Key=jsonl[0])["Body"].read()
    assert json.loads(gzip.decompress(raw).splitlines()[0])["request_id"] == "a"
    loaded = load(clients, endpoint, since=DAY1, until=DAY2 + timedelta(hours=1))
    by_key = {(r.request_id, r.row_index): r.label for r in loaded.itertuples()}
    assert by_key == {("a", 0): 1, ("b", 0): 0, ("z", 2): 1}
    only = load(clients, endpoint, since=DAY1, until=DAY2, request_ids=["b"])
    assert only["request_id"].tolist() == ["b"]
    # labels that arrived after the reading horizon are not read
    assert load(clients, endpoint, since=DAY1, until=DAY1 + timedelta(hours=1))["label"].tolist() == [0, 0]


@pytest.mark.parametrize(
    ("records", "message"),
    [
        ([], "non-empty list"),
        ([{"label": 1}], "request_id"),
        ([{"request_id": "a", "row_index": -1, "label": 1}], "row_index"),
        ([{"request_id": "a"}], "missing label values"),
        ([{"request_id": "a", "label": [1]}], "expected a number"),
        ([{"request_id": "a", "label": float("nan")}], "finite"),
        ("nope", "non-empty list"),
    ],
)
def test_bad_label_rows_are_refused_with_what_was_expected(clients, endpoint, records, message):
    with pytest.raises(InvalidRequestError, match=message):
        ingest_records(clients, PROJECT, endpoint, records, received=DAY1)
    assert keys(clients) == []


def test_labels_must_name_the_endpoint_and_its_label_columns(clients, endpoint):
    labels = pd.DataFrame({"request_id": ["a"], "target": [1]})
    with pytest.raises(InvalidRequestError, match="column per label"):
        ingest(clients, PROJECT, endpoint, labels)
    with pytest.raises(InvalidRequestError, match="not the endpoint's labels"):
        ingest(clients, PROJECT, endpoint, labels, label_columns=["target"])
    with pytest.raises(InvalidRequestError, match="belongs to project"):
        ingest(clients, "other", endpoint, pd.DataFrame({"request_id": ["a"], "label": [1]}))
    with pytest.raises(NotFoundError):
        ingest(clients, PROJECT, "unknown", pd.DataFrame({"request_id": ["a"], "label": [1]}))
    with pytest.raises(InvalidRequestError, match="request_id"):
        ingest(clients, PROJECT, endpoint, pd.DataFrame({"label": [1]}))


def test_join_pairs_each_prediction_with_its_label_by_request_and_row():
    predictions = pd.DataFrame({"request_id": ["a", "a", "b", "c"], "row_index": [0, 1, 0, 0], "label": [1, 0, 1, 1]})
    labels = pd.DataFrame({"request_id": ["a", "b"], "row_index": [1, 0], "label": [1, 0]})
    joined = join(predictions, labels, ["label"])
    assert joined[["request_id", "row_index", "label", "label__true"]].to_dict("records") == [
        {"request_id": "a", "row_index": 1, "label": 0, "label__true": 1},
        {"request_id": "b", "row_index": 0, "label": 1, "label__true": 0},
    ]
    with pytest.raises(InvalidRequestError, match="request_id"):
        join(pd.DataFrame({"x": [1]}), labels, ["label"])
