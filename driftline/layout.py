"""The resource layout of one driftline installation, defined once: tables and their keys, indexes, the S3
prefixes and their lifecycle, the Timestream tables, the queues, and the physical names derived from a stack name.

Everything that creates or addresses these resources imports them from here: the adapters in
``driftline/aws/``, the local provisioning (``driftline/aws/provision.py``), the CDK components (``infra/``), the
role statements (``driftline/deploy/``), the settings' defaults (``driftline/config.py``) and the dashboards.
``tests/infra/test_provisioning.py`` holds the local provisioning and the synthesized template to the same
resources. docs/architecture.md describes what lives where.

Adding a table is one :class:`TableLayout` in :data:`TABLES` (the stack creates it, ``provision`` creates it,
``Settings`` names it ``{stack}-{role}`` and reads ``DRIFTLINE_{ROLE}_TABLE``), plus its use: the adapter that
reads and writes it, and the statements in ``driftline/deploy/functions.py`` that let a function do so.
"""

from __future__ import annotations

from dataclasses import dataclass

from driftline.aws.schedules import schedule_name

DEFAULT_STACK = "driftline"  # the stack name cdk.json deploys; the settings' defaults are its names
DEFAULT_PROJECT = "default"  # the project whose schedule a stack creates (cdk.json's ``project``)

# ---------------------------------------------------------------------------------------------------- S3 prefixes
ARTIFACTS_PREFIX = "artifacts/"  # model files, app sources, app reports
EVENTS_PREFIX = "events/"  # the inference dataset (parquet, Hive partitions endpoint_id/date/hour)
# The Hive partition columns of the inference dataset, in path order: reading the folder as a dataset brings them
# back as columns, so no feature or label may take one of these names.
EVENT_PARTITIONS = ("endpoint_id", "date", "hour")
GROUND_TRUTH_PREFIX = "ground-truth/"  # labels, partitioned by endpoint and arrival day
RECENT_REQUESTS_PREFIX = "state/recent-requests/"  # the stream's per-shard memory of stored requests
INGEST_RECEIPTS_PREFIX = "state/ingested/"  # one receipt per ingest accepted (its digest), so a re-sent one is known

# The inference dataset (``events_retention_days`` in cdk.json). Monitoring reads events within minutes to hours
# of their arrival (windows, a lagging controller, ``label_delay_minutes``); older ones serve reports, ``evaluate``
# and a user's own analysis. 30 days keeps monitoring within its cost target (docs/cost.md); keeping a year is
# one switch away, cheapest with ``events_cold_after_days``.
EVENTS_RETENTION_DAYS = 30
# Days after which events move to S3 Glacier Instant Retrieval (``events_cold_after_days``; 0: they stay in S3
# Standard). It pays only for long retention: Glacier IR bills 90 days at least and a transition per object.
EVENTS_COLD_AFTER_DAYS = 0
EVENTS_COLD_STORAGE_CLASS = "GLACIER_IR"
NONCURRENT_VERSION_DAYS = 30  # overwritten versions: redelivered batches, replaced models
# The stream's memory spans a minute and is rewritten after every batch: an idle shard's object and every
# overwritten version are of no use after a day.
RECENT_REQUESTS_RETENTION_DAYS = 1
ABORT_MULTIPART_DAYS = 7
# An ingest sent again within this many days (a lost answer, a batch job re-run) is recognised by its receipt.
INGEST_RECEIPT_DAYS = 7

# ------------------------------------------------------------------------------------------------------------ SSM
PARAMETER_ROOT = "/driftline/"  # every stack's parameters live under {PARAMETER_ROOT}{stack}/ (Names)


@dataclass(frozen=True)
class LifecycleRule:
    """One S3 lifecycle rule; ``prefix`` "" is the whole bucket, a ``None`` number leaves that action out."""

    id: str
    prefix: str = ""
    expiration_days: int | None = None
    noncurrent_days: int | None = None
    abort_multipart_days: int | None = None
    transition_days: int | None = None  # current versions move to ``transition_storage_class`` after this
    transition_storage_class: str = EVENTS_COLD_STORAGE_CLASS


def lifecycle_rules(
    events_retention_days: int = EVENTS_RETENTION_DAYS,
    noncurrent_version_days: int = NONCURRENT_VERSION_DAYS,
    events_cold_after_days: int = EVENTS_COLD_AFTER_DAYS,
) -> tuple[LifecycleRule, ...]:
    """The data bucket's lifecycle: the stack's with its knobs, the local bucket's with the defaults."""
    return (
        LifecycleRule(
            "expire-inference-events",
            EVENTS_PREFIX,
            expiration_days=events_retention_days,
            transition_days=events_cold_after_days or None,
        ),
        LifecycleRule(
            "expire-stream-memory",
            RECENT_REQUESTS_PREFIX,
            expiration_days=RECENT_REQUESTS_RETENTION_DAYS,
            noncurrent_days=RECENT_REQUESTS_RETENTION_DAYS,
        ),
        LifecycleRule(
            "expire-ingest-receipts",
            INGEST_RECEIPTS_PREFIX,
            expiration_days=INGEST_RECEIPT_DAYS,
            noncurrent_days=INGEST_RECEIPT_DAYS,
        ),
        LifecycleRule(
            "expire-noncurrent-versions",
            noncurrent_days=noncurrent_version_days,
            abort_multipart_days=ABORT_MULTIPART_DAYS,
        ),
    )


