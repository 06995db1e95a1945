"""The engagement pipeline: click stream, ingest function, daily workflow, freshness check.

- Kinesis on-demand stream, encrypted with the data key (output `ClickStreamName`);
- the ingest function on an event source mapping with AWS's reliability settings
  (partial batch responses, bisect on error, finite retries, bounded record age, an SQS
  on-failure destination for what still fails);
- the daily Step Functions workflow (`state_machines/engagement_daily.asl.json`) at 02:00
  UTC, whose input is the scheduled event (its `time` is the run's "now"); a day of at least
  `athena_min_raw_bytes` landed runs its queries on Athena in the pipelines workgroup
  (docs/scaling.md), the daily function starting and checking them;
- a freshness check every 6 hours that publishes the click freshness metric.
"""

from __future__ import annotations

from typing import Final

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from functions.core import env
from functions.core.schemas import Database
from infra.constructs.athena import PIPELINES, results_prefix
from infra.constructs.catalog import glue_arns
from infra.constructs.pipeline_function import PipelineFunction
from infra.constructs.platform import Platform
from infra.constructs.workflow import STATE_MACHINES_DIR, PipelineWorkflow
from infra.nag import acknowledge, grant

ASL_PATH: Final = STATE_MACHINES_DIR / "engagement_daily.asl.json"
# A Kinesis record costs about 916 bytes of the 6 MB invocation payload for a 250-byte click
# (base64 plus metadata): 6,800 records fill it. 6,000 leaves room for larger clicks; Lambda
# also splits a batch that would exceed the payload limit.
INGEST_BATCH_SIZE: Final = 6_000
INGEST_BATCHING_WINDOW: Final = Duration.seconds(5)
INGEST_RETRY_ATTEMPTS: Final = 5
# Clicks older than the allowed lateness are quarantined anyway; a record stuck a day goes
# to the on-failure queue with its shard and sequence range, to be replayed from the stream.
INGEST_MAX_RECORD_AGE: Final = Duration.hours(24)
DAILY_SCHEDULE: Final = events.Schedule.cron(minute="0", hour="2")
# Every 6 hours: ample for a 48-hour SLA, and a quarter of the invocations of hourly.
FRESHNESS_SCHEDULE: Final = events.Schedule.cron(minute="5", hour="0/6")
# What the daily function calls on Athena: start a query, check a batch, read a small result.
ATHENA_ACTIONS: Final = (
    "athena:StartQueryExecution",
    "athena:BatchGetQueryExecution",
    "athena:GetQueryResults",
)
# Athena reads the catalog and writes CTAS tables with its caller's permissions.
ATHENA_GLUE_READ: Final = ("glue:GetDatabase", "glue:GetTable", "glue:GetPartitions")
# The working tables of a day's Athena run (functions/handlers/engagement_athena.py).
WORKING_TABLES: Final = "engagement_*"
RESULTS_REASON: Final = (
    "Athena writes query results and the working tables of a day's run under the pipelines "
    "workgroup's own prefix of the results bucket; their names are generated per query"
)
WORKING_TABLES_REASON: Final = (
    "The working tables a day's Athena run creates and drops, named engagement_<day>_<run>_*"
)


