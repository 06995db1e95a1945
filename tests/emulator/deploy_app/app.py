"""A small CDK app with one or more resources of every kind moto's CloudFormation skips.

Used by tests/functional/test_deploy*.py to exercise `pablo.local.deploy` independently of
the real stack. Context: `stack_name` (default DeployApp), `synthesizer=default` to need a
`cdk bootstrap` (the default is CliCredentialsStackSynthesizer with a file assets bucket),
`account` (infra.config.ACCOUNT_CONTEXT_KEY: the deployer passes what the target's STS
answers).
"""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_athena as athena
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

HERE = Path(__file__).parent
ASSETS_BUCKET = "deploy-app-assets-${AWS::AccountId}-${AWS::Region}"


class DeployAppStack(cdk.Stack):
    def __init__(self, scope: Construct, construct_id: str, **kwargs: object) -> None:
        super().__init__(scope, construct_id, **kwargs)
        # Named resources carry the stack name, so two test stacks never share one.
        prefix = construct_id.lower()
        key = kms.Key(self, "DataKey", enable_key_rotation=True, description="deploy app key")
        lake = s3.Bucket(
            self,
            "Lake",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=key,
            enforce_ssl=True,
            versioned=True,
        )
        topic = sns.Topic(self, "Alerts", display_name="deploy app alerts", master_key=key)
        topic.add_to_resource_policy(
            iam.PolicyStatement(
                actions=["sns:Publish"],
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                resources=[topic.topic_arn],
            )
        )
        dlq = sqs.Queue(self, "Dlq", enforce_ssl=True)
        queue = sqs.Queue(
            self,
            "Work",
            enforce_ssl=True,
            dead_letter_queue=sqs.DeadLetterQueue(queue=dlq, max_receive_count=3),
        )
        stream = kinesis.Stream(
            self,
            "Clicks",
            shard_count=1,
            encryption_key=key,
            encryption=kinesis.StreamEncryption.KMS,
        )

        layer = lambda_.LayerVersion(
            self,
            "Deps",
            code=lambda_.Code.from_asset(str(HERE / "layer")),
            compatible_runtimes=[lambda_.Runtime.PYTHON_3_12],
        )
        fn = lambda_.Function(
            self,
            "Worker",
            runtime=lambda_.Runtime.PYTHON_3_12,
            handler="index.handler",
            code=lambda_.Code.from_asset(str(HERE / "handler")),
            layers=[layer],
            environment={"LAKE_BUCKET": lake.bucket_name, "TOPIC_ARN": topic.topic_arn},
            tracing=lambda_.Tracing.ACTIVE,
            reserved_concurrent_executions=5,
            timeout=cdk.Duration.seconds(30),
        )
        lake.grant_read_write(fn)
        fn.add_event_source(
            sources.KinesisEventSource(
                stream,
                starting_position=lambda_.StartingPosition.TRIM_HORIZON,
                batch_size=100,
                bisect_batch_on_error=True,
                retry_attempts=2,
                report_batch_item_failures=True,
                on_failure=sources.SqsDlq(dlq),
            )
        )
        lake.add_event_notification(
            s3.EventType.OBJECT_CREATED,
            s3n.SqsDestination(queue),
            s3.NotificationKeyFilter(prefix="landing/"),
        )

        database = glue.CfnDatabase(
            self,
            "Database",
            catalog_id=self.account,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=prefix, description="deploy app lake"
            ),
        )
        table = glue.CfnTable(
            self,
            "ClicksTable",
            catalog_id=self.account,
            database_name=prefix,
            table_input=glue.CfnTable.TableInputProperty(
                name="clicks",
                description="raw clicks",
                table_type="EXTERNAL_TABLE",
                parameters={"classification": "parquet"},
                partition_keys=[glue.CfnTable.ColumnProperty(name="dt", type="string")],
                storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                    columns=[
                        glue.CfnTable.ColumnProperty(
                            name="event_id", type="string", comment="unique id"
                        ),
                        glue.CfnTable.ColumnProperty(name="ts", type="timestamp"),
                    ],
                    location=cdk.Fn.join("", ["s3://", lake.bucket_name, "/raw/clicks/"]),
                    input_format="org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                    output_format="org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
                    serde_info=glue.CfnTable.SerdeInfoProperty(
                        serialization_library=(
                            "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
                        )
                    ),
                ),
            ),
        )
        table.add_dependency(database)
        athena.CfnWorkGroup(
            self,
            "WorkGroup",
            name=f"{prefix}-analysts",
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=f"s3://{lake.bucket_name}/athena/"
                ),
            ),
        )

        alarm = cloudwatch.Alarm(
            self,
            "StaleClicks",
            alarm_description="clicks older than 48 h",
            metric=cloudwatch.Metric(
                namespace="Pablo",
                metric_name="FreshnessLagHours",
                statistic="Maximum",
                period=cdk.Duration.hours(1),
            ),
            threshold=48,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.BREACHING,
        )
        alarm.add_alarm_action(cw_actions.SnsAction(topic))

        flow = sfn.StateMachine(
            self,
            "Daily",
            definition_body=sfn.DefinitionBody.from_chainable(
                tasks.LambdaInvoke(self, "Run", lambda_function=fn).next(sfn.Succeed(self, "Done"))
            ),
        )
        events.Rule(
            self,
            "DailyRule",
            schedule=events.Schedule.cron(minute="0", hour="3"),
            targets=[targets.SfnStateMachine(flow)],
        )
        invoke_role = iam.Role(
            self, "SchedulerRole", assumed_by=iam.ServicePrincipal("scheduler.amazonaws.com")
        )
        flow.grant_start_execution(invoke_role)
        scheduler.CfnSchedule(
            self,
            "WeeklySchedule",
            name=f"{prefix}-weekly",
            schedule_expression="cron(0 4 ? * MON *)",
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            target=scheduler.CfnSchedule.TargetProperty(
                arn=flow.state_machine_arn,
                role_arn=invoke_role.role_arn,
                input='{"kind": "weekly"}',
            ),
        )
        cdk.CfnOutput(self, "LakeBucketName", value=lake.bucket_name)
        cdk.CfnOutput(self, "WorkerName", value=fn.function_name)


def synthesizer(app: cdk.App) -> cdk.IStackSynthesizer:
    """`-c synthesizer=default` deploys through `cdk bootstrap`; else no bootstrap at all."""
    if app.node.try_get_context("synthesizer") == "default":
        return cdk.DefaultStackSynthesizer()
    return cdk.CliCredentialsStackSynthesizer(file_assets_bucket_name=ASSETS_BUCKET)


app = cdk.App()
DeployAppStack(
    app,
    app.node.try_get_context("stack_name") or "DeployApp",
    env=cdk.Environment(account=app.node.try_get_context("account"), region="us-east-1"),
    synthesizer=synthesizer(app),
)
app.synth()
