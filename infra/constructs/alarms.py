"""CloudWatch alarms from the alarm inventory: one alarm per SLA, actions to on-call.

The inventory (`functions/core/monitor/alarm_inventory`) is the only place an alarm is defined;
this construct maps each entry to CloudWatch, with the owner and runbook in the
description (an absolute link when the environment sets `runbook_base_url`) and every
state change (ALARM, OK, INSUFFICIENT_DATA) sent to the topic.

An entry that watches a resource (a function's Errors, a workflow's ExecutionsFailed, ...)
names it by short name; the construct finds that resource in the stack and takes the
dimension from it, so synth fails when the inventory names a resource the stack lacks.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from functions.core.errors import ConfigurationError
from functions.core.monitor.alarm_inventory import (
    INVENTORY,
    AlarmSpec,
    Comparison,
    MissingData,
    Watched,
)
from infra.constructs.pipeline_function import PipelineFunction
from infra.constructs.platform import Platform
from infra.constructs.workflow import PipelineWorkflow

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
        watched = watched_resources(scope, platform)
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        for item in specs:
            dimensions = dict(item.dimensions)
            if item.watched is not None:
                dimensions[item.watched.dimension] = _dimension_value(item, watched, platform)
            alarm = cloudwatch.Alarm(
                self,
                item.key,
                alarm_name=platform.alarm_name(item.key),
                alarm_description=item.alarm_description(platform.config.runbook_base_url),
                metric=cloudwatch.Metric(
                    namespace=item.namespace or namespace,
                    metric_name=item.metric_name,
                    dimensions_map=dimensions,
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


def watched_resources(scope: Construct, platform: Platform) -> dict[tuple[Watched, str], str]:
    """(kind, deployed name) -> the alarm dimension's value, for every resource of `scope`
    an alarm may watch: functions and workflows by their constructs, streams and queues by
    their physical names."""
    found: dict[tuple[Watched, str], str] = {}
    for node in scope.node.find_all():
        if isinstance(node, PipelineFunction):
            found[(Watched.FUNCTION, node.name)] = node.function.function_name
        elif isinstance(node, PipelineWorkflow):
            found[(Watched.WORKFLOW, node.name)] = node.state_machine.state_machine_arn
        elif isinstance(node, kinesis.CfnStream) and isinstance(node.name, str):
            found[(Watched.STREAM, node.name)] = node.ref
        elif isinstance(node, sqs.CfnQueue) and isinstance(node.queue_name, str):
            found[(Watched.QUEUE, node.queue_name)] = node.attr_queue_name
    return found


def _dimension_value(
    item: AlarmSpec, watched: dict[tuple[Watched, str], str], platform: Platform
) -> str:
    assert item.watched is not None
    deployed = platform.config.resource_name(item.resource)
    try:
        return watched[(item.watched, deployed)]
    except KeyError:
        raise ConfigurationError(
            f"alarm {item.key} watches {item.watched.value} {deployed!r}, which the stack "
            "does not define: fix the name in functions/core/monitor/alarm_inventory"
        ) from None
