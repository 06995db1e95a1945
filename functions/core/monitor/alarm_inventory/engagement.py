"""Engagement alarms (run book: data within 48 hours; issues fixed within a week).

Metrics are published by functions/handlers/click_ingest.py (ClicksReceived, per batch at
its arrival time), engagement_monitor.py (ClickFreshnessHours, every 6 hours) and
engagement_daily.py (EngagementDaysComputed, per day aggregated).
"""

from __future__ import annotations

from functions.core import metric_names
from functions.core.monitor.alarm_inventory.service import function_alarms, workflow_alarms
from functions.core.monitor.alarm_inventory.spec import (
    DAY,
    HOUR,
    AlarmSpec,
    Comparison,
    MissingData,
    Owner,
    Severity,
    Watched,
)
from functions.core.schemas import Pipeline

# The run book's SLA, defined here only: the alarm's threshold and every text about it.
FRESHNESS_SLA_HOURS = 48
FRESHNESS_SLA = (
    f"Data will arrive within {FRESHNESS_SLA_HOURS}hrs - if latest timestamp > the current "
    f"timestamp - {FRESHNESS_SLA_HOURS} hrs, then the SLA is not met"
)
ITERATOR_AGE_THRESHOLD_MS = HOUR * 1000

ALARMS: tuple[AlarmSpec, ...] = (
    AlarmSpec(
        key="click-freshness",
        pipeline=Pipeline.ENGAGEMENT,
        sla=FRESHNESS_SLA,
        metric_name=metric_names.CLICK_FRESHNESS_HOURS,
        statistic="Maximum",
        period_seconds=6 * HOUR,
        evaluation_periods=1,
        threshold=FRESHNESS_SLA_HOURS,
        comparison=Comparison.GREATER_THAN,
        # Published every 6 hours once any click has landed. Missing data means the check
        # itself did not run or nothing ever landed: the silent-stream alarm (breaching on
        # missing data) covers both, so this one does not page twice for the same silence.
        missing_data=MissingData.NOT_BREACHING,
        severity=Severity.PAGE,
        owner=Owner.FRONTEND,
        description=f"The newest click landed is more than {FRESHNESS_SLA_HOURS} hours old",
    ),
    AlarmSpec(
        key="click-stream-silent",
        pipeline=Pipeline.ENGAGEMENT,
        sla=FRESHNESS_SLA,
        metric_name=metric_names.CLICKS_RECEIVED,
        statistic="Sum",
        period_seconds=6 * HOUR,
        # 24 hours without a single record: nights and weekends are quiet, never silent
        # for a whole day.
        evaluation_periods=4,
        datapoints_to_alarm=4,
        threshold=1,
        comparison=Comparison.LESS_THAN,
        # A silent stream publishes nothing at all: silence is the breach, not missing data.
        missing_data=MissingData.BREACHING,
        severity=Severity.PAGE,
        owner=Owner.FRONTEND,
        description="No click record reached the ingest function for 24 hours",
    ),
    AlarmSpec(
        key="engagement-daily-missed",
        pipeline=Pipeline.ENGAGEMENT,
        sla="Issues will be fixed within 1 week",
        metric_name=metric_names.ENGAGEMENT_DAYS_COMPUTED,
        statistic="Sum",
        period_seconds=DAY,
        evaluation_periods=2,
        datapoints_to_alarm=2,
        threshold=1,
        comparison=Comparison.LESS_THAN,
        # The workflow publishes one datapoint per day it aggregates; none for two days
        # means it did not run or failed every time.
        missing_data=MissingData.BREACHING,
        severity=Severity.TICKET,
        owner=Owner.FRONTEND,
        description="The daily engagement workflow aggregated no day for 2 days",
    ),
    *function_alarms(
        Pipeline.ENGAGEMENT,
        sla=FRESHNESS_SLA,
        owner=Owner.FRONTEND,
        functions=("click-ingest", "engagement-daily", "click-freshness"),
        # A batch the ingest function cannot land is retried, bisected, then sent to the
        # failure queue: clicks are missing from the lake until someone replays them.
        paging=("click-ingest",),
    ),
    *workflow_alarms(
        Pipeline.ENGAGEMENT,
        sla="Issues will be fixed within 1 week",
        owner=Owner.FRONTEND,
        workflows=("engagement-daily",),
        severity=Severity.PAGE,
    ),
    AlarmSpec(
        key="click-ingest-failure-queue",
        pipeline=Pipeline.ENGAGEMENT,
        sla=FRESHNESS_SLA,
        metric_name="ApproximateNumberOfMessagesVisible",
        statistic="Maximum",
        period_seconds=5 * 60,
        evaluation_periods=1,
        threshold=1,
        comparison=Comparison.GREATER_OR_EQUAL,
        # SQS stops publishing for a queue left empty and untouched for hours: missing
        # data is an empty queue, not a breach.
        missing_data=MissingData.NOT_BREACHING,
        severity=Severity.PAGE,
        owner=Owner.FRONTEND,
        description="A click batch exhausted its retries (or its 24-hour record age) and its "
        "shard and sequence range sit in the ingest failure queue: those clicks are not in "
        "the lake until replayed",
        watched=Watched.QUEUE,
        resource="click-ingest-failures",
    ),
    AlarmSpec(
        key="click-stream-iterator-age",
        pipeline=Pipeline.ENGAGEMENT,
        sla=FRESHNESS_SLA,
        metric_name="GetRecords.IteratorAgeMilliseconds",
        statistic="Maximum",
        period_seconds=5 * 60,
        # 15 minutes behind by more than an hour: the mapping is stuck or failing, long
        # before records reach the mapping's 24-hour age limit and leave for the queue.
        evaluation_periods=3,
        datapoints_to_alarm=3,
        threshold=ITERATOR_AGE_THRESHOLD_MS,
        comparison=Comparison.GREATER_THAN,
        # Published only while something reads the stream; a stream nobody reads is
        # caught by click-stream-silent (nothing received breaches).
        missing_data=MissingData.NOT_BREACHING,
        severity=Severity.PAGE,
        owner=Owner.FRONTEND,
        description="The ingest mapping reads the click stream more than an hour behind its "
        "newest record",
        watched=Watched.STREAM,
        resource="clicks",
    ),
)
