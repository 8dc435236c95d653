"""Timestream writes against a botocore Stubber: batches of at most 100, duplicates of stored records ignored,
other rejections raised with their reasons."""

from __future__ import annotations

import pytest
from botocore.stub import ANY, Stubber

from driftline.aws.clients import Clients
from driftline.aws.timestream import Timestream
from driftline.config import Settings
from driftline.errors import StorageError
from driftline.schemas import AppMetric, AppOutputs, AppResult, ResultKind, ResultStatus

SETTINGS = Settings(timestream_write_endpoint_url="https://ingest.timestream.us-east-1.amazonaws.com")


def outputs(n_results: int = 1, n_metrics: int = 0) -> AppOutputs:
    return AppOutputs(
        "p",
        "e1",
        "drift",
        "2026-11-26T10:00:00+00:00",
        "2026-11-26T10:10:00+00:00",
        tuple(AppResult(f"r{i}", 0.5, ResultKind.data_drift, ResultStatus.no_detection) for i in range(n_results)),
        tuple(AppMetric(f"m{i}", float(i)) for i in range(n_metrics)),
    )


@pytest.fixture
def stubbed():
    clients = Clients(SETTINGS)
    with Stubber(clients.timestream_write) as stubber:
        yield Timestream(clients), stubber
        stubber.assert_no_pending_responses()


def expect_write(stubber, table: str, count: int) -> None:
    stubber.add_response(
        "write_records",
        {"RecordsIngested": {"Total": count, "MemoryStore": count, "MagneticStore": 0}},
        {"DatabaseName": "driftline", "TableName": table, "Records": ANY},
    )


def test_records_go_in_batches_of_at_most_100(stubbed):
    writer, stubber = stubbed
    expect_write(stubber, "app_results", 100)
    expect_write(stubber, "app_results", 30)
    expect_write(stubber, "metrics", 3)
    assert writer.write_outputs(outputs(130, 3)) == 133


def reject(stubber, rejected: list[dict]) -> None:
    stubber.add_client_error(
        "write_records",
        service_error_code="RejectedRecordsException",
        service_message="One or more records have been rejected. See RejectedRecords for details.",
        http_status_code=419,
        modeled_fields={"RejectedRecords": rejected},
    )


def test_a_repeat_of_a_stored_record_is_accepted(stubbed):
    writer, stubber = stubbed
    reject(
        stubber,
        [{"RecordIndex": 0, "Reason": "A record with the same time and dimensions exists", "ExistingVersion": 1}],
    )
    assert writer.write_outputs(outputs(1)) == 1


def test_other_rejections_are_raised_with_their_reason(stubbed):
    writer, stubber = stubbed
    reject(
        stubber,
        [
            {"RecordIndex": 0, "Reason": "duplicate", "ExistingVersion": 1},
            {"RecordIndex": 1, "Reason": "The record timestamp is outside the time range of the memory store."},
        ],
    )
    with pytest.raises(StorageError, match=r"rejected records: record 1: The record timestamp is outside"):
        writer.write_outputs(outputs(2))


def test_a_missing_table_says_how_to_go_on_without_timestream(stubbed):
    writer, stubber = stubbed
    stubber.add_client_error("write_records", service_error_code="ResourceNotFoundException", http_status_code=404)
    with pytest.raises(StorageError, match="DRIFTLINE_TIMESTREAM_ENABLED=false"):
        writer.write_outputs(outputs(1))
