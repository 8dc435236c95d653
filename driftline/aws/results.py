"""The results table (pk ``pk`` = endpoint_id, sk ``sk``): every application result and metric per window
(history), the newest window's value per name (latest), and the query API the SDK reads them back with.

  sk = ``r#{app}#{result}#{start_iso}``       one result of one window (history)
       ``m#{app}#{metric}#{start_iso}``       one metric of one window (history)
       ``latest#r#{app}#{result}``            the newest window's result
       ``latest#m#{app}#{metric}``            the newest window's metric

Items carry MLRun's column names (``result_extra_data`` as a JSON string). History items are written with a
conditional put (``attribute_not_exists(pk)``): a delivery repeated by Lambda's async retries is stored once,
and the *first* stored value stays the canonical one (a repeat with other values does not overwrite it). Latest
items move only forward: they are replaced only by a window that ends at or after the stored one.

Alerts are decided from these history items by the alert configurations (:mod:`driftline.alerting`); their
state lives in the same table under ``alert#...`` keys (:mod:`driftline.aws.alert_state`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from driftline import layout
from driftline.aws.clients import Clients
from driftline.aws.dynamo import from_item, query_all, to_item, to_value
from driftline.aws.failures import error_code, storage_errors
from driftline.errors import InvalidRequestError
from driftline.schemas import AppMetric, AppOutputs, AppResult, ResultKind, ResultStatus, parse_time, to_iso

RESULT_COLUMNS = (
    "endpoint_id",
    "application_name",
    "result_name",
    "result_value",
    "result_kind",
    "result_status",
    "result_extra_data",
    "start_infer_time",
    "end_infer_time",
)
METRIC_COLUMNS = (
    "endpoint_id",
    "application_name",
    "metric_name",
    "metric_value",
    "start_infer_time",
    "end_infer_time",
)
# DynamoDB items are at most 400 KB; keep room for the rest of the item.
MAX_EXTRA_DATA_BYTES = 350_000


def extra_data_json(extra_data: dict[str, Any]) -> str:
    """The canonical JSON of ``extra_data`` (sorted keys), as stored and as sent to Timestream."""
    return json.dumps(extra_data, sort_keys=True, separators=(",", ":"), allow_nan=False)


def result_sk(application_name: str, result_name: str, start_iso: str) -> str:
    return f"r#{application_name}#{result_name}#{start_iso}"


def metric_sk(application_name: str, metric_name: str, start_iso: str) -> str:
    return f"m#{application_name}#{metric_name}#{start_iso}"


def _conditional_failed(exc: ClientError) -> bool:
    return error_code(exc) == "ConditionalCheckFailedException"


@dataclass(frozen=True)
class StoredOutputs:
    """What :meth:`Results.store` did with one :class:`AppOutputs`.

    ``outputs`` holds the canonical values: for a result or metric stored before, the stored one; window times
    normalised to :func:`driftline.schemas.to_iso`.
    """

    outputs: AppOutputs
    new_results: tuple[AppResult, ...]
    new_metrics: tuple[AppMetric, ...]

    @property
    def duplicate_results(self) -> int:
        return len(self.outputs.results) - len(self.new_results)

    @property
    def duplicate_metrics(self) -> int:
        return len(self.outputs.metrics) - len(self.new_metrics)


class Results:
    def __init__(self, clients: Clients) -> None:
        self._db = clients.dynamodb
        self._table = clients.settings.table("results")
        self._ttl_days = clients.settings.results_ttl_days

    @property
    def table(self) -> str:
        return self._table

    # -------------------------------------------------------------------------------------------- writes

    def put_outputs(self, outputs: AppOutputs) -> list[AppResult]:
        """Store one application run's results and metrics; returns the results that were new."""
        return list(self.store(outputs).new_results)

    def store(self, outputs: AppOutputs, now: datetime | None = None) -> StoredOutputs:
        """Store history (once per window) and latest items; see :class:`StoredOutputs` for what comes back."""
        _check_unique(outputs)
        start = to_iso(parse_time(outputs.start_infer_time, "start_infer_time"))
        end_time = parse_time(outputs.end_infer_time, "end_infer_time")
        end = to_iso(end_time)
        ttl_days = self._ttl_days
        # history expires ttl_days after the window's end (DynamoDB TTL, epoch seconds); latest items never do
        expiry = {layout.RESULTS_TTL: int(end_time.timestamp()) + ttl_days * 86_400} if ttl_days > 0 else {}
        written_at = to_iso(now) if now is not None else None
        app = outputs.application_name
        results: list[AppResult] = []
        new_results: list[AppResult] = []
        items = [self._result_item(outputs, result, start, end) for result in outputs.results]
        for result, item in zip(outputs.results, items, strict=True):  # refuse before storing anything
            size = len(item["result_extra_data"].encode())
            if size > MAX_EXTRA_DATA_BYTES:
                raise InvalidRequestError(
                    f"result {result.name!r}: extra_data is {size} bytes as JSON; "
                    f"expected at most {MAX_EXTRA_DATA_BYTES} (a DynamoDB item holds 400 KB)"
                )
        for result, item in zip(outputs.results, items, strict=True):
            history = {"pk": outputs.endpoint_id, "sk": result_sk(app, result.name, start), **item, **expiry}
            stored = self._put_once(history | {"written_at": written_at})
            if stored is None:
                canonical = result
                new_results.append(result)
            else:
                canonical = _result_from_item(stored)
                item = self._result_item(outputs, canonical, start, end)
            results.append(canonical)
            self._put_latest(f"latest#r#{app}#{result.name}", outputs.endpoint_id, item | {"written_at": written_at})

        metrics: list[AppMetric] = []
        new_metrics: list[AppMetric] = []
        for metric in outputs.metrics:
            item = self._metric_item(outputs, metric, start, end)
            stored = self._put_once(
                {
                    "pk": outputs.endpoint_id,
                    "sk": metric_sk(app, metric.name, start),
                    **item,
                    **expiry,
                    "written_at": written_at,
                }
            )
            if stored is None:
                canonical_metric = metric
                new_metrics.append(metric)
            else:
                canonical_metric = AppMetric(name=metric.name, value=float(stored["metric_value"]))
                item = self._metric_item(outputs, canonical_metric, start, end)
            metrics.append(canonical_metric)
            self._put_latest(f"latest#m#{app}#{metric.name}", outputs.endpoint_id, item | {"written_at": written_at})

        canonical_outputs = AppOutputs(
            project=outputs.project,
            endpoint_id=outputs.endpoint_id,
            application_name=app,
            start_infer_time=start,
            end_infer_time=end,
            results=tuple(results),
            metrics=tuple(metrics),
        )
        return StoredOutputs(canonical_outputs, tuple(new_results), tuple(new_metrics))

    def _put_once(self, item: dict[str, Any]) -> dict[str, Any] | None:
        """Put a history item unless it exists; None when it was new, else the stored item."""
        with storage_errors(f"storing {item['pk']} {item['sk']} in {self._table}"):
            try:
                self._db.put_item(
                    TableName=self._table, Item=to_item(item), ConditionExpression="attribute_not_exists(pk)"
                )
            except ClientError as exc:
                if not _conditional_failed(exc):
                    raise
            else:
                return None
            response = self._db.get_item(
                TableName=self._table,
                Key={"pk": to_value(item["pk"]), "sk": to_value(item["sk"])},
                ConsistentRead=True,
            )
            return from_item(response.get("Item")) or {}

    def _put_latest(self, sk: str, endpoint_id: str, item: dict[str, Any]) -> None:
        with storage_errors(f"storing {endpoint_id} {sk} in {self._table}"):
            try:
                self._db.put_item(
                    TableName=self._table,
                    Item=to_item({"pk": endpoint_id, "sk": sk, **item}),
                    ConditionExpression="attribute_not_exists(pk) OR end_infer_time <= :end",
                    ExpressionAttributeValues={":end": to_value(item["end_infer_time"])},
                )
            except ClientError as exc:
                if not _conditional_failed(exc):  # a newer window is already the latest
                    raise

    @staticmethod
    def _result_item(outputs: AppOutputs, result: AppResult, start: str, end: str) -> dict[str, Any]:
        return {
            "project": outputs.project,
            "endpoint_id": outputs.endpoint_id,
            "application_name": outputs.application_name,
            "result_name": result.name,
            "result_value": float(result.value),
            "result_kind": int(result.kind),
            "result_status": int(result.status),
            "result_extra_data": extra_data_json(result.extra_data),
            "start_infer_time": start,
            "end_infer_time": end,
        }

    @staticmethod
    def _metric_item(outputs: AppOutputs, metric: AppMetric, start: str, end: str) -> dict[str, Any]:
        return {
            "project": outputs.project,
            "endpoint_id": outputs.endpoint_id,
            "application_name": outputs.application_name,
            "metric_name": metric.name,
            "metric_value": float(metric.value),
            "start_infer_time": start,
            "end_infer_time": end,
        }

    # -------------------------------------------------------------------------------------------- queries

    def query_results(
        self,
        endpoint_id: str,
        start: datetime | None = None,
        end: datetime | None = None,
        application_name: str | None = None,
    ) -> list[dict]:
        """Result rows (MLRun's columns, times as ISO strings, ``result_extra_data`` a dict) of the windows
        within ``[start, end]``, sorted by window start, then application, then result name."""
        items = self._query(endpoint_id, "r#", start, end, application_name)
        return sorted((_result_row(i) for i in items), key=lambda r: _order(r, "result_name"))

    def query_metrics(
        self,
        endpoint_id: str,
        start: datetime | None = None,
        end: datetime | None = None,
        application_name: str | None = None,
    ) -> list[dict]:
        """Metric rows (``metric_name, metric_value`` instead of the result columns), as :meth:`query_results`."""
        items = self._query(endpoint_id, "m#", start, end, application_name)
        return sorted((_metric_row(i) for i in items), key=lambda r: _order(r, "metric_name"))

    def latest_results(self, endpoint_id: str) -> list[dict]:
        """The newest window's row of every (application, result) of the endpoint."""
        items = self._query(endpoint_id, "latest#r#", None, None, None)
        return sorted((_result_row(i) for i in items), key=lambda r: (r["application_name"], r["result_name"]))

    def latest_metrics(self, endpoint_id: str) -> list[dict]:
        """The newest window's row of every (application, metric) of the endpoint."""
        items = self._query(endpoint_id, "latest#m#", None, None, None)
        return sorted((_metric_row(i) for i in items), key=lambda r: (r["application_name"], r["metric_name"]))

    def _query(
        self,
        endpoint_id: str,
        prefix: str,
        start: datetime | None,
        end: datetime | None,
        application_name: str | None,
    ) -> list[dict[str, Any]]:
        if not isinstance(endpoint_id, str) or not endpoint_id:
            raise InvalidRequestError(f"endpoint_id: expected a non-empty string, got {endpoint_id!r}")
        if application_name is not None:
            prefix = f"{prefix}{application_name}#"
        values: dict[str, Any] = {":pk": to_value(endpoint_id), ":prefix": to_value(prefix)}
        filters = []
        if start is not None:
            filters.append("start_infer_time >= :start")
            values[":start"] = to_value(to_iso(parse_time(start, "start")))
        if end is not None:
            filters.append("end_infer_time <= :end")
            values[":end"] = to_value(to_iso(parse_time(end, "end")))
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": values,
            "ConsistentRead": True,
        }
        if filters:
            kwargs["FilterExpression"] = " AND ".join(filters)
        with storage_errors(f"querying {endpoint_id} {prefix}* in {self._table}"):
            return query_all(self._db, **kwargs)


