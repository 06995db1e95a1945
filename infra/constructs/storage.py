"""The data lake buckets: one per purpose, all private, SSL-only, KMS-encrypted and logged."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from functions.core.schemas import Bucket
from infra.config import PipelineConfig
from infra.nag import acknowledge

ABORT_INCOMPLETE_UPLOADS = Duration.days(7)
SERVER_ACCESS_LOGS_USE_BUCKET_POLICY = "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy"


@dataclass(frozen=True)
class BucketSpec:
    purpose: str
    versioned: bool
    finance: bool = False


class DataBuckets(Construct):
    """Attributes: landing, raw, curated, quarantine, reports, athena_results, finance,
    access_logs (each an `s3.Bucket`); `for_registry(Bucket.X)` maps a registry bucket."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PipelineConfig,
        data_key: kms.IKey,
        finance_key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        # Grant log delivery through a bucket policy, not the legacy ACL (which needs
        # ObjectWriter ownership). Set here, not only in cdk.json, so the buckets are the
        # same in any app that builds them (tests, other tools).
        self.node.set_context(SERVER_ACCESS_LOGS_USE_BUCKET_POLICY, True)
        self._config = config
        self._data_key = data_key
        self._finance_key = finance_key
        self._removal = RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY
        self.access_logs = self._access_logs_bucket()
        noncurrent = [self._noncurrent_rule()]
        self.landing = self._bucket("Landing", "landing", versioned=True, rules=noncurrent)
        self.raw = self._bucket("Raw", "raw", versioned=True, rules=noncurrent)
        self.curated = self._bucket("Curated", "curated", versioned=True, rules=noncurrent)
        self.quarantine = self._bucket(
            "Quarantine",
            "quarantine",
            versioned=True,
            rules=[
                self._noncurrent_rule(),
                # Kept long: a rejected record is evidence until someone has looked at it.
                s3.LifecycleRule(
                    id="expire-quarantine",
                    expiration=Duration.days(config.quarantine_retention_days),
                ),
            ],
        )
        self.reports = self._bucket("Reports", "reports", versioned=False, rules=[])
        self.athena_results = self._bucket(
            "AthenaResults",
            "athena-results",
            versioned=False,
            rules=[
                s3.LifecycleRule(
                    id="expire-query-results",
                    expiration=Duration.days(config.athena_results_days),
                )
            ],
        )
        self.finance = self._bucket(
            "Finance", "finance", versioned=True, rules=noncurrent, key=finance_key
        )
        # Files land in both (finance inputs under finance/landing/): both tell EventBridge.
        for landing in (self.landing, self.finance):
            _send_events_to_eventbridge(landing)

    def for_registry(self, bucket: Bucket) -> s3.Bucket:
        """The physical bucket of a registry `Bucket` (where its Glue tables live)."""
        return {
            Bucket.RAW: self.raw,
            Bucket.CURATED: self.curated,
            Bucket.FINANCE: self.finance,
            Bucket.QUARANTINE: self.quarantine,
        }[bucket]

    def name_for(self, bucket: Bucket) -> str:
        """The literal physical name of a registry `Bucket` (Glue locations use it, so the
        template carries plain strings the local deployer can use as they are)."""
        return self.physical_name(bucket.value)

    def physical_name(self, purpose: str) -> str:
        """The literal name of the bucket for `purpose` (a key of `all`)."""
        if purpose not in self.all:
            raise KeyError(f"no bucket for {purpose!r}; known: {sorted(self.all)}")
        return self._config.bucket_name(purpose)

    @property
    def all(self) -> dict[str, s3.Bucket]:
        """Every bucket by purpose (output keys and tests iterate over it)."""
        return {
            "landing": self.landing,
            "raw": self.raw,
            "curated": self.curated,
            "quarantine": self.quarantine,
            "reports": self.reports,
            "athena-results": self.athena_results,
            "finance": self.finance,
            "access-logs": self.access_logs,
        }

    def _noncurrent_rule(self) -> s3.LifecycleRule:
        return s3.LifecycleRule(
            id="expire-noncurrent-versions",
            noncurrent_version_expiration=Duration.days(self._config.noncurrent_version_days),
            abort_incomplete_multipart_upload_after=ABORT_INCOMPLETE_UPLOADS,
        )

    def _bucket(
        self,
        construct_id: str,
        purpose: str,
        *,
        versioned: bool,
        rules: Sequence[s3.LifecycleRule],
        key: kms.IKey | None = None,
    ) -> s3.Bucket:
        return s3.Bucket(
            self,
            construct_id,
            bucket_name=self._config.bucket_name(purpose),
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            encryption=s3.BucketEncryption.KMS,
            encryption_key=key or self._data_key,
            bucket_key_enabled=True,
            versioned=versioned,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=list(rules),
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix=f"{purpose}/",
            removal_policy=self._removal,
        )

    def _access_logs_bucket(self) -> s3.Bucket:
        bucket = s3.Bucket(
            self,
            "AccessLogs",
            bucket_name=self._config.bucket_name("access-logs"),
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            # S3 server access logging can only deliver to SSE-S3 buckets.
            encryption=s3.BucketEncryption.S3_MANAGED,
            versioned=False,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-access-logs",
                    expiration=Duration.days(self._config.access_log_retention_days),
                )
            ],
            removal_policy=self._removal,
        )
        acknowledge(
            bucket,
            "S1",
            "This is the access-log bucket itself; logging it into itself would loop",
        )
        return bucket


def _send_events_to_eventbridge(bucket: s3.Bucket) -> None:
    """EventBridge delivery as a plain bucket property: CDK's `event_bridge_enabled` would
    add a custom resource (a Lambda the local emulator would have to run)."""
    cfn = bucket.node.default_child
    assert isinstance(cfn, s3.CfnBucket)
    cfn.notification_configuration = s3.CfnBucket.NotificationConfigurationProperty(
        event_bridge_configuration=s3.CfnBucket.EventBridgeConfigurationProperty(
            event_bridge_enabled=True
        )
    )
