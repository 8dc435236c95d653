"""IAM, enforced on the local stack: every call is authorised against the caller's policies as AWS would.

moto can authenticate calls signed with an IAM principal's keys (``INITIAL_NO_AUTH_ACTION_COUNT``), but its
evaluator only matches actions for most services (the resource it checks is ``*``) and fails conditions it
cannot read. This module replaces that evaluation with one that knows, for every call the stack makes, which
actions and which resource ARNs AWS authorises (``requested``: a ``TransactWriteItems`` is an ``UpdateItem`` /
``ConditionCheckItem`` / ... on each item's table, an ``sns:Publish`` to a topic under a customer-managed key also
needs ``kms:GenerateDataKey*`` and ``kms:Decrypt`` on that key, a ``CreateSchedule`` needs ``iam:PassRole`` on
the target role...), then evaluates the policies: wildcards in actions and ARNs, the condition operators the
stack uses, explicit deny over allow. A call the evaluator cannot place on a resource is allowed only by a
statement on ``*``: unknown is never allowed by accident.

The keys identify the principal (moto's IAM users and assumed-role sessions); the request signature itself is
not verified (moto's canonical request differs from botocore's for some REST services).

Every decision goes to a :class:`Ledger`: per principal, the actions it was allowed and every denial, which the
local stack reports (``/_local/status``) and the tests assert on.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import urllib.parse
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from driftline import layout
from driftline.config import Credentials, Settings
from driftline.deploy.access import Resource, Statement, render_policy

if TYPE_CHECKING:
    from types_boto3_iam.client import IAMClient
    from types_boto3_sts.client import STSClient

ACCOUNT_ID = "123456789012"  # moto's default account
PARTITION = "aws"
ANY_RESOURCE = "*"
UNPLACED = "<unplaced>"  # a call whose resource is unknown: only a statement on "*" allows it

# The service name in a request's credential scope -> the IAM action prefix, where they differ.
SIGNING_TO_IAM = {"monitoring": "cloudwatch", "execute-api": "execute-api"}


@dataclass(frozen=True)
class Authorization:
    """One thing IAM checks: an action on a resource, with the request's condition keys."""

    action: str
    resource: str
    context: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------------- rendering
@dataclass(frozen=True)
class LocalArns:
    """Renders :mod:`driftline.deploy.access` resources into the ARNs of a local installation."""

    settings: Settings
    account: str = ACCOUNT_ID
    topic_key_arn: str = ""
    scheduler_role_arn: str = ""
    api_id: str = "local"
    log_group_arn: str = ""

    def _arn(self, service: str, resource: str, region: bool = True) -> str:
        return f"arn:{PARTITION}:{service}:{self.settings.region if region else ''}:{self.account}:{resource}"

    def __call__(self, resource: Resource) -> str:
        kind = resource.kind
        if kind == "any":
            return ANY_RESOURCE
        if kind in {"bucket", "objects", "table", "timestream-table"}:
            return self._storage(resource)
        if kind in {"stream", "queue", "topic", "topic-key", "bus", "default-bus", "webhook-secrets"}:
            return self._messaging(resource)
        if kind in {"function", "schedules", "role", "parameters", "api", "log-group"}:
            return self._compute(resource)
        raise ValueError(f"no local ARN for resource kind {kind!r}")

    def _storage(self, resource: Resource) -> str:
        s, kind = self.settings, resource.kind
        if kind == "bucket":
            return f"arn:{PARTITION}:s3:::{s.bucket}"
        if kind == "objects":
            return f"arn:{PARTITION}:s3:::{s.bucket}/{resource.name}*"
        if kind == "table":
            arn = self._arn("dynamodb", f"table/{s.table(resource.name)}")
            return f"{arn}/index/{resource.index}" if resource.index else arn
        return self._arn("timestream", f"database/{s.timestream_database}/table/{resource.name}")

    def _messaging(self, resource: Resource) -> str:
        s, kind = self.settings, resource.kind
        if kind == "stream":
            return self._arn("kinesis", f"stream/{s.stream_name}")
        if kind == "queue":
            url = s.queue_url(resource.name)
            return self._arn("sqs", url.rstrip("/").rsplit("/", 1)[-1])
        if kind == "topic":
            return s.alerts_topic_arn
        if kind == "topic-key":
            return self.topic_key_arn or self._arn("kms", "key/none")
        if kind == "default-bus":
            return self._arn("events", "event-bus/default")
        if kind == "webhook-secrets":  # the stack name is not in Settings
            return self._arn("ssm", f"parameter{layout.PARAMETER_ROOT}*/webhooks/*")
        return self._arn("events", f"event-bus/{s.event_bus_name}")

    def _compute(self, resource: Resource) -> str:
        s, kind = self.settings, resource.kind
        if kind == "function":
            names = {"controller": s.controller_function, "writer": s.writer_function, "app": s.app_function}
            if resource.name.endswith("-*"):
                return self._arn("lambda", f"function:{names[resource.name[:-2]]}-*")
            return self._arn("lambda", f"function:{names[resource.name]}")
        if kind == "schedules":
            return self._arn("scheduler", f"schedule/{s.schedule_group}/*")
        if kind == "role":
            return self.scheduler_role_arn
        if kind == "parameters":
            return self._arn("ssm", f"parameter{layout.PARAMETER_ROOT}*")
        if kind == "api":
            return self._arn("execute-api", f"{self.api_id}/*/*/*")
        return self.log_group_arn or self._arn("logs", "log-group:/aws/lambda/*")


