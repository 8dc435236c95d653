"""The resource layout of one driftline installation, defined once: tables and their keys, indexes, the S3
prefixes, the Timestream tables, the queues.

Everything that creates or addresses these resources imports them from here: the adapters in
``driftline/aws/``, the local provisioning (``driftline/aws/provision.py``), the CDK components (``infra/``), the
role statements (``driftline/deploy/``) and the dashboards. docs/architecture.md describes what lives where.
"""

from __future__ import annotations

from dataclasses import dataclass

# ---------------------------------------------------------------------------------------------------- S3 prefixes
ARTIFACTS_PREFIX = "artifacts/"  # model files, app sources, app reports
EVENTS_PREFIX = "events/"  # the inference dataset (parquet, Hive partitions endpoint_id/date/hour)
GROUND_TRUTH_PREFIX = "ground-truth/"  # labels keyed by request id
RECENT_REQUESTS_PREFIX = "state/recent-requests/"  # the stream's per-shard memory of stored requests


# ------------------------------------------------------------------------------------------------------- DynamoDB
@dataclass(frozen=True)
class Index:
    name: str
    partition_key: str
    sort_key: str


@dataclass(frozen=True)
class TableLayout:
    """One table: string partition and sort keys, on-demand; ``ttl`` names the expiry attribute if any."""

    role: str  # the ``Settings`` field is ``{role}_table``
    partition_key: str
    sort_key: str
    indexes: tuple[Index, ...] = ()
    ttl: str | None = None

    @property
    def settings_field(self) -> str:
        return f"{self.role}_table"


PROJECT_INDEX = Index("by-project", partition_key="project", sort_key="endpoint_id")
TABLES: dict[str, TableLayout] = {
    "registry": TableLayout("registry", "pk", "sk"),
    "endpoints": TableLayout("endpoints", "endpoint_id", "sk", indexes=(PROJECT_INDEX,), ttl="expires_at"),
    "checkpoints": TableLayout("checkpoints", "pk", "sk"),
    "results": TableLayout("results", "pk", "sk"),
}

# ----------------------------------------------------------------------------------------------------- Timestream
TIMESTREAM_TABLES = ("app_results", "metrics")  # MLRun's two time-series tables


# ---------------------------------------------------------------------------------------------------------- SQS
@dataclass(frozen=True)
class QueueLayout:
    role: str  # the ``Settings`` field is ``{role}_queue_url`` with '-' as '_'
    description: str

    @property
    def settings_field(self) -> str:
        return f"{self.role.replace('-', '_')}_queue_url"


QUEUES: dict[str, QueueLayout] = {
    "async-failures": QueueLayout(
        "async-failures", "asynchronous invocations (schedule -> controller -> apps -> writer) that failed 3 times"
    ),
    "stream-failures": QueueLayout(
        "stream-failures", "poison Kinesis records and batches the stream function gave up on"
    ),
}
