"""One controller run: for every monitored endpoint and deployed application of the project(s), cut the complete
windows since the pair's checkpoint and send each window that has predictions to the application.

Claim before invoke. For each window the checkpoint is first advanced to the window's end with a conditional
update on the value this run read, and only then is the application invoked. Two overlapping runs (a slow run
and the next schedule, or the schedule and a manual run) read the same checkpoint, but only one can move it, so
a window is never sent twice; the loser stops working on that pair. The opposite order (invoke, then advance)
would let both runs invoke before either advanced. The price of claiming first is a window claimed but never
sent when the invoke fails: the checkpoint is then handed back with the same kind of conditional update
(window end -> window start), so the next run retries that window; the pair stops for this run so windows stay
in order. Only if another run moved the pair in between does the hand-back fail; that is logged as an error
naming the window.

Windows without predictions in the endpoint's minute buckets advance the checkpoint without an app call.

Fan-out (:mod:`driftline.controller.shards`). A scheduled run (:func:`run_controller`) splits each project's
endpoints into key ranges; with more than one shard it hands each range to a controller invocation of its own
(asynchronous invoke of this same function with a shard event), so shards run in parallel, each with its own
timeout, and a slow shard holds no other. A shard (:func:`run_shard`) lists its endpoints with one query, reads
the checkpoints of all its (endpoint, app) pairs with ``BatchGetItem`` (100 pairs a call) and works on its
endpoints from a small thread pool; the claim-before-invoke rule above stays per window and per pair, so two
shards, two ticks or a retried shard invocation racing on one pair still send each window once.

Operational alerts (:mod:`driftline.aws.alerts`): ``mm-app-failed`` when a window's invoke failed after the
client's retries (the window is handed back and retried by the next run), and when an app failed inside after
Lambda's retries (drained from the async-failures queue at the start of every run,
:mod:`driftline.controller.failures`); ``mm-lag-detected`` when, after the
run, a pair's checkpoint is further behind the endpoint's last request than one base period plus
``Settings.lag_alert_seconds`` (MLRun's lag alert; raised on every run while it lasts). An alert that cannot
be sent is logged; it never stops the run.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from driftline.aws.alerts import APP_FAILED, LAG_DETECTED, Alerts
from driftline.aws.checkpoints import Checkpoints, Pending, last_analyzed_of, pending_of
from driftline.aws.clients import Clients
from driftline.aws.endpoints import BUCKET_PREFIX, Endpoints
from driftline.aws.invoke import Invoker
from driftline.aws.registry import Registry
from driftline.config import Settings
from driftline.controller.failures import surface_app_failures
from driftline.controller.shards import ShardSpec, shard_count
from driftline.controller.windows import Window, complete_windows
from driftline.observability import get_logger, get_metrics
from driftline.records import AppRecord, EndpointRecord, ProjectConfig
from driftline.schemas import WindowRequest, parse_time, to_iso

SERVICE = "driftline-controller"
MINUTE = timedelta(minutes=1)

logger = get_logger(SERVICE)
metrics = get_metrics(SERVICE)


@dataclass
class PairReport:
    """What one run did for one (endpoint, application) pair."""

    project: str
    endpoint_id: str
    application_name: str
    sent: int = 0  # windows with predictions: claimed and sent to the app
    empty: int = 0  # windows without predictions: checkpoint advanced, no app call
    skipped: int = 0  # complete windows left for another run (it owns the pair, or an invoke failed before)
    failed: int = 0  # invokes that failed (the window was handed back for the next run)
    conflict: bool = False  # another run moved the checkpoint first
    last_analyzed: str | None = None  # the checkpoint after this run (None: unchanged)
    error: str | None = None
    lag_seconds: float | None = None  # last_request - checkpoint after this run (None: not known)
    lag_alert: bool = False  # mm-lag-detected raised for this pair

    @property
    def windows(self) -> int:
        return self.sent + self.empty + self.skipped + self.failed


@dataclass
class ControllerReport:
    now: str
    projects: list[str] = field(default_factory=list)  # projects run
    ignored_projects: dict[str, str] = field(default_factory=dict)  # named but not run -> why
    pairs: list[PairReport] = field(default_factory=list)
    failures: dict[str, Any] = field(default_factory=dict)  # app failures drained from the async-failures queue
    shards: list[dict[str, Any]] = field(default_factory=list)  # shard events handed to other invocations
    shard_failures: list[str] = field(default_factory=list)  # shards whose invoke failed (next tick does them)
    shard: dict[str, Any] | None = None  # this run is that shard (None: a scheduled run)

    def _total(self, name: str) -> int:
        return sum(getattr(p, name) for p in self.pairs)

    @property
    def sent(self) -> int:
        return self._total("sent")

    @property
    def empty(self) -> int:
        return self._total("empty")

    @property
    def skipped(self) -> int:
        return self._total("skipped")

    @property
    def failed(self) -> int:
        return self._total("failed")

    @property
    def errors(self) -> int:
        return sum(1 for p in self.pairs if p.error)

    def pair(self, endpoint_id: str, application_name: str) -> PairReport:
        for p in self.pairs:
            if (p.endpoint_id, p.application_name) == (endpoint_id, application_name):
                return p
        raise KeyError(f"no pair ({endpoint_id!r}, {application_name!r}) in this run")

    def to_dict(self) -> dict[str, Any]:
        return {
            "now": self.now,
            "projects": list(self.projects),
            "ignored_projects": dict(self.ignored_projects),
            "windows": {"sent": self.sent, "empty": self.empty, "skipped": self.skipped, "failed": self.failed},
            "errors": self.errors,
            "lag_alerts": sum(1 for p in self.pairs if p.lag_alert),
            "pairs": [asdict(p) for p in self.pairs],
            "app_failures": dict(self.failures),
            "shards": list(self.shards),
            "shard_failures": list(self.shard_failures),
            "shard": self.shard,
        }

    def merge(self, other: ControllerReport) -> None:
        """Take in a shard's report (an in-process fan-out gathers its shards' reports)."""
        self.pairs.extend(other.pairs)
        self.shard_failures.extend(other.shard_failures)


def run_controller(
    clients: Clients, invoker: Invoker, project: str | None, now: datetime, *, shards: int | None = None
) -> ControllerReport:
    """Run the controller once for ``project`` (None: every project with monitoring enabled) at ``now``.

    Each project's endpoints are split into shards (``shards``, else ``Settings.controller_shards``, else one per
    ``controller_shard_size`` endpoints); one shard runs here, more are each handed to an asynchronous invocation
    of the controller function (``Settings.controller_function``) with a shard event, and the report lists them."""
    registry = Registry(clients)
    s = clients.settings
    report = ControllerReport(now=to_iso(now))
    report.failures = surface_app_failures(clients, Alerts(clients), now).to_dict()
    for config in _projects(registry, project, report):
        report.projects.append(config.name)
        apps = _deployed_apps(registry, config)
        if not apps:
            continue
        count = shards or s.controller_shards
        if count <= 0:
            count = shard_count(
                Endpoints(clients).count(config.name),
                shard_size=s.controller_shard_size,
                max_shards=s.controller_max_shards,
            )
        specs = [ShardSpec(config.name, i, count, now) for i in range(count)]
        if count == 1:
            _run_shard(clients, invoker, specs[0], config, apps, report)
        else:
            _dispatch(invoker, s.controller_function, specs, report, s.controller_threads)
    _publish(report)
    return report


def run_shard(clients: Clients, invoker: Invoker, spec: ShardSpec) -> ControllerReport:
    """Run one shard of a tick: the project's endpoints whose id is in the shard's range, every deployed app."""
    registry = Registry(clients)
    report = ControllerReport(now=to_iso(spec.now), shard=spec.to_event())
    for config in _projects(registry, spec.project, report):
        report.projects.append(config.name)
        apps = _deployed_apps(registry, config)
        if apps:
            _run_shard(clients, invoker, spec, config, apps, report)
    _publish(report)
    return report


def _deployed_apps(registry: Registry, config: ProjectConfig) -> list[AppRecord]:
    apps = sorted((a for a in registry.list_apps(config.name) if a.deployed), key=lambda a: a.name)
    if not apps:
        logger.info("no deployed monitoring application", extra={"project": config.name})
    return apps


def _dispatch(invoker: Invoker, function: str, specs: list[ShardSpec], report: ControllerReport, threads: int) -> None:
    """Hand each shard to an invocation of its own. A shard whose invoke fails claimed nothing: its windows wait
    for the next tick (reported, counted as ``ShardInvokeFailures``)."""

    def send(spec: ShardSpec) -> str | None:
        try:
            invoker.invoke_async(function, spec.to_event())
        except Exception as exc:
            logger.exception("controller shard not dispatched; the next tick covers it", extra=spec.to_event())
            return f"shard {spec.index}/{spec.count} of {spec.project}: {type(exc).__name__}: {exc}"
        return None

    with ThreadPoolExecutor(max_workers=max(1, min(threads, len(specs)))) as pool:
        outcomes = list(pool.map(send, specs))
    for spec, failure in zip(specs, outcomes, strict=True):
        if failure is None:
            report.shards.append(spec.to_event())
        else:
            report.shard_failures.append(failure)
    if report.shard_failures:
        metrics.add_metric(name="ShardInvokeFailures", unit=MetricUnit.Count, value=len(report.shard_failures))


def _run_shard(
    clients: Clients,
    invoker: Invoker,
    spec: ShardSpec,
    config: ProjectConfig,
    apps: list[AppRecord],
    report: ControllerReport,
) -> None:
    s = clients.settings
    run = _Run(s, Endpoints(clients), Checkpoints(clients), invoker, spec.now, report, Alerts(clients))
    listed = run.endpoints.list_range(config.name, spec.low, spec.high)
    endpoints = [e for e in listed if e.monitoring and e.first_request]
    if not endpoints:
        return
    pairs = [(e.endpoint_id, a.name) for e in endpoints for a in apps]
    try:
        items = run.checkpoints.get_many(pairs)
    except Exception as exc:
        # nothing claimed: every pair of the shard waits for the next tick
        for endpoint_id, app_name in pairs:
            pair = PairReport(config.name, endpoint_id, app_name)
            report.pairs.append(pair)
            run._failed(pair, exc)
        return
    with ThreadPoolExecutor(max_workers=max(1, min(s.controller_threads, len(endpoints)))) as pool:
        done = list(pool.map(lambda e: run.endpoint(config, e, apps, items), endpoints))
    for pairs_of_endpoint in done:
        report.pairs.extend(pairs_of_endpoint)


def _projects(registry: Registry, project: str | None, report: ControllerReport) -> list[ProjectConfig]:
    if project is None:
        return sorted((p for p in registry.list_projects() if p.monitoring_enabled), key=lambda p: p.name)
    config = registry.get_project(project)
    if config is None:
        report.ignored_projects[project] = "not found"
        logger.warning("project not found; nothing to monitor", extra={"project": project})
        return []
    if not config.monitoring_enabled:
        report.ignored_projects[project] = "monitoring disabled"
        logger.info("monitoring is disabled for the project", extra={"project": project})
        return []
    return [config]


def _prediction_minutes(buckets: Iterable[dict[str, Any]]) -> list[datetime]:
    """Start times of the minute buckets that counted at least one prediction, sorted."""
    minutes = []
    for bucket in buckets:
        sk = str(bucket.get("sk", ""))
        if sk.startswith(BUCKET_PREFIX) and int(bucket.get("predictions") or 0) > 0:
            stamp = datetime.strptime(sk[len(BUCKET_PREFIX) :], "%Y-%m-%dT%H:%M").replace(tzinfo=UTC)
            minutes.append(stamp)
    return sorted(minutes)


def _has_predictions(minutes: Sequence[datetime], start: datetime, end: datetime) -> bool:
    """Whether a minute with predictions overlaps ``[start, end)`` (minutes at the edges count)."""
    i = bisect.bisect_right(minutes, start - MINUTE)  # the first minute that ends after ``start``
    return i < len(minutes) and minutes[i] < end


@dataclass
class _Plan:
    app: AppRecord
    pair: PairReport
    checkpoint: datetime | None
    pending: Pending | None
    windows: list[Window]


class _Run:
    def __init__(
        self,
        settings: Settings,
        endpoints: Endpoints,
        checkpoints: Checkpoints,
        invoker: Invoker,
        now: datetime,
        report: ControllerReport,
        alerts: Alerts | None = None,
    ) -> None:
        self.alerts = alerts
        self.settings = settings
        self.endpoints = endpoints
        self.checkpoints = checkpoints
        self.invoker = invoker
        self.now = now
        self.report = report

    def endpoint(
        self,
        config: ProjectConfig,
        endpoint: EndpointRecord,
        apps: list[AppRecord],
        items: dict[tuple[str, str], dict[str, Any]],
    ) -> list[PairReport]:
        """Every app of one endpoint, given the checkpoint items read for the shard; the pairs' reports."""
        s = self.settings
        step = timedelta(minutes=config.base_period_minutes)
        plans: list[_Plan] = []
        read: list[tuple[PairReport, datetime | None, datetime | None]] = []  # pair, checkpoint, last request
        pairs: list[PairReport] = []
        for app in apps:
            pair = PairReport(config.name, endpoint.endpoint_id, app.name)
            pairs.append(pair)
            try:
                first = parse_time(endpoint.first_request, "endpoint first_request")
                last = parse_time(endpoint.last_request, "endpoint last_request") if endpoint.last_request else None
                item = items.get((endpoint.endpoint_id, app.name))
                checkpoint = last_analyzed_of(item)
                pending = pending_of(item)
                read.append((pair, checkpoint or first, last))
                windows = complete_windows(
                    first_request=first,
                    last_request=last,
                    checkpoint=checkpoint,
                    now=self.now,
                    step=step,
                    flush_grace=timedelta(seconds=s.flush_grace_seconds),
                    max_lateness=timedelta(seconds=s.max_lateness_seconds),
                    max_backfill=timedelta(seconds=s.max_backfill_seconds),
                )
            except Exception as exc:
                self._failed(pair, exc)
                continue
            if windows or pending is not None:
                plans.append(_Plan(app, pair, checkpoint, pending, windows))
        try:
            self._plan_pairs(config, endpoint, plans)
        finally:
            for pair, checkpoint, last in read:
                self._check_lag(config, pair, checkpoint, last, step)
        return pairs

    def _plan_pairs(self, config: ProjectConfig, endpoint: EndpointRecord, plans: list[_Plan]) -> None:
        if not plans:
            return
        # one bucket query per endpoint, shared by its apps (none when only a pending window is left to settle)
        with_windows = [p for p in plans if p.windows]
        minutes: list[datetime] = []
        if with_windows:
            span_start = min(p.windows[0][0] for p in with_windows)
            span_end = max(p.windows[-1][1] for p in with_windows)
            try:
                buckets = self.endpoints.minute_buckets(endpoint.endpoint_id, span_start, span_end)
                minutes = _prediction_minutes(buckets)
            except Exception as exc:
                for plan in plans:
                    self._failed(plan.pair, exc)
                return
        for plan in plans:
            try:
                self.pair(config, plan, minutes)
            except Exception as exc:
                self._failed(plan.pair, exc)

    def pair(self, config: ProjectConfig, plan: _Plan, minutes: Sequence[datetime]) -> None:
        pair, app = plan.pair, plan.app
        function = app.function_name or self.settings.app_function
        if not self._settle_pending(config, pair, function, plan.pending):
            pair.skipped += len(plan.windows)
            return
        previous = plan.checkpoint
        for i, (start, end) in enumerate(plan.windows):
            has_data = _has_predictions(minutes, start, end)
            claimed = self.checkpoints.advance(
                pair.endpoint_id,
                app.name,
                previous,
                end,
                updated_at=self.now,
                pending_start=start if has_data else None,
            )
            if not claimed:
                pair.conflict = True
                pair.skipped += len(plan.windows) - i
                logger.info(
                    "another run owns the pair",
                    extra={"endpoint_id": pair.endpoint_id, "application_name": app.name, "at": to_iso(start)},
                )
                return
            pair.last_analyzed = to_iso(end)
            if has_data:
                request = WindowRequest(
                    project=config.name,
                    endpoint_id=pair.endpoint_id,
                    application_name=app.name,
                    start_infer_time=to_iso(start),
                    end_infer_time=to_iso(end),
                    base_period_minutes=config.base_period_minutes,
                )
                try:
                    self.invoker.invoke_async(function, request.to_dict())
                except Exception as exc:
                    self._hand_back(pair, start, end, exc)
                    pair.skipped += len(plan.windows) - i - 1
                    return
                self.checkpoints.clear_pending(pair.endpoint_id, app.name, end)
                pair.sent += 1
            else:
                pair.empty += 1
            previous = end

    def _check_lag(
        self,
        config: ProjectConfig,
        pair: PairReport,
        checkpoint: datetime | None,
        last: datetime | None,
        step: timedelta,
    ) -> None:
        if pair.last_analyzed:
            checkpoint = parse_time(pair.last_analyzed, "last_analyzed")
        if checkpoint is None or last is None:
            return
        pair.lag_seconds = max(0.0, (last - checkpoint).total_seconds())
        threshold = self.settings.lag_alert_seconds
        if threshold <= 0 or pair.lag_seconds <= step.total_seconds() + threshold:
            return
        pair.lag_alert = self._alert(
            LAG_DETECTED,
            {
                "project": config.name,
                "endpoint_id": pair.endpoint_id,
                "application_name": pair.application_name,
                "last_request": to_iso(last),
                "last_analyzed": to_iso(checkpoint),
                "lag_seconds": pair.lag_seconds,
                "threshold_seconds": step.total_seconds() + threshold,
            },
        )

    def _alert(self, alert_type: str, detail: dict[str, Any]) -> bool:
        if self.alerts is None:
            return False
        try:
            self.alerts.raise_operational(alert_type, detail)
        except Exception:
            logger.exception("operational alert not sent", extra={"alert_type": alert_type, "detail": detail})
            return False
        metrics.add_metric(name="OperationalAlerts", unit=MetricUnit.Count, value=1)
        return True

    def _settle_pending(self, config: ProjectConfig, pair: PairReport, function: str, pending: Pending | None) -> bool:
        """A window claimed by an earlier run and never confirmed sent: if that run is surely gone (claimed longer
        ago than ``stale_claim_seconds``, beyond the controller's timeout), send it now (the writer stores a
        repeated window once); if it may still be running, leave the pair to it. True: go on with the pair.
        ``pending`` is what the shard's batch read found (every step after it is conditional on what was read)."""
        if pending is None:
            return True
        if (self.now - pending.since).total_seconds() < self.settings.stale_claim_seconds:
            logger.info("a recent claim is still pending: another run owns the pair", extra={"pair": pair.endpoint_id})
            return False
        if not self.checkpoints.take_over_pending(pair.endpoint_id, pair.application_name, pending, self.now):
            return False
        request = WindowRequest(
            project=config.name,
            endpoint_id=pair.endpoint_id,
            application_name=pair.application_name,
            start_infer_time=to_iso(pending.start),
            end_infer_time=to_iso(pending.end),
            base_period_minutes=config.base_period_minutes,
        )
        logger.warning(
            "re-sending a window whose claiming run died before its app call",
            extra={
                "endpoint_id": pair.endpoint_id,
                "application_name": pair.application_name,
                "start_infer_time": request.start_infer_time,
            },
        )
        self.invoker.invoke_async(function, request.to_dict())
        self.checkpoints.clear_pending(pair.endpoint_id, pair.application_name, pending.end)
        pair.sent += 1
        return True

    def _hand_back(self, pair: PairReport, start: datetime, end: datetime, exc: Exception) -> None:
        pair.failed += 1
        handed_back = self.checkpoints.advance(
            pair.endpoint_id, pair.application_name, end, start, updated_at=self.now, drop_pending=True
        )
        pair.last_analyzed = to_iso(start) if handed_back else pair.last_analyzed
        keys = {
            "endpoint_id": pair.endpoint_id,
            "application_name": pair.application_name,
            "start_infer_time": to_iso(start),
            "end_infer_time": to_iso(end),
            "error": f"{type(exc).__name__}: {exc}",
        }
        self._alert(APP_FAILED, {"project": pair.project, **keys, "handed_back": handed_back})
        if handed_back:
            logger.error("application invoke failed; the window is handed back for the next run", extra=keys)
        else:
            pair.error = f"invoke failed and another run moved the checkpoint: window {keys['start_infer_time']} lost"
            logger.error("application invoke failed and another run moved the checkpoint: window lost", extra=keys)

    def _failed(self, pair: PairReport, exc: Exception) -> None:
        pair.error = f"{type(exc).__name__}: {exc}"
        logger.exception(
            "controller failed on a pair; other pairs go on",
            extra={"endpoint_id": pair.endpoint_id, "application_name": pair.application_name},
        )


def _publish(report: ControllerReport) -> None:
    for name, value in (
        ("WindowsSent", report.sent),
        ("WindowsEmpty", report.empty),
        ("WindowsSkipped", report.skipped),
        ("InvokeFailures", report.failed),
        ("PairErrors", report.errors),
    ):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    # the log line summarises: a shard of 500 endpoints x 3 apps would otherwise log 1,500 pairs (~400 KB, beyond
    # CloudWatch's 256 KB event limit); only the pairs that need a look are listed
    summary = report.to_dict()
    summary["pairs"] = [asdict(p) for p in report.pairs if p.error or p.failed or p.conflict or p.lag_alert]
    summary["pair_count"] = len(report.pairs)
    logger.info("controller run", extra={"report": summary})