def policy_document(statements: Sequence[Statement], arns: LocalArns) -> dict[str, Any]:
    return render_policy(statements, arns)


# --------------------------------------------------------------------------------------------------- evaluation
_pattern_cache: dict[tuple[str, bool], re.Pattern[str]] = {}


def _matches(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    key = (pattern, ignore_case)
    compiled = _pattern_cache.get(key)
    if compiled is None:
        # IAM wildcards: * any run of characters, ? exactly one; everything else literal (fnmatch would also
        # read [...] as a character class, which IAM does not)
        body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
        compiled = re.compile(f"^{body}$", re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)
        _pattern_cache[key] = compiled
    return compiled.match(value) is not None


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _condition_holds(operator: str, key_values: Mapping[str, Any], context: Mapping[str, tuple[str, ...]]) -> bool:
    if_exists = operator.endswith("IfExists")
    op = operator.removesuffix("IfExists")
    qualifier, _, op = op.rpartition(":")  # ForAnyValue: / ForAllValues:
    negated = op.startswith(("StringNot", "ArnNot")) or op in {"NumericNotEquals"}
    for key, expected in key_values.items():
        expected_values = [str(v) for v in _listed(expected)]
        present = context.get(key)
        if op == "Null":
            want_absent = expected_values[0].lower() == "true"
            if (present is None) != want_absent:
                return False
            continue
        if present is None:
            if if_exists or negated:
                continue  # AWS: a missing key satisfies IfExists and the negated operators
            return False
        if op in {"StringEquals", "StringNotEquals", "ArnEquals", "ArnNotEquals"}:
            hit = [any(v == e for e in expected_values) for v in present]
        elif op in {"StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase"}:
            hit = [any(v.lower() == e.lower() for e in expected_values) for v in present]
        elif op in {"StringLike", "StringNotLike", "ArnLike", "ArnNotLike"}:
            hit = [any(_matches(e, v) for e in expected_values) for v in present]
        elif op == "Bool":
            hit = [any(v.lower() == e.lower() for e in expected_values) for v in present]
        else:
            raise ValueError(
                f"local IAM: condition operator {operator!r} is not supported; add it to driftline.local.iam"
            )
        if negated:
            hit = [not h for h in hit]
        # single-valued keys and ForAnyValue: one matching value is enough
        if not (all(hit) if qualifier == "ForAllValues" else any(hit)):
            return False
    return True


def _statement_applies(statement: Mapping[str, Any], auth: Authorization) -> bool:
    if "Action" in statement:
        if not any(_matches(p, auth.action, ignore_case=True) for p in _listed(statement["Action"])):
            return False
    elif "NotAction" in statement:
        if any(_matches(p, auth.action, ignore_case=True) for p in _listed(statement["NotAction"])):
            return False
    else:
        return False
    if "Resource" in statement:
        patterns = [str(p) for p in _listed(statement["Resource"])]
        if auth.resource == UNPLACED:
            if "*" not in patterns:
                return False
        elif not any(_matches(p, auth.resource) for p in patterns):
            return False
    elif "NotResource" in statement and (
        auth.resource == UNPLACED or any(_matches(str(p), auth.resource) for p in _listed(statement["NotResource"]))
    ):
        return False
    for operator, key_values in (statement.get("Condition") or {}).items():
        if not _condition_holds(operator, key_values, auth.context):
            return False
    return True


def decide(documents: Sequence[Mapping[str, Any]], auth: Authorization) -> bool:
    """AWS's identity-policy logic: an explicit Deny wins, else any Allow, else the implicit deny."""
    allowed = False
    for document in documents:
        for statement in _listed(document.get("Statement", [])):
            if not _statement_applies(statement, auth):
                continue
            if statement.get("Effect") == "Deny":
                return False
            if statement.get("Effect") == "Allow":
                allowed = True
    return allowed


# -------------------------------------------------------------------------------------- what a request needs
_TRANSACT_ACTIONS = {
    "ConditionCheck": "ConditionCheckItem",
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
}


@dataclass(frozen=True)
class Call:
    """What the evaluator knows of one request."""

    service: str  # IAM prefix (dynamodb, s3, ...)
    operation: str  # the API operation (GetItem, PutObject, ...)
    region: str
    account: str
    path: str = "/"
    query: Mapping[str, list[str]] = field(default_factory=dict)
    body: Mapping[str, Any] = field(default_factory=dict)  # JSON protocols
    form: Mapping[str, Any] = field(default_factory=dict)  # query protocols
    resource: str = ANY_RESOURCE  # what moto determined (S3 objects and buckets, SQS queues, IAM, STS)

    def arn(self, service: str, resource: str) -> str:
        return f"arn:{PARTITION}:{service}:{self.region}:{self.account}:{resource}"

    def first(self, name: str) -> str | None:
        for source in (self.body, self.form, self.query):
            value = source.get(name)
            if isinstance(value, list):
                value = value[0] if value else None
            if value:
                return str(value)
        return None


def _table_arn(call: Call, name: str) -> str:
    return name if name.startswith("arn:") else call.arn("dynamodb", f"table/{name}")


def _dynamodb(call: Call, topic_keys: Any) -> list[Authorization]:
    op = call.operation
    if op == "TransactWriteItems":
        out = []
        for item in call.body.get("TransactItems", []):
            for kind, spec in item.items():
                out.append(Authorization(f"dynamodb:{_TRANSACT_ACTIONS[kind]}", _table_arn(call, spec["TableName"])))
        return out
    if op == "TransactGetItems":
        return [
            Authorization("dynamodb:GetItem", _table_arn(call, item["Get"]["TableName"]))
            for item in call.body.get("TransactItems", [])
        ]
    if op in {"BatchGetItem", "BatchWriteItem"}:
        return [Authorization(f"dynamodb:{op}", _table_arn(call, name)) for name in call.body.get("RequestItems", {})]
    name = call.first("TableName")
    if name is None:
        return [Authorization(f"dynamodb:{op}", ANY_RESOURCE if op.startswith("List") else UNPLACED)]
    arn = _table_arn(call, name)
    index = call.first("IndexName")
    return [Authorization(f"dynamodb:{op}", f"{arn}/index/{index}" if index else arn)]


def _kinesis(call: Call, topic_keys: Any) -> list[Authorization]:
    if call.operation == "ListStreams":
        return [Authorization("kinesis:ListStreams", ANY_RESOURCE)]
    arn = call.first("StreamARN")
    if arn is None and (name := call.first("StreamName")):
        arn = call.arn("kinesis", f"stream/{name}")
    if arn is None and (iterator := call.first("ShardIterator")):
        arn = _stream_of_iterator(call, iterator)
    return [Authorization(f"kinesis:{call.operation}", arn or UNPLACED)]


def _stream_of_iterator(call: Call, iterator: str) -> str | None:
    # moto's iterators encode "stream:shard:sequence" (AWS resolves the stream from the iterator too)
    try:
        from moto.kinesis.utils import decompose_shard_iterator

        name = decompose_shard_iterator(iterator)[0]
    except Exception:
        return None
    return call.arn("kinesis", f"stream/{name}") if name else None


def _s3(call: Call, topic_keys: Any) -> list[Authorization]:
    context: dict[str, tuple[str, ...]] = {}
    if call.operation == "ListBucket":
        context["s3:prefix"] = tuple(call.query.get("prefix", [""]))
    out = [Authorization(f"s3:{call.operation}", call.resource, context)]
    if call.operation == "GetObject":
        # S3 answers 404 for a missing key only to a caller that may list the bucket, 403 to anyone else
        bucket, _, key = call.resource.removeprefix(f"arn:{PARTITION}:s3:::").partition("/")
        if key and not _s3_object_exists(call, bucket, key):
            out.append(Authorization("s3:ListBucket", f"arn:{PARTITION}:s3:::{bucket}", {"s3:prefix": (key,)}))
    return out


def _s3_object_exists(call: Call, bucket: str, key: str) -> bool:
    from moto.s3.models import s3_backends

    try:
        return s3_backends[call.account][PARTITION].get_object(bucket, urllib.parse.unquote(key)) is not None
    except Exception:
        return False


def _sns(call: Call, topic_keys: Any) -> list[Authorization]:
    arn = call.first("TopicArn") or call.first("TargetArn")
    if arn is None and call.operation == "CreateTopic" and (name := call.first("Name")):
        arn = call.arn("sns", name)
    out = [
        Authorization(f"sns:{call.operation}", arn or (ANY_RESOURCE if call.operation.startswith("List") else UNPLACED))
    ]
    if call.operation == "Publish" and arn:
        key = topic_keys(call, arn)
        if key:
            out += [Authorization("kms:GenerateDataKey", key), Authorization("kms:Decrypt", key)]
    return out


def _events(call: Call, topic_keys: Any) -> list[Authorization]:
    if call.operation == "PutEvents":
        buses = {str(e.get("EventBusName") or "default") for e in call.body.get("Entries", [])}
        return [
            Authorization("events:PutEvents", b if b.startswith("arn:") else call.arn("events", f"event-bus/{b}"))
            for b in sorted(buses)
        ]
    name = call.first("Name") or call.first("EventBusName")
    arn = call.arn("events", f"event-bus/{name}") if name and "EventBus" in call.operation else None
    return [Authorization(f"events:{call.operation}", arn or UNPLACED)]


def _timestream(call: Call, topic_keys: Any) -> list[Authorization]:
    op = call.operation
    if op in {"DescribeEndpoints", "ListDatabases"}:
        return [Authorization(f"timestream:{op}", ANY_RESOURCE)]
    database, table = call.first("DatabaseName"), call.first("TableName")
    if database and table:
        return [Authorization(f"timestream:{op}", call.arn("timestream", f"database/{database}/table/{table}"))]
    if database:
        return [Authorization(f"timestream:{op}", call.arn("timestream", f"database/{database}"))]
    return [Authorization(f"timestream:{op}", UNPLACED)]


def _scheduler(call: Call, topic_keys: Any) -> list[Authorization]:
    op = call.operation
    if op in {"ListSchedules", "ListScheduleGroups"}:
        return [Authorization(f"scheduler:{op}", ANY_RESOURCE)]
    parts = [urllib.parse.unquote(p) for p in call.path.split("?", 1)[0].strip("/").split("/")]
    if len(parts) == 2 and parts[0] == "schedules":
        group = call.first("GroupName") or call.first("groupName") or "default"
        out = [Authorization(f"scheduler:{op}", call.arn("scheduler", f"schedule/{group}/{parts[1]}"))]
        role_arn = (call.body.get("Target") or {}).get("RoleArn")
        if op in {"CreateSchedule", "UpdateSchedule"} and role_arn:
            out.append(
                Authorization("iam:PassRole", str(role_arn), {"iam:PassedToService": ("scheduler.amazonaws.com",)})
            )
        return out
    if len(parts) == 2 and parts[0] == "schedule-groups":
        return [Authorization(f"scheduler:{op}", call.arn("scheduler", f"schedule-group/{parts[1]}"))]
    return [Authorization(f"scheduler:{op}", UNPLACED)]


def _ssm(call: Call, topic_keys: Any) -> list[Authorization]:
    names = call.body.get("Names") or ([call.first("Name")] if call.first("Name") else [])
    if not names:
        return [Authorization(f"ssm:{call.operation}", UNPLACED)]
    return [Authorization(f"ssm:{call.operation}", call.arn("ssm", f"parameter/{str(n).lstrip('/')}")) for n in names]


def _given(call: Call, topic_keys: Any) -> list[Authorization]:
    # sqs, iam, sts: moto determines the resource itself
    resource = call.resource if call.resource != ANY_RESOURCE else UNPLACED
    return [Authorization(f"{call.service}:{call.operation}", resource)]


def _account_wide(call: Call, topic_keys: Any) -> list[Authorization]:
    return [Authorization(f"{call.service}:{call.operation}", ANY_RESOURCE)]


_BY_SERVICE = {
    "dynamodb": _dynamodb,
    "kinesis": _kinesis,
    "s3": _s3,
    "sns": _sns,
    "events": _events,
    "timestream": _timestream,
    "scheduler": _scheduler,
    "ssm": _ssm,
    "sqs": _given,
    "iam": _given,
    "sts": _given,
    "cloudwatch": _account_wide,
    "kms": _account_wide,
    "logs": _account_wide,
}


def requested(call: Call, topic_keys: Any = None) -> list[Authorization]:
    """Everything IAM authorises for ``call`` (an unknown service: one unplaced authorisation)."""
    handler = _BY_SERVICE.get(call.service)
    if handler is None:
        return [Authorization(f"{call.service}:{call.operation}", UNPLACED)]
    return handler(call, topic_keys or (lambda _call, _arn: None))


# ------------------------------------------------------------------------------------------------------ ledger
@dataclass
class Denial:
    principal: str
    action: str
    resource: str

    def __str__(self) -> str:
        return f"{self.principal} may not {self.action} on {self.resource}"


class Ledger:
    """Per principal: the actions it was allowed (with counts) and every denial."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.allowed: dict[str, Counter[str]] = {}
        self.denied: list[Denial] = []
        self.distinct: dict[str, set[Authorization]] = {}  # every distinct authorisation a principal was given

    def record(self, principal: str, auth: Authorization, ok: bool) -> None:
        with self._lock:
            if ok:
                self.allowed.setdefault(principal, Counter())[auth.action] += 1
                self.distinct.setdefault(principal, set()).add(
                    Authorization(auth.action, auth.resource, _frozen(auth.context))
                )
            else:
                self.denied.append(Denial(principal, auth.action, auth.resource))

    def unused(self, principal: str, document: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The statements of ``document`` that no call of ``principal`` needed: removing any other one would have
        denied one of its calls."""
        with self._lock:
            calls = list(self.distinct.get(principal, ()))
        statements = _listed(document.get("Statement", []))
        needed = []
        for statement in statements:
            others = {"Statement": [s for s in statements if s is not statement]}
            if any(not decide([others], call) for call in calls):
                needed.append(statement)
        return [s for s in statements if s not in needed]

    def report(self) -> dict[str, Any]:
        with self._lock:
            return {
                "allowed": {p: dict(sorted(c.items())) for p, c in sorted(self.allowed.items())},
                "denied": [str(d) for d in self.denied],
            }

    def clear(self) -> None:
        with self._lock:
            self.allowed.clear()
            self.denied.clear()
            self.distinct.clear()


class _FrozenContext(dict[str, tuple[str, ...]]):
    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(sorted(self.items())))


