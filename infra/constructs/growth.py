"""The growth pipeline: account events ingestion and the weekly growth workflow.

- `account-events-ingest`: target of an EventBridge rule on the landing bucket's
  "Object Created" events under `account_events/`; validates, deduplicates (ledger in the
  state table), writes raw account events and quarantines bad lines.
- `growth-weekly` + the Step Functions workflow `state_machines/growth_weekly.asl.json`,
  scheduled Sunday 23:00 UTC so the week's status snapshot is there by the end of the week
  (the run book's SLA); it also rebuilds the monthly growth tables of the closed months.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from functions.core.growth_paths import ACCOUNT_EVENTS_PREFIX
from functions.core.landing import OBJECT_CREATED, S3_SOURCE
from functions.core.schemas import Database
from infra.constructs.asl import render_asl
from infra.constructs.pipeline_function import PipelineFunction
from infra.constructs.platform import Platform
from infra.nag import acknowledge, grant
from infra.stacks.pipelines_stack import PipelinesStack

ASL_PATH: Final = Path(__file__).resolve().parents[2] / "state_machines" / "growth_weekly.asl.json"
# Sunday 23:00 UTC: the week's snapshot is ready before the week ends (run book SLA).
WEEKLY_SCHEDULE: Final = events.Schedule.cron(minute="0", hour="23", week_day="SUN")
DELIVERY_RETRY_ATTEMPTS: Final = 8
DELIVERY_MAX_EVENT_AGE: Final = Duration.hours(6)
METRICS_REASON: Final = (
    "cloudwatch:PutMetricData supports no resource-level permission; the statement is "
    "limited to the pipeline's own namespace by the cloudwatch:namespace condition"
)


class GrowthPipeline(Construct):
    """Attributes: `ingest`, `weekly` (PipelineFunctions), `state_machine`, `rules`."""

    def __init__(self, scope: Construct, construct_id: str, *, platform: Platform) -> None:
        super().__init__(scope, construct_id)
        buckets = platform.buckets
        self.ingest = PipelineFunction(
            self,
            "Ingest",
            platform=platform,
            name="account-events-ingest",
            handler="functions.handlers.account_events_ingest.handler",
            description="Validates, deduplicates and lands account event files",
            timeout=Duration.minutes(5),
            memory_size_mb=1024,
            read_buckets=[buckets.landing],
            write_buckets=[buckets.raw, buckets.quarantine],
            state_table_access=True,
            glue_partition_databases=[Database.RAW],
        )
        self.weekly = PipelineFunction(
            self,
            "Weekly",
            platform=platform,
            name="growth-weekly",
            handler="functions.handlers.growth_weekly.handler",
            description="Weekly status snapshots, lifecycle issues and monthly growth",
            timeout=Duration.minutes(15),
            memory_size_mb=2048,
            read_buckets=[buckets.raw],
            write_buckets=[buckets.curated],
            glue_partition_databases=[Database.CURATED],
        )
        for function in (self.ingest, self.weekly):
            grant(
                function.role,
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                wildcard_reason=METRICS_REASON,
                conditions={
                    "StringEquals": {"cloudwatch:namespace": platform.config.metrics_namespace}
                },
            )
        landing_rule = events.Rule(
            self,
            "AccountEventFiles",
            description="S3 Object Created under account_events/ -> account events ingest",
            event_pattern=events.EventPattern(
                source=[S3_SOURCE],
                detail_type=[OBJECT_CREATED],
                detail={
                    "bucket": {"name": [buckets.landing.bucket_name]},
                    "object": {"key": [{"prefix": ACCOUNT_EVENTS_PREFIX}]},
                },
            ),
        )
        landing_rule.add_target(
            targets.LambdaFunction(
                self.ingest.function,
                retry_attempts=DELIVERY_RETRY_ATTEMPTS,
                max_event_age=DELIVERY_MAX_EVENT_AGE,
            )
        )
        self.state_machine = self._workflow(platform)
        weekly_rule = events.Rule(
            self,
            "WeeklySchedule",
            description="Weekly growth workflow, Sunday 23:00 UTC",
            schedule=WEEKLY_SCHEDULE,
        )
        weekly_rule.add_target(targets.SfnStateMachine(self.state_machine))
        self.rules = [landing_rule, weekly_rule]
        CfnOutput(
            Stack.of(self),
            "GrowthWeeklyStateMachineArn",
            value=self.state_machine.state_machine_arn,
            description="Weekly growth workflow",
        )

    def _workflow(self, platform: Platform) -> sfn.StateMachine:
        name = platform.config.resource_name("growth-weekly")
        log_group = logs.LogGroup(
            self,
            "WorkflowLogs",
            log_group_name=f"/aws/vendedlogs/states/{name}",
            removal_policy=(
                RemovalPolicy.RETAIN if platform.config.retain_data else RemovalPolicy.DESTROY
            ),
        )
        cfn_log_group = log_group.node.default_child
        assert isinstance(cfn_log_group, logs.CfnLogGroup)
        cfn_log_group.retention_in_days = platform.config.log_retention_days
        machine = sfn.StateMachine(
            self,
            "Workflow",
            state_machine_name=name,
            definition_body=sfn.DefinitionBody.from_string(
                render_asl(
                    ASL_PATH,
                    {
                        "WeeklyFunctionArn": self.weekly.function.function_arn,
                        "OnCallTopicArn": platform.topic.topic_arn,
                    },
                )
            ),
            timeout=Duration.hours(1),
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL),
        )
        self.weekly.function.grant_invoke(machine)
        platform.topic.grant_publish(machine)
        platform.keys.data.grant(machine, "kms:Decrypt", "kms:GenerateDataKey")
        function_id = Stack.of(self).resolve(self.weekly.function.node.default_child.logical_id)  # type: ignore[union-attr]
        for finding, reason in {
            "IAM5[Resource::*]": "Step Functions log delivery and X-Ray segments support no "
            "resource-level permission",
            f"IAM5[Resource::<{function_id}.Arn>:*]": "Invoking the weekly function's "
            "versions and aliases (CDK's grant_invoke)",
            "IAM5[Action::kms:GenerateDataKey*]": "Publishing to the encrypted on-call topic "
            "(CDK's key grant for SNS)",
        }.items():
            acknowledge(machine, finding, reason)
        return machine


def install(stack: PipelinesStack) -> None:
    """`infra.app.PIPELINES` entry."""
    GrowthPipeline(stack, "Growth", platform=stack.platform)
