"""Customer-managed KMS keys: one for pipeline data, a separate one for finance data."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from infra.config import PipelineConfig


class EncryptionKeys(Construct):
    """`data` encrypts raw, curated, quarantine, reports, landing, results, state, topic;
    `finance` encrypts only restricted finance data, so a Deny on it keeps analysts out
    even of objects copied elsewhere by mistake."""

    def __init__(self, scope: Construct, construct_id: str, *, config: PipelineConfig) -> None:
        super().__init__(scope, construct_id)
        removal = RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY
        self.data = kms.Key(
            self,
            "DataKey",
            alias=f"alias/{config.resource_name('data')}",
            description="Pablo pipelines: raw, curated, ops data, state and alerts",
            enable_key_rotation=True,
            removal_policy=removal,
            pending_window=Duration.days(7 if not config.retain_data else 30),
        )
        self.finance = kms.Key(
            self,
            "FinanceKey",
            alias=f"alias/{config.resource_name('finance')}",
            description="Pablo pipelines: restricted finance data (salaries, ledger)",
            enable_key_rotation=True,
            removal_policy=removal,
            pending_window=Duration.days(7 if not config.retain_data else 30),
        )
        # CloudWatch alarms publish to the encrypted on-call topic: SNS then needs the
        # alarm service to be able to use the topic's key.
        self.data.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsToPublishToEncryptedTopic",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=["*"],  # in a key policy "*" means this key
            )
        )
