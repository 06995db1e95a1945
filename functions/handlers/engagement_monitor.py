"""Lambda entry point: the click-freshness check every 6 hours (EventBridge schedule).

Freshness = the scheduled event's `time` minus the newest event time landed (the ingest
function advances it in the state table). Published every 6 hours, so a stream that stops
shows freshness growing until the 48-hour alarm fires; nothing is published before the
first click ever lands (there is no freshness to speak of yet).
"""

from __future__ import annotations

from typing import Any, Final

from aws_lambda_powertools import Logger

from functions.adapters import metrics, state_table
from functions.core import metric_names
from functions.core.engagement_state import freshness_hours
from functions.core.errors import ValidationError
from functions.core.times import format_millis, parse_time
from functions.handlers.clients import client as _client
from functions.handlers.settings import settings

FRESHNESS_METRIC: Final = metric_names.CLICK_FRESHNESS_HOURS

logger = Logger()


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    text = event.get("time")
    if not isinstance(text, str):
        raise ValidationError("the scheduled event has no `time`")
    now = parse_time(text)
    config = settings()
    newest = state_table.newest_event(_client("dynamodb"), table=config.state_table)
    hours = freshness_hours(now, newest)
    if hours is not None:
        metrics.put_metrics(
            _client("cloudwatch"),
            namespace=config.metrics_namespace,
            at=now,
            datapoints=[metrics.Datapoint(FRESHNESS_METRIC, hours, "None")],
        )
    result = {
        "time": format_millis(now),
        "newest_event_time": format_millis(newest) if newest else None,
        "freshness_hours": hours,
    }
    logger.info("click freshness", extra=result)
    return result
