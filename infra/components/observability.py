"""The CloudWatch dashboard and alarms. Figures come from the functions' Powertools EMF metrics (namespace
``driftline``, dimension ``service``), Lambda's own metrics, the HTTP API's (``AWS/ApiGateway``, dimension
``ApiId``) and the queues'; drift statuses per endpoint come from the writer's structured logs. Every alarm
notifies the alerts topic.

Serving traffic (requests, latency, 4xx/5xx) is charted from API Gateway's and Lambda's own metrics, which AWS
publishes for free: the serving function emits EMF metrics only for rare events (``Errors``,
``TrackingEventsLost``), so its hot path pays for no metric."""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_events as events
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from driftline.deploy.functions import METRICS_NAMESPACE, SERVICES
from infra.config import StackConfig

PERIOD = Duration.minutes(5)
# Metric names each function emits (Powertools EMF)
METRICS = {
    "serving": ("Errors", "TrackingEventsLost"),
    "stream": ("RecordsReceived", "RowsWritten", "PoisonRecords", "DuplicateRecords", "BatchFailures"),
    "app": ("AppFailures",),
    "writer": ("ResultsWritten", "AlertsRaised"),
}
# Logs Insights over the alert events (the alerts bus copies each one to a log group): the newest status of every
# (endpoint, app, result) that reached potential (1) or detected (2).
DRIFT_STATUS_QUERY = (
    "fields @timestamp, detail.endpoint_id, detail.application_name, detail.result_name, detail.result_status\n"
    "| stats latest(detail.result_status) as status, latest(detail.result_value) as value,"
    " max(@timestamp) as last_alert by detail.endpoint_id, detail.application_name, detail.result_name\n"
    "| sort status desc, last_alert desc"
)

# Logs Insights over the app functions' logs: the multivariate-drift and performance-estimation apps log each
# result on one structured line (driftline/applications/builtin/{multivariate_drift,performance_estimation}.py)
JOINT_DRIFT_QUERY = (
    'fields @timestamp, endpoint_id, value, band_upper\n| filter message = "joint drift result"'
    ' and result_name = "pca_reconstruction_error"\n'
    "| stats max(value / band_upper) as pca_error_over_band_edge by bin(1h)"
)
ESTIMATES_QUERY = (
    "fields @timestamp, endpoint_id, metric, estimate, band_lower, band_upper, realized\n"
    '| filter message = "performance estimate"\n'
    "| stats latest(estimate) as estimated, latest(band_lower) as band_lower, latest(band_upper) as band_upper,"
    " latest(realized) as realized, latest(status) as status by endpoint_id, metric\n"
    "| sort endpoint_id, metric"
)
ACCURACY_QUERY = (
    "fields @timestamp, estimate, band_lower, band_upper, realized\n"
    '| filter message = "performance estimate" and metric = "accuracy"\n'
    "| stats avg(estimate) as estimated, avg(band_lower) as band_lower, avg(band_upper) as band_upper,"
    " avg(realized) as realized by bin(1h)"
)


def driftline_metric(service_key: str, name: str, statistic: str = "Sum") -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map={"service": SERVICES[service_key]},
        statistic=statistic,
        period=PERIOD,
    )


