"""IAM least privilege, checked on every policy of the synthesised template (independently of cdk-nag): each
function has a role of its own, no statement grants a `*` action or a `svc:*` wildcard action, and a `*`
resource appears only for actions AWS offers no resource-level permissions for."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

# one worker synthesises once for the whole module set (pytest -n with --dist loadgroup)
pytestmark = pytest.mark.xdist_group("infra-synth")

# Actions IAM authorises only on "*" (Service Authorization Reference: no resource types).
NO_RESOURCE_LEVEL = {
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "timestream:DescribeEndpoints",
    "timestream:ListDatabases",
    "scheduler:ListSchedules",
}


def statements(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(logical id of the policy or role, statement) for every identity policy in the template."""
    for logical_id, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        documents = []
        if resource["Type"] in {"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"}:
            documents.append(props["PolicyDocument"])
        if resource["Type"] == "AWS::IAM::Role":
            documents.extend(p["PolicyDocument"] for p in props.get("Policies", []))
        for document in documents:
            for statement in document["Statement"]:
                yield logical_id, statement


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@pytest.fixture(params=["default", "alternative"])
def any_synth(request, synth, alt):
    return synth if request.param == "default" else alt


def test_the_walk_sees_every_policy(any_synth):
    seen = {logical_id for logical_id, _ in statements(any_synth.template)}
    policies = any_synth.resources("AWS::IAM::Policy") | any_synth.resources("AWS::IAM::ManagedPolicy")
    assert set(policies) <= seen
    assert len(policies) >= 7  # one per function, the scheduler's, the preflight's or the SDK's


def test_no_wildcard_actions(any_synth):
    for logical_id, statement in statements(any_synth.template):
        assert statement["Effect"] == "Allow", (logical_id, statement)
        assert "NotAction" not in statement, logical_id
        assert "NotResource" not in statement, logical_id
        for action in _listed(statement["Action"]):
            _service, _, name = action.partition(":")
            assert action != "*", logical_id
            assert name, (logical_id, action)
            assert "*" not in name, (logical_id, action)


def test_star_resources_only_where_no_resource_level_permissions_exist(any_synth):
    for logical_id, statement in statements(any_synth.template):
        resources = _listed(statement["Resource"])
        if "*" in resources:
            actions = set(_listed(statement["Action"]))
            assert actions <= NO_RESOURCE_LEVEL, (logical_id, actions - NO_RESOURCE_LEVEL)
            assert resources == ["*"], logical_id


def test_wildcards_inside_resources_are_scoped_prefixes(any_synth):
    """A `*` inside an ARN must follow a fixed prefix: an object prefix, a table's indexes, a name prefix."""
    allowed_suffixes = (
        "/artifacts/*",
        "/events/*",
        "/state/recent-requests/*",
        "/index/*",
        "-app-*",
        "/*/*/*",
        "/*",
        ":*",
    )
    for logical_id, statement in statements(any_synth.template):
        for resource in _listed(statement["Resource"]):
            rendered = str(resource)
            if resource == "*" or "*" not in rendered:
                continue
            assert any(rendered.rstrip("']}\"").endswith(s) for s in allowed_suffixes), (logical_id, rendered)


def test_each_function_has_its_own_role_with_no_managed_policies(any_synth):
    functions = any_synth.resources("AWS::Lambda::Function")
    roles = [f["Properties"]["Role"]["Fn::GetAtt"][0] for f in functions.values()]
    assert len(roles) == len(set(roles)), "two functions share a role"
    for role in roles:
        props = any_synth.template["Resources"][role]["Properties"]
        assert not props.get("ManagedPolicyArns"), role
        trust = props["AssumeRolePolicyDocument"]["Statement"]
        assert trust == [
            {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}}
        ]
    # and no role is used twice anywhere else (the scheduler's is its own too)
    all_roles = set(any_synth.resources("AWS::IAM::Role"))
    assert set(roles) < all_roles


def test_function_log_permissions_name_their_own_log_group(synth):
    functions = synth.resources("AWS::Lambda::Function")
    by_role = {f["Properties"]["Role"]["Fn::GetAtt"][0]: f for f in functions.values()}
    for logical_id, statement in statements(synth.template):
        actions = set(_listed(statement["Action"]))
        if not actions & {"logs:PutLogEvents", "logs:CreateLogStream"}:
            continue
        policy = synth.template["Resources"][logical_id]["Properties"]
        (role,) = [r["Ref"] for r in policy["Roles"]]
        function = by_role[role]
        log_group = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert statement["Resource"] == {"Fn::GetAtt": [log_group, "Arn"]}, logical_id


