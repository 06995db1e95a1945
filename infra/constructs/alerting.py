"""The on-call SNS topic: alarms publish here; KMS-encrypted and SSL-only."""

from __future__ import annotations

from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra.config import PipelineConfig


class OnCallAlerting(Construct):
    """Attribute: `topic` (the on-call `sns.Topic`)."""

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
