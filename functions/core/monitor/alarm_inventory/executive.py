"""Executive reporting alarms (run book: "Issues will be fixed by end of month, when
reports are given to executives and investors"; owners Business Analytics, secondary
Data Engineering; DEs watch the month's runs in its last week).

Both metrics are published once a day by the executive starter's check
(functions/handlers/executive_starter.py, 09:00 UTC).
"""

from __future__ import annotations

from functions.core import metric_names
from functions.core.monitor.alarm_inventory.service import function_alarms, workflow_alarms
from functions.core.monitor.alarm_inventory.spec import (
    DAY,
    AlarmSpec,
    Comparison,
    MissingData,
    Owner,
    Severity,
)
from functions.core.schemas import Pipeline

SLA = "Issues will be fixed by end of month, when reports are given to executives and investors"

ALARMS: tuple[AlarmSpec, ...] = (
    AlarmSpec(
        key="executive-report-missing",
        pipeline=Pipeline.EXECUTIVE,
        sla=SLA,
        metric_name=metric_names.EXECUTIVE_REPORTS_MISSING,
        statistic="Maximum",
        period_seconds=DAY,
        evaluation_periods=1,
        threshold=1,
        comparison=Comparison.GREATER_OR_EQUAL,
        # The check publishes every day; a day without it means the check itself is not
        # running, and then nobody knows whether the reports exist: that is a breach.
        missing_data=MissingData.BREACHING,
        severity=Severity.PAGE,
        owner=Owner.BUSINESS_ANALYTICS,
        description="A due executive report (the latest month from day 6, the latest week "
        "from Tuesday) has no exec_kpi row: its workflow failed, waited out a stale upstream "
        "or never started",
    ),
    AlarmSpec(
        key="executive-month-preliminary",
        pipeline=Pipeline.EXECUTIVE,
        sla=SLA,
        metric_name=metric_names.EXECUTIVE_PRELIMINARY_MONTHS,
        statistic="Maximum",
        period_seconds=DAY,
        evaluation_periods=1,
        threshold=1,
        comparison=Comparison.GREATER_OR_EQUAL,
        # Published daily; a missing day keeps the verdict (the report-missing alarm
        # already breaches when the check stops).
        missing_data=MissingData.IGNORE,
        severity=Severity.TICKET,
        owner=Owner.BUSINESS_ANALYTICS,
        description="One of the last three months' executive KPIs is still preliminary "
        "(unreconciled with the ledger, or an input was stale or incomplete): fix it and "
        "re-run the month before month end",
    ),
    *function_alarms(
        Pipeline.EXECUTIVE,
        sla=SLA,
        owner=Owner.BUSINESS_ANALYTICS,
        functions=("executive-freshness", "executive-kpi", "executive-starter"),
    ),
    *workflow_alarms(
        Pipeline.EXECUTIVE,
        sla=SLA,
        owner=Owner.BUSINESS_ANALYTICS,
        workflows=("executive-monthly", "executive-weekly"),
        severity=Severity.PAGE,
    ),
)
