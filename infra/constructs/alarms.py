"""CloudWatch alarms from the alarm inventory: one alarm per SLA, actions to on-call.

The inventory (`functions/core/alarm_inventory`) is the only place an alarm is defined;
this construct maps each entry to CloudWatch, with the owner and runbook in the
description (an absolute link when the environment sets `runbook_base_url`) and every
state change (ALARM, OK, INSUFFICIENT_DATA) sent to the topic.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from constructs import Construct

from functions.core.alarm_inventory import INVENTORY, AlarmSpec, Comparison, MissingData
from infra.constructs.platform import Platform

# jsii enums are looked up by member name, not by their CloudFormation value.
_COMPARISON = {
    Comparison.GREATER_THAN: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    Comparison.GREATER_OR_EQUAL: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    Comparison.LESS_THAN: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
    Comparison.LESS_OR_EQUAL: cloudwatch.ComparisonOperator.LESS_THAN_OR_EQUAL_TO_THRESHOLD,
}
_MISSING = {
    MissingData.BREACHING: cloudwatch.TreatMissingData.BREACHING,
    MissingData.NOT_BREACHING: cloudwatch.TreatMissingData.NOT_BREACHING,
    MissingData.IGNORE: cloudwatch.TreatMissingData.IGNORE,
    MissingData.MISSING: cloudwatch.TreatMissingData.MISSING,
}


class InventoryAlarms(Construct):
    """Attribute: `alarms`, the CloudWatch alarm of each inventory key."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        platform: Platform,
        specs: Sequence[AlarmSpec] = INVENTORY,
    ) -> None:
        super().__init__(scope, construct_id)
        action = actions.SnsAction(platform.topic)
        namespace = platform.config.metrics_namespace
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        for item in specs:
            alarm = cloudwatch.Alarm(
                self,
                item.key,
                alarm_name=platform.alarm_name(item.key),
                alarm_description=item.alarm_description(platform.config.runbook_base_url),
                metric=cloudwatch.Metric(
                    namespace=namespace,
                    metric_name=item.metric_name,
                    dimensions_map=dict(item.dimensions),
                    statistic=item.statistic,
                    period=Duration.seconds(item.period_seconds),
                ),
                threshold=item.threshold,
                evaluation_periods=item.evaluation_periods,
                datapoints_to_alarm=item.datapoints_to_alarm,
                comparison_operator=_COMPARISON[item.comparison],
                treat_missing_data=_MISSING[item.missing_data],
                actions_enabled=True,
            )
            alarm.add_alarm_action(action)
            alarm.add_ok_action(action)
            alarm.add_insufficient_data_action(action)
            self.alarms[item.key] = alarm
