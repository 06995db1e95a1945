"""Lambda entry point of the daily engagement workflow (state_machines/engagement_daily.asl.json).

One function, the steps chosen by `event["action"]`:

- `plan`: which days to compute: yesterday (relative to the scheduled event's `time`) plus
  every dirty day and every day that quarantined clicks of an account a creating event has
  since created, or an explicit `days` list (backfill). Returns the run's days.
- `measure_day`: the engine for one day: Athena when its landed raw clicks reach the
  configured bytes (docs/scaling.md), DuckDB in this function below.
- `aggregate_day`: for one day, on DuckDB, compaction (raw_clicks -> clicks + dedup_daily) with the
  account check (clicks of accounts no creating event created are quarantined
  `unknown_account`, counted in dedup_daily and left out of every figure),
  engagement_user_daily, stream completeness (producer counts vs landed) and
  engagement_daily with its complete flag; restatements against the previous version;
  Glue partitions; the day recorded as aggregated, with the unknown accounts it saw.
- `athena_start`, `athena_advance`, `athena_discard`: the same day on Athena, the workflow
  waiting between checks (engagement_athena.py).
- `active_users`: DAU/WAU/MAU and seat utilisation for the given days.

"Now" is always the event's `time`, never the wall clock. A day's tables are published as
engagement_publish.py says: each to a new version prefix, then the Glue partition moved.
"""

from __future__ import annotations

from typing import Any, Final

from aws_lambda_powertools import Logger

from functions.core.errors import ValidationError
from functions.handlers import engagement_athena
from functions.handlers.engagement_steps import active_users, aggregate_day, measure_day, plan

logger = Logger()
STEPS: Final = {
    "plan": plan,
    "measure_day": measure_day,
    "aggregate_day": aggregate_day,
    "athena_start": engagement_athena.start,
    "athena_advance": engagement_athena.advance,
    "athena_discard": engagement_athena.discard,
    "active_users": active_users,
}


@logger.inject_lambda_context(log_event=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    step = STEPS.get(str(event.get("action")))
    if step is None:
        raise ValidationError(f"unknown action {event.get('action')!r}: one of {sorted(STEPS)}")
    return step(event)
