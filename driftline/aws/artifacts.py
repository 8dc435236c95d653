"""Objects in the bucket: model files and application sources (the parquet dataset has its own module)."""

from __future__ import annotations

from botocore.exceptions import ClientError

from driftline import layout
from driftline.aws.clients import Clients
from driftline.aws.failures import error_code, storage_errors
from driftline.errors import ConflictError, NotFoundError


def model_key(project: str, name: str, version: str, file_name: str) -> str:
    return f"{layout.ARTIFACTS_PREFIX}{project}/models/{name}/{version}/{file_name}"


def app_source_key(project: str, name: str, sha256: str) -> str:
    return f"{layout.ARTIFACTS_PREFIX}{project}/apps/{name}/{sha256}.py"


class Artifacts:
    def __init__(self, clients: Clients) -> None:
        self._s3 = clients.s3
        self.bucket = clients.settings.bucket

    def put(self, key: str, body: bytes, content_type: str = "application/octet-stream") -> str:
        with storage_errors(f"writing s3://{self.bucket}/{key}"):
            self._s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)
        return f"s3://{self.bucket}/{key}"

    def put_new(self, key: str, body: bytes, content_type: str = "application/octet-stream") -> str:
        """Write ``key`` only if nothing is there yet (S3 conditional write): two writers racing for the same
        key cannot overwrite each other; the loser gets a ConflictError."""
        with storage_errors(f"writing s3://{self.bucket}/{key}"):
            try:
                self._s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type, IfNoneMatch="*")
            except ClientError as exc:
                if error_code(exc) in {"PreconditionFailed", "ConditionalRequestConflict", "412"}:
                    raise ConflictError(f"s3://{self.bucket}/{key} already exists") from exc
                raise
        return f"s3://{self.bucket}/{key}"

    def get(self, key: str) -> bytes:
        with storage_errors(f"reading s3://{self.bucket}/{key}"):
            try:
                return self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
            except ClientError as exc:
                if error_code(exc) in {"NoSuchKey", "404"}:
                    raise NotFoundError(f"s3://{self.bucket}/{key} does not exist") from exc
                raise
