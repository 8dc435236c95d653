"""Where alerts and failures go: the alerts SNS topic and EventBridge bus (the writer raises alerts on both,
CloudWatch alarms notify the topic), and the dead-letter queues (asynchronous invocations that exhausted their
retries; Kinesis batches the stream function gave up on)."""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from driftline.deploy.functions import TOPIC_KEY_ACTIONS
from driftline.layout import QUEUES
from infra.config import StackConfig

ALARMS_PRINCIPAL = "cloudwatch.amazonaws.com"


class Messaging(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: StackConfig) -> None:
        super().__init__(scope, construct_id)
        names = config.names

        stack = Stack.of(self)
        # CloudWatch alarms publish as the service principal, on behalf of an alarm of this stack (all are named
        # {stack}-...): the topic's policy and its key's policy admit exactly that, in this account.
        from_our_alarms = {
            "StringEquals": {"aws:SourceAccount": stack.account},
            "ArnLike": {
                "aws:SourceArn": stack.format_arn(
                    service="cloudwatch",
                    resource="alarm",
                    resource_name=f"{names.stack}-*",
                    arn_format=ArnFormat.COLON_RESOURCE_NAME,
                )
            },
        }
        # A key of our own: the AWS managed key alias/aws/sns has a policy no one can change, so it can never
        # admit cloudwatch.amazonaws.com, and alarm notifications to a topic under it are dropped (silently,
        # but for the alarm history). The key only protects messages on their way to subscribers, so it goes
        # with the stack (KMS waits the pending window before deleting it).
        self.topic_key = kms.Key(
            self,
            "AlertsKey",
            description=f"driftline {names.stack}: encrypts the alerts topic",
            enable_key_rotation=True,
            pending_window=Duration.days(7),
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.topic_key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsOfThisStackNotifyTheAlertsTopic",
                principals=[iam.ServicePrincipal(ALARMS_PRINCIPAL)],
                actions=list(TOPIC_KEY_ACTIONS),
                resources=["*"],  # in a key policy: this key
                conditions=from_our_alarms,
            )
        )
        self.topic = sns.Topic(
            self,
            "Alerts",
            topic_name=names.topic,
            display_name="driftline alerts",
            enforce_ssl=True,
            master_key=self.topic_key,
        )
        # the topic has a policy (TLS only), which replaces SNS's default one: alarms need their own statement
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsOfThisStackPublish",
                principals=[iam.ServicePrincipal(ALARMS_PRINCIPAL)],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions=from_our_alarms,
            )
        )
        for address in config.alert_emails:
            self.topic.add_subscription(subscriptions.EmailSubscription(address))
        for index, item in enumerate(config.alert_subscriptions):
            self.topic.add_subscription(_subscription(item.protocol, item.endpoint, self, f"Subscriber{index}"))

        self.bus = events.EventBus(self, "Bus", event_bus_name=names.event_bus, description="driftline alerts")
        self.bus.archive(
            "Archive",
            archive_name=f"{names.stack}-alerts",
            description="every driftline alert, replayable",
            event_pattern=events.EventPattern(source=["driftline"]),
            retention=Duration.days(365),
        )

        # The dead-letter queues of driftline.layout.QUEUES: asynchronous invocations (scheduler -> controller ->
        # apps -> writer) that failed three times; Kinesis batches the stream function could not process within
        # its retries (records' positions only: the data stays in the stream for its retention period).
        self.queues: dict[str, sqs.Queue] = {
            role: sqs.Queue(
                self,
                _construct_id(role),
                queue_name=names.queue(role),
                encryption=sqs.QueueEncryption.SQS_MANAGED,
                enforce_ssl=True,
                retention_period=Duration.days(queue.retention_days),
                removal_policy=RemovalPolicy.DESTROY,
            )
            for role, queue in QUEUES.items()
        }

    @property
    def async_failures(self) -> sqs.Queue:
        return self.queues["async-failures"]

    @property
    def stream_failures(self) -> sqs.Queue:
        return self.queues["stream-failures"]


def _construct_id(role: str) -> str:
    """``async-failures`` -> ``AsyncFailures`` (the logical ids the stack has always had)."""
    return "".join(part.title() for part in role.split("-"))


def _subscription(protocol: str, endpoint: str, scope: Construct, construct_id: str) -> sns.ITopicSubscription:
    if protocol == "email":
        return subscriptions.EmailSubscription(endpoint)
    if protocol == "https":
        return subscriptions.UrlSubscription(endpoint, protocol=sns.SubscriptionProtocol.HTTPS)
    if protocol == "sms":
        return subscriptions.SmsSubscription(endpoint)
    if protocol == "sqs":
        return subscriptions.SqsSubscription(sqs.Queue.from_queue_arn(scope, construct_id, endpoint))
    return subscriptions.LambdaSubscription(lambda_.Function.from_function_arn(scope, construct_id, endpoint))