def _frozen(context: Mapping[str, tuple[str, ...]]) -> Mapping[str, tuple[str, ...]]:
    return _FrozenContext({k: tuple(v) for k, v in context.items()})


# -------------------------------------------------------------------------------------------------- enforcing
class Enforcer:
    """Turns IAM on in moto (process-wide) with this module's evaluation, until :meth:`stop`.

    ``principals`` maps IAM role and user names to the labels the ledger uses (``serving``, ``sdk``...)."""

    def __init__(self, principals: Mapping[str, str] | None = None) -> None:
        self.principals = dict(principals or {})
        self.ledger = Ledger()
        self._saved: dict[str, Any] = {}
        self._active = False

    def label(self, principal_arn: str) -> str:
        # arn:aws:sts::acct:assumed-role/{role}/{session} or arn:aws:iam::acct:user/{name}
        resource = principal_arn.split(":", 5)[-1]
        parts = resource.split("/")
        name = parts[1] if len(parts) > 1 else resource
        return self.principals.get(name, name)

    def start(self) -> Enforcer:
        from moto import settings as moto_settings
        from moto.core.authorization import ActionAuthenticatorMixin
        from moto.iam import access_control

        if self._active:
            return self
        enforcer = self
        self._saved = {
            "count": moto_settings.INITIAL_NO_AUTH_ACTION_COUNT,
            "requests": ActionAuthenticatorMixin.request_count,
            "check": access_control.IAMRequestBase.check_action_permitted,
            "signature": access_control.IAMRequestBase.check_signature,
        }

        def check_action_permitted(request: Any, resource: str) -> None:
            enforcer._check_moto_request(request, resource)

        def check_signature(request: Any) -> None:
            return None

        base: Any = access_control.IAMRequestBase  # patched on the class: moto builds a request per call
        base.check_action_permitted = check_action_permitted
        base.check_signature = check_signature
        moto_settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
        ActionAuthenticatorMixin.request_count = 0
        self._active = True
        return self

    def stop(self) -> None:
        from moto import settings as moto_settings
        from moto.core.authorization import ActionAuthenticatorMixin
        from moto.iam import access_control

        if not self._active:
            return
        base: Any = access_control.IAMRequestBase
        base.check_action_permitted = self._saved["check"]
        base.check_signature = self._saved["signature"]
        moto_settings.INITIAL_NO_AUTH_ACTION_COUNT = self._saved["count"]
        ActionAuthenticatorMixin.request_count = self._saved["requests"]
        self._active = False

    @contextlib.contextmanager
    def active(self) -> Iterator[Enforcer]:
        self.start()
        try:
            yield self
        finally:
            self.stop()

    # moto's side ---------------------------------------------------------------------------------------------
    def _check_moto_request(self, request: Any, resource: str) -> None:
        signing_service, _, operation = str(request._action).partition(":")
        service = SIGNING_TO_IAM.get(signing_service, signing_service)
        path = str(request._path)
        body: Mapping[str, Any] = {}
        raw = request._body
        if raw and isinstance(raw, (bytes, str)):
            with contextlib.suppress(ValueError, UnicodeDecodeError):
                decoded = json.loads(raw)
                if isinstance(decoded, dict):
                    body = decoded
        form = request._data if isinstance(request._data, dict) and not body else {}
        call = Call(
            service=service,
            operation=operation,
            region=str(request._region),
            account=str(request.account_id),
            path=path,
            query=urllib.parse.parse_qs(urllib.parse.urlsplit(path).query),
            body=body,
            form=form,
            resource=resource,
        )
        documents = [_document(p) for p in request._access_key.collect_policies()]
        principal = self.label(request._access_key.arn)
        for auth in requested(call, _topic_key):
            ok = decide(documents, auth)
            self.ledger.record(principal, auth, ok)
            if not ok:
                _deny(request, service, auth, request._access_key.arn)

    # the local Lambda Invoke API and the local schedule ------------------------------------------------------
    def authorize(self, principal: str, documents: Sequence[Mapping[str, Any]], auth: Authorization) -> bool:
        ok = decide(documents, auth)
        self.ledger.record(principal, auth, ok)
        return ok

    def principal_of(self, headers: Mapping[str, str]) -> tuple[str, list[dict[str, Any]]] | None:
        """The principal and policies of a SigV4-signed request (its access key), or None if unsigned/unknown."""
        from moto.iam.access_control import CreateAccessKeyFailure, create_access_key

        authorization = headers.get("Authorization") or headers.get("authorization") or ""
        credential = authorization.partition("Credential=")[2].partition(",")[0]
        if not credential:
            return None
        key_id = credential.split("/")[0]
        # moto looks the session token up under its canonical spelling
        canonical = {
            "X-Amz-Security-Token" if k.lower() == "x-amz-security-token" else k: v for k, v in headers.items()
        }
        try:
            key = create_access_key(ACCOUNT_ID, PARTITION, key_id, canonical)
        except CreateAccessKeyFailure:
            return None
        return self.label(key.arn), [_document(p) for p in key.collect_policies()]

    def documents_of_role(self, role_name: str) -> list[dict[str, Any]]:
        from moto.iam.models import iam_backends

        backend = iam_backends[ACCOUNT_ID][PARTITION]
        documents = []
        for policy_name in backend.list_role_policies(role_name):
            _, document = backend.get_role_policy(role_name, policy_name)
            documents.append(_document(document))
        return documents


