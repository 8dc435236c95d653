"""The cost model of docs/cost.md, computed from its own tables: the AWS calls each unit of work makes (the ``calls``
table, which ``tests/e2e/test_cost_model.py`` holds the code to), what each call is billed as, the list prices
(the ``prices`` table) and the stated assumptions (the ``assumptions`` table: durations, sizes).

    .venv/bin/python bench/cost_model.py            # the figures docs/cost.md quotes (its "Figures" section)

``tests/unit/test_cost_model.py`` checks that docs/cost.md quotes exactly what this prints.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

COST_MD = Path(__file__).resolve().parents[1] / "docs" / "cost.md"
CALL_TABLE_UNITS = (
    "request",
    "stream batch",
    "busy tick",
    "idle tick",
    "window read",
    "window written",
    "window alerting",
)
HOURS = 730  # a month
# (events_retention_days, events_cold_after_days) the figures compare
RETENTION_OPTIONS = ((30, 0), (90, 0), (90, 7), (400, 0), (400, 7), (400, 30))
SECONDS = HOURS * 3600


def _table(text: str, name: str) -> list[list[str]]:
    match = re.search(rf"<!-- {name}:begin -->(.*?)<!-- {name}:end -->", text, re.S)
    if match is None:
        raise ValueError(f"docs/cost.md: no table {name!r} between <!-- {name}:begin --> and <!-- {name}:end -->")
    rows = [line.strip() for line in match.group(1).strip().splitlines() if line.strip().startswith("|")]
    return [[cell.strip().strip("`") for cell in row.strip("|").split("|")] for row in rows[2:]]


def _text(text: str | None) -> str:
    return COST_MD.read_text() if text is None else text


def read_call_table(text: str | None = None) -> dict[str, dict[str, float]]:
    """unit -> IAM action -> calls per unit, from docs/cost.md's ``calls`` table."""
    out: dict[str, dict[str, float]] = {}
    for unit, _function, action, calls, *_ in _table(_text(text), "calls"):
        out.setdefault(unit, {})[action] = float(calls)
    return out


def read_billing(text: str | None = None) -> dict[str, list[tuple[str, float, str, float]]]:
    """unit -> [(action, calls per unit, price key, billed units per call)] ("none" = not billed per call)."""
    out: dict[str, list[tuple[str, float, str, float]]] = {}
    for unit, _function, action, calls, billed, *_ in _table(_text(text), "calls"):
        key, _, times = billed.partition("*")
        out.setdefault(unit, []).append((action, float(calls), key, float(times or 1)))
    return out


def read_numbers(name: str, text: str | None = None) -> dict[str, float]:
    """A two-or-more-column table ``| key | number | ... |`` as key -> number."""
    return {row[0]: float(row[1].replace(",", "").lstrip("$")) for row in _table(_text(text), name)}


@dataclass(frozen=True)
class Workload:
    requests_per_second: float
    endpoints: int = 1
    apps: int = 3
    base_period_minutes: int = 10
    shards: int | None = None  # None: what the rate needs (1 provisioned shard up to its limits)


