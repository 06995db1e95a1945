"""On-call tooling in the stack: the function that unmutes an acknowledged alarm when it
returns to OK, and the EventBridge rule that calls it.

`pablo oncall ack` records the acknowledgement and disables the alarm's actions (so it stops
paging). A muted alarm sends nothing to its SNS actions, so the OK cannot come from the
on-call topic; AWS sends every alarm state change to EventBridge whatever its actions, and
the rule below passes the stack's alarms' changes to OK to the function.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, CfnOutput, Duration, Stack
from aws_cdk import aws_events as events
from constructs import Construct

from functions.core.monitor.oncall import OK, STATE_CHANGE_DETAIL_TYPE, STATE_CHANGE_SOURCE
from infra.constructs.landing_rule import lambda_target
from infra.constructs.pipeline_function import PipelineFunction
from infra.constructs.platform import Platform
from infra.nag import grant

HANDLER = "functions.handlers.oncall_unmute.handler"
# EventBridge retries a failed delivery (throttling, service errors) this often and this
# long; the function's own errors are retried by Lambda's asynchronous invoke.
ALARMS_REASON = (
    "Unmutes whichever of this environment's alarms was acknowledged; alarm names are "
    "known at run time only, all share the environment prefix"
)


class OnCallTools(Construct):
    """Attributes: `unmute` (PipelineFunction), `rule` (the EventBridge rule)."""

    def __init__(self, scope: Construct, construct_id: str, *, platform: Platform) -> None:
        super().__init__(scope, construct_id)
        prefix = f"{platform.config.name_prefix}-"
        self.unmute = PipelineFunction(
            self,
            "Unmute",
            platform=platform,
            name="oncall-unmute",
            handler=HANDLER,
            description="Re-enables an acknowledged alarm's actions when it returns to OK",
            timeout=Duration.seconds(30),
            memory_size_mb=256,
            state_table_access=True,
        )
        grant(
            self.unmute.role,
            actions=["cloudwatch:EnableAlarmActions", "cloudwatch:DescribeAlarms"],
            resources=[
                Stack.of(self).format_arn(
                    service="cloudwatch",
                    resource="alarm",
                    resource_name=f"{prefix}*",
                    arn_format=ArnFormat.COLON_RESOURCE_NAME,
                )
            ],
            wildcard_reason=ALARMS_REASON,
        )
        self.rule = events.Rule(
            self,
            "AlarmBackToOk",
            description="An alarm of this environment returned to OK -> on-call unmute",
            event_pattern=events.EventPattern(
                source=[STATE_CHANGE_SOURCE],
                detail_type=[STATE_CHANGE_DETAIL_TYPE],
                detail={"alarmName": [{"prefix": prefix}], "state": {"value": [OK]}},
            ),
        )
        self.rule.add_target(lambda_target(self.unmute.function))
        CfnOutput(
            Stack.of(self),
            "OnCallUnmuteFunctionName",
            value=self.unmute.function.function_name,
            description="Unmutes acknowledged alarms back to OK",
        )