class EngagementPipeline(Construct):
    """Attributes: `stream`, `ingest`, `failures` (queue), `daily`, `monitor`
    (PipelineFunctions), `state_machine`, `rules`."""

    def __init__(self, scope: Construct, construct_id: str, *, platform: Platform) -> None:
        super().__init__(scope, construct_id)
        buckets = platform.buckets
        self.stream = kinesis.Stream(
            self,
            "ClickStream",
            stream_name=platform.config.resource_name("clicks"),
            stream_mode=kinesis.StreamMode.ON_DEMAND,
            encryption=kinesis.StreamEncryption.KMS,
            encryption_key=platform.keys.data,
            retention_period=Duration.days(7),
        )
        acknowledge(
            self.stream,
            "KDS3",
            "Clicks are user data: encrypted with the platform's customer managed data key, "
            "like every bucket and table of the pipeline (one key policy, one audit trail)",
        )
        self.failures = sqs.Queue(
            self,
            "IngestFailures",
            queue_name=platform.config.resource_name("click-ingest-failures"),
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=platform.keys.data,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        acknowledge(
            self.failures,
            "SQS3",
            "This queue is itself the on-failure destination of the click mapping; it holds "
            "batch descriptors (shard, sequence range) for replay, not messages to process",
        )
        self.ingest = PipelineFunction(
            self,
            "Ingest",
            platform=platform,
            name="click-ingest",
            handler="functions.handlers.click_ingest.handler",
            description="Decodes, validates, deduplicates and lands click batches from Kinesis",
            timeout=Duration.minutes(2),
            memory_size_mb=1024,
            write_buckets=[buckets.raw, buckets.quarantine],
            state_table_access=True,
            publish_metrics=True,
        )
        for finding in ("IAM5[Action::kms:GenerateDataKey*]", "IAM5[Action::kms:ReEncrypt*]"):
            acknowledge(
                self.ingest.role,
                finding,
                "CDK's grant for sending to the KMS-encrypted on-failure queue (SqsDlq)",
            )
        self.ingest.function.add_event_source(
            sources.KinesisEventSource(
                self.stream,
                starting_position=lambda_.StartingPosition.TRIM_HORIZON,
                batch_size=INGEST_BATCH_SIZE,
                max_batching_window=INGEST_BATCHING_WINDOW,
                bisect_batch_on_error=True,
                retry_attempts=INGEST_RETRY_ATTEMPTS,
                max_record_age=INGEST_MAX_RECORD_AGE,
                report_batch_item_failures=True,
                on_failure=sources.SqsDlq(self.failures),
            )
        )
        self.daily = PipelineFunction(
            self,
            "Daily",
            platform=platform,
            name="engagement-daily",
            handler="functions.handlers.engagement_daily.handler",
            description="Daily engagement: compaction, sessions, aggregates, restatements",
            timeout=Duration.minutes(15),
            memory_size_mb=3008,
            # /tmp holds the day's raw files, DuckDB's spill and the per-bucket scratch, then
            # the clicks file: about 5.6 GB at 50M clicks a day (bench/README.md).
            ephemeral_storage_mb=10240,
            read_buckets=[buckets.raw],
            # quarantine: each day's clicks of accounts that no account event created
            write_buckets=[buckets.curated, buckets.quarantine],
            state_table_access=True,
            glue_partition_databases=[Database.RAW, Database.CURATED],
            publish_metrics=True,
            environment={
                env.ATHENA_WORKGROUP: platform.workgroups.names[PIPELINES],
                env.ATHENA_MIN_RAW_BYTES: str(platform.config.athena_min_raw_bytes),
                env.ATHENA_POLL_SECONDS: str(platform.config.athena_poll_seconds),
            },
        )
        self._grant_athena(platform)
        self.monitor = PipelineFunction(
            self,
            "Freshness",
            platform=platform,
            name="click-freshness",
            handler="functions.handlers.engagement_monitor.handler",
            description="Publishes click freshness (now minus newest event landed) every 6 hours",
            timeout=Duration.seconds(30),
            memory_size_mb=256,
            state_table_access=True,
            publish_metrics=True,
        )
        self.workflow = PipelineWorkflow(
            self,
            "Workflow",
            platform=platform,
            name="engagement-daily",
            functions={"DailyFunctionArn": self.daily},
            timeout=Duration.hours(2),
            asl_path=ASL_PATH,
        )
        self.state_machine = self.workflow.state_machine
        daily_rule = events.Rule(
            self,
            "DailySchedule",
            description="Daily engagement workflow at 02:00 UTC",
            schedule=DAILY_SCHEDULE,
        )
        daily_rule.add_target(targets.SfnStateMachine(self.state_machine))
        freshness_rule = events.Rule(
            self,
            "FreshnessSchedule",
            description="Click freshness check every 6 hours",
            schedule=FRESHNESS_SCHEDULE,
        )
        freshness_rule.add_target(targets.LambdaFunction(self.monitor.function, retry_attempts=2))
        self.rules = [daily_rule, freshness_rule]
        stack = Stack.of(self)
        CfnOutput(stack, "ClickStreamName", value=self.stream.stream_name, description="Clicks")
        CfnOutput(
            stack,
            "EngagementDailyStateMachineArn",
            value=self.state_machine.state_machine_arn,
            description="Daily engagement workflow",
        )
        CfnOutput(
            stack,
            "ClickIngestFailureQueueUrl",
            value=self.failures.queue_url,
            description="On-failure destination of the click mapping",
        )

    def _grant_athena(self, platform: Platform) -> None:
        """The daily function's Athena path: queries in the pipelines workgroup only, the
        catalog reads Athena makes as the caller, the working tables it creates and drops,
        and the workgroup's prefix of the results bucket (its data key: the state grant's)."""
        role, stack = self.daily.role, Stack.of(self)
        grant(
            role,
            actions=list(ATHENA_ACTIONS),
            resources=[
                stack.format_arn(
                    service="athena",
                    resource="workgroup",
                    resource_name=platform.workgroups.names[PIPELINES],
                )
            ],
        )
        databases = [platform.glue_databases[db] for db in (Database.RAW, Database.CURATED)]
        grant(
            role,
            actions=list(ATHENA_GLUE_READ),
            resources=glue_arns(stack, databases),
            wildcard_reason="Athena reads the catalog entry of every table a query names",
        )
        curated = platform.glue_databases[Database.CURATED]
        grant(
            role,
            actions=["glue:CreateTable", "glue:DeleteTable"],
            resources=glue_arns(stack, [curated], tables=WORKING_TABLES),
            wildcard_reason=WORKING_TABLES_REASON,
        )
        results = platform.buckets.athena_results
        grant(
            role,
            actions=["s3:ListBucket", "s3:GetBucketLocation"],
            resources=[results.bucket_arn],
        )
        grant(
            role,
            actions=["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"],
            resources=[results.arn_for_objects(f"{results_prefix(PIPELINES)}*")],
            wildcard_reason=RESULTS_REASON,
        )
