"""The experiment pipeline: Data Science file ingestion and the weekly experiment workflow.

- `experiments-ingest`: target of an EventBridge rule on the landing bucket's "Object
  Created" events under `experiments/` and `assignments/`; validates, deduplicates and
  lands definitions and assignments in the raw bucket, quarantines bad lines.
- `experiments-weekly` behind the Step Functions workflow
  `state_machines/experiments_weekly.asl.json`, scheduled every day at 06:00 UTC, after the
  daily engagement run (02:00): each run rebuilds the latest closed week (through its
  Sunday), so the tables follow late clicks within a day, as the engagement tables do. It writes
  experiment_assignments, experiment_unit_daily, experiment_covariates and
  experiment_health_weekly, and publishes ExperimentsFailingSrm (the SRM alarm's metric).

Context (`cdk deploy -c NAME=VALUE`): `experiment_srm_p_threshold` (default 0.001) flags an
experiment whose sample ratio p-value is below it; `experiment_pre_period_days` (default
14) is the CUPED pre-period.
"""

from __future__ import annotations

from typing import Final

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from constructs import Construct

from functions.core import env
from functions.core.defaults import DEFAULT_PRE_PERIOD_DAYS
from functions.core.errors import ConfigurationError
from functions.core.landing import LANDING_PREFIXES, BucketRole
from functions.core.schemas import Database
from functions.core.transform.experiments_stats import DEFAULT_P_THRESHOLD
from infra.constructs.landing_rule import landing_files_rule
from infra.constructs.pipeline_function import PipelineFunction
from infra.constructs.platform import Platform
from infra.constructs.workflow import STATE_MACHINES_DIR, PipelineWorkflow

ASL_PATH: Final = STATE_MACHINES_DIR / "experiments_weekly.asl.json"
SOURCES: Final = ("experiments", "assignments")
# Every day at 06:00 UTC, after engagement's daily run (02:00) aggregated yesterday and every
# day a late click dirtied: the latest closed week is rebuilt with them (unchanged files are
# not written again), so the experiment tables never lag the clicks by more than a day.
DAILY_SCHEDULE: Final = events.Schedule.cron(minute="0", hour="6")
SRM_THRESHOLD_CONTEXT: Final = "experiment_srm_p_threshold"
PRE_PERIOD_CONTEXT: Final = "experiment_pre_period_days"


def _settings(scope: Construct) -> dict[str, str]:
    raw_threshold = scope.node.try_get_context(SRM_THRESHOLD_CONTEXT)
    raw_days = scope.node.try_get_context(PRE_PERIOD_CONTEXT)
    threshold = DEFAULT_P_THRESHOLD if raw_threshold is None else float(raw_threshold)
    days = DEFAULT_PRE_PERIOD_DAYS if raw_days is None else int(raw_days)
    if not 0 < threshold < 1:
        raise ConfigurationError(f"{SRM_THRESHOLD_CONTEXT} must be in (0, 1), got {threshold}")
    if days < 1:
        raise ConfigurationError(f"{PRE_PERIOD_CONTEXT} must be at least 1, got {days}")
    return {
        env.EXPERIMENT_SRM_P_THRESHOLD: repr(threshold),
        env.EXPERIMENT_PRE_PERIOD_DAYS: str(days),
    }


class ExperimentsPipeline(Construct):
    """Attributes: `ingest`, `weekly` (PipelineFunctions), `state_machine`, `rules`."""

    def __init__(self, scope: Construct, construct_id: str, *, platform: Platform) -> None:
        super().__init__(scope, construct_id)
        buckets = platform.buckets
        self.ingest = PipelineFunction(
            self,
            "Ingest",
            platform=platform,
            name="experiments-ingest",
            handler="functions.handlers.experiments_ingest.handler",
            description="Validates and lands experiment definitions and assignments",
            timeout=Duration.minutes(5),
            memory_size_mb=1024,
            read_buckets=[buckets.landing],
            write_buckets=[buckets.raw, buckets.quarantine],
            glue_partition_databases=[Database.RAW],
            publish_metrics=True,
        )
        self.weekly = PipelineFunction(
            self,
            "Weekly",
            platform=platform,
            name="experiments-weekly",
            handler="functions.handlers.experiments_weekly.handler",
            description="Weekly experiment dataset: assignments, unit daily, CUPED, SRM checks",
            timeout=Duration.minutes(15),
            memory_size_mb=2048,
            read_buckets=[buckets.raw],
            # quarantine: assignments of account units that no account event created
            write_buckets=[buckets.curated, buckets.quarantine],
            glue_partition_databases=[Database.CURATED],
            environment=_settings(self),
            publish_metrics=True,
        )
        landing_rule = landing_files_rule(
            self,
            "LandingFiles",
            bucket=buckets.landing,
            key_prefixes=[
                p.prefix
                for p in LANDING_PREFIXES
                if p.bucket is BucketRole.LANDING and p.source in SOURCES
            ],
            function=self.ingest.function,
            description="S3 Object Created under experiments/, assignments/ -> experiments ingest",
        )
        self.workflow = PipelineWorkflow(
            self,
            "Workflow",
            platform=platform,
            name="experiments-weekly",
            functions={"WeeklyFunctionArn": self.weekly},
            timeout=Duration.hours(1),
            asl_path=ASL_PATH,
        )
        self.state_machine = self.workflow.state_machine
        daily_rule = events.Rule(
            self,
            "DailySchedule",
            description="Experiment workflow of the latest closed week, daily 06:00 UTC",
            schedule=DAILY_SCHEDULE,
        )
        daily_rule.add_target(targets.SfnStateMachine(self.state_machine))
        self.rules = [landing_rule, daily_rule]
        stack = Stack.of(self)
        CfnOutput(
            stack,
            "ExperimentsWeeklyStateMachineArn",
            value=self.state_machine.state_machine_arn,
            description="Weekly experiment workflow",
        )
        CfnOutput(
            stack,
            "ExperimentsIngestFunctionName",
            value=self.ingest.function.function_name,
            description="Experiment definitions and assignments ingestion",
        )
