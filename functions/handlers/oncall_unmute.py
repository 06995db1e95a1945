"""Lambda entry point: an acknowledged alarm back to OK is unmuted and its ack closed.

Target of the EventBridge rule on "CloudWatch Alarm State Change" events to OK of the
stack's alarms (infra/constructs/oncall.py). EventBridge, not the on-call SNS topic: a muted
alarm (`pablo oncall ack` disabled its actions) sends nothing to SNS, but AWS emits its
state changes to EventBridge either way. Only alarms with an open acknowledgement are
touched: actions someone disabled by hand for another reason stay disabled. A redelivered
event finds the acknowledgement closed and changes nothing.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from functions.adapters import metrics, state_table
from functions.core.errors import ValidationError
from functions.core.monitor import oncall
from functions.core.times import format_seconds
from functions.handlers.clients import client as _client
from functions.handlers.settings import settings

logger = Logger()


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        change = oncall.parse_state_change(event)
    except ValidationError as exc:
        logger.error("event rejected", extra={"reason": exc.reason, "error": str(exc)})
        return {"status": "rejected", "reason": exc.reason, "error": str(exc)}
    if change.state != oncall.OK:
        return {"status": "ignored", "alarm": change.alarm, "state": change.state}
    table = settings().state_table
    dynamodb = _client("dynamodb")
    ack = oncall.open_ack(state_table.acks(dynamodb, table=table, alarm=change.alarm), change.alarm)
    if ack is None:
        return {"status": "not_acknowledged", "alarm": change.alarm}
    # Unmute first: if closing fails the event is retried and the ack is still open.
    metrics.set_alarm_actions(_client("cloudwatch"), alarm=change.alarm, enabled=True)
    closed = state_table.close_ack(
        dynamodb,
        table=table,
        ack=ack,
        at=format_seconds(change.at),
        reason=oncall.CLOSED_BY_OK,
    )
    result = {"status": "unmuted", "alarm": change.alarm, "ack": ack.acked_at, "closed": closed}
    logger.info("acknowledged alarm back to OK", extra=result)
    return result
