"""Ground-truth objects in the bucket (the only module that touches them).

Layout: ``s3://{bucket}/ground-truth/endpoint_id={id}/date={YYYY-MM-DD}/{digest}.parquet`` (the SDK's
``log_ground_truth``) or ``.../{digest}.jsonl.gz`` (the serving function's HTTP route, which has no pyarrow).
``date`` is the day the labels arrived (UTC); ``digest`` is a hash of the rows, so sending the same labels
again overwrites the same object instead of adding one.
"""

from __future__ import annotations

from collections.abc import Iterable

from driftline import layout
from driftline.aws.artifacts import Artifacts
from driftline.aws.failures import storage_errors

PREFIX = layout.GROUND_TRUTH_PREFIX
SUFFIXES = (".parquet", ".jsonl.gz")


def partition_prefix(endpoint_id: str, date: str) -> str:
    return f"{PREFIX}endpoint_id={endpoint_id}/date={date}/"


def object_key(endpoint_id: str, date: str, digest: str, suffix: str) -> str:
    return f"{partition_prefix(endpoint_id, date)}{digest}{suffix}"


class GroundTruthStore(Artifacts):
    """Objects in the bucket like any artifact (same put/get), plus listing by endpoint and day."""

    def keys(self, endpoint_id: str, dates: Iterable[str]) -> list[str]:
        """Every ground-truth object of the endpoint on those days, in key order."""
        found: list[str] = []
        paginator = self._s3.get_paginator("list_objects_v2")
        for date in dates:
            prefix = partition_prefix(endpoint_id, date)
            with storage_errors(f"listing s3://{self.bucket}/{prefix}"):
                for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                    found += [o["Key"] for o in page.get("Contents", []) if o["Key"].endswith(SUFFIXES)]
        return sorted(found)
