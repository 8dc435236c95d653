"""Ground-truth objects in the bucket (the only module that touches them).

Layout: ``s3://{bucket}/ground-truth/endpoint_id={id}/date={YYYY-MM-DD}/{digest}.parquet`` (the SDK's
``log_ground_truth``) or ``.../{digest}.jsonl.gz`` (the serving function's HTTP route, which has no pyarrow).
``date`` is the day the labels arrived (UTC); ``digest`` is a hash of the rows, so sending the same labels
again overwrites the same object instead of adding one.
"""

from __future__ import annotations

from collections.abc import Iterable

from botocore.exceptions import ClientError

from driftline.aws.clients import Clients
from driftline.errors import NotFoundError

PREFIX = "ground-truth"
SUFFIXES = (".parquet", ".jsonl.gz")


def partition_prefix(endpoint_id: str, date: str) -> str:
    return f"{PREFIX}/endpoint_id={endpoint_id}/date={date}/"


def object_key(endpoint_id: str, date: str, digest: str, suffix: str) -> str:
    return f"{partition_prefix(endpoint_id, date)}{digest}{suffix}"


class GroundTruthStore:
    def __init__(self, clients: Clients) -> None:
        self._s3 = clients.s3
        self.bucket = clients.settings.bucket

    def put(self, key: str, body: bytes, content_type: str) -> str:
        self._s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)
        return f"s3://{self.bucket}/{key}"

    def keys(self, endpoint_id: str, dates: Iterable[str]) -> list[str]:
        """Every ground-truth object of the endpoint on those days, in key order."""
        found: list[str] = []
        paginator = self._s3.get_paginator("list_objects_v2")
        for date in dates:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=partition_prefix(endpoint_id, date)):
                found += [o["Key"] for o in page.get("Contents", []) if o["Key"].endswith(SUFFIXES)]
        return sorted(found)

    def get(self, key: str) -> bytes:
        try:
            return self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if exc.response["Error"]["Code"] in {"NoSuchKey", "404"}:
                raise NotFoundError(f"s3://{self.bucket}/{key} does not exist") from exc
            raise