# How each service words a denial: its error code and HTTP status (JSON protocols answer 400
# AccessDeniedException, REST-JSON ones 403, SNS AuthorizationError, S3 and SQS moto's own AccessDenied).
_DENIALS = {
    "dynamodb": ("AccessDeniedException", 400),
    "kinesis": ("AccessDeniedException", 400),
    "events": ("AccessDeniedException", 400),
    "timestream": ("AccessDeniedException", 400),
    "ssm": ("AccessDeniedException", 400),
    "kms": ("AccessDeniedException", 400),
    "logs": ("AccessDeniedException", 400),
    "scheduler": ("AccessDeniedException", 403),
    "sns": ("AuthorizationError", 403),
}


def _deny(request: Any, service: str, auth: Authorization, principal_arn: str) -> None:
    """Refuse the call with the error the service itself would answer, so code handling it sees AWS's."""
    from moto.core.exceptions import JsonRESTError, _RESTError

    denial = _DENIALS.get(service)
    if denial is None:
        request._raise_access_denied()  # S3, SQS, IAM, STS: moto words them as AWS does
        return
    code, status = denial
    message = (
        f"User: {principal_arn} is not authorized to perform: {auth.action} on resource: {auth.resource} "
        f"because no identity-based policy allows the {auth.action} action"
    )
    error: _RESTError = _RESTError(code, message) if service == "sns" else JsonRESTError(code, message)
    error.code = status
    raise error