class Observability(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
        functions: dict[str, lambda_.Function],
        api: apigw.IHttpApi,
        queues: dict[str, sqs.IQueue],
        topic: sns.ITopic,
        bus: events.IEventBus,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        # Every alert event, kept in a log group: the drift statuses per endpoint on the dashboard come from it.
        self.alert_log = logs.LogGroup(
            self,
            "AlertEvents",
            log_group_name=f"/aws/events/{config.names.stack}-alerts",
            retention=log_retention,
            removal_policy=RemovalPolicy.DESTROY,
        )
        logs.CfnResourcePolicy(
            self,
            "AlertEventsPolicy",
            policy_name=f"{config.names.stack}-alert-events",
            policy_document=Stack.of(self).to_json_string(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": ["events.amazonaws.com", "delivery.logs.amazonaws.com"]},
                            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                            "Resource": self.alert_log.log_group_arn,
                        }
                    ],
                }
            ),
        )
        self.alert_rule = events.CfnRule(
            self,
            "AlertEventsRule",
            description="copies every driftline alert to a log group (dashboard: drift status per endpoint)",
            event_bus_name=bus.event_bus_name,
            event_pattern={"source": ["driftline"]},
            state="ENABLED",
            targets=[
                events.CfnRule.TargetProperty(
                    id="alert-log",
                    arn=Stack.of(self).format_arn(
                        service="logs",
                        resource="log-group",
                        resource_name=self.alert_log.log_group_name,
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    ),
                )
            ],
        )
        notify = actions.SnsAction(topic)
        stream_fn = functions["stream"]
        app_functions = {k: f for k, f in functions.items() if k == "app" or k.startswith("app-")}

        self.alarms: dict[str, cloudwatch.Alarm] = {}
        self.alarms["iterator-age"] = stream_fn.metric(
            "IteratorAge", statistic="Maximum", period=Duration.minutes(1)
        ).create_alarm(
            self,
            "IteratorAge",
            alarm_name=f"{config.names.stack}-stream-iterator-age",
            alarm_description="The stream function is falling behind the Kinesis stream (oldest record age)",
            threshold=config.iterator_age_alarm_seconds * 1000,
            evaluation_periods=5,
            datapoints_to_alarm=3,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        for key, queue in queues.items():
            self.alarms[f"dlq-{key}"] = queue.metric_approximate_number_of_messages_visible(
                statistic="Maximum", period=PERIOD
            ).create_alarm(
                self,
                f"DeadLetters{key.title()}",
                alarm_name=f"{config.names.stack}-{key}-dead-letters",
                alarm_description=f"The {key} dead-letter queue is not empty: something failed all its retries",
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
        app_failure_metrics = {"reported": driftline_metric("app", "AppFailures")}
        for index, function in enumerate(app_functions.values()):
            app_failure_metrics[f"errors{index}"] = function.metric_errors(period=PERIOD)
        self.alarms["app-failures"] = cloudwatch.MathExpression(
            expression=" + ".join(f"FILL({k}, 0)" for k in app_failure_metrics),
            using_metrics=app_failure_metrics,
            label="application failures",
            period=PERIOD,
        ).create_alarm(
            self,
            "AppFailures",
            alarm_name=f"{config.names.stack}-app-failures",
            alarm_description="A monitoring application failed (reported by the runner, or the function errored)",
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.alarms["drift"] = driftline_metric("writer", "AlertsRaised").create_alarm(
            self,
            "DriftDetected",
            alarm_name=f"{config.names.stack}-drift-detected",
            alarm_description="A monitoring result reached potential or detected status (see the alerts topic)",
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        for alarm in self.alarms.values():
            alarm.add_alarm_action(notify)

        self.dashboard = cloudwatch.Dashboard(
            self, "Dashboard", dashboard_name=config.names.dashboard, default_interval=Duration.hours(3)
        )
        serving = functions["serving"]
        self.dashboard.add_widgets(
            cloudwatch.TextWidget(
                markdown=f"# driftline `{config.names.stack}`\nserving -> stream -> controller -> apps -> writer. "
                "Alarms notify the alerts topic.",
                width=24,
                height=2,
            )
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Requests",
                left=[
                    api.metric_count(statistic="Sum", period=PERIOD, label="API requests"),
                    serving.metric_invocations(period=PERIOD, label="serving invocations"),
                ],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Latency (ms)",
                left=[
                    api.metric_latency(statistic="Average", period=PERIOD, label="API latency (average)"),
                    api.metric_latency(statistic="p99", period=PERIOD, label="API latency (p99)"),
                    api.metric_integration_latency(statistic="p99", period=PERIOD, label="integration latency (p99)"),
                    serving.metric_duration(statistic="p99", period=PERIOD, label="serving duration (p99)"),
                ],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Errors",
                left=[
                    api.metric_client_error(period=PERIOD, label="API 4xx"),
                    api.metric_server_error(period=PERIOD, label="API 5xx"),
                    driftline_metric("serving", "Errors"),
                    driftline_metric("serving", "TrackingEventsLost"),
                    serving.metric_errors(period=PERIOD),
                    serving.metric_throttles(period=PERIOD),
                ],
                width=8,
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Stream iterator age (ms)",
                left=[stream_fn.metric("IteratorAge", statistic="Maximum", period=Duration.minutes(1))],
                left_annotations=[
                    cloudwatch.HorizontalAnnotation(value=config.iterator_age_alarm_seconds * 1000, label="alarm")
                ],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Stream records",
                left=[driftline_metric("stream", m) for m in METRICS["stream"]],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Dead-letter queues",
                left=[
                    q.metric_approximate_number_of_messages_visible(statistic="Maximum", period=PERIOD, label=key)
                    for key, q in queues.items()
                ],
                width=8,
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Application failures",
                left=[driftline_metric("app", "AppFailures")]
                + [f.metric_errors(period=PERIOD, label=f"{k} errors") for k, f in app_functions.items()],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Results and alerts",
                left=[driftline_metric("writer", m) for m in METRICS["writer"]],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Writer metrics by name (per-status counts included)",
                left=[
                    cloudwatch.MathExpression(
                        expression=(
                            f"SEARCH('{{{METRICS_NAMESPACE},service}} service=\"{SERVICES['writer']}\"', 'Sum', 300)"
                        ),
                        label="",
                        period=PERIOD,
                    )
                ],
                width=8,
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.LogQueryWidget(
                title="Drift status per endpoint: newest alert per result (1 potential, 2 detected)",
                log_group_names=[self.alert_log.log_group_name],
                query_string=DRIFT_STATUS_QUERY,
                view=cloudwatch.LogQueryVisualizationType.TABLE,
                width=24,
                height=8,
            )
        )
        app_logs = [f.log_group.log_group_name for f in app_functions.values()]
        line, table = cloudwatch.LogQueryVisualizationType.LINE, cloudwatch.LogQueryVisualizationType.TABLE
        app_widgets = (
            (
                "Joint drift: PCA reconstruction error / upper band edge (max over endpoints; > 1 is outside)",
                JOINT_DRIFT_QUERY,
                line,
            ),
            (
                "Estimated accuracy with its band, and realized once labelled (mean over endpoints)",
                ACCURACY_QUERY,
                line,
            ),
            ("Estimated vs realized performance per endpoint (newest window)", ESTIMATES_QUERY, table),
        )
        self.dashboard.add_widgets(
            *(
                cloudwatch.LogQueryWidget(
                    title=title, log_group_names=app_logs, query_string=query, view=view, width=8, height=6
                )
                for title, query, view in app_widgets
            )
        )