def _check_unique(outputs: AppOutputs) -> None:
    for what, names in (("result", [r.name for r in outputs.results]), ("metric", [m.name for m in outputs.metrics])):
        seen: set[str] = set()
        for name in names:
            if name in seen:
                raise InvalidRequestError(
                    f"application outputs: {what} {name!r} appears twice; expected one value per {what} and window"
                )
            seen.add(name)


def _result_from_item(item: dict[str, Any]) -> AppResult:
    return AppResult(
        name=item["result_name"],
        value=float(item["result_value"]),
        kind=ResultKind(int(item["result_kind"])),
        status=ResultStatus(int(item["result_status"])),
        extra_data=json.loads(item.get("result_extra_data") or "{}"),
    )


def _result_row(item: dict[str, Any]) -> dict[str, Any]:
    row = {c: item.get(c) for c in RESULT_COLUMNS}
    row["result_value"] = float(item["result_value"])
    row["result_kind"] = int(item["result_kind"])
    row["result_status"] = int(item["result_status"])
    row["result_extra_data"] = json.loads(item.get("result_extra_data") or "{}")
    return row


def _metric_row(item: dict[str, Any]) -> dict[str, Any]:
    row = {c: item.get(c) for c in METRIC_COLUMNS}
    row["metric_value"] = float(item["metric_value"])
    return row


def _order(row: dict[str, Any], name: str) -> tuple[str, str, str]:
    return (row["start_infer_time"], row["application_name"], row[name])
