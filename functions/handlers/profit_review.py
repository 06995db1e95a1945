"""Lambda entry point: the daily monthly-review check (EventBridge schedule).

Publishes `ProfitMonthsOverdueForReview`: closed months the pipeline computed that no
accountant signed off within PABLO_PROFIT_REVIEW_DAYS days of month end. Now is the
scheduled event's `time`.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from functions.adapters import metrics, state_table
from functions.core import codes, metric_names
from functions.core.times import parse_event_time
from functions.core.transform import profit_review
from functions.handlers.clients import client
from functions.handlers.settings import settings

OVERDUE_METRIC = metric_names.PROFIT_MONTHS_OVERDUE_FOR_REVIEW

logger = Logger()


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    config = settings()
    now = parse_event_time(str(event.get("time", "")))
    dynamodb = client("dynamodb")
    candidates = profit_review.months_to_check(now.date())
    records = {
        m: state_table.month_record(dynamodb, table=config.state_table, month=m) for m in candidates
    }
    # A month with no input at all has nothing to review.
    computed = {
        m
        for m, record in records.items()
        if record is not None and record.get("publication_status") != codes.NO_DATA
    }
    # Signed off = the latest sign-off covers the month's figures as they stand now.
    signed = {
        m
        for m in computed
        if profit_review.signed_off_figures(
            state_table.signoff(dynamodb, table=config.state_table, month=m),
            str((records[m] or {}).get("reconciliation")),
        )
    }
    overdue = profit_review.overdue_months(
        now.date(), computed=computed, signed_off=signed, review_days=config.review_days
    )
    metrics.put_count(
        client("cloudwatch"),
        namespace=config.metrics_namespace,
        metric=OVERDUE_METRIC,
        dimensions={},
        at=now,
        count=len(overdue),
    )
    answer = {"overdue": overdue, "review_days": config.review_days, "checked": candidates}
    logger.info("profit review checked", extra=answer)
    return answer
