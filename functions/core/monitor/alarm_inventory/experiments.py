"""Experiment alarms (run book: the Data Science team uses unit-level daily data, weekly, to
steer the product team; results of an experiment whose units were not split as planned
cannot be trusted).

The metric is published by functions/handlers/experiments_weekly.py (ExperimentsFailingSrm:
experiments of the week whose sample ratio mismatch p-value is below the threshold) once per
weekly run, at the run's scheduled time.
"""

from __future__ import annotations

from functions.core import metric_names
from functions.core.monitor.alarm_inventory.service import function_alarms, workflow_alarms
from functions.core.monitor.alarm_inventory.spec import (
    FIVE_MINUTES,
    AlarmSpec,
    Comparison,
    MissingData,
    Owner,
    Severity,
)
from functions.core.schemas import Pipeline

SRM_SLA = (
    "Data science team uses unit level/daily level data to conduct experiments on AB testing "
    "features - weekly preferred, monthly - to drive direction of product team"
)

ALARMS: tuple[AlarmSpec, ...] = (
    AlarmSpec(
        key="experiment-sample-ratio-mismatch",
        pipeline=Pipeline.EXPERIMENT,
        sla=SRM_SLA,
        metric_name=metric_names.EXPERIMENTS_FAILING_SRM,
        statistic="Maximum",
        # Short periods: a re-run after a fix (which publishes 0) must not share a period
        # with the run that raised it, or Maximum would still see the failure.
        period_seconds=FIVE_MINUTES,
        evaluation_periods=1,
        threshold=1,
        comparison=Comparison.GREATER_OR_EQUAL,
        # Published once a week: between runs there is no data and the verdict must stand
        # until the next run (or a re-run) says otherwise, so missing data keeps the state.
        missing_data=MissingData.IGNORE,
        severity=Severity.TICKET,
        owner=Owner.DATA_SCIENCE,
        description="An experiment's observed split of units differs from its planned split "
        "(chi-square p-value below PABLO_EXPERIMENT_SRM_P_THRESHOLD): its results are "
        "suspect until the cause is found",
    ),
    *function_alarms(
        Pipeline.EXPERIMENT,
        sla=SRM_SLA,
        owner=Owner.DATA_SCIENCE,
        functions=("experiments-ingest", "experiments-weekly"),
    ),
    *workflow_alarms(
        Pipeline.EXPERIMENT,
        sla=SRM_SLA,
        owner=Owner.DATA_SCIENCE,
        workflows=("experiments-weekly",),
        severity=Severity.TICKET,
    ),
)