# ------------------------------------------------------------------------------------------------------- DynamoDB
@dataclass(frozen=True)
class Index:
    """A global secondary index with string keys, projecting every attribute."""

    name: str
    partition_key: str
    sort_key: str


@dataclass(frozen=True)
class TableLayout:
    """One table: string partition and sort keys, on-demand; ``ttl`` names the expiry attribute if any."""

    role: str
    partition_key: str
    sort_key: str
    indexes: tuple[Index, ...] = ()
    ttl: str | None = None
    description: str = ""

    @property
    def settings_key(self) -> str:
        """Its key in the settings document and, upper-cased after ``DRIFTLINE_``, its environment variable."""
        return f"{self.role}_table"


PROJECT_INDEX = Index("by-project", partition_key="project", sort_key="endpoint_id")
ENDPOINTS_TTL = "expires_at"
# result and metric history items expire ``results_ttl_days`` after their window ended (epoch seconds; the
# writer sets it, 0 days = no attribute); ``latest#`` items never expire
RESULTS_TTL = "expires_at"
TABLES: dict[str, TableLayout] = {
    t.role: t
    for t in (
        TableLayout("registry", "pk", "sk", description="projects, models, serving functions, apps"),
        TableLayout(
            "endpoints",
            "endpoint_id",
            "sk",
            indexes=(PROJECT_INDEX,),
            ttl=ENDPOINTS_TTL,
            description="endpoint records, live figures, minute buckets",
        ),
        TableLayout("checkpoints", "pk", "sk", description="the controller's checkpoints per (endpoint, app)"),
        TableLayout("results", "pk", "sk", ttl=RESULTS_TTL, description="app results and metrics: latest and history"),
    )
}

# ----------------------------------------------------------------------------------------------------- Timestream
TIMESTREAM_RESULTS = "app_results"  # MLRun's two time-series tables
TIMESTREAM_METRICS = "metrics"
TIMESTREAM_TABLES = (TIMESTREAM_RESULTS, TIMESTREAM_METRICS)
TIMESTREAM_MEMORY_RETENTION_HOURS = 24
TIMESTREAM_MAGNETIC_RETENTION_DAYS = 365


# ---------------------------------------------------------------------------------------------------------- SQS
@dataclass(frozen=True)
class QueueLayout:
    role: str
    description: str
    retention_days: int = 14  # SQS's maximum: time to find out why and redrive

    @property
    def settings_key(self) -> str:
        """Its URL's key in the settings document (``DRIFTLINE_{KEY}`` in the environment)."""
        return f"{self.role.replace('-', '_')}_queue_url"


QUEUES: dict[str, QueueLayout] = {
    q.role: q
    for q in (
        QueueLayout(
            "async-failures", "asynchronous invocations (schedule -> controller -> apps -> writer) that failed 3 times"
        ),
        QueueLayout("stream-failures", "poison Kinesis records and batches the stream function gave up on"),
    )
}


# ------------------------------------------------------------------------------------------------------- names
@dataclass(frozen=True)
class Names:
    """Every physical name of one installation, derived from its stack name, so two stacks in one account never
    collide; the default stack's are :class:`driftline.config.Settings`' defaults. The CDK stack names what it
    creates with these, the local provisioning too."""

    stack: str = DEFAULT_STACK
    project: str = DEFAULT_PROJECT

    def function(self, role: str) -> str:
        return f"{self.stack}-{role}"

    def app_function(self, app: str | None = None) -> str:
        return self.app_function_prefix if app is None else f"{self.app_function_prefix}-{app}"

    @property
    def app_function_prefix(self) -> str:
        """Every app function (generic and per-app) starts with this: the controller may invoke exactly these."""
        return f"{self.stack}-app"

    def data_bucket(self, account: str = "", region: str = "") -> str:
        """``{stack}-data-{account}-{region}`` (bucket names are global); without them, the local bucket's."""
        return "-".join(part for part in (f"{self.stack}-data", account, region) if part)

    def table(self, role: str) -> str:
        return f"{self.stack}-{role}"

    def tables(self) -> dict[str, str]:
        """Every table of :data:`TABLES`, role -> name."""
        return {role: self.table(role) for role in TABLES}

    def queue(self, role: str) -> str:
        return f"{self.stack}-{role}"

    @property
    def stream(self) -> str:
        return f"{self.stack}-events"

    @property
    def event_bus(self) -> str:
        return f"{self.stack}-alerts"

    @property
    def topic(self) -> str:
        return f"{self.stack}-alerts"

    @property
    def timestream_database(self) -> str:
        return self.stack

    @property
    def schedule_group(self) -> str:
        return self.stack

    @property
    def schedule_prefix(self) -> str:
        return f"{self.stack}-controller"

    @property
    def schedule(self) -> str:
        # the SDK's rule (a long stack name plus a long project would pass Scheduler's 64 characters)
        return schedule_name(self.schedule_prefix, self.project)

    @property
    def dashboard(self) -> str:
        return f"{self.stack}-monitoring"

    @property
    def parameter_prefix(self) -> str:
        return f"{PARAMETER_ROOT}{self.stack}"

    @property
    def webhook_secrets_prefix(self) -> str:
        """SSM SecureStrings the writer may read: secret headers of alert webhooks."""
        return f"{self.parameter_prefix}/webhooks/"

    @property
    def settings_parameter(self) -> str:
        return f"{self.parameter_prefix}/settings"

    @property
    def api_url_parameter(self) -> str:
        return f"{self.parameter_prefix}/api-url"

    @property
    def app_functions_parameter(self) -> str:
        return f"{self.parameter_prefix}/app-functions"
