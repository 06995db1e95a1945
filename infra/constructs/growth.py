"""The growth pipeline: account events ingestion and the weekly growth workflow.

- `account-events-ingest`: target of an EventBridge rule on the landing bucket's
  "Object Created" events under `account_events/`; validates, deduplicates (ledger in the
  state table), writes raw account events and quarantines bad lines.
- `growth-weekly` + the Step Functions workflow `state_machines/growth_weekly.asl.json`,
  scheduled Sunday 23:00 UTC so the week's status snapshot is there by the end of the week
  (the run book's SLA); it also rebuilds the monthly growth tables of the closed months.
"""

from __future__ import annotations

from typing import Final

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from constructs import Construct

from functions.core.schemas import Database
from functions.core.transform.growth_paths import ACCOUNT_EVENTS_PREFIX
from infra.constructs.landing_rule import landing_files_rule
from infra.constructs.pipeline_function import PipelineFunction
from infra.constructs.platform import Platform
from infra.constructs.workflow import STATE_MACHINES_DIR, PipelineWorkflow

ASL_PATH: Final = STATE_MACHINES_DIR / "growth_weekly.asl.json"
# Sunday 23:00 UTC: the week's snapshot is ready before the week ends (run book SLA).
WEEKLY_SCHEDULE: Final = events.Schedule.cron(minute="0", hour="23", week_day="SUN")


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
            publish_metrics=True,
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
            # quarantine: the events of accounts that no account event created
            write_buckets=[buckets.curated, buckets.quarantine],
            glue_partition_databases=[Database.CURATED],
            publish_metrics=True,
        )
        landing_rule = landing_files_rule(
            self,
            "AccountEventFiles",
            bucket=buckets.landing,
            key_prefixes=[ACCOUNT_EVENTS_PREFIX],
            function=self.ingest.function,
            description="S3 Object Created under account_events/ -> account events ingest",
        )
        self.workflow = PipelineWorkflow(
            self,
            "Workflow",
            platform=platform,
            name="growth-weekly",
            functions={"WeeklyFunctionArn": self.weekly},
            timeout=Duration.hours(1),
            asl_path=ASL_PATH,
        )
        self.state_machine = self.workflow.state_machine
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
