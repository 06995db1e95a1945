"""Athena workgroups: analysts, finance and the pipelines' own, each with an enforced,
encrypted result location under its own prefix of the results bucket."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_athena as athena
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.config import (
    ANALYSTS_WORKGROUP,
    FINANCE_WORKGROUP,
    PIPELINES_WORKGROUP,
    PipelineConfig,
)

ANALYSTS = ANALYSTS_WORKGROUP
FINANCE = FINANCE_WORKGROUP
PIPELINES = PIPELINES_WORKGROUP
# Guards against a runaway scan: 100 GB per query is far above any report here.
BYTES_SCANNED_CUTOFF = 100 * 1024**3


def results_prefix(workgroup: str) -> str:
    """Each workgroup writes only under its own prefix of the results bucket."""
    return f"{workgroup}/"


def results_location(bucket_name: str, workgroup: str) -> str:
    # A literal name rather than a Ref: the local deployer creates workgroups from the
    # template (moto's CloudFormation skips them) and can use a plain string as it is.
    return f"s3://{bucket_name}/{results_prefix(workgroup)}"


class AthenaWorkgroups(Construct):
    """Attributes: `analysts`, `finance`, `pipelines` (CfnWorkGroup), `names` (short name ->
    name)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PipelineConfig,
        results_bucket: s3.Bucket,
        results_bucket_name: str,
        data_key: kms.IKey,
        finance_key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        self.names = {
            ANALYSTS: config.workgroup_name(ANALYSTS),
            FINANCE: config.workgroup_name(FINANCE),
            PIPELINES: config.workgroup_name(PIPELINES),
        }
        self._results_bucket_name = results_bucket_name
        removal = RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY
        self.analysts = self._workgroup(
            "Analysts", ANALYSTS, results_bucket, data_key, "Analyst queries (no finance data)"
        )
        # Finance results are encrypted with the finance key: a Deny on that key keeps
        # analysts from reading them even though they share the results bucket.
        self.finance = self._workgroup(
            "Finance", FINANCE, results_bucket, finance_key, "Finance queries (restricted)"
        )
        # The daily engagement workflow's queries (functions/handlers/engagement_athena.py):
        # engagement data only, so the data key, as the analysts'.
        self.pipelines = self._workgroup(
            "Pipelines", PIPELINES, results_bucket, data_key, "The pipelines' own queries"
        )
        for workgroup in (self.analysts, self.finance, self.pipelines):
            workgroup.apply_removal_policy(removal)
            workgroup.node.add_dependency(results_bucket)

    def _workgroup(
        self,
        construct_id: str,
        short_name: str,
        results_bucket: s3.Bucket,
        key: kms.IKey,
        description: str,
    ) -> athena.CfnWorkGroup:
        return athena.CfnWorkGroup(
            self,
            construct_id,
            name=self.names[short_name],
            description=description,
            state="ENABLED",
            recursive_delete_option=True,
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=BYTES_SCANNED_CUTOFF,
                requester_pays_enabled=False,
                engine_version=athena.CfnWorkGroup.EngineVersionProperty(
                    selected_engine_version="Athena engine version 3"
                ),
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=results_location(self._results_bucket_name, short_name),
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_KMS", kms_key=key.key_arn
                    ),
                ),
            ),
        )
