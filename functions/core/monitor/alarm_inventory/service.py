"""Alarms on the metrics AWS itself publishes for a pipeline's resources: every function's
errors and throttles, every workflow's failed and timed-out executions. A pipeline's
inventory module lists its resources by short name and gets one alarm per resource and
metric, owned like the pipeline's other alarms.

These catch the failures no pipeline metric can report: a function that raises never
reaches its own PutMetricData, and a workflow that fails after its last Catch says nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from functions.core.monitor.alarm_inventory.spec import (
    FIVE_MINUTES,
    AlarmSpec,
    Comparison,
    MissingData,
    Owner,
    Severity,
    Watched,
)
from functions.core.schemas import Pipeline

# Runbook headings shared by the alarms of one kind on each pipeline's page.
FUNCTION_ERRORS_SECTION: Final = "function-errors"
FUNCTION_THROTTLES_SECTION: Final = "function-throttles"
WORKFLOW_FAILED_SECTION: Final = "workflow-failed"
# Throttled for 15 minutes in a row: a single throttle is retried by every caller (the
# Kinesis mapping, Step Functions' Retry, EventBridge's retries); a sustained one is not.
THROTTLED_PERIODS: Final = 3


def function_alarms(
    pipeline: Pipeline,
    *,
    sla: str,
    owner: Owner,
    functions: Sequence[str],
    paging: Sequence[str] = (),
) -> tuple[AlarmSpec, ...]:
    """Errors and Throttles of each function (`<function>-errors`, `<function>-throttles`).
    `paging`: the functions whose errors page (records at risk); others open a ticket."""
    unknown = set(paging) - set(functions)
    if unknown:
        raise ValueError(f"paging functions not listed: {sorted(unknown)}")
    specs: list[AlarmSpec] = []
    for function in functions:
        specs.append(
            AlarmSpec(
                key=f"{function}-errors",
                pipeline=pipeline,
                sla=sla,
                metric_name="Errors",
                statistic="Sum",
                period_seconds=FIVE_MINUTES,
                evaluation_periods=1,
                threshold=1,
                comparison=Comparison.GREATER_OR_EQUAL,
                # Lambda publishes Errors only for periods with invocations: a period
                # without one had no error.
                missing_data=MissingData.NOT_BREACHING,
                severity=Severity.PAGE if function in paging else Severity.TICKET,
                owner=owner,
                description=f"The {function} function raised, timed out or ran out of memory",
                watched=Watched.FUNCTION,
                resource=function,
                runbook_section=FUNCTION_ERRORS_SECTION,
            )
        )
        specs.append(
            AlarmSpec(
                key=f"{function}-throttles",
                pipeline=pipeline,
                sla=sla,
                metric_name="Throttles",
                statistic="Sum",
                period_seconds=FIVE_MINUTES,
                evaluation_periods=THROTTLED_PERIODS,
                datapoints_to_alarm=THROTTLED_PERIODS,
                threshold=1,
                comparison=Comparison.GREATER_OR_EQUAL,
                # Published only for periods with invocation attempts: none, no throttle.
                missing_data=MissingData.NOT_BREACHING,
                severity=Severity.TICKET,
                owner=owner,
                description=f"The {function} function was throttled for 15 minutes "
                "(concurrency limit reached): its callers' retries are running out",
                watched=Watched.FUNCTION,
                resource=function,
                runbook_section=FUNCTION_THROTTLES_SECTION,
            )
        )
    return tuple(specs)


def workflow_alarms(
    pipeline: Pipeline,
    *,
    sla: str,
    owner: Owner,
    workflows: Sequence[str],
    severity: Severity,
) -> tuple[AlarmSpec, ...]:
    """ExecutionsFailed and ExecutionsTimedOut of each workflow (`<workflow>-failed`,
    `<workflow>-timed-out`): Step Functions counts a timed-out execution in neither
    ExecutionsFailed nor anything a Catch state sees."""
    specs: list[AlarmSpec] = []
    for workflow in workflows:
        for suffix, metric, what in (
            ("failed", "ExecutionsFailed", "failed"),
            ("timed-out", "ExecutionsTimedOut", "timed out"),
        ):
            specs.append(
                AlarmSpec(
                    key=f"{workflow}-{suffix}",
                    pipeline=pipeline,
                    sla=sla,
                    metric_name=metric,
                    statistic="Sum",
                    period_seconds=FIVE_MINUTES,
                    evaluation_periods=1,
                    threshold=1,
                    comparison=Comparison.GREATER_OR_EQUAL,
                    # Published only for periods in which an execution ended: none ended,
                    # none failed. A workflow that never starts is the pipeline metric
                    # alarms' business (their own missing data breaches).
                    missing_data=MissingData.NOT_BREACHING,
                    severity=severity,
                    owner=owner,
                    description=f"An execution of the {workflow} workflow {what}",
                    watched=Watched.WORKFLOW,
                    resource=workflow,
                    runbook_section=WORKFLOW_FAILED_SECTION,
                )
            )
    return tuple(specs)