class Model:
    def __init__(self, text: str | None = None) -> None:
        text = _text(text)
        self.prices = read_numbers("prices", text)
        self.a = read_numbers("assumptions", text)
        self.billing = read_billing(text)

    # ----------------------------------------------------------------------------------------------- units
    def calls_cost(self, unit: str, scale: Mapping[str, float] | None = None) -> float:
        """The price of one unit's calls (``scale``: action -> factor for calls that grow with the unit)."""
        total = 0.0
        for action, calls, key, times in self.billing[unit]:
            if key == "none":
                continue
            total += calls * (scale or {}).get(action, 1.0) * times * self.prices[key]
        return total

    def lambda_cost(self, seconds: float, memory_mb: float) -> float:
        return self.prices["lambda_request"] + seconds * memory_mb / 1024 * self.prices["lambda_gb_second"]

    def log_cost(self, invocations: float) -> float:
        return invocations * self.a["log_bytes_per_invocation"] / 1e9 * self.prices["logs_gb_ingested"]

    def shards(self, w: Workload) -> int:
        if w.shards is not None:
            return w.shards
        bytes_per_s = w.requests_per_second * self.a["event_bytes"]
        return max(1, math.ceil(max(w.requests_per_second / 1000, bytes_per_s / 1e6) / self.a["shard_headroom"]))

    def monthly(self, w: Workload) -> dict[str, float]:
        """Monthly monitoring cost by part (USD)."""
        a, p = self.a, self.prices
        requests = w.requests_per_second * SECONDS
        shards = self.shards(w)
        out: dict[str, float] = {}
        # Kinesis: the shard-hours and one PUT payload unit per request (events under 25 KB)
        out["kinesis"] = shards * HOURS * p["kinesis_shard_hour"] + requests * self.calls_cost("request")
        # stream: a batch per shard per batching window, or sooner when 6 MB or 10,000 records fill up
        per_batch_records = min(
            a["batch_records"],
            a["batch_bytes"] / a["event_bytes"],
            w.requests_per_second / shards * a["batching_window_seconds"],
        )
        batches = requests / per_batch_records if requests else 0.0
        # each batch writes one object (and its live figures) per endpoint it holds
        endpoints_per_batch = min(w.endpoints, per_batch_records) if requests else 0.0
        stream_seconds = a["stream_seconds_per_batch"] + per_batch_records * a["stream_seconds_per_record"]
        out["stream"] = batches * (
            self.lambda_cost(stream_seconds, a["stream_memory_mb"])
            + endpoints_per_batch * self.calls_cost("stream batch")
        ) + self.log_cost(batches)
        # controller: one tick per base period; per (endpoint, app) pair a busy or an idle evaluation
        ticks = HOURS * 60 / w.base_period_minutes
        pairs = w.endpoints * w.apps
        busy_share = min(1.0, w.requests_per_second * w.base_period_minutes * 60 / w.endpoints) if requests else 0
        pair_cost = busy_share * self.calls_cost("busy tick") + (1 - busy_share) * self.calls_cost("idle tick")
        controller_seconds = a["controller_seconds_per_tick"] + pairs * a["controller_seconds_per_pair"]
        out["controller"] = (
            # per run, whatever the pairs: the schedule's invocation and the failures queue's drain (one receive)
            ticks
            * (
                self.lambda_cost(controller_seconds, a["controller_memory_mb"])
                + p["scheduler_invocation"]
                + p["sqs_request"]
            )
            + ticks * pairs * pair_cost
            + self.log_cost(ticks)
        )
        # apps and writer: a window per busy pair per tick
        windows = ticks * pairs * busy_share
        rows_per_window = requests / windows if windows else 0.0
        app_seconds = a["app_seconds_per_window"] + rows_per_window * a["app_seconds_per_row"]
        out["apps"] = windows * (
            self.lambda_cost(app_seconds, a["app_memory_mb"]) + self.calls_cost("window read")
        ) + self.log_cost(windows)
        out["writer"] = windows * (
            self.lambda_cost(a["writer_seconds_per_window"], a["writer_memory_mb"]) + self.window_written_cost()
        ) + self.log_cost(windows)
        # storage at steady state: the events kept events_retention_days, result history results_ttl_days
        results_gb = windows * a["outputs_per_window"] * a["result_item_bytes"] / 1e9
        objects = batches * endpoints_per_batch
        out["storage"] = self.events_storage(requests, objects) + (
            results_gb * a["results_ttl_days"] / 30.4 * p["dynamodb_gb_month"]
        )
        # fixed: the alerts topic's key, the alarms, the function metrics published each month
        metrics = a["custom_metrics"] if requests else a["idle_custom_metrics"]
        out["fixed"] = p["kms_key_month"] + a["alarms"] * p["alarm_month"] + metrics * p["metric_month"]
        return out

    def window_written_cost(self, alerting_share: float | None = None) -> float:
        """The writer's calls for one window of ``outputs_per_window`` outputs: a quiet window's, or with the
        share ``alerting_window_share`` an alerting one's (every call scales with the outputs: per output its
        history and latest items, per result that notifies its decision and its alerts)."""
        a = self.a
        share = a["alerting_window_share"] if alerting_share is None else alerting_share
        outputs = a["outputs_per_window"] / a["outputs_in_measured_window"]
        quiet = self.calls_cost("window written", {action: outputs for action, *_ in self.billing["window written"]})
        alerting = self.calls_cost(
            "window alerting", {action: outputs for action, *_ in self.billing["window alerting"]}
        )
        return (1 - share) * quiet + share * alerting

    def events_storage(
        self, requests: float, objects: float, retention_days: float | None = None, cold_after_days: float | None = None
    ) -> float:
        """The inference dataset's storage per month at steady state: a month's events (``requests`` rows in
        ``objects`` objects) kept ``events_retention_days``, in S3 Standard for their first
        ``events_cold_after_days`` (0: all the time), then in Glacier Instant Retrieval (90 days billed at least,
        one transition request per object). S3's lifecycle leaves objects under 128 KB in Standard."""
        a, p = self.a, self.prices
        retention = a["events_retention_days"] if retention_days is None else retention_days
        cold_after = a["events_cold_after_days"] if cold_after_days is None else cold_after_days
        gb = requests * a["stored_bytes_per_row"] / 1e9
        object_bytes = requests * a["stored_bytes_per_row"] / objects if objects else 0.0
        if not cold_after or cold_after >= retention or object_bytes < a["transition_min_object_bytes"]:
            return gb * retention / 30.4 * p["s3_gb_month"]
        return (
            gb * cold_after / 30.4 * p["s3_gb_month"]
            + gb * max(retention - cold_after, p["glacier_ir_min_days"]) / 30.4 * p["glacier_ir_gb_month"]
            + objects * p["glacier_ir_transition"]
        )

    def per_million(self, w: Workload) -> float:
        requests = w.requests_per_second * SECONDS
        return sum(self.monthly(w).values()) / requests * 1e6


