"""Growth pipeline alarms (run book: "Data will contain latest account statuses by end of
week"; owners Accounts Team, secondary Data Engineering; no on-call: working hours)."""

from __future__ import annotations

from functions.core import metric_names
from functions.core.monitor.alarm_inventory.service import function_alarms, workflow_alarms
from functions.core.monitor.alarm_inventory.spec import (
    WEEK,
    AlarmSpec,
    Comparison,
    MissingData,
    Owner,
    Severity,
)
from functions.core.schemas import Pipeline

SLA = "Data will contain latest account statuses by end of week"
# Above this share of accounts with an inferred or unknown status, the Accounts team is
# missing enough lifecycle steps that the weekly statuses should not be trusted blindly.
INFERRED_SHARE_THRESHOLD_PERCENT = 5.0

ALARMS: tuple[AlarmSpec, ...] = (
    AlarmSpec(
        key="growth-weekly-snapshot-missing",
        pipeline=Pipeline.GROWTH,
        sla=SLA,
        metric_name=metric_names.GROWTH_CLOSED_WEEK_SNAPSHOTS_MISSING,
        statistic="Maximum",
        period_seconds=WEEK,
        evaluation_periods=1,
        threshold=0,
        comparison=Comparison.GREATER_THAN,
        # The weekly run publishes the count once a week. A run that fails notifies the
        # on-call topic from the workflow's Catch; a run that never happened is counted by
        # the next run, which finds the week's snapshot missing. Silence between runs is
        # therefore not a breach (breaching would fire on every new deployment's first week).
        missing_data=MissingData.NOT_BREACHING,
        severity=Severity.TICKET,
        owner=Owner.ACCOUNTS,
        secondary_owner=Owner.DATA_ENGINEERING,
        description="A closed week has no account status snapshot (weekly run skipped or failed)",
    ),
    AlarmSpec(
        key="growth-inferred-status-share",
        pipeline=Pipeline.GROWTH,
        sla=SLA,
        metric_name=metric_names.GROWTH_INFERRED_STATUS_SHARE_PERCENT,
        statistic="Maximum",
        period_seconds=WEEK,
        evaluation_periods=1,
        threshold=INFERRED_SHARE_THRESHOLD_PERCENT,
        comparison=Comparison.GREATER_THAN,
        # Published by the same weekly run; its absence is the other alarm's business.
        missing_data=MissingData.NOT_BREACHING,
        severity=Severity.TICKET,
        owner=Owner.ACCOUNTS,
        secondary_owner=Owner.DATA_ENGINEERING,
        description="Too many accounts have an inferred or unknown status (missing steps)",
    ),
    *function_alarms(
        Pipeline.GROWTH,
        sla=SLA,
        owner=Owner.ACCOUNTS,
        functions=("account-events-ingest", "growth-weekly"),
    ),
    *workflow_alarms(
        Pipeline.GROWTH,
        sla=SLA,
        owner=Owner.ACCOUNTS,
        workflows=("growth-weekly",),
        severity=Severity.TICKET,
    ),
)
