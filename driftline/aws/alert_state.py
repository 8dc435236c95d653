"""Alert state in the results table (pk = endpoint_id), next to the history it is decided from:

  sk = ``alert#{config}#{app}#{result}#{start_iso}``   the decision of one configuration for one window

A decision is taken once per (configuration, result, window) and stored with a conditional put
(``attribute_not_exists``): a redelivered writer invocation reads the stored decision instead of deciding again,
so an alert is never doubled even if the history changed in between (a late window arriving). A decision that
fires keeps ``pending`` (the ids of its targets not yet sent); each target is removed once sent, so a retry after
a failure sends only what is missing. Items: ``fire``, ``reason``, ``hits``, ``decided_at``, ``pending``
(string set), ``sent`` (target ids), ``failed`` (``"<target id>: <error>"``, webhooks only: they are not retried),
``result_status``, ``result_value``, ``start_infer_time``, ``end_infer_time``.

Only windows whose status one of the configuration's statuses are decided (a no_detection window costs
nothing); each costs one query of the result's last ``windows + 1`` history items, one query for the last
alert fired (manual policy or cool-down only) and one conditional put.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from driftline.alerting import AlertConfig, Decision, History, LastFired, decide
from driftline.aws.clients import Clients
from driftline.aws.dynamo import from_item, query_all, to_item, to_value
from driftline.aws.failures import error_code, storage_errors
from driftline.aws.results import result_sk
from driftline.schemas import AppResult, parse_time, to_iso


def state_prefix(config: str, application_name: str, result_name: str) -> str:
    return f"alert#{config}#{application_name}#{result_name}#"


@dataclass
class AlertState:
    """A stored decision (see the module docstring)."""

    endpoint_id: str
    sk: str
    fire: bool
    reason: str
    pending: set[str]
    sent: list[str]
    new: bool  # decided by this invocation (False: a redelivery read it back)


class AlertStates:
    def __init__(self, clients: Clients) -> None:
        self._db = clients.dynamodb
        self._table = clients.settings.table("results")

    def decide_once(
        self,
        config: AlertConfig,
        endpoint_id: str,
        application_name: str,
        result: AppResult,
        start_iso: str,
        end_iso: str,
        now: datetime,
    ) -> AlertState:
        """The stored decision of ``config`` for this window of ``result``: taken now if there is none."""
        prefix = state_prefix(config.name, application_name, result.name)
        sk = f"{prefix}{start_iso}"
        start = parse_time(start_iso, "start_infer_time")
        history = History(
            statuses=self._statuses(endpoint_id, application_name, result.name, start_iso, config.windows + 1),
            start_infer_time=start,
            last_fired=self._last_fired(endpoint_id, prefix, sk) if self._needs_last(config) else None,
            reset_at=parse_time(config.reset_at, "reset_at") if config.reset_at else None,
        )
        decision: Decision = decide(config, history)
        if decision.fire and config.reset_policy == "auto":
            decision = self._claim_episode(
                config, endpoint_id, application_name, result.name, sk, start, end_iso, decision
            )
        targets = sorted(t.id for t in config.targets) if decision.fire else []
        item: dict[str, Any] = {
            "pk": endpoint_id,
            "sk": sk,
            "fire": decision.fire,
            "reason": decision.reason,
            "hits": decision.hits,
            "decided_at": to_iso(now),
            "result_status": int(result.status),
            "result_value": float(result.value),
            "start_infer_time": start_iso,
            "end_infer_time": end_iso,
        }
        if targets:
            item["pending"] = set(targets)
        with storage_errors(f"storing the alert decision {endpoint_id} {sk} in {self._table}"):
            try:
                self._db.put_item(
                    TableName=self._table, Item=to_item(item), ConditionExpression="attribute_not_exists(pk)"
                )
            except ClientError as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise
            else:
                return AlertState(endpoint_id, sk, decision.fire, decision.reason, set(targets), [], True)
            stored = self._get(endpoint_id, sk)
        return AlertState(
            endpoint_id,
            sk,
            bool(stored.get("fire")),
            str(stored.get("reason", "")),
            set(stored.get("pending") or ()),
            list(stored.get("sent") or ()),
            False,
        )

    def _claim_episode(
        self,
        config: AlertConfig,
        endpoint_id: str,
        application_name: str,
        result_name: str,
        sk: str,
        start: datetime,
        end_iso: str,
        decision: Decision,
    ) -> Decision:
        """Auto reset: one alert per episode even when windows are decided out of order or at once (writer
        invocations run concurrently, so the history may not hold the previous window yet). The episode item
        (``alert-episode#{config}#{app}#{result}``: ``from``, ``until``, ``owner``) spans the qualifying windows
        seen; a window that touches it (within ``windows - count`` window lengths) extends it and does not fire; one
        that does not starts a new episode with a conditional put and fires. The window that started an episode
        fires again on a redelivery (``owner``), so a crash between the claim and the decision loses nothing."""
        end = parse_time(end_iso, "end_infer_time")
        slack = (end - start) * max(config.windows - config.count, 0)
        key = {
            "pk": to_value(endpoint_id),
            "sk": to_value(f"alert-episode#{config.name}#{application_name}#{result_name}"),
        }
        values = {
            ":from": to_value(to_iso(start)),
            ":until": to_value(to_iso(end)),
            ":owner": to_value(sk),
            ":before": to_value(to_iso(start - slack)),
            ":after": to_value(to_iso(end + slack)),
        }
        names = {"#f": "from", "#u": "until", "#o": "owner"}
        with storage_errors(f"claiming the alert episode of {endpoint_id} {sk} in {self._table}"):
            try:
                self._db.update_item(
                    TableName=self._table,
                    Key=key,
                    UpdateExpression="SET #f = :from, #u = :until, #o = :owner",
                    ConditionExpression="attribute_not_exists(pk) OR #o = :owner OR #u < :before OR #f > :after",
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values,
                )
                return decision
            except ClientError as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise
            for expression, condition in (("SET #u = :until", "#u < :until"), ("SET #f = :from", "#f > :from")):
                try:  # the episode grows to this window's side; a concurrent wider one stands
                    self._db.update_item(
                        TableName=self._table,
                        Key=key,
                        UpdateExpression=expression,
                        ConditionExpression=condition,
                        ExpressionAttributeNames={k: v for k, v in names.items() if k in expression},
                        ExpressionAttributeValues={k: v for k, v in values.items() if k in expression},
                    )
                except ClientError as exc:
                    if error_code(exc) != "ConditionalCheckFailedException":
                        raise
        return Decision(False, "in an episode that has alerted already (auto reset: one per episode)", decision.hits)

    def mark_sent(self, state: AlertState, target_id: str, error: str | None = None) -> None:
        """A target was sent (or, with ``error``, failed for good: a webhook is not retried): it is no longer
        pending; ``sent`` or ``failed`` (``"<target>: <error>"``) records which."""
        field, entry = ("sent", target_id) if error is None else ("failed", f"{target_id}: {error[:1000]}")
        with storage_errors(f"marking alert target {target_id} done on {state.endpoint_id} {state.sk}"):
            self._db.update_item(
                TableName=self._table,
                Key={"pk": to_value(state.endpoint_id), "sk": to_value(state.sk)},
                UpdateExpression=f"DELETE pending :t SET {field} = list_append(if_not_exists({field}, :empty), :e)",
                ExpressionAttributeValues={
                    ":t": to_value({target_id}),
                    ":e": to_value([entry]),
                    ":empty": to_value([]),
                },
            )
        state.pending.discard(target_id)

    def list_states(self, endpoint_id: str, prefix: str = "alert#") -> list[dict[str, Any]]:
        with storage_errors(f"querying {endpoint_id} {prefix}* in {self._table}"):
            return query_all(
                self._db,
                TableName=self._table,
                KeyConditionExpression="pk = :pk AND begins_with(sk, :p)",
                ExpressionAttributeValues={":pk": to_value(endpoint_id), ":p": to_value(prefix)},
                ConsistentRead=True,
            )

    # ------------------------------------------------------------------------------------------------ reads

    @staticmethod
    def _needs_last(config: AlertConfig) -> bool:
        return config.reset_policy == "manual" or config.cooldown_minutes > 0

    def _statuses(self, endpoint_id: str, app: str, result: str, start_iso: str, limit: int) -> list[int]:
        """Statuses of the result's windows up to this one, newest first."""
        low = result_sk(app, result, "")
        high = result_sk(app, result, start_iso)
        with storage_errors(f"reading the history of {endpoint_id} {low}* in {self._table}"):
            response = self._db.query(
                TableName=self._table,
                KeyConditionExpression="pk = :pk AND sk BETWEEN :low AND :high",
                ExpressionAttributeValues={
                    ":pk": to_value(endpoint_id),
                    ":low": to_value(low),
                    ":high": to_value(high),
                },
                ProjectionExpression="result_status",
                ScanIndexForward=False,
                Limit=limit,
                ConsistentRead=True,
            )
        return [int((from_item(i) or {}).get("result_status", 0)) for i in response.get("Items", [])]

    def _last_fired(self, endpoint_id: str, prefix: str, sk: str) -> LastFired | None:
        """The newest decision that fired before this window (paged: decisions that did not fire are skipped)."""
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :low AND :high",
            "FilterExpression": "fire = :t AND sk < :sk",
            "ExpressionAttributeValues": {
                ":pk": to_value(endpoint_id),
                ":low": to_value(prefix),
                ":high": to_value(sk),
                ":sk": to_value(sk),
                ":t": to_value(True),
            },
            "ProjectionExpression": "start_infer_time, decided_at",
            "ScanIndexForward": False,
            "ConsistentRead": True,
        }
        with storage_errors(f"reading the last alert of {endpoint_id} {prefix}* in {self._table}"):
            while True:
                response = self._db.query(**kwargs)
                for raw in response.get("Items", []):
                    item = from_item(raw) or {}
                    return LastFired(
                        parse_time(item["start_infer_time"], "start_infer_time"),
                        parse_time(item["decided_at"], "decided_at"),
                    )
                if "LastEvaluatedKey" not in response:
                    return None
                kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def _get(self, endpoint_id: str, sk: str) -> dict[str, Any]:
        response = self._db.get_item(
            TableName=self._table,
            Key={"pk": to_value(endpoint_id), "sk": to_value(sk)},
            ConsistentRead=True,
        )
        return from_item(response.get("Item")) or {}
