"""Names of the CloudWatch metrics that alarms watch, defined once.

The handler that publishes a metric and the alarm inventory that watches it
(functions/core/monitor/alarm_inventory/) both import its name from here;
tests/unit/test_metric_names.py fails when an alarm watches a name no handler publishes,
or when a name is spelled anywhere else.
"""

from __future__ import annotations

from typing import Final

CLICK_FRESHNESS_HOURS: Final = "ClickFreshnessHours"
CLICKS_RECEIVED: Final = "ClicksReceived"
ENGAGEMENT_DAYS_COMPUTED: Final = "EngagementDaysComputed"
EXECUTIVE_REPORTS_MISSING: Final = "ExecutiveReportsMissing"
EXECUTIVE_PRELIMINARY_MONTHS: Final = "ExecutivePreliminaryMonths"
EXPERIMENTS_FAILING_SRM: Final = "ExperimentsFailingSrm"
GROWTH_CLOSED_WEEK_SNAPSHOTS_MISSING: Final = "GrowthClosedWeekSnapshotsMissing"
GROWTH_INFERRED_STATUS_SHARE_PERCENT: Final = "GrowthInferredStatusSharePercent"
PROFIT_MONTH_UNRECONCILED: Final = "ProfitMonthUnreconciled"
PROFIT_MONTHS_OVERDUE_FOR_REVIEW: Final = "ProfitMonthsOverdueForReview"
