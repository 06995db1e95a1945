"""The profit pipeline: finance file ingestion, the monthly workflow, the review check.

- `finance-ingest`: EventBridge "Object Created" rules on the landing bucket's `invoices/`
  and `expenses/` and on the finance bucket's `landing/salaries/` and `landing/ledger/`.
  Invoices and expenses land in the raw bucket; salaries and the ledger (and their
  quarantined lines) never leave the finance bucket (finance key).
- `profit-monthly` behind the Step Functions workflow `state_machines/profit_monthly.asl.json`,
  scheduled on day 4 at 06:00 UTC: after the ledger lands on day 3. It writes the curated
  tables analysts see (profit_monthly, revenue_account_monthly, expenses_monthly) and the
  finance-only ones (salaries_team_monthly, reconciliation).
- `profit-review`: daily at 07:00 UTC, the monthly review SLA metric.

Context `profit_review_days` (default 10) sets how many days after month end a month may
wait for its sign-off (`cdk deploy -c profit_review_days=7`).
"""

from __future__ import annotations

from typing import Final

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_s3 as s3
from constructs import Construct

from functions.core import env
from functions.core.ingest.landing import LANDING_PREFIXES, BucketRole
from functions.core.schemas import Database
from functions.core.transform.profit_review import DEFAULT_REVIEW_DAYS
from infra.constructs.landing_rule import landing_files_rule
from infra.constructs.pipeline_function import PipelineFunction
from infra.constructs.platform import Platform
from infra.constructs.workflow import STATE_MACHINES_DIR, PipelineWorkflow

ASL_PATH: Final = STATE_MACHINES_DIR / "profit_monthly.asl.json"
FINANCE_SOURCES: Final = ("invoices", "expenses", "salaries", "ledger")
# The ledger lands on day 3 at the latest (docs/data-contracts.md): run on day 4.
MONTHLY_SCHEDULE: Final = events.Schedule.cron(minute="0", hour="6", day="4", month="*")
REVIEW_SCHEDULE: Final = events.Schedule.cron(minute="0", hour="7")
REVIEW_DAYS_CONTEXT: Final = "profit_review_days"


class ProfitPipeline(Construct):
    """Attributes: `ingest`, `monthly`, `review` (PipelineFunctions), `state_machine`,
    `rules`."""

    def __init__(self, scope: Construct, construct_id: str, *, platform: Platform) -> None:
        super().__init__(scope, construct_id)
        buckets = platform.buckets
        review_days = int(self.node.try_get_context(REVIEW_DAYS_CONTEXT) or DEFAULT_REVIEW_DAYS)
        self.ingest = PipelineFunction(
            self,
            "Ingest",
            platform=platform,
            name="finance-ingest",
            handler="functions.handlers.finance_ingest.handler",
            description="Validates and lands invoices, expenses, salaries and ledger files",
            timeout=Duration.minutes(5),
            memory_size_mb=1024,
            read_buckets=[buckets.landing],
            write_buckets=[buckets.raw, buckets.quarantine, buckets.finance],
            glue_partition_databases=[Database.RAW, Database.FINANCE],
            publish_metrics=True,
        )
        self.monthly = PipelineFunction(
            self,
            "Monthly",
            platform=platform,
            name="profit-monthly",
            handler="functions.handlers.profit_monthly.handler",
            description="Monthly profit tables and reconciliation with the ledger",
            timeout=Duration.minutes(15),
            memory_size_mb=2048,
            read_buckets=[buckets.raw],
            write_buckets=[buckets.curated, buckets.finance, buckets.quarantine],
            state_table_access=True,
            glue_partition_databases=[Database.CURATED, Database.FINANCE],
            environment={
                env.RECONCILIATION_TOLERANCE_CENTS: str(
                    platform.config.reconciliation_tolerance_cents
                )
            },
            publish_metrics=True,
        )
        self.review = PipelineFunction(
            self,
            "Review",
            platform=platform,
            name="profit-review",
            handler="functions.handlers.profit_review.handler",
            description="Daily check that every closed month was signed off in time",
            timeout=Duration.seconds(30),
            memory_size_mb=256,
            state_table_access=True,
            environment={env.PROFIT_REVIEW_DAYS: str(review_days)},
            publish_metrics=True,
        )
        self.workflow = PipelineWorkflow(
            self,
            "Workflow",
            platform=platform,
            name="profit-monthly",
            functions={"MonthlyFunctionArn": self.monthly},
            timeout=Duration.hours(1),
            asl_path=ASL_PATH,
        )
        self.state_machine = self.workflow.state_machine
        self.rules = [
            self._landing_rule("LandingFiles", buckets.landing, BucketRole.LANDING),
            self._landing_rule("FinanceFiles", buckets.finance, BucketRole.FINANCE),
        ]
        monthly_rule = events.Rule(
            self,
            "MonthlySchedule",
            description="Monthly profit workflow on day 4 at 06:00 UTC (ledger lands by day 3)",
            schedule=MONTHLY_SCHEDULE,
        )
        monthly_rule.add_target(targets.SfnStateMachine(self.state_machine))
        review_rule = events.Rule(
            self,
            "ReviewSchedule",
            description="Daily monthly-review SLA check",
            schedule=REVIEW_SCHEDULE,
        )
        review_rule.add_target(targets.LambdaFunction(self.review.function, retry_attempts=2))
        self.rules += [monthly_rule, review_rule]
        stack = Stack.of(self)
        CfnOutput(
            stack,
            "ProfitMonthlyStateMachineArn",
            value=self.state_machine.state_machine_arn,
            description="Monthly profit workflow",
        )
        CfnOutput(
            stack,
            "FinanceIngestFunctionName",
            value=self.ingest.function.function_name,
            description="Finance file ingestion",
        )

    def _landing_rule(self, construct_id: str, bucket: s3.IBucket, role: BucketRole) -> events.Rule:
        return landing_files_rule(
            self,
            construct_id,
            bucket=bucket,
            key_prefixes=[
                p.prefix
                for p in LANDING_PREFIXES
                if p.bucket is role and p.source in FINANCE_SOURCES
            ],
            function=self.ingest.function,
            description=f"Finance inputs landed ({role.value} bucket) -> finance ingest",
        )
