"""Lambda entry point of the weekly growth workflow (state_machines/growth_weekly.asl.json).

Input: `{"action": "snapshot" | "monthly", "time": "<ISO 8601>"}`, where `time` is the
scheduled event's time (the run's "now"); optional `"months": ["YYYY-MM", ...]` rebuilds
those months (a backfill) instead of the closed months.

- snapshot: the week of `time` and the RESTATE_WEEKS before it (account_status_weekly),
  the whole lifecycle_issues table (stale months removed), Glue partitions, the events of
  accounts that no account event created quarantined as `unknown_account` (left out of every
  table), and the alarm metrics (closed weeks without a snapshot; share of inferred or
  unknown statuses) with the counts.
- monthly: growth_account_monthly and growth_monthly of the RESTATE_MONTHS latest closed
  months, Glue partitions, and the figures of the latest one in the answer.
Every file has one deterministic key per partition: re-running overwrites, byte-identical.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from functions.core.errors import ValidationError
from functions.core.times import parse_event_time
from functions.core.transform import growth
from functions.handlers.growth_steps import RESTATE_MONTHS, build_months, build_snapshots
from functions.handlers.settings import settings

logger = Logger()


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    action = event.get("action")
    time_text = event.get("time")
    if not isinstance(time_text, str):
        raise ValidationError("growth workflow input needs `time` (ISO 8601)", reason="bad_event")
    now = parse_event_time(time_text)
    if action == "snapshot":
        return build_snapshots(settings(), now)
    if action == "monthly":
        months = event.get("months") or growth.closed_months(now, count=RESTATE_MONTHS)
        return build_months(settings(), now, [str(m) for m in months])
    raise ValidationError(f"unknown action {action!r}", reason="bad_event")
