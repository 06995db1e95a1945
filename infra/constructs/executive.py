"""The executive reporting pipeline: monthly and weekly KPI workflows, their starter, the
daily check that every due report exists.

- `executive-starter`: EventBridge rules cannot name an execution, and the name
  (`monthly-YYYY-MM`, `weekly-<Sunday>`) is what refuses a second run of a period, so the
  schedules target this function, which calls StartExecution with the name
  (ExecutionAlreadyExists = already started). Monthly on day 5 at 07:00 UTC (profit runs on
  day 4 at 06:00 after the ledger lands on day 3); weekly on Monday at 08:00 UTC (growth's
  snapshot is built Sunday 23:00, engagement's Sunday on Monday 02:00). The same function
  runs the daily check (09:00 UTC) behind the executive alarms.
- `executive-freshness`: the workflows' freshness gate; starts upstream backfills (the
  engagement, growth and profit workflows).
- `executive-kpi`: the aggregates, the join, the reconciliation gate, the report, publication.

Context `executive_freshness_wait_seconds` (default 900; 1 in the `local` environment,
whose Wait states take real seconds while the simulated clock stands still) and
`executive_freshness_max_checks` (default 8; 120 locally) bound how long a run waits for a
backfill: two hours in AWS, two minutes in the emulator.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from aws_cdk import ArnFormat, CfnOutput, Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from constructs import Construct

from functions.core import env
from functions.core.defaults import DEFAULT_MAX_CHECKS, DEFAULT_WAIT_SECONDS
from functions.core.schemas import Database
from infra.constructs.athena import PIPELINES, results_prefix
from infra.constructs.catalog import glue_arns
from infra.constructs.pipeline_function import PipelineFunction
from infra.constructs.platform import Platform
from infra.constructs.workflow import STATE_MACHINES_DIR, PipelineWorkflow
from infra.nag import grant

# One definition for both grains: `${Cadence}`, `${CadenceTitle}` and `${Upstreams}` are
# filled per grain at synth, the function and topic ARNs as in every workflow.
ASL_TEMPLATE: Final = STATE_MACHINES_DIR / "executive.asl.json"
MONTHLY_SCHEDULE: Final = events.Schedule.cron(minute="0", hour="7", day="5", month="*")
WEEKLY_SCHEDULE: Final = events.Schedule.cron(minute="0", hour="8", week_day="MON")
CHECK_SCHEDULE: Final = events.Schedule.cron(minute="0", hour="9")
WAIT_CONTEXT: Final = "executive_freshness_wait_seconds"
CHECKS_CONTEXT: Final = "executive_freshness_max_checks"
LOCAL_ENV: Final = "local"
LOCAL_WAIT_SECONDS: Final = 1
LOCAL_MAX_CHECKS: Final = 120
# The upstream workflows a stale input is backfilled with (PipelineWorkflow short names).
UPSTREAM_WORKFLOWS: Final = {
    env.ENGAGEMENT_WORKFLOW_ARN: "engagement-daily",
    env.GROWTH_WORKFLOW_ARN: "growth-weekly",
    env.PROFIT_WORKFLOW_ARN: "profit-monthly",
}


@dataclass(frozen=True)
class ExecutiveGrain:
    """What the executive workflow of one grain says about itself: its cadence (`monthly`,
    in names, subjects and the execution name's prefix) and the upstreams its gate checks."""

    cadence: str
    upstreams: str

    @property
    def workflow_name(self) -> str:
        """The PipelineWorkflow short name, e.g. `executive-monthly`."""
        return f"executive-{self.cadence}"

    def asl_values(self) -> Mapping[str, str]:
        return {
            "Cadence": self.cadence,
            "CadenceTitle": self.cadence.capitalize(),
            "Upstreams": self.upstreams,
        }


MONTHLY: Final = ExecutiveGrain(cadence="monthly", upstreams="engagement, growth and profit")
WEEKLY: Final = ExecutiveGrain(cadence="weekly", upstreams="engagement and growth")


class ExecutivePipeline(Construct):
    """Attributes: `starter`, `freshness`, `kpi` (PipelineFunctions), `monthly`, `weekly`
    (PipelineWorkflows), `rules`."""

    def __init__(self, scope: Construct, construct_id: str, *, platform: Platform) -> None:
        super().__init__(scope, construct_id)
        buckets = platform.buckets
        # In the local emulator a Wait state takes real seconds while the simulated clock
        # stands still between ticks: wait briefly there, at AWS pace elsewhere.
        local = platform.config.env_name == LOCAL_ENV
        wait = int(
            self.node.try_get_context(WAIT_CONTEXT)
            or (LOCAL_WAIT_SECONDS if local else DEFAULT_WAIT_SECONDS)
        )
        checks = int(
            self.node.try_get_context(CHECKS_CONTEXT)
            or (LOCAL_MAX_CHECKS if local else DEFAULT_MAX_CHECKS)
        )
        upstream_arns = {
            variable: self._state_machine_arn(platform, name)
            for variable, name in UPSTREAM_WORKFLOWS.items()
        }
        self.freshness = PipelineFunction(
            self,
            "Freshness",
            platform=platform,
            name="executive-freshness",
            handler="functions.handlers.executive_freshness.handler",
            description="Freshness gate of the executive workflows; starts upstream backfills",
            timeout=Duration.minutes(2),
            memory_size_mb=512,
            read_buckets=[buckets.curated],
            state_table_access=True,
            environment={
                **upstream_arns,
                env.FRESHNESS_WAIT_SECONDS: str(wait),
                env.FRESHNESS_MAX_CHECKS: str(checks),
            },
        )
        grant(
            self.freshness.role,
            actions=["states:StartExecution"],
            resources=sorted(upstream_arns.values()),
        )
        # A backfill still running is waited for, not started again (executive_freshness).
        grant(
            self.freshness.role,
            actions=["states:ListExecutions"],
            resources=sorted(upstream_arns.values()),
        )
        self.kpi = PipelineFunction(
            self,
            "Kpi",
            platform=platform,
            name="executive-kpi",
            handler="functions.handlers.executive_kpi.handler",
            description="Executive KPIs: aggregates, join, reconciliation gate, report, publish",
            timeout=Duration.minutes(15),
            memory_size_mb=3008,
            # DuckDB spills the join to /tmp past its 1 GB limit instead of running out.
            ephemeral_storage_mb=4096,
            read_buckets=[buckets.curated],
            write_buckets=[buckets.curated, buckets.reports],
            state_table_access=True,
            glue_partition_databases=[Database.CURATED],
            publish_metrics=True,
            environment={
                env.ATHENA_WORKGROUP: platform.workgroups.names[PIPELINES],
                env.ATHENA_POLL_SECONDS: str(platform.config.athena_poll_seconds),
                env.EXECUTIVE_ATHENA_MIN_INPUT_BYTES: str(
                    platform.config.executive_athena_min_input_bytes
                ),
            },
        )
        self.monthly = self._workflow("Monthly", platform, MONTHLY)
        self.weekly = self._workflow("Weekly", platform, WEEKLY)
        self._grant_athena_join(platform)
        machines = {
            env.EXECUTIVE_MONTHLY_WORKFLOW_ARN: self.monthly.state_machine.state_machine_arn,
            env.EXECUTIVE_WEEKLY_WORKFLOW_ARN: self.weekly.state_machine.state_machine_arn,
        }
        self.starter = PipelineFunction(
            self,
            "Starter",
            platform=platform,
            name="executive-starter",
            handler="functions.handlers.executive_starter.handler",
            description="Starts executive runs under their period's name; daily report check",
            timeout=Duration.minutes(1),
            memory_size_mb=512,
            read_buckets=[buckets.curated],
            # Reads what each published row was built from and the profit month's status.
            state_table_access=True,
            environment=machines,
            publish_metrics=True,
        )
        grant(
            self.starter.role,
            actions=["states:StartExecution"],
            resources=list(machines.values()),
        )
        # A period whose inputs changed is restated under the next free name, and not
        # while a run of it is in progress.
        grant(
            self.starter.role,
            actions=["states:ListExecutions"],
            resources=list(machines.values()),
        )
        self.rules = [
            self._schedule(
                "MonthlySchedule", MONTHLY_SCHEDULE, {"action": "start", "grain": "month"}
            ),
            self._schedule("WeeklySchedule", WEEKLY_SCHEDULE, {"action": "start", "grain": "week"}),
            self._schedule("CheckSchedule", CHECK_SCHEDULE, {"action": "check"}),
        ]
        stack = Stack.of(self)
        for key, workflow, what in (
            ("ExecutiveMonthlyStateMachineArn", self.monthly, "Monthly executive KPIs"),
            ("ExecutiveWeeklyStateMachineArn", self.weekly, "Weekly executive KPIs"),
        ):
            CfnOutput(stack, key, value=workflow.state_machine.state_machine_arn, description=what)
        CfnOutput(
            stack,
            "ExecutiveStarterFunctionName",
            value=self.starter.function.function_name,
            description="Starts executive runs by name; daily report check",
        )

    def _grant_athena_join(self, platform: Platform) -> None:
        """The monthly join on Athena: the KPI function starts the query, which runs with
        the function's permissions (reads the curated tables, writes its CREATE TABLE AS
        into the curated bucket and its result under the workgroup's prefix, makes and
        drops a working Glue table); the monthly workflow polls the query's state."""
        stack = Stack.of(self)
        workgroup = stack.format_arn(
            service="athena",
            resource="workgroup",
            resource_name=platform.workgroups.names[PIPELINES],
        )
        role = self.kpi.role
        grant(
            role,
            actions=["athena:StartQueryExecution", "athena:GetQueryExecution"],
            resources=[workgroup],
        )
        results = platform.buckets.athena_results
        grant(
            role, actions=["s3:ListBucket", "s3:GetBucketLocation"], resources=[results.bucket_arn]
        )
        grant(
            role,
            actions=["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"],
            resources=[results.arn_for_objects(f"{results_prefix(PIPELINES)}*")],
            wildcard_reason="Athena writes each query's result under the pipelines' prefix",
        )
        curated = platform.glue_databases[Database.CURATED]
        grant(
            role,
            actions=["glue:GetDatabase", "glue:GetTable", "glue:CreateTable", "glue:DeleteTable"],
            resources=glue_arns(stack, [curated]),
            wildcard_reason=(
                "The month's query reads the curated tables and makes a working table per run "
                "(exec_join_totals_work_<digest>), dropped when its files are read"
            ),
        )
        self.monthly.state_machine.add_to_role_policy(
            iam.PolicyStatement(actions=["athena:GetQueryExecution"], resources=[workgroup])
        )

    def _workflow(
        self, construct_id: str, platform: Platform, grain: ExecutiveGrain
    ) -> PipelineWorkflow:
        return PipelineWorkflow(
            self,
            construct_id,
            platform=platform,
            name=grain.workflow_name,
            functions={"FreshnessFunctionArn": self.freshness, "KpiFunctionArn": self.kpi},
            timeout=Duration.hours(4),
            asl_path=ASL_TEMPLATE,
            asl_values=grain.asl_values(),
        )

    def _schedule(
        self, construct_id: str, schedule: events.Schedule, fields: dict[str, str]
    ) -> events.Rule:
        rule = events.Rule(
            self,
            construct_id,
            description=f"Executive reporting: {fields}",
            schedule=schedule,
        )
        rule.add_target(
            targets.LambdaFunction(
                self.starter.function,
                event=events.RuleTargetInput.from_object(
                    {**fields, "time": events.EventField.time}
                ),
                retry_attempts=2,
            )
        )
        return rule

    @staticmethod
    def _state_machine_arn(platform: Platform, name: str) -> str:
        """An upstream workflow's ARN from its deployed name (PipelineWorkflow's naming),
        so this construct does not depend on the order the pipelines are installed in."""
        return Stack.of(platform).format_arn(
            service="states",
            resource="stateMachine",
            resource_name=platform.config.resource_name(name),
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
