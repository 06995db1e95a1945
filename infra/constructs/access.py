"""Human roles with least privilege: analyst, finance and on-call.

The analyst role reads raw and curated data (never restricted: restricted tables live only
in the finance bucket) and is explicitly DENIED the finance bucket, the finance key, the
finance workgroup and the finance Glue database, so no later Allow can open them.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from functions.core.schemas import Database
from infra.config import PipelineConfig
from infra.constructs.athena import ANALYSTS, FINANCE, AthenaWorkgroups, results_prefix
from infra.constructs.catalog import GlueCatalog, glue_arns
from infra.constructs.storage import DataBuckets
from infra.nag import deny, grant

ATHENA_QUERY_ACTIONS: tuple[str, ...] = (
    "athena:StartQueryExecution",
    "athena:StopQueryExecution",
    "athena:GetQueryExecution",
    "athena:GetQueryResults",
    "athena:GetQueryResultsStream",
    "athena:ListQueryExecutions",
    "athena:GetWorkGroup",
)
GLUE_READ_ACTIONS: tuple[str, ...] = (
    "glue:GetDatabase",
    "glue:GetDatabases",
    "glue:GetTable",
    "glue:GetTables",
    "glue:GetPartition",
    "glue:GetPartitions",
    "glue:BatchGetPartition",
)
OBJECT_READ_REASON = (
    "Read access to every object of a data bucket this role may query: Athena reads "
    "whole table prefixes, and object keys are not known in advance"
)
RESULTS_REASON = (
    "Athena writes and reads query results under this workgroup's own prefix of the "
    "results bucket; result object names are generated per query"
)
GLUE_TABLES_REASON = (
    "Catalog read of every table of a database this role may query; tables are added "
    "by later pipelines"
)


class AccessRoles(Construct):
    """Attributes: `analyst`, `finance`, `oncall` (each an `iam.Role`)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PipelineConfig,
        buckets: DataBuckets,
        data_key: kms.IKey,
        finance_key: kms.IKey,
        catalog: GlueCatalog,
        workgroups: AthenaWorkgroups,
        state_table: dynamodb.ITable,
        topic: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        self._buckets = buckets
        self._catalog = catalog
        self._workgroups = workgroups
        self.analyst = self._human_role("Analyst", "analyst", "Query raw and curated data")
        self.finance = self._human_role("Finance", "finance", "Query restricted finance data")
        self.oncall = self._human_role("OnCall", "oncall", "Watch and acknowledge alarms")

        self._query_access(
            self.analyst,
            workgroup=ANALYSTS,
            data_buckets=[buckets.raw, buckets.curated],
            databases=[Database.RAW, Database.CURATED],
            read_keys=[data_key],
            results_key=data_key,
        )
        self._deny_finance(self.analyst, finance_key)

        self._query_access(
            self.finance,
            workgroup=FINANCE,
            data_buckets=[buckets.finance, buckets.curated],
            databases=[Database.FINANCE, Database.CURATED],
            read_keys=[finance_key, data_key],
            results_key=finance_key,
        )
        self._oncall_access(self.oncall, state_table=state_table, topic=topic, key=data_key)

    def _human_role(self, construct_id: str, purpose: str, description: str) -> iam.Role:
        # Assumed by people of this account (SSO or IAM users), never by a service.
        return iam.Role(
            self,
            construct_id,
            role_name=self._config.resource_name(purpose),
            assumed_by=iam.AccountRootPrincipal(),
            description=f"Pablo pipelines {purpose}: {description}",
        )

    def _query_access(
        self,
        role: iam.Role,
        *,
        workgroup: str,
        data_buckets: Sequence[s3.IBucket],
        databases: Sequence[Database],
        read_keys: Sequence[kms.IKey],
        results_key: kms.IKey,
    ) -> None:
        results = self._buckets.athena_results
        grant(
            role,
            actions=["s3:ListBucket", "s3:GetBucketLocation"],
            resources=[b.bucket_arn for b in [*data_buckets, results]],
        )
        grant(
            role,
            actions=["s3:GetObject"],
            resources=[b.arn_for_objects("*") for b in data_buckets],
            wildcard_reason=OBJECT_READ_REASON,
        )
        grant(
            role,
            actions=["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"],
            resources=[results.arn_for_objects(f"{results_prefix(workgroup)}*")],
            wildcard_reason=RESULTS_REASON,
        )
        grant(role, actions=["kms:Decrypt"], resources=[k.key_arn for k in read_keys])
        grant(
            role,
            actions=["kms:Decrypt", "kms:GenerateDataKey"],
            resources=[results_key.key_arn],
        )
        grant(role, actions=list(ATHENA_QUERY_ACTIONS), resources=[self._workgroup_arn(workgroup)])
        stack = Stack.of(self)
        names = [self._catalog.database_names[db] for db in databases]
        grant(
            role,
            actions=list(GLUE_READ_ACTIONS),
            resources=glue_arns(stack, names),
            wildcard_reason=GLUE_TABLES_REASON,
        )

    def _deny_finance(self, role: iam.Role, finance_key: kms.IKey) -> None:
        finance_bucket = self._buckets.finance
        finance_db = self._catalog.database_names[Database.FINANCE]
        stack = Stack.of(self)
        deny(
            role,
            actions=["s3:*"],
            resources=[finance_bucket.bucket_arn, finance_bucket.arn_for_objects("*")],
        )
        deny(role, actions=["kms:*"], resources=[finance_key.key_arn])
        deny(role, actions=["athena:*"], resources=[self._workgroup_arn(FINANCE)])
        deny(
            role,
            actions=["glue:*"],
            resources=[
                stack.format_arn(service="glue", resource="database", resource_name=finance_db),
                stack.format_arn(service="glue", resource="table", resource_name=f"{finance_db}/*"),
            ],
        )

    def _oncall_access(
        self, role: iam.Role, *, state_table: dynamodb.ITable, topic: sns.ITopic, key: kms.IKey
    ) -> None:
        stack = Stack.of(self)
        grant(
            role,
            actions=[
                "cloudwatch:DescribeAlarms",
                "cloudwatch:DescribeAlarmHistory",
                "cloudwatch:GetMetricData",
                "cloudwatch:ListMetrics",
            ],
            resources=["*"],
            wildcard_reason=(
                "CloudWatch's Describe/Get/List actions do not support resource-level "
                "permissions; they are read-only"
            ),
        )
        grant(
            role,
            actions=["cloudwatch:EnableAlarmActions", "cloudwatch:DisableAlarmActions"],
            resources=[
                stack.format_arn(
                    service="cloudwatch",
                    resource="alarm",
                    resource_name=f"{self._config.name_prefix}-*",
                    arn_format=ArnFormat.COLON_RESOURCE_NAME,
                )
            ],
            wildcard_reason=(
                "On-call may silence or restore the actions of this project's alarms, all "
                "named with the environment prefix, and of no other alarm"
            ),
        )
        grant(
            role,
            actions=[
                "dynamodb:GetItem",
                "dynamodb:Query",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                # `pablo oncall replay-quarantine` marks the replayed records in batches
                "dynamodb:BatchWriteItem",
            ],
            resources=[state_table.table_arn],
        )
        grant(
            role,
            actions=["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
            resources=[key.key_arn],
        )
        grant(
            role,
            actions=["sns:GetTopicAttributes", "sns:ListSubscriptionsByTopic"],
            resources=[topic.topic_arn],
        )

    def _workgroup_arn(self, short_name: str) -> str:
        return Stack.of(self).format_arn(
            service="athena", resource="workgroup", resource_name=self._workgroups.names[short_name]
        )