def test_pass_role_is_limited_to_the_scheduler(synth):
    found = [(lid, s) for lid, s in statements(synth.template) if "iam:PassRole" in _listed(s["Action"])]
    assert found, "the SDK policy must let users pass the scheduler role"
    for logical_id, statement in found:
        assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}}
        assert "*" not in str(statement["Resource"]), logical_id


def test_controller_invokes_only_app_functions_and_itself_and_apps_only_the_writer(synth):
    invokes = {}
    for logical_id, statement in statements(synth.template):
        if "lambda:InvokeFunction" in _listed(statement["Action"]):
            invokes.setdefault(logical_id, []).extend(str(r) for r in _listed(statement["Resource"]))
    rendered = {k: " ".join(v) for k, v in invokes.items()}
    controller = next(v for k, v in rendered.items() if k.startswith("MonitoringControllerRole"))
    assert ":function:driftline-app" in controller
    assert ":function:driftline-app-*" in controller
    assert ":function:driftline-controller'" in controller  # itself, once per shard of a tick
    assert "writer" not in controller
    assert "stream" not in controller
    app = next(v for k, v in rendered.items() if k.startswith("MonitoringAppRole"))
    assert app.endswith(":function:driftline-writer']]}")
    scheduler = next(v for k, v in rendered.items() if k.startswith("ScheduleRole"))
    assert scheduler.endswith(":function:driftline-controller']]}")


