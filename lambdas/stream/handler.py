"""Stream Lambda: Kinesis batches of inference events -> parquet rows on S3 + live endpoint figures.

Thin on purpose: parse the Kinesis envelope, call :func:`driftline.stream.process.process_records`, answer
with the partial batch response ``{"batchItemFailures": [{"itemIdentifier": <sequenceNumber>}]}`` (the event
source mapping needs ``ReportBatchItemFailures``). Never raises for data problems: poison records are
dead-lettered, and a storage failure reports the batch's first record so Kinesis retries the batch.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from driftline.aws.clients import Clients
from driftline.config import Settings
from driftline.errors import InvalidRequestError
from driftline.observability import get_logger, get_metrics
from driftline.stream import SERVICE
from driftline.stream.decode.envelope import records_from_event
from driftline.stream.process import process_records

logger = get_logger(SERVICE)
metrics = get_metrics(SERVICE)


@dataclass(frozen=True)
class Deps:
    clients: Clients


@functools.cache
def deps() -> Deps:
    """Built once per container, on the first batch (tests replace or clear it)."""
    return Deps(clients=Clients(Settings.from_env()))


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    try:
        records = records_from_event(event)
    except InvalidRequestError as exc:
        # Not a Kinesis batch at all (a misconfigured trigger): nothing to retry, nothing to report.
        metrics.add_metric(name="RecordsReceived", unit=MetricUnit.Count, value=0)
        logger.error("not a Kinesis batch", extra={"error": str(exc)})
        return {"batchItemFailures": []}
    return process_records(records, deps().clients).response()
