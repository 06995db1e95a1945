"""Lambda entry point: start the executive workflows on their schedules, and the daily
check that every due report was published.

EventBridge rules cannot name an execution, and the name is what refuses a second run of
a period (`monthly-YYYY-MM`, `weekly-<Sunday>`), so the schedules target this function:

- `{"action": "start", "grain": "month" | "week", "time": <the schedule's time>}` starts
  the period before `time` under its name; ExecutionAlreadyExists means it was started
  already (a redelivered schedule, or someone ran `pablo run` first): nothing to do.
- `{"action": "check", "time": ...}` first starts a restatement run
  (`<name>-restate-<n>`) of every recent published period whose inputs changed since its
  row was built (functions/core/report/executive_inputs.py), then publishes
  `ExecutiveReportsMissing`: the due periods (the latest month from day 6, the latest week
  from Tuesday) with no exec_kpi row, and `ExecutivePreliminaryMonths`: closed months whose
  row is still preliminary.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from aws_lambda_powertools import Logger

from functions.adapters import metrics, state_table, workflows
from functions.core import codes, metric_names
from functions.core.errors import ValidationError
from functions.core.report import executive_inputs, executive_layout
from functions.core.report.executive_period import (
    MONTH,
    Period,
    period_of_execution,
    period_to_run,
    restate_name,
)
from functions.core.times import format_seconds, parse_event_time
from functions.handlers.clients import client
from functions.handlers.executive_common import input_versions, read_kpi_rows
from functions.handlers.settings import Settings, settings

MISSING_METRIC: Final = metric_names.EXECUTIVE_REPORTS_MISSING
PRELIMINARY_METRIC: Final = metric_names.EXECUTIVE_PRELIMINARY_MONTHS

logger = Logger()


@logger.inject_lambda_context(log_event=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    now = parse_event_time(event.get("time"))
    action = event.get("action", "start")
    if action == "start":
        return start(str(event.get("grain", "")), now)
    if action == "check":
        return check(now)
    raise ValidationError(f"unknown action {action!r}: start or check", reason="bad_event")


def start(grain: str, now: datetime) -> dict[str, Any]:
    period = period_to_run(grain, now)
    name = period.execution_name
    payload = {
        "time": format_seconds(now),
        "grain": period.grain,
        "period": period.name,
        "run_id": name,
    }
    started = workflows.start_execution(
        client("stepfunctions"),
        machine=settings().executive_workflow(grain),
        name=name,
        payload=payload,
    )
    answer = {"execution": name, "started": started, "already_started": not started}
    logger.info("executive run", extra=answer)
    return answer


def check(now: datetime) -> dict[str, Any]:
    config = settings()
    s3 = client("s3")
    missing = [
        p.execution_name
        for p in executive_layout.due_periods(now)
        if not _published(s3, config.curated_bucket, p)
    ]
    restating = _restate_changed(s3, config, now)
    preliminary = _preliminary_months(s3, config.curated_bucket, now)
    cloudwatch = client("cloudwatch")
    for metric, count in ((MISSING_METRIC, len(missing)), (PRELIMINARY_METRIC, len(preliminary))):
        metrics.put_count(
            cloudwatch,
            namespace=config.metrics_namespace,
            metric=metric,
            dimensions={},
            at=now,
            count=count,
        )
    return {"missing": missing, "preliminary_months": preliminary, "restating": restating}


def _restate_changed(s3: Any, config: Settings, now: datetime) -> list[str]:
    """Start a restatement run of every watched period whose published row was built from
    inputs that have changed since (a late event, a backfill, a replayed outage, a
    sign-off): the row follows its inputs. A period with a run in progress is left to it."""
    dynamodb, sfn = client("dynamodb"), client("stepfunctions")
    latest = {p.grain: p for p in executive_layout.due_periods(now)}
    started: list[str] = []
    for period in executive_inputs.lookback_periods(latest):
        recorded = state_table.built_from(dynamodb, table=config.state_table, period=period)
        if recorded is None or not _published(s3, config.curated_bucket, period):
            continue
        record = (
            state_table.month_record(dynamodb, table=config.state_table, month=period.name)
            if period.grain == MONTH
            else None
        )
        current = input_versions(
            s3, bucket=config.curated_bucket, period=period, profit_record=record
        )
        changed = executive_inputs.changed_inputs(recorded, current)
        if not changed:
            continue
        machine = config.executive_workflow(period.grain)
        runs = executive_layout.period_executions(
            workflows.executions(sfn, machine=machine), period
        )
        if any(r["status"] == "RUNNING" for r in runs):
            continue
        attempt = max((period_of_execution(str(r["name"])) or ("", "", 0))[2] for r in runs) + 1
        name = restate_name(period, attempt)
        payload = {
            "time": format_seconds(now),
            "grain": period.grain,
            "period": period.name,
            "run_id": name,
        }
        if workflows.start_execution(sfn, machine=machine, name=name, payload=payload):
            logger.info("restating", extra={"execution": name, "changed_inputs": changed})
            started.append(name)
    return started


def _published(s3: Any, bucket: str, period: Period) -> bool:
    return read_kpi_rows(s3, bucket=bucket, period=period).num_rows > 0


def _preliminary_months(s3: Any, bucket: str, now: datetime) -> list[str]:
    found = []
    for period in executive_layout.preliminary_watch(now):
        rows = read_kpi_rows(s3, bucket=bucket, period=period).to_pylist()
        if rows and rows[0]["publication_status"] != codes.FINAL:
            found.append(period.name)
    return sorted(found)