LOGS = {"logs:CreateLogStream", "logs:PutLogEvents"}
XRAY = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
# the on-failure destination of asynchronous invocations (CDK's grantSendMessages on the dead-letter queue)
DLQ = {"sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"}
# publishing to the alerts topic, which a customer managed key encrypts
TOPIC_KEY = {"kms:GenerateDataKey", "kms:Decrypt"}
# What each function may do, and nothing more (docs/architecture.md: who reads and writes what).
EXPECTED_ACTIONS = {
    "driftline-serving": LOGS  # no X-Ray: serving_tracing is off by default
    | {"s3:GetObject", "dynamodb:GetItem", "dynamodb:Query", "kinesis:PutRecord", "kinesis:PutRecords"}
    | {"s3:PutObject"}  # ground truth, ingest receipts
    | {"s3:ListBucket"},  # a receipt not written yet is a 404, not a 403 (prefix state/ingested/ only)
    "driftline-stream": LOGS
    | {"s3:PutObject", "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:ConditionCheckItem", "sqs:SendMessage"}
    | {"dynamodb:BatchGetItem"}  # a batch's meta items, 100 a call, before the live-figure transactions
    | {"s3:GetObject", "s3:ListBucket"}  # its memory of recent request ids (duplicate puts)
    # the event source mapping reads the stream with the function's role
    | {"kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:GetRecords", "kinesis:GetShardIterator"}
    | {"kinesis:ListShards", "kinesis:SubscribeToShard", "kinesis:ListStreams", "kinesis:DescribeStreamConsumer"}
    | {"sqs:GetQueueAttributes", "sqs:GetQueueUrl"},
    "driftline-controller": LOGS
    | XRAY
    | {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan", "dynamodb:PutItem", "dynamodb:UpdateItem"}
    | {"dynamodb:BatchGetItem"}  # a shard's checkpoints, 100 pairs a call
    | {"lambda:InvokeFunction"}  # the apps, and itself once per shard of a tick
    | {"events:PutEvents", "sns:Publish"}  # lag and app-failed alerts
    | {"sqs:ReceiveMessage", "sqs:DeleteMessage"}  # app failures drained from the async-failures queue
    | TOPIC_KEY
    | DLQ,
    "driftline-app": LOGS
    | XRAY
    | {
        "s3:GetObject",
        "s3:ListBucket",
        "dynamodb:GetItem",
        "dynamodb:Query",
        "lambda:InvokeFunction",
    }
    | DLQ,
    "driftline-writer": LOGS
    | XRAY
    | {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"}
    | {"events:PutEvents", "sns:Publish", "timestream:WriteRecords", "timestream:DescribeEndpoints"}
    | {"ssm:GetParameter"}  # secret headers of alert webhooks
    | TOPIC_KEY
    | DLQ,
}


def test_each_function_may_do_exactly_what_its_part_needs(synth):
    functions = synth.resources("AWS::Lambda::Function")
    role_of = {f["Properties"]["FunctionName"]: f["Properties"]["Role"]["Fn::GetAtt"][0] for f in functions.values()}
    granted: dict[str, set[str]] = {}
    for logical_id, statement in statements(synth.template):
        policy = synth.template["Resources"][logical_id]
        if policy["Type"] != "AWS::IAM::Policy":
            continue
        for role in policy["Properties"]["Roles"]:
            granted.setdefault(role["Ref"], set()).update(_listed(statement["Action"]))
    for name, expected in EXPECTED_ACTIONS.items():
        actual = granted[role_of[name]]
        extra = actual - expected
        assert not extra, (name, sorted(extra))
        missing = {a for a in expected - actual if not a.startswith(("kinesis:", "sqs:Get"))}
        assert not missing, (name, sorted(missing))


def test_no_secrets_in_function_environments(synth):
    """Configuration only: resource names and ARNs. Credentials come from the execution role, never the env."""
    import re

    suspicious_key = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN|ACCESS_KEY|PRIVATE", re.IGNORECASE)
    aws_key_id = re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b")
    functions = synth.resources("AWS::Lambda::Function")
    assert functions
    for logical_id, function in functions.items():
        variables = function["Properties"].get("Environment", {}).get("Variables", {})
        for key, value in variables.items():
            assert not suspicious_key.search(key), (logical_id, key)
            assert not (isinstance(value, str) and aws_key_id.search(value)), (logical_id, key)


def test_the_stream_memory_prefix_is_the_one_the_code_writes(synth):
    from driftline.aws.recent_requests import PREFIX, state_key
    from driftline.layout import RECENT_REQUESTS_PREFIX

    assert PREFIX == RECENT_REQUESTS_PREFIX
    assert state_key("shardId-0").startswith(RECENT_REQUESTS_PREFIX)
    listing = [s for _, s in statements(synth.template) if "s3:ListBucket" in _listed(s["Action"]) and "Condition" in s]
    prefixes = [_listed(s["Condition"]["StringLike"]["s3:prefix"]) for s in listing]
    assert [f"{RECENT_REQUESTS_PREFIX}*"] in prefixes


def test_the_ingest_receipts_prefix_is_the_one_the_code_writes_and_the_only_one_serving_lists(synth):
    from driftline.ingest import receipt_key
    from driftline.layout import INGEST_RECEIPTS_PREFIX

    assert receipt_key("e1", "d" * 64).startswith(INGEST_RECEIPTS_PREFIX)
    listing = [s for _, s in statements(synth.template) if "s3:ListBucket" in _listed(s["Action"]) and "Condition" in s]
    prefixes = [_listed(s["Condition"]["StringLike"]["s3:prefix"]) for s in listing]
    assert [f"{INGEST_RECEIPTS_PREFIX}*"] in prefixes


# What the controller's code calls on the registry table: (Registry method, the DynamoDB operation it makes, the
# IAM action). A targeted list for this one role; each pair is checked against the code below.
CONTROLLER_REGISTRY_CALLS = (
    ("get_project", "get_item", "dynamodb:GetItem"),  # a schedule's project
    ("list_projects", '"scan"', "dynamodb:Scan"),  # a Scheduled Event: every project with monitoring on
    ("list_apps", "query_all", "dynamodb:Query"),  # the project's deployed apps
    ("record_app_failure", "update_item", "dynamodb:UpdateItem"),  # an app's last failure (failures.py)
    ("failure_alert_pending", "get_item", "dynamodb:GetItem"),  # a repeated failure record: alert still due?
    ("clear_failure_alert", "update_item", "dynamodb:UpdateItem"),  # its mm-app-failed went out
)


def test_the_registry_calls_listed_are_the_controllers():
    import inspect

    import driftline.controller.failures as failures
    import driftline.controller.run as run
    from driftline.aws.registry import Registry

    source = inspect.getsource(run) + inspect.getsource(failures)
    for method, operation, _ in CONTROLLER_REGISTRY_CALLS:
        assert f"registry.{method}(" in source, method
        body = inspect.getsource(getattr(Registry, method))
        helpers = {"_get": "get_item", "_query": "query_all"}
        called = body + "".join(inspect.getsource(getattr(Registry, h)) for h in helpers if f"self.{h}(" in body)
        assert operation in called, (method, operation)
    called_methods = set(re.findall(r"registry\.(\w+)\(", source))
    assert called_methods == {m for m, _, _ in CONTROLLER_REGISTRY_CALLS}, called_methods


def test_the_controller_may_make_every_registry_call_its_code_makes(synth):
    registry = next(k for k, r in synth.resources("AWS::DynamoDB::Table").items() if "Registry" in k)
    registry_arn = {"Fn::GetAtt": [registry, "Arn"]}
    controller = next(k for k in synth.resources("AWS::IAM::Policy") if k.startswith("MonitoringControllerRole"))
    on_registry: set[str] = set()
    for logical_id, statement in statements(synth.template):
        if logical_id == controller and registry_arn in _listed(statement["Resource"]):
            on_registry.update(_listed(statement["Action"]))
    # exactly what the code calls (its only write: an app's last failure), no call left out
    assert on_registry == {action for _, _, action in CONTROLLER_REGISTRY_CALLS}
