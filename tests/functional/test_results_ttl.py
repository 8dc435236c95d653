"""Result history expires (DynamoDB TTL on the layout's attribute), the latest values never do (issue 12)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from driftline import layout
from driftline.aws.clients import Clients
from driftline.aws.results import Results
from driftline.schemas import AppMetric, AppOutputs, AppResult, ResultKind, ResultStatus

END = datetime(2026, 11, 26, 17, 10, tzinfo=UTC)


def outputs() -> AppOutputs:
    return AppOutputs(
        project="p",
        endpoint_id="e1",
        application_name="app",
        start_infer_time="2026-11-26T17:00:00+00:00",
        end_infer_time=END.isoformat(),
        results=(AppResult("drift", 0.5, ResultKind.data_drift, ResultStatus.no_detection, {}),),
        metrics=(AppMetric("m", 1.0),),
    )


def items(clients: Clients) -> dict[str, dict]:
    scan = clients.dynamodb.scan(TableName=clients.settings.table("results"))["Items"]
    return {item["sk"]["S"]: item for item in scan}


def test_history_expires_after_the_configured_days_and_latest_never(clients):
    assert layout.TABLES["results"].ttl == layout.RESULTS_TTL
    Results(clients).store(outputs())
    stored = items(clients)
    expiry = int(END.timestamp()) + 90 * 86_400
    history = [sk for sk in stored if not sk.startswith("latest#")]
    assert len(history) == 2
    for sk in history:
        assert int(stored[sk][layout.RESULTS_TTL]["N"]) == expiry
    for sk in set(stored) - set(history):
        assert layout.RESULTS_TTL not in stored[sk]


def test_zero_days_keeps_history_forever(clients):
    forever = Clients(dataclasses.replace(clients.settings, results_ttl_days=0))
    Results(forever).store(outputs())
    assert all(layout.RESULTS_TTL not in item for item in items(clients).values())
