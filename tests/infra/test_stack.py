"""Every resource of the stack, its wiring and key properties, on the shared synth (cdk.json's defaults) and on
the alternative synth (every knob turned)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from aws_cdk.assertions import Match

from driftline.config import ServingIdentity, Settings
from driftline.deploy.functions import SERVICES
from driftline.layout import TABLES, TIMESTREAM_TABLES, Names
from infra.components.api import ROUTES
from tests.infra.conftest import ALT_PROJECT, ALT_STACK

# one worker synthesises once for the whole module set (pytest -n with --dist loadgroup)
pytestmark = pytest.mark.xdist_group("infra-synth")

FUNCTIONS = ("serving", "stream", "controller", "app", "writer")


def _functions(synth) -> dict[str, dict[str, Any]]:
    """Function name -> properties."""
    return {r["Properties"]["FunctionName"]: r["Properties"] for r in synth.resources("AWS::Lambda::Function").values()}


def _logical_id(synth, kind: str, **properties: Any) -> str:
    found = [
        k for k, r in synth.resources(kind).items() if all(r["Properties"].get(p) == v for p, v in properties.items())
    ]
    assert len(found) == 1, (kind, properties, found)
    return found[0]


def _ref_or_getatt(value: Any) -> str:
    if "Ref" in value:
        return value["Ref"]
    return value["Fn::GetAtt"][0]


def test_every_function_exists_with_its_packaging(synth):
    functions = _functions(synth)
    assert set(functions) == {f"driftline-{f}" for f in FUNCTIONS} | {"driftline-preflight"}
    for name in ("serving", "stream", "app"):  # the scientific stack: container images
        props = functions[f"driftline-{name}"]
        assert props["PackageType"] == "Image"
        assert props["Architectures"] == ["x86_64"]
    for name in ("controller", "writer"):  # routing only: a zip with Powertools inside (tests/infra/test_packages.py)
        props = functions[f"driftline-{name}"]
        assert props["Runtime"] == "python3.12"
        assert props["Handler"] == "handler.handler"
        assert "Layers" not in props
    # no public SSM parameter (the Powertools layer's ARN) is resolved at deploy
    assert not any("/aws/service/" in str(p.get("Default")) for p in synth.template.get("Parameters", {}).values())


def test_functions_get_the_settings_they_read(synth):
    installation = {f"DRIFTLINE_{key.upper()}" for key in Settings.schema()}
    identity = set(ServingIdentity().to_env())
    functions = _functions(synth)
    for name in FUNCTIONS:
        env = functions[f"driftline-{name}"]["Environment"]["Variables"]
        driftline_keys = {k for k in env if k.startswith("DRIFTLINE_")}
        # every variable is a key of the installation's Settings, and only the serving function knows which
        # serving function it is
        own = identity if name == "serving" else set()
        assert driftline_keys - own <= installation, driftline_keys - own - installation
        assert driftline_keys & identity == own, name
        assert env["DRIFTLINE_STREAM_NAME"] == "driftline-events"
        assert env["DRIFTLINE_REGISTRY_TABLE"] == "driftline-registry"
        assert env["DRIFTLINE_TIMESTREAM_ENABLED"] == {"Fn::If": ["TimestreamInThisRegion", "true", "false"]}
        assert env["DRIFTLINE_SCHEDULE_GROUP"] == "driftline"
        assert env["DRIFTLINE_SCHEDULE_PREFIX"] == "driftline-controller"
        assert env["DRIFTLINE_APP_FUNCTION"] == "driftline-app"
        assert env["DRIFTLINE_WRITER_FUNCTION"] == "driftline-writer"
        assert env["DRIFTLINE_CONTROLLER_FUNCTION"] == "driftline-controller"
        for key in (
            "DRIFTLINE_BUCKET",
            "DRIFTLINE_ALERTS_TOPIC_ARN",
            "DRIFTLINE_ASYNC_FAILURES_QUEUE_URL",
            "DRIFTLINE_STREAM_FAILURES_QUEUE_URL",
        ):
            assert env[key], key
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == "driftline"
        assert env["POWERTOOLS_SERVICE_NAME"] == SERVICES[name]
    serving = functions["driftline-serving"]["Environment"]["Variables"]
    assert (serving["DRIFTLINE_PROJECT"], serving["DRIFTLINE_SERVING_FUNCTION"]) == ("default", "serving")


def test_the_stream_function_sends_poison_records_to_a_queue_its_role_may_send_to(synth):
    """Issue 9, item 2: its dead-letter URL named the async-failures queue while its role could send only to the
    stream-failures queue: in AWS the first poison record would have been AccessDenied, retried and lost."""
    queues = synth.resources("AWS::SQS::Queue")
    stream = _functions(synth)["driftline-stream"]
    url = stream["Environment"]["Variables"]["DRIFTLINE_STREAM_FAILURES_QUEUE_URL"]
    [queue_id] = [q for q in queues if url == {"Ref": q}]
    assert queues[queue_id]["Properties"]["QueueName"] == "driftline-stream-failures"
    role = stream["Role"]["Fn::GetAtt"][0]
    policies = [
        r["Properties"]["PolicyDocument"]["Statement"]
        for r in synth.resources("AWS::IAM::Policy").values()
        if {"Ref": role} in r["Properties"]["Roles"]
    ]
    sendable = [
        s["Resource"]
        for statements in policies
        for s in statements
        if "sqs:SendMessage" in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    ]
    assert {"Fn::GetAtt": [queue_id, "Arn"]} in sendable


def test_every_function_has_its_own_log_group_with_retention(synth):
    groups = {r["Properties"]["LogGroupName"]: r["Properties"] for r in synth.resources("AWS::Logs::LogGroup").values()}
    for name in FUNCTIONS:
        assert groups[f"/aws/lambda/driftline-{name}"]["RetentionInDays"] == 30
    for props in _functions(synth).values():
        assert "LoggingConfig" in props
        assert "LogGroup" in props["LoggingConfig"]
    assert groups["/aws/apigateway/driftline-api"]["RetentionInDays"] == 30


def test_tracing_where_it_pays(synth, alt):
    functions = _functions(synth)
    for name in ("controller", "app", "writer"):
        assert functions[f"driftline-{name}"]["TracingConfig"] == {"Mode": "Active"}
    assert "TracingConfig" not in functions["driftline-stream"]  # Kinesis batches carry no trace header
    # X-Ray per request costs more than monitoring does: the serving function traces only when switched on
    assert "TracingConfig" not in functions["driftline-serving"]
    assert _functions(alt)["dl-alt-stack-name-max-24-serving"]["TracingConfig"] == {"Mode": "Active"}


def test_cost_driven_defaults_and_their_switches(synth, alt):
    [stream] = synth.resources("AWS::Kinesis::Stream").values()
    assert stream["Properties"]["ShardCount"] == 1
    [alt_stream] = alt.resources("AWS::Kinesis::Stream").values()
    assert alt_stream["Properties"]["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}
    [mapping] = synth.resources("AWS::Lambda::EventSourceMapping").values()
    assert (mapping["Properties"]["BatchSize"], mapping["Properties"]["MaximumBatchingWindowInSeconds"]) == (
        10_000,
        120,
    )
    [stage] = synth.resources("AWS::ApiGatewayV2::Stage").values()
    lean = stage["Properties"]["AccessLogSettings"]["Format"]
    [alt_stage] = alt.resources("AWS::ApiGatewayV2::Stage").values()
    assert len(lean) < len(alt_stage["Properties"]["AccessLogSettings"]["Format"]) / 2
    assert "$context.requestId" in lean
    results = next(r["Properties"] for r in synth.resources("AWS::DynamoDB::Table").values() if "results" in str(r))
    assert results["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    env = _functions(synth)["driftline-writer"]["Environment"]["Variables"]
    assert (env["DRIFTLINE_RESULTS_TTL_DAYS"], env["DRIFTLINE_PER_ENDPOINT_METRICS"]) == ("90", "false")
    # inference events: 30 days in S3 Standard by default; a year with a cold tier one switch away
    events, alt_events = (_events_rule(s) for s in (synth, alt))
    assert (events["ExpirationInDays"], events.get("Transitions")) == (30, None)
    assert alt_events["ExpirationInDays"] == 400
    assert alt_events["Transitions"] == [{"StorageClass": "GLACIER_IR", "TransitionInDays": 7}]


def _events_rule(synth) -> dict:
    [rule] = [
        rule
        for bucket in synth.resources("AWS::S3::Bucket").values()
        for rule in bucket["Properties"].get("LifecycleConfiguration", {}).get("Rules", [])
        if rule.get("Prefix") == "events/"
    ]
    return rule


def test_bucket_is_encrypted_private_tls_only_versioned_with_lifecycle(synth, template):
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketName": {
                "Fn::Join": ["", ["driftline-data-", {"Ref": "AWS::AccountId"}, "-", {"Ref": "AWS::Region"}]]
            },
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
            },
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "VersioningConfiguration": {"Status": "Enabled"},
            "LoggingConfiguration": Match.object_like({"LogFilePrefix": "data/"}),
            "LifecycleConfiguration": {
                "Rules": Match.array_with(
                    [
                        Match.object_like({"Prefix": "events/", "ExpirationInDays": 30, "Status": "Enabled"}),
                        Match.object_like(
                            {
                                "Prefix": "state/recent-requests/",
                                "ExpirationInDays": 1,
                                "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
                            }
                        ),
                        Match.object_like({"NoncurrentVersionExpiration": {"NoncurrentDays": 30}}),
                    ]
                )
            },
        },
    )
    data_bucket = _logical_id(synth, "AWS::S3::Bucket", VersioningConfiguration={"Status": "Enabled"})
    assert synth.template["Resources"][data_bucket]["DeletionPolicy"] == "RetainExceptOnCreate"
    policies = [
        r["Properties"]["PolicyDocument"]["Statement"]
        for r in synth.resources("AWS::S3::BucketPolicy").values()
        if r["Properties"]["Bucket"] == {"Ref": data_bucket}
    ]
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in policies[0]
    )
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"NumericLessThan": {"s3:TlsVersion": 1.2}} for s in policies[0]
    )


def test_tables_are_the_layouts_on_demand_with_point_in_time_recovery(synth):
    """Keys, indexes and TTL are the layout's (tests/infra/test_provisioning.py compares them with the local
    tables, which the functional tests run the adapters on); what only the stack adds is checked here."""
    tables = {r["Properties"]["TableName"]: r for r in synth.resources("AWS::DynamoDB::Table").values()}
    assert set(tables) == set(Names().tables().values())
    for role, layout_table in TABLES.items():
        table = tables[Names().table(role)]
        props = table["Properties"]
        assert props["KeySchema"][0] == {"AttributeName": layout_table.partition_key, "KeyType": "HASH"}
        assert all(a["AttributeType"] == "S" for a in props["AttributeDefinitions"])
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert props["SSESpecification"]["SSEEnabled"] is True
        assert table["DeletionPolicy"] == "RetainExceptOnCreate"


def test_timestream_database_and_tables_with_retention(synth):
    (database,) = synth.resources("AWS::Timestream::Database").values()
    assert database["Properties"]["DatabaseName"] == "driftline"
    tables = {r["Properties"]["TableName"]: r["Properties"] for r in synth.resources("AWS::Timestream::Table").values()}
    assert set(tables) == set(TIMESTREAM_TABLES)
    for props in tables.values():
        assert props["DatabaseName"] == "driftline"
        assert props["RetentionProperties"] == {
            "MemoryStoreRetentionPeriodInHours": "24",
            "MagneticStoreRetentionPeriodInDays": "365",
        }
        assert props["MagneticStoreWriteProperties"] == {"EnableMagneticStoreWrites": True}


def test_nothing_durable_is_created_before_the_timestream_preflight(synth):
    (check_id,) = synth.resources("Custom::TimestreamPreflight")
    check = synth.template["Resources"][check_id]
    preflight_fn = _logical_id(synth, "AWS::Lambda::Function", FunctionName="driftline-preflight")
    assert check["Properties"]["ServiceToken"] == {"Fn::GetAtt": [preflight_fn, "Arn"]}
    durable = (
        "AWS::S3::Bucket",
        "AWS::DynamoDB::Table",
        "AWS::Timestream::Database",
        "AWS::Timestream::Table",
        "AWS::Kinesis::Stream",
        "AWS::SNS::Topic",
        "AWS::SQS::Queue",
        "AWS::Scheduler::Schedule",
    )
    for kind in durable:
        for logical_id, resource in synth.resources(kind).items():
            assert check_id in resource.get("DependsOn", []), (kind, logical_id)
    code = synth.template["Resources"][preflight_fn]["Properties"]["Code"]["ZipFile"]
    assert "timestream=false" in code
    assert "describe_endpoints" in code


def test_kinesis_stream_is_encrypted_and_provisioned_with_one_shard(template):
    template.has_resource_properties(
        "AWS::Kinesis::Stream",
        {
            "Name": "driftline-events",
            "StreamEncryption": {"EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"},
            "StreamModeDetails": {"StreamMode": "PROVISIONED"},
            "ShardCount": 1,
            "RetentionPeriodHours": 24,
        },
    )


def test_stream_event_source_mapping_follows_the_delivery_semantics(synth):
    (mapping,) = synth.resources("AWS::Lambda::EventSourceMapping").values()
    props = mapping["Properties"]
    stream_fn = _logical_id(synth, "AWS::Lambda::Function", FunctionName="driftline-stream")
    assert props["FunctionName"] == {"Ref": stream_fn}
    assert props["EventSourceArn"] == {"Fn::GetAtt": [next(iter(synth.resources("AWS::Kinesis::Stream"))), "Arn"]}
    assert props["StartingPosition"] == "TRIM_HORIZON"
    assert props["BatchSize"] == 10_000
    assert props["MaximumBatchingWindowInSeconds"] == 120
    assert props["BisectBatchOnFunctionError"] is True
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["MaximumRetryAttempts"] == 10
    assert props["ParallelizationFactor"] == 1
    failures = _logical_id(synth, "AWS::SQS::Queue", QueueName="driftline-stream-failures")
    assert props["DestinationConfig"] == {"OnFailure": {"Destination": {"Fn::GetAtt": [failures, "Arn"]}}}


def test_http_api_routes_authorisation_logging_and_throttling(synth):
    (api,) = synth.resources("AWS::ApiGatewayV2::Api").values()
    assert api["Properties"]["ProtocolType"] == "HTTP"
    routes = synth.resources("AWS::ApiGatewayV2::Route").values()
    # the Open Inference Protocol's routes, plus $default: a wrong method reaches the function for its 405
    assert sorted(r["Properties"]["RouteKey"] for r in routes) == sorted([*(f"{m} {p}" for m, p in ROUTES), "$default"])
    assert {r["Properties"]["AuthorizationType"] for r in routes} == {"AWS_IAM"}
    (integration,) = synth.resources("AWS::ApiGatewayV2::Integration").values()
    serving = _logical_id(synth, "AWS::Lambda::Function", FunctionName="driftline-serving")
    assert integration["Properties"]["IntegrationUri"] == {"Fn::GetAtt": [serving, "Arn"]}
    assert integration["Properties"]["PayloadFormatVersion"] == "2.0"
    (stage,) = synth.resources("AWS::ApiGatewayV2::Stage").values()
    props = stage["Properties"]
    assert props["StageName"] == "$default"
    assert props["AutoDeploy"] is True
    assert props["DefaultRouteSettings"] == {"ThrottlingRateLimit": 100, "ThrottlingBurstLimit": 200}
    access_logs = _logical_id(synth, "AWS::Logs::LogGroup", LogGroupName="/aws/apigateway/driftline-api")
    assert props["AccessLogSettings"]["DestinationArn"] == {"Fn::GetAtt": [access_logs, "Arn"]}
    assert json.loads(props["AccessLogSettings"]["Format"])["routeKey"] == "$context.routeKey"


def test_serving_routes_match_the_handler():
    from driftline.serving.service import ROUTES as HANDLED

    assert sorted(f"{m} {p}" for m, p in ROUTES) == sorted(HANDLED)


def test_controller_schedule_is_the_one_the_sdk_flips(synth):
    (schedule,) = synth.resources("AWS::Scheduler::Schedule").values()
    props = schedule["Properties"]
    assert props["Name"] == "driftline-controller-default"
    assert props["GroupName"] == "driftline"
    assert props["ScheduleExpression"] == "rate(10 minutes)"
    assert props["State"] == "DISABLED"
    assert props["FlexibleTimeWindow"] == {"Mode": "OFF"}
    target = props["Target"]
    assert json.loads(target["Input"]) == {"source": "driftline.schedule", "project": "default"}
    assert target["Arn"]["Fn::Join"][1][-1] == ":function:driftline-controller"
    role = _ref_or_getatt(target["RoleArn"])
    trust = synth.template["Resources"][role]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 2
    assert "DeadLetterConfig" in target
    (group,) = synth.resources("AWS::Scheduler::ScheduleGroup").values()
    assert group["Properties"]["Name"] == "driftline"


def test_async_invocations_retry_twice_then_go_to_the_dead_letter_queue(synth):
    failures = _logical_id(synth, "AWS::SQS::Queue", QueueName="driftline-async-failures")
    configs = {
        _ref_or_getatt({"Ref": c["Properties"]["FunctionName"]["Ref"]}): c["Properties"]
        for c in synth.resources("AWS::Lambda::EventInvokeConfig").values()
    }
    names = {k: r["Properties"]["FunctionName"] for k, r in synth.resources("AWS::Lambda::Function").items()}
    assert {names[k] for k in configs} == {"driftline-controller", "driftline-app", "driftline-writer"}
    for props in configs.values():
        assert props["MaximumRetryAttempts"] == 2
        assert props["DestinationConfig"] == {"OnFailure": {"Destination": {"Fn::GetAtt": [failures, "Arn"]}}}


def test_queues_topic_and_bus(synth, template):
    for queue in synth.resources("AWS::SQS::Queue").values():
        assert queue["Properties"]["SqsManagedSseEnabled"] is True
        assert queue["Properties"]["MessageRetentionPeriod"] == 14 * 86400
    template.has_resource_properties(
        "AWS::SNS::Topic", {"TopicName": "driftline-alerts", "KmsMasterKeyId": Match.any_value()}
    )
    template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})]
                )
            }
        },
    )
    template.has_resource_properties("AWS::Events::EventBus", {"Name": "driftline-alerts"})
    template.has_resource_properties("AWS::Events::Archive", {"EventPattern": {"source": ["driftline"]}})


def test_alarms_cover_the_issue_and_notify_the_topic(synth):
    alarms = {r["Properties"]["AlarmName"]: r["Properties"] for r in synth.resources("AWS::CloudWatch::Alarm").values()}
    assert set(alarms) == {
        "driftline-stream-iterator-age",
        "driftline-async-dead-letters",
        "driftline-stream-dead-letters",
        "driftline-app-failures",
        "driftline-drift-detected",
    }
    topic = next(iter(synth.resources("AWS::SNS::Topic")))
    for props in alarms.values():
        assert props["AlarmActions"] == [{"Ref": topic}]
        assert props["TreatMissingData"] == "notBreaching"
    assert alarms["driftline-stream-iterator-age"]["MetricName"] == "IteratorAge"
    assert alarms["driftline-stream-iterator-age"]["Threshold"] == 300_000
    drift = alarms["driftline-drift-detected"]
    assert (drift["Namespace"], drift["MetricName"]) == ("driftline", "AlertsRaised")
    assert drift["Dimensions"] == [{"Name": "service", "Value": SERVICES["writer"]}]
    expression = next(m["Expression"] for m in alarms["driftline-app-failures"]["Metrics"] if "Expression" in m)
    assert expression.count("FILL(") == 2  # AppFailures + the app function's errors


def test_dashboard_shows_what_the_issue_lists(synth):
    (dashboard,) = synth.resources("AWS::CloudWatch::Dashboard").values()
    assert dashboard["Properties"]["DashboardName"] == "driftline-monitoring"
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for needle in (
        "Requests",
        "Latency",
        "Errors",
        "TrackingEventsLost",
        "Duration",
        "IteratorAge",
        "AppFailures",
        "AlertsRaised",
        "ApproximateNumberOfMessagesVisible",
        "Drift status per endpoint",
        "stats latest(detail.result_status)",
    ):
        assert needle in body, needle
    # the alert events reach the log group the status widget reads
    (rule,) = synth.resources("AWS::Events::Rule").values()
    bus = next(iter(synth.resources("AWS::Events::EventBus")))
    assert rule["Properties"]["EventBusName"] == {"Ref": bus}
    assert rule["Properties"]["EventPattern"] == {"source": ["driftline"]}
    alert_log = _logical_id(synth, "AWS::Logs::LogGroup", LogGroupName="/aws/events/driftline-alerts")
    (target,) = rule["Properties"]["Targets"]
    assert target["Arn"]["Fn::Join"][1][-2:] == [":log-group:", {"Ref": alert_log}]
    assert json.dumps({"Ref": alert_log}) in body  # the status widget reads that log group
    (policy,) = synth.resources("AWS::Logs::ResourcePolicy").values()
    assert "events.amazonaws.com" in json.dumps(policy["Properties"]["PolicyDocument"])


def test_dashboard_charts_joint_drift_and_estimated_performance_from_the_app_logs(synth):
    """The two apps log each result on one structured line; the widgets read the app functions' log groups."""
    from driftline.applications.builtin.multivariate_drift import LOG_MESSAGE as JOINT
    from driftline.applications.builtin.performance_estimation import LOG_MESSAGE as ESTIMATE

    (dashboard,) = synth.resources("AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for message in (JOINT, ESTIMATE):
        assert re.search(r"filter message = \W*" + message, body), message
    for needle in ("Joint drift", "Estimated accuracy with its band", "latest(realized)"):
        assert needle in body, needle
    app_logs = _logical_id(synth, "AWS::Logs::LogGroup", LogGroupName="/aws/lambda/driftline-app")
    assert json.dumps({"Ref": app_logs}) in body


def test_dashboard_charts_serving_traffic_from_the_api_and_lambda_metrics(synth):
    """The serving function publishes no per-request metric: requests, latency and 4xx/5xx are API Gateway's own
    metrics of the stack's HTTP API (and Lambda's Invocations and Duration)."""
    (dashboard,) = synth.resources("AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    api = next(iter(synth.resources("AWS::ApiGatewayV2::Api")))
    for metric in ("Count", "Latency", "IntegrationLatency", "4xx", "5xx"):
        assert f'\\"AWS/ApiGateway\\",\\"{metric}\\",\\"ApiId\\",\\"", {json.dumps({"Ref": api})}' in body, metric
    for metric in ("Invocations", "Duration"):
        assert f'\\"AWS/Lambda\\",\\"{metric}\\"' in body, metric
    for gone in ("Requests", "Latency"):  # the EMF metrics the serving function no longer publishes
        assert f'\\"driftline\\",\\"{gone}\\"' not in body, gone


def test_service_dimensions_match_the_handlers():
    from driftline.applications.runner import SERVICE as APP
    from driftline.controller.run import SERVICE as CONTROLLER
    from driftline.stream import SERVICE as STREAM
    from driftline.writer.run import SERVICE as WRITER
    from tests.infra.conftest import ROOT

    assert (SERVICES["controller"], SERVICES["writer"], SERVICES["stream"]) == (CONTROLLER, WRITER, STREAM)
    assert SERVICES["app"] == APP
    assert "get_metrics(SERVICE)" in (ROOT / "apps" / "handler.py").read_text()  # the app handler counts under it
    assert f'get_metrics("{SERVICES["serving"]}")' in (ROOT / "lambdas" / "serving" / "handler.py").read_text()


def test_discovery_parameters_and_outputs(synth):
    parameters = {r["Properties"]["Name"]: r["Properties"] for r in synth.resources("AWS::SSM::Parameter").values()}
    assert set(parameters) == {
        "/driftline/driftline/settings",
        "/driftline/driftline/api-url",
        "/driftline/driftline/app-functions",
    }
    document = parameters["/driftline/driftline/settings"]["Value"]
    rendered = json.dumps(document)
    known = set(Settings.schema()) | set(ServingIdentity().to_values())
    for key in ("bucket", "stream_name", "controller_arn", "scheduler_role_arn", "api_url", "timestream_enabled"):
        assert f'\\"{key}\\"' in rendered or f'"{key}"' in rendered, key
    parts = document["Fn::Join"][1]
    text_keys = [p.split('"')[-2] for p in parts if isinstance(p, str) and p.rstrip().endswith('":')]
    assert set(text_keys) <= known
    assert set(synth.template["Outputs"]) >= {
        "ApiUrl",
        "ApiId",
        "BucketName",
        "StreamName",
        "AlertsTopicArn",
        "AlertsBusName",
        "ScheduleName",
        "DashboardName",
        "SettingsParameter",
        "SdkPolicyArn",
    }


def test_alternative_configuration_turns_every_knob(alt):
    assert not alt.resources("AWS::Timestream::Database")
    assert not alt.resources("AWS::Timestream::Table")
    assert not alt.resources("Custom::TimestreamPreflight")
    functions = _functions(alt)
    assert set(functions) == {f"{ALT_STACK}-{f}" for f in FUNCTIONS} | {f"{ALT_STACK}-app-my-drift"}
    for props in functions.values():
        assert props["Environment"]["Variables"]["DRIFTLINE_TIMESTREAM_ENABLED"] == "false"
    assert functions[f"{ALT_STACK}-serving"]["Environment"]["Variables"]["DRIFTLINE_PROJECT"] == ALT_PROJECT
    dedicated = functions[f"{ALT_STACK}-app-my-drift"]
    assert (dedicated["MemorySize"], dedicated["Timeout"], dedicated["PackageType"]) == (3008, 600, "Image")
    policies = json.dumps(list(alt.resources("AWS::IAM::Policy").values()))
    assert "timestream:" not in policies
    (authorizer,) = alt.resources("AWS::ApiGatewayV2::Authorizer").values()
    assert authorizer["Properties"]["AuthorizerType"] == "JWT"
    assert authorizer["Properties"]["JwtConfiguration"] == {
        "Audience": ["driftline"],
        "Issuer": "https://issuer.example.com/",
    }
    assert {r["Properties"]["AuthorizationType"] for r in alt.resources("AWS::ApiGatewayV2::Route").values()} == {"JWT"}
    (stream,) = alt.resources("AWS::Kinesis::Stream").values()
    assert "ShardCount" not in stream["Properties"]
    assert stream["Properties"]["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}
    (schedule,) = alt.resources("AWS::Scheduler::Schedule").values()
    assert schedule["Properties"]["ScheduleExpression"] == "rate(1 minute)"
    assert schedule["Properties"]["State"] == "ENABLED"
    assert schedule["Properties"]["Name"].startswith(f"{ALT_STACK}-controller-churn-")  # shortened (test_names.py)
    subscriptions = {
        r["Properties"]["Protocol"]: r["Properties"]["Endpoint"]
        for r in alt.resources("AWS::SNS::Subscription").values()
    }
    assert subscriptions == {"email": "ops@example.com", "https": "https://hooks.example.com/driftline"}
    for table in alt.resources("AWS::DynamoDB::Table").values():
        assert table["DeletionPolicy"] == "Delete"
    groups = [r["Properties"]["RetentionInDays"] for r in alt.resources("AWS::Logs::LogGroup").values()]
    assert set(groups) == {90}
    app_functions = alt.resources("AWS::SSM::Parameter")
    values = [json.dumps(r["Properties"]["Value"]) for r in app_functions.values()]
    assert any(f"{ALT_STACK}-app-my-drift" in v for v in values)
