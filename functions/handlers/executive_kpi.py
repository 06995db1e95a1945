"""Lambda entry point of the executive workflows' work steps
(state_machines/executive.asl.json, rendered per grain).

`event["action"]` picks the step (functions/handlers/executive_steps.py):

- `choose_engine`: DuckDB here, or Athena for a month whose inputs reach the configured
  bytes (functions/handlers/executive_athena.py);
- `aggregate_engagement`, `aggregate_growth`, `aggregate_profit` (the Parallel branches):
  one row per account and period each (never raw events); on Athena they only note what
  they would have read;
- `join`: accounts x aggregates in DuckDB with a memory limit -> the period's totals;
- `start_athena_join`, `finish_athena_join`: the same on Athena (the workflow waits);
- `reconcile`: the reconciliation gate -> the KPI row (final / preliminary), and the
  restatements against the row published before;
- `report`: the HTML report (functions/core/report/report.py) to the reports bucket;
- `publish`: exec_kpi and restatements with their Glue partitions, and exec_join_totals'
  partition moved to this run's version.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from functions.core.errors import ValidationError
from functions.handlers.executive_common import injected_fault, run_request
from functions.handlers.executive_steps import ACTIONS

logger = Logger()


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    action = str(event.get("action", ""))
    step = ACTIONS.get(action)
    if step is None:
        raise ValidationError(f"unknown action {action!r}: one of {sorted(ACTIONS)}")
    injected_fault(action, retry_count=int(event.get("retry_count", 0)))
    answer = step(run_request(event), event)
    logger.info(action, extra=answer)
    return answer
