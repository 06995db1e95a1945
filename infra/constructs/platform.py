"""The platform every pipeline builds on: keys, buckets, catalog, workgroups, topic, state,
roles, and the outputs other tools read.

Pipelines take the `Platform` as an argument:

    class EngagementPipeline(Construct):
        def __init__(self, scope, construct_id, *, platform: Platform) -> None:
            ...
            PipelineFunction(self, "Ingest", platform=platform, handler=..., ...)
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from functions.core import env
from functions.core.schemas import TABLES, Database, Table
from infra.config import PipelineConfig
from infra.constructs.access import AccessRoles
from infra.constructs.alerting import OnCallAlerting
from infra.constructs.athena import ANALYSTS, FINANCE, PIPELINES, AthenaWorkgroups
from infra.constructs.catalog import GlueCatalog
from infra.constructs.keys import EncryptionKeys
from infra.constructs.lambda_assets import LambdaAssets, dependencies_layer
from infra.constructs.state import PipelineState
from infra.constructs.storage import DataBuckets

# Output key -> description. Keys are stable API: the local deployer, the CLI and the
# end-to-end tests look them up by name. Values are set in `_outputs`.
BUCKET_OUTPUTS: dict[str, str] = {
    "landing": "LandingBucketName",
    "raw": "RawBucketName",
    "curated": "CuratedBucketName",
    "quarantine": "QuarantineBucketName",
    "reports": "ReportsBucketName",
    "finance": "FinanceBucketName",
    "athena-results": "AthenaResultsBucketName",
    "access-logs": "AccessLogsBucketName",
}
DATABASE_OUTPUTS: dict[Database, str] = {
    Database.RAW: "RawDatabaseName",
    Database.CURATED: "CuratedDatabaseName",
    Database.FINANCE: "FinanceDatabaseName",
    Database.OPS: "OpsDatabaseName",
}


class Platform(Construct):
    """Attributes: `config`, `keys` (.data, .finance), `buckets` (DataBuckets: .raw, ...),
    `catalog` (GlueCatalog), `glue_databases` (Database -> name), `workgroups`
    (.analysts, .finance, .names), `topic`, `state_table`, `roles` (.analyst, .finance,
    .oncall), `runtime_layer` (created on first use), `function_environment()`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PipelineConfig,
        tables: tuple[Table, ...] = TABLES,
        lambda_assets: LambdaAssets | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.config = config
        self.lambda_assets = lambda_assets or LambdaAssets()
        self.keys = EncryptionKeys(self, "Keys", config=config)
        self.buckets = DataBuckets(
            self, "Buckets", config=config, data_key=self.keys.data, finance_key=self.keys.finance
        )
        self.catalog = GlueCatalog(
            self, "Catalog", config=config, bucket_name_for=self.buckets.name_for, tables=tables
        )
        self.glue_databases: dict[Database, str] = dict(self.catalog.database_names)
        self.workgroups = AthenaWorkgroups(
            self,
            "Workgroups",
            config=config,
            results_bucket=self.buckets.athena_results,
            results_bucket_name=self.buckets.physical_name("athena-results"),
            data_key=self.keys.data,
            finance_key=self.keys.finance,
        )
        self.topic = OnCallAlerting(self, "Alerting", config=config, key=self.keys.data).topic
        self.state_table = PipelineState(self, "State", config=config, key=self.keys.data).table
        self.roles = AccessRoles(
            self,
            "Roles",
            config=config,
            buckets=self.buckets,
            data_key=self.keys.data,
            finance_key=self.keys.finance,
            catalog=self.catalog,
            workgroups=self.workgroups,
            state_table=self.state_table,
            topic=self.topic,
        )
        self._runtime_layer: lambda_.LayerVersion | None = None
        self._outputs()

    @property
    def runtime_layer(self) -> lambda_.LayerVersion:
        """The shared dependency layer; created when the first function asks for it, so a
        platform without functions synthesizes without a built layer."""
        if self._runtime_layer is None:
            self._runtime_layer = dependencies_layer(
                self, "RuntimeLayer", assets=self.lambda_assets
            )
        return self._runtime_layer

    def function_environment(self) -> dict[str, str]:
        """Environment every pipeline function gets (names from functions/core/env.py)."""
        config = self.config
        return {
            env.LANDING_BUCKET: self.buckets.landing.bucket_name,
            env.RAW_BUCKET: self.buckets.raw.bucket_name,
            env.CURATED_BUCKET: self.buckets.curated.bucket_name,
            env.QUARANTINE_BUCKET: self.buckets.quarantine.bucket_name,
            env.REPORTS_BUCKET: self.buckets.reports.bucket_name,
            env.FINANCE_BUCKET: self.buckets.finance.bucket_name,
            env.STATE_TABLE: self.state_table.table_name,
            env.ONCALL_TOPIC_ARN: self.topic.topic_arn,
            env.GLUE_DATABASE_RAW: self.glue_databases[Database.RAW],
            env.GLUE_DATABASE_CURATED: self.glue_databases[Database.CURATED],
            env.GLUE_DATABASE_FINANCE: self.glue_databases[Database.FINANCE],
            env.METRICS_NAMESPACE: config.metrics_namespace,
            env.POWERTOOLS_METRICS_NAMESPACE: config.metrics_namespace,
            env.ENVIRONMENT_NAME: config.env_name,
            env.ALLOWED_LATENESS_DAYS: str(config.allowed_lateness_days),
            env.SESSION_GAP_MINUTES: str(config.session_gap_minutes),
        }

    def alarm_name(self, purpose: str) -> str:
        """Alarm names carry the environment prefix: the on-call role may only touch those."""
        return self.config.resource_name(purpose)

    def _outputs(self) -> None:
        # Outputs are created on the stack itself so their logical ids (the output keys)
        # are exactly these names, with no construct-path hash.
        stack = Stack.of(self)
        for purpose, key in BUCKET_OUTPUTS.items():
            bucket = self.buckets.all[purpose]
            CfnOutput(stack, key, value=bucket.bucket_name, description=f"{purpose} bucket")
        for database, key in DATABASE_OUTPUTS.items():
            CfnOutput(
                stack,
                key,
                value=self.glue_databases[database],
                description=f"Glue database {database.value}",
            )
        values = {
            "OnCallTopicArn": (self.topic.topic_arn, "On-call SNS topic"),
            "StateTableName": (self.state_table.table_name, "Pipeline state table"),
            "DataKeyArn": (self.keys.data.key_arn, "KMS key of pipeline data"),
            "FinanceKeyArn": (self.keys.finance.key_arn, "KMS key of finance data"),
            "AnalystsWorkgroupName": (self.workgroups.names[ANALYSTS], "Athena workgroup"),
            "FinanceWorkgroupName": (self.workgroups.names[FINANCE], "Athena workgroup"),
            "PipelinesWorkgroupName": (self.workgroups.names[PIPELINES], "Athena workgroup"),
            "AnalystRoleArn": (self.roles.analyst.role_arn, "Analyst role"),
            "FinanceRoleArn": (self.roles.finance.role_arn, "Finance role"),
            "OnCallRoleArn": (self.roles.oncall.role_arn, "On-call role"),
            "EnvironmentName": (self.config.env_name, "cdk.json environment"),
            "NamePrefix": (self.config.name_prefix, "Prefix of every resource name"),
            "MetricsNamespace": (self.config.metrics_namespace, "CloudWatch namespace"),
        }
        for key, (value, description) in values.items():
            CfnOutput(stack, key, value=value, description=description)
