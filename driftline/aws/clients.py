"""One place that makes boto3 clients, with one botocore ``Config`` (retries, timeouts) and the endpoint
overrides the local runtime needs (moto on loopback, the local Lambda Invoke emulation, Timestream's
explicit endpoints that skip endpoint discovery)."""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any, cast

import boto3
from botocore.config import Config

from driftline.config import Credentials, Settings

if TYPE_CHECKING:  # development-only stubs (types-boto3); nothing of them exists at run time
    from types_boto3_cloudwatch.client import CloudWatchClient
    from types_boto3_dynamodb.client import DynamoDBClient
    from types_boto3_events.client import EventBridgeClient
    from types_boto3_iam.client import IAMClient
    from types_boto3_kinesis.client import KinesisClient
    from types_boto3_kms.client import KMSClient
    from types_boto3_lambda.client import LambdaClient
    from types_boto3_s3.client import S3Client
    from types_boto3_scheduler.client import EventBridgeSchedulerClient
    from types_boto3_sns.client import SNSClient
    from types_boto3_sqs.client import SQSClient
    from types_boto3_ssm.client import SSMClient
    from types_boto3_sts.client import STSClient
    from types_boto3_timestream_query.client import TimestreamQueryClient
    from types_boto3_timestream_write.client import TimestreamWriteClient

# Standard retry mode: exponential backoff with jitter on throttling and 5xx, for every service.
CLIENT_CONFIG = Config(
    retries={"max_attempts": 5, "mode": "standard"},
    connect_timeout=3,
    read_timeout=10,
    tcp_keepalive=True,
    # the controller and the stream call DynamoDB and Lambda from a thread pool (boto3 clients are thread safe);
    # botocore's default pool of 10 connections would make the threads past 10 open and drop connections
    max_pool_connections=32,
)

_lock = threading.Lock()
_session_local = threading.local()


def _session(credentials: Credentials | None = None) -> boto3.session.Session:
    # boto3 sessions are not thread-safe to create clients from; the local runtime runs code in threads.
    # A session keeps the credentials it first resolved: without explicit ones, the environment's key is part of
    # the cache key, so a changed environment (a test, a refreshed role) gets a session of its own.
    sessions: dict[object, boto3.session.Session] | None = getattr(_session_local, "sessions", None)
    if sessions is None:
        sessions = _session_local.sessions = {}
    key: object = credentials or ("env", os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SESSION_TOKEN"))
    session = sessions.get(key)
    if session is None:
        if credentials is None:  # the environment's (in Lambda: the function role's)
            session = boto3.session.Session()
        else:
            session = boto3.session.Session(
                aws_access_key_id=credentials.access_key_id,
                aws_secret_access_key=credentials.secret_access_key,
                aws_session_token=credentials.session_token,
            )
        sessions[key] = session
    return session


def session_for(settings: Settings) -> boto3.session.Session:
    """A session with the settings' credentials (or the environment's): for libraries that make their own
    clients from a session (awswrangler)."""
    return _session(settings.credentials)


class Clients:
    """Lazily created, cached clients for one :class:`Settings`. Cheap to build; create clients on first use
    so a handler pays only for the services it calls.

    Each property is typed with its service's stubs (``types-boto3``, a development dependency imported only
    under ``TYPE_CHECKING``), so mypy checks every call an adapter makes: operation names, parameter names and
    types, and the shape of the answers."""

    def __init__(self, settings: Settings, session: boto3.session.Session | None = None) -> None:
        self.settings = settings
        self._session = session
        self._cache: dict[str, Any] = {}

    def _endpoint_for(self, service: str) -> str | None:
        s = self.settings
        if service == "lambda" and s.lambda_endpoint_url:
            return s.lambda_endpoint_url
        if service == "timestream-write" and s.timestream_write_endpoint_url:
            return s.timestream_write_endpoint_url
        if service == "timestream-query" and s.timestream_query_endpoint_url:
            return s.timestream_query_endpoint_url
        return s.endpoint_url

    def client(self, service: str) -> Any:
        """The client of ``service`` (untyped: prefer the typed properties)."""
        cached = self._cache.get(service)
        if cached is not None:
            return cached
        with _lock:
            session = self._session or _session(self.settings.credentials)
            # the service name is a value here, which no stub overload matches; the properties type the result
            created = cast(Any, session).client(
                service,
                region_name=self.settings.region,
                endpoint_url=self._endpoint_for(service),
                config=CLIENT_CONFIG,
            )
        self._cache[service] = created
        return created

    @property
    def s3(self) -> S3Client:
        return cast("S3Client", self.client("s3"))

    @property
    def kinesis(self) -> KinesisClient:
        return cast("KinesisClient", self.client("kinesis"))

    @property
    def dynamodb(self) -> DynamoDBClient:
        return cast("DynamoDBClient", self.client("dynamodb"))

    @property
    def lambda_(self) -> LambdaClient:
        return cast("LambdaClient", self.client("lambda"))

    @property
    def events(self) -> EventBridgeClient:
        return cast("EventBridgeClient", self.client("events"))

    @property
    def sns(self) -> SNSClient:
        return cast("SNSClient", self.client("sns"))

    @property
    def sqs(self) -> SQSClient:
        return cast("SQSClient", self.client("sqs"))

    @property
    def kms(self) -> KMSClient:
        return cast("KMSClient", self.client("kms"))

    @property
    def scheduler(self) -> EventBridgeSchedulerClient:
        return cast("EventBridgeSchedulerClient", self.client("scheduler"))

    @property
    def timestream_write(self) -> TimestreamWriteClient:
        return cast("TimestreamWriteClient", self.client("timestream-write"))

    @property
    def timestream_query(self) -> TimestreamQueryClient:
        return cast("TimestreamQueryClient", self.client("timestream-query"))

    @property
    def cloudwatch(self) -> CloudWatchClient:
        return cast("CloudWatchClient", self.client("cloudwatch"))

    @property
    def ssm(self) -> SSMClient:
        return cast("SSMClient", self.client("ssm"))

    @property
    def iam(self) -> IAMClient:
        return cast("IAMClient", self.client("iam"))

    @property
    def sts(self) -> STSClient:
        return cast("STSClient", self.client("sts"))
