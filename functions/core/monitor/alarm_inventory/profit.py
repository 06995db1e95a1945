"""Profit alarms (run book: numbers that do not agree with the books are verified by an
accountant; numbers are reviewed once a month by the accounts team).

Metrics are published by functions/handlers/profit_monthly.py (ProfitMonthUnreconciled,
when a month is computed or republished after a sign-off) and profit_review.py
(ProfitMonthsOverdueForReview, daily).
"""

from __future__ import annotations

from functions.core import metric_names
from functions.core.monitor.alarm_inventory.service import function_alarms, workflow_alarms
from functions.core.monitor.alarm_inventory.spec import (
    DAY,
    FIVE_MINUTES,
    AlarmSpec,
    Comparison,
    MissingData,
    Owner,
    Severity,
)
from functions.core.schemas import Pipeline

MISMATCH_SLA = (
    "Numbers don't align with numbers on accounts/filings - these numbers need to be "
    "verified by an accountant if so"
)
REVIEW_SLA = "Numbers will be reviewed once a month by account team"

ALARMS: tuple[AlarmSpec, ...] = (
    AlarmSpec(
        key="profit-reconciliation-mismatch",
        pipeline=Pipeline.PROFIT,
        sla=MISMATCH_SLA,
        metric_name=metric_names.PROFIT_MONTH_UNRECONCILED,
        statistic="Maximum",
        # Short periods: a sign-off (which republishes the count without the month) must
        # not share a period with the run that raised it, or Maximum would still see 1.
        period_seconds=FIVE_MINUTES,
        evaluation_periods=1,
        threshold=1,
        comparison=Comparison.GREATER_OR_EQUAL,
        # The metric (months still preliminary) is published once per monthly run and
        # once per sign-off: between them there is no data, and the verdict must stand
        # until an accountant signs the month off, so missing data keeps the current state.
        missing_data=MissingData.IGNORE,
        severity=Severity.TICKET,
        owner=Owner.FINANCE,
        description="A month's revenue, expenses or salaries differ from the ledger beyond "
        "the tolerance (or the ledger line is missing); the month is preliminary until "
        "signed off with `pablo finance signoff`",
    ),
    AlarmSpec(
        key="profit-review-overdue",
        pipeline=Pipeline.PROFIT,
        sla=REVIEW_SLA,
        metric_name=metric_names.PROFIT_MONTHS_OVERDUE_FOR_REVIEW,
        statistic="Maximum",
        period_seconds=DAY,
        evaluation_periods=1,
        threshold=1,
        comparison=Comparison.GREATER_OR_EQUAL,
        # Published daily by the review check; a day the check did not run keeps the last
        # verdict instead of flapping to OK (the check's own failures reach on-call through
        # its schedule's retries and the Lambda error logs).
        missing_data=MissingData.IGNORE,
        severity=Severity.TICKET,
        owner=Owner.FINANCE,
        description="A closed month was not signed off within the review window after "
        "month end (PABLO_PROFIT_REVIEW_DAYS)",
    ),
    *function_alarms(
        Pipeline.PROFIT,
        sla=REVIEW_SLA,
        owner=Owner.FINANCE,
        functions=("finance-ingest", "profit-monthly", "profit-review"),
    ),
    *workflow_alarms(
        Pipeline.PROFIT,
        sla=REVIEW_SLA,
        owner=Owner.FINANCE,
        workflows=("profit-monthly",),
        severity=Severity.PAGE,
    ),
)