def _document(policy: Any) -> dict[str, Any]:
    from moto.iam.access_control import IAMPolicy

    return dict(IAMPolicy(policy)._policy_json)


def _topic_key(call: Call, topic_arn: str) -> str | None:
    from moto.kms.models import kms_backends
    from moto.sns.models import sns_backends

    try:
        topic = sns_backends[call.account][call.region].topics[topic_arn]
    except KeyError:
        return None
    key = getattr(topic, "kms_master_key_id", "")
    if not key:
        return None
    if key.startswith("alias/aws/"):
        return None  # an AWS managed key: the service's own grant, no identity permission needed
    kms = kms_backends[call.account][call.region]
    try:
        return str(kms.describe_key(key).arn)
    except Exception:
        return str(key)


# ------------------------------------------------------------------------------------------------- principals
@dataclass(frozen=True)
class Principal:
    label: str  # serving, stream, ..., scheduler, sdk, admin
    name: str  # the IAM role or user name
    arn: str
    credentials: Credentials


def create_admin(iam: IAMClient, name: str = "driftline-local-admin") -> Principal:
    """An IAM user allowed everything: the local stack's own setup and the tests' checks. Call before
    enforcement starts (or with an admin's client)."""
    iam.create_user(UserName=name)
    iam.put_user_policy(
        UserName=name,
        PolicyName="everything",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        ),
    )
    key = iam.create_access_key(UserName=name)["AccessKey"]
    arn = iam.get_user(UserName=name)["User"]["Arn"]
    return Principal("admin", name, arn, Credentials(key["AccessKeyId"], key["SecretAccessKey"]))


def create_role(
    iam: IAMClient, sts: STSClient, label: str, name: str, service: str, document: Mapping[str, Any]
) -> Principal:
    """A role trusted by ``service`` with ``document`` as its only policy, and a session of it (as Lambda, the
    scheduler or a user assuming it would hold)."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
    }
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="driftline", PolicyDocument=json.dumps(document))
    session = sts.assume_role(RoleArn=arn, RoleSessionName=label, DurationSeconds=43_200)["Credentials"]
    credentials = Credentials(session["AccessKeyId"], session["SecretAccessKey"], session["SessionToken"])
    return Principal(label, name, arn, credentials)
