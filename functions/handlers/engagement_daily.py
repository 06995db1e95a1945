"""Lambda entry point of the daily engagement workflow (state_machines/engagement_daily.asl.json).

One function, three steps chosen by `event["action"]`:

- `plan`: which days to compute: yesterday (relative to the scheduled event's `time`) plus
  every dirty day and every day that quarantined clicks of an account a creating event has
  since created, or an explicit `days` list (backfill). Returns the run's days.
- `aggregate_day`: for one day, compaction (raw_clicks -> clicks + dedup_daily) with the
  account check (clicks of accounts no creating event created are quarantined
  `unknown_account`, counted in dedup_daily and left out of every figure),
  engagement_user_daily, stream completeness (producer counts vs landed) and
  engagement_daily with its complete flag; restatements against the previous version;
  Glue partitions; the day recorded as aggregated, with the unknown accounts it saw.
- `active_users`: DAU/WAU/MAU and seat utilisation for the given days.

"Now" is always the event's `time`, never the wall clock. Outputs are written at
deterministic keys (`.../dt=<day>/data.parquet`): a re-run overwrites with the same bytes.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from functions.core.errors import ValidationError
from functions.handlers.engagement_steps import active_users, aggregate_day, plan

logger = Logger()


@logger.inject_lambda_context(log_event=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    action = event.get("action")
    if action == "plan":
        return plan(event)
    if action == "aggregate_day":
        return aggregate_day(event)
    if action == "active_users":
        return active_users(event)
    raise ValidationError(f"unknown action {action!r}: plan, aggregate_day or active_users")