def figures(text: str | None = None) -> str:
    """The "Figures" section of docs/cost.md, as this model computes it."""
    model = Model(text)
    lines = [
        "| requests/s | endpoints | apps | shards | kinesis | stream | controller | apps | writer | storage | fixed "
        "| monthly total | per million predictions |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    cases = [Workload(r) for r in (1, 10, 100, 1000)] + [Workload(100, endpoints=e) for e in (100, 10_000)]
    for w in cases:
        parts = model.monthly(w)
        total = sum(parts.values())
        cells = " | ".join(f"${parts[k]:,.2f}" for k in ("kinesis", "stream", "controller", "apps", "writer"))
        lines.append(
            f"| {w.requests_per_second:g} | {w.endpoints:,} | {w.apps} | {model.shards(w)} | {cells} | "
            f"${parts['storage']:,.2f} | ${parts['fixed']:,.2f} | ${total:,.2f} | ${model.per_million(w):,.3f} |"
        )
    idle = model.monthly(Workload(0))
    lines.append("")
    lines.append(
        f"Idle (1 endpoint, 3 apps, no traffic, the default 1 provisioned shard): ${sum(idle.values()):,.2f}/month "
        f"(kinesis ${idle['kinesis']:,.2f}, controller ${idle['controller']:,.2f}, fixed ${idle['fixed']:,.2f})."
    )
    lines.append("")
    lines.append(
        "Inference events kept longer (`events_retention_days`, `events_cold_after_days`: storage per month, then "
        "per million predictions all told, 1 endpoint, 3 apps):"
    )
    lines.append("")
    rates = (1, 10, 100, 1000)
    lines.append("| kept | " + " | ".join(f"{r:,} requests/s" for r in rates) + " |")
    lines.append("|---|" + "---|" * len(rates))
    for retention, cold in RETENTION_OPTIONS:
        option = Model(text)
        option.a["events_retention_days"], option.a["events_cold_after_days"] = retention, cold
        where = "S3 Standard" if not cold else f"Glacier IR after {cold} days"
        cells = " | ".join(
            f"${option.monthly(Workload(r))['storage']:,.2f}, ${option.per_million(Workload(r)):,.3f}" for r in rates
        )
        lines.append(f"| {retention} days, {where} | {cells} |")
    lines.append("")
    quiet, alerting = model.window_written_cost(0.0), model.window_written_cost(1.0)
    lines.append(
        f"The writer's calls per window of {model.a['outputs_per_window']:g} outputs: ${quiet * 1e6:,.1f} per million "
        f"quiet windows, ${alerting * 1e6:,.1f} per million alerting ones ({alerting / quiet:.1f}x); the figures "
        f"assume {model.a['alerting_window_share']:.0%} of windows alert."
    )
    on_demand = model.prices["kinesis_on_demand_stream_hour"] * HOURS
    per_gb = model.prices["kinesis_on_demand_gb_in"] + model.prices["kinesis_on_demand_gb_out"]
    shard = model.prices["kinesis_shard_hour"] * HOURS
    n = math.ceil(on_demand / shard)  # the fewest provisioned shards that cost more than on demand's stream-hours
    gb = (n * shard - on_demand) / per_gb
    average = gb * 1e9 / model.a["event_bytes"] / SECONDS
    lines.append(
        f"On-demand Kinesis instead: ${on_demand:,.2f}/month per stream plus ${per_gb:.2f}/GB written and read, "
        f"against ${shard:,.2f} per provisioned shard-month plus $0.014 per million PUT units. Per event on demand "
        f"costs more too, so it is never cheaper for a stream one or two shards carry; break-even: a stream whose "
        f"peak needs {n} shards ({n * 800:,} events/s at 80 %) is cheaper on demand while its month stays under "
        f"{gb:,.0f} GB ({average:,.1f} events/s of {model.a['event_bytes']:,.0f} bytes on average)."
    )
    return "\n".join(lines)


if __name__ == "__main__":
    print(figures())
