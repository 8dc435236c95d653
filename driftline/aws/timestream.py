"""Application results and metrics to Timestream for LiveAnalytics, in MLRun's table shapes.

  app_results: time = end_infer_time; dimensions endpoint_id, application_name, result_name;
               measures result_value (DOUBLE), result_status (BIGINT), result_kind (BIGINT),
               result_extra_data (VARCHAR, JSON), start_infer_time (TIMESTAMP)
  metrics:     time = end_infer_time; dimensions endpoint_id, application_name, metric_name;
               measures metric_value (DOUBLE), start_infer_time (TIMESTAMP)

One multi-measure record per result or metric (measure name ``result`` / ``metric``), written with boto3's
``timestream-write`` ``write_records`` in batches of at most 100 records (awswrangler's writer would import
pandas into the writer's cold start).

Repeats: Timestream accepts a record identical to a stored one (same time, dimensions, measure name and
values); with other values it rejects it (``RejectedRecordsException``, ``ExistingVersion`` set). The writer
always sends the canonical values (the first ones stored in DynamoDB), so a rejected duplicate carries the same
values as the stored record and is ignored; any other rejection (retention window, size limits) is raised.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import BotoCoreError, ClientError

from driftline import layout
from driftline.aws.clients import Clients
from driftline.aws.failures import error_code
from driftline.aws.results import extra_data_json
from driftline.errors import StorageError
from driftline.schemas import AppOutputs, parse_time

if TYPE_CHECKING:
    from types_boto3_timestream_write.type_defs import MeasureValueTypeDef, RecordTypeDef

RESULTS_TABLE = layout.TIMESTREAM_RESULTS
METRICS_TABLE = layout.TIMESTREAM_METRICS
MAX_BATCH = 100  # WriteRecords accepts at most 100 records per call
# A record is at most 2 KB; keep the rest of it (dimensions, other measures) within the remainder.
MAX_EXTRA_DATA_BYTES = 1024
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _millis(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _extra(extra_data: dict[str, Any]) -> str:
    """The extra data as JSON, or, when it would not fit a record, a marker saying so (DynamoDB has it all)."""
    text = extra_data_json(extra_data)
    size = len(text.encode())
    if size <= MAX_EXTRA_DATA_BYTES:
        return text
    return json.dumps({"truncated": True, "bytes": size}, separators=(",", ":"))


def _common(outputs: AppOutputs) -> tuple[str, str]:
    """(record time in microseconds, start_infer_time in milliseconds) of the window."""
    end = parse_time(outputs.end_infer_time, "end_infer_time")
    start = parse_time(outputs.start_infer_time, "start_infer_time")
    return str(_micros(end)), str(_millis(start))


def _record(
    outputs: AppOutputs, kind: str, name: str, measures: list[MeasureValueTypeDef], time: str, start_ms: str
) -> RecordTypeDef:
    """One multi-measure record of a window: ``kind`` is "result" or "metric" (its name dimension is
    ``{kind}_name``), the window's start a measure of its own."""
    return {
        "Dimensions": [
            {"Name": "endpoint_id", "Value": outputs.endpoint_id, "DimensionValueType": "VARCHAR"},
            {"Name": "application_name", "Value": outputs.application_name, "DimensionValueType": "VARCHAR"},
            {"Name": f"{kind}_name", "Value": name, "DimensionValueType": "VARCHAR"},
        ],
        "MeasureName": kind,
        "MeasureValueType": "MULTI",
        "MeasureValues": [*measures, {"Name": "start_infer_time", "Value": start_ms, "Type": "TIMESTAMP"}],
        "Time": time,
        "TimeUnit": "MICROSECONDS",
    }


def result_records(outputs: AppOutputs) -> list[RecordTypeDef]:
    """One multi-measure ``app_results`` record per result."""
    time, start_ms = _common(outputs)
    return [
        _record(
            outputs,
            "result",
            result.name,
            [
                {"Name": "result_value", "Value": repr(float(result.value)), "Type": "DOUBLE"},
                {"Name": "result_status", "Value": str(int(result.status)), "Type": "BIGINT"},
                {"Name": "result_kind", "Value": str(int(result.kind)), "Type": "BIGINT"},
                {"Name": "result_extra_data", "Value": _extra(result.extra_data), "Type": "VARCHAR"},
            ],
            time,
            start_ms,
        )
        for result in outputs.results
    ]


def metric_records(outputs: AppOutputs) -> list[RecordTypeDef]:
    """One multi-measure ``metrics`` record per metric."""
    time, start_ms = _common(outputs)
    return [
        _record(
            outputs,
            "metric",
            metric.name,
            [{"Name": "metric_value", "Value": repr(float(metric.value)), "Type": "DOUBLE"}],
            time,
            start_ms,
        )
        for metric in outputs.metrics
    ]


def batches(records: Sequence[RecordTypeDef], size: int = MAX_BATCH) -> Iterator[list[RecordTypeDef]]:
    for i in range(0, len(records), size):
        yield list(records[i : i + size])


class Timestream:
    def __init__(self, clients: Clients) -> None:
        self._clients = clients
        self.database = clients.settings.timestream_database

    def write_outputs(self, outputs: AppOutputs) -> int:
        """Write the outputs' results and metrics; returns how many records were sent."""
        sent = 0
        for table, records in ((RESULTS_TABLE, result_records(outputs)), (METRICS_TABLE, metric_records(outputs))):
            for batch in batches(records):
                self._write(table, batch)
                sent += len(batch)
        return sent

    def _write(self, table: str, records: list[RecordTypeDef]) -> None:
        client = self._clients.timestream_write  # created on first use: with Timestream off it never is
        try:
            client.write_records(DatabaseName=self.database, TableName=table, Records=records)
        except BotoCoreError as exc:
            raise StorageError(
                f"writing {len(records)} record(s) to Timestream {self.database}.{table} failed: {exc}"
            ) from exc
        except ClientError as exc:
            code = error_code(exc)
            if code == "RejectedRecordsException":
                # the rejected records' details come with this error only; botocore's error type does not name them
                rejected = cast("list[dict[str, Any]]", exc.response.get("RejectedRecords") or [])
                others = [r for r in rejected if "ExistingVersion" not in r]
                if rejected and not others:
                    return  # repeats of stored records (see the module docstring)
                reasons = "; ".join(f"record {r.get('RecordIndex')}: {r.get('Reason')}" for r in others or rejected)
                raise StorageError(f"Timestream {self.database}.{table} rejected records: {reasons}") from exc
            if code == "ResourceNotFoundException":
                raise StorageError(
                    f"Timestream table {self.database}.{table} does not exist: create it, or set "
                    "DRIFTLINE_TIMESTREAM_ENABLED=false to keep results in DynamoDB only"
                ) from exc
            raise StorageError(
                f"writing {len(records)} record(s) to Timestream {self.database}.{table} failed: {code}: {exc}"
            ) from exc
