"""The on-call SNS topic: alarms publish here; KMS-encrypted and SSL-only.

Its subscribers come from the environment's `oncall_subscriptions` (cdk.json): e-mail
addresses, HTTPS endpoints (PagerDuty, Opsgenie and other SNS integrations) and Slack
channels through AWS Chatbot. None locally: the emulator's on-call tools read the topic.
"""

from __future__ import annotations

from aws_cdk import aws_chatbot as chatbot
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from infra.config import PipelineConfig


class OnCallAlerting(Construct):
    """Attributes: `topic` (the on-call `sns.Topic`), `slack_channels` (the Chatbot
    configurations, one per Slack channel)."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: PipelineConfig, key: kms.IKey
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(
            self,
            "OnCallTopic",
            topic_name=config.resource_name("oncall"),
            display_name="Pablo pipelines on-call",
            master_key=key,
            enforce_ssl=True,
        )
        wanted = config.oncall_subscriptions
        for address in wanted.email:
            self.topic.add_subscription(subscriptions.EmailSubscription(address))
        for url in wanted.https:
            self.topic.add_subscription(
                subscriptions.UrlSubscription(url, protocol=sns.SubscriptionProtocol.HTTPS)
            )
        self.slack_channels = [
            chatbot.SlackChannelConfiguration(
                self,
                f"Slack{channel.channel_id}",
                slack_channel_configuration_name=config.resource_name(
                    f"oncall-{channel.channel_id.lower()}"
                ),
                slack_workspace_id=channel.workspace_id,
                slack_channel_id=channel.channel_id,
                notification_topics=[self.topic],
            )
            for channel in wanted.slack
        ]
