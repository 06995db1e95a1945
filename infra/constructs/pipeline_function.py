"""`PipelineFunction`: the one way pipelines define a Lambda.

Python 3.12 on x86_64, the shared code asset (the `functions` package) plus the shared
dependency layer, the platform environment, its own log group with retention, X-Ray, its
own role with nothing but the grants passed in (no managed policies).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from aws_cdk import Duration, RemovalPolicy, Size, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from functions.core import env
from functions.core.errors import ConfigurationError
from functions.core.schemas import Database
from infra.constructs.catalog import glue_arns
from infra.constructs.lambda_assets import ARCHITECTURE, RUNTIME
from infra.constructs.platform import Platform
from infra.nag import acknowledge, grant

_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{1,40}$")
_HANDLER_RE = re.compile(r"^functions\.handlers\.[a-z0-9_.]+\.[a-z_][a-z0-9_]*$")
MAX_TIMEOUT = Duration.minutes(15)

OBJECTS_REASON = (
    "The function reads or writes objects anywhere in this bucket (partitioned tables "
    "whose keys are only known at run time)"
)
METRICS_REASON = (
    "cloudwatch:PutMetricData supports no resource-level permission; the statement is "
    "limited to the pipeline's own namespace by the cloudwatch:namespace condition"
)
GLUE_REASON = "Registers partitions of any table of this database (tables come from the registry)"


class PipelineFunction(Construct):
    """Attributes: `function`, `role`, `log_group`, `name` (the deployed function name)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        platform: Platform,
        name: str,
        handler: str,
        description: str,
        timeout: Duration,
        memory_size_mb: int = 1024,
        ephemeral_storage_mb: int = 512,
        reserved_concurrency: int | None = None,
        environment: Mapping[str, str] | None = None,
        read_buckets: Sequence[s3.IBucket] = (),
        write_buckets: Sequence[s3.IBucket] = (),
        state_table_access: bool = False,
        publish_alerts: bool = False,
        publish_metrics: bool = False,
        glue_partition_databases: Sequence[Database] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        _validate(name=name, handler=handler, timeout=timeout)
        _require_handler_module(platform.lambda_assets.code_dir, handler)
        config = platform.config
        self.name = config.resource_name(name)
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=f"/aws/lambda/{self.name}",
            removal_policy=RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY,
        )
        # Any value CloudWatch accepts (validated in config), not only RetentionDays members.
        log_group_cfn = self.log_group.node.default_child
        assert isinstance(log_group_cfn, logs.CfnLogGroup)
        log_group_cfn.retention_in_days = config.log_retention_days

        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Lambda {self.name}",
        )
        grant(
            self.role,
            actions=["logs:CreateLogStream", "logs:PutLogEvents"],
            resources=[self.log_group.log_group_arn],
        )
        self.function = lambda_.Function(
            self,
            "Function",
            function_name=self.name,
            description=description,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=handler,
            code=platform.lambda_assets.code(),
            layers=[platform.runtime_layer],
            role=self.role,
            timeout=timeout,
            memory_size=memory_size_mb,
            ephemeral_storage_size=Size.mebibytes(ephemeral_storage_mb),
            reserved_concurrent_executions=reserved_concurrency,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=self.log_group,
            environment={
                **platform.function_environment(),
                env.POWERTOOLS_SERVICE_NAME: name,
                **(environment or {}),
            },
        )
        acknowledge(
            self.function,
            "L1",
            "Pinned to python3.12: the shared layer holds cp312 manylinux wheels of the "
            "pinned pyarrow and duckdb; moving runtime means rebuilding and retesting it",
        )
        acknowledge(
            self.role,
            "IAM5[Resource::*]",
            "X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level permission",
        )
        self._grant_buckets(read_buckets, write_buckets)
        if state_table_access:
            self._grant_state(platform)
        if publish_alerts:
            grant(self.role, actions=["sns:Publish"], resources=[platform.topic.topic_arn])
            grant(
                self.role,
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=[platform.keys.data.key_arn],
            )
        if publish_metrics:
            grant(
                self.role,
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                wildcard_reason=METRICS_REASON,
                conditions={"StringEquals": {"cloudwatch:namespace": config.metrics_namespace}},
            )
        if glue_partition_databases:
            self._grant_glue(platform, glue_partition_databases)

    def _grant_buckets(
        self, read_buckets: Sequence[s3.IBucket], write_buckets: Sequence[s3.IBucket]
    ) -> None:
        every = [*read_buckets, *write_buckets]
        if not every:
            return
        grant(
            self.role,
            actions=["s3:ListBucket", "s3:GetBucketLocation"],
            resources=[b.bucket_arn for b in every],
        )
        grant(
            self.role,
            actions=["s3:GetObject"],
            resources=[b.arn_for_objects("*") for b in every],
            wildcard_reason=OBJECTS_REASON,
        )
        read_keys = [b.encryption_key.key_arn for b in every if b.encryption_key]
        if read_keys:
            grant(self.role, actions=["kms:Decrypt"], resources=sorted(set(read_keys), key=str))
        if write_buckets:
            grant(
                self.role,
                actions=["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
                resources=[b.arn_for_objects("*") for b in write_buckets],
                wildcard_reason=OBJECTS_REASON,
            )
            write_keys = [b.encryption_key.key_arn for b in write_buckets if b.encryption_key]
            if write_keys:
                grant(
                    self.role,
                    actions=["kms:GenerateDataKey"],
                    resources=sorted(set(write_keys), key=str),
                )

    def _grant_state(self, platform: Platform) -> None:
        grant(
            self.role,
            actions=[
                "dynamodb:GetItem",
                # reads of many keys at once (the account-events ingest's duplicate check)
                "dynamodb:BatchGetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:DeleteItem",
                "dynamodb:Query",
                "dynamodb:ConditionCheckItem",
            ],
            resources=[platform.state_table.table_arn],
        )
        grant(
            self.role,
            actions=["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
            resources=[platform.keys.data.key_arn],
        )

    def _grant_glue(self, platform: Platform, databases: Sequence[Database]) -> None:
        stack = Stack.of(self)
        names = [platform.glue_databases[db] for db in databases]
        grant(
            self.role,
            actions=[
                "glue:GetTable",
                "glue:GetPartition",
                "glue:GetPartitions",
                "glue:BatchCreatePartition",
                "glue:CreatePartition",
                "glue:UpdatePartition",
            ],
            resources=glue_arns(stack, names),
            wildcard_reason=GLUE_REASON,
        )


def _validate(*, name: str, handler: str, timeout: Duration) -> None:
    if not _NAME_RE.match(name):
        raise ValueError(f"function name {name!r}: use 2-41 lowercase letters, digits, hyphens")
    if not _HANDLER_RE.match(handler):
        raise ValueError(f"handler {handler!r} must be functions.handlers.<module>.<function>")
    if timeout.to_seconds() > MAX_TIMEOUT.to_seconds():
        raise ValueError("Lambda timeout cannot exceed 15 minutes")


def _require_handler_module(code_dir: Path, handler: str) -> None:
    """Fail at synth, not at the first invocation, when the handler's module is missing."""
    module = handler.rsplit(".", 1)[0]
    path = code_dir.joinpath(*module.split(".")).with_suffix(".py")
    if not path.is_file():
        raise ConfigurationError(
            f"handler {handler}: no {path} in the Lambda code asset; add the module, then "
            f"run `python -m infra.lambda_build` to refresh {code_dir}"
        )
