"""Where the executive workflows keep things and find their runs (pure): the work files
between the steps, the report's key, the growth partitions the freshness gate needs, a
period's executions among a state machine's, and the version of an upstream's inputs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, Final

from functions.core import schemas
from functions.core.report import executive_inputs
from functions.core.report.executive_freshness import PROFIT
from functions.core.report.executive_period import (
    MONTH,
    WEEK,
    Period,
    period_of_execution,
    period_to_run,
)

WORK_PREFIX: Final = "_work/executive"  # outside every table's location: never in Athena
REPORT_PREFIX: Final = "reports/executive"
KPI_FILE: Final = "exec_kpi"
# When a period's report is due: the schedule plus the freshness gate's bounded wait.
MONTH_DUE_DAY: Final = 6
WEEK_DUE_AFTER: Final = timedelta(days=1)  # Tuesday 00:00 after the Sunday
# The months whose row the daily check watches for staying preliminary.
PRELIMINARY_LOOKBACK_MONTHS: Final = 3


def work_key(period: Period, name: str) -> str:
    """A Parquet work file of the period's run."""
    return f"{WORK_PREFIX}/{period.grain}/{period.name}/{name}.parquet"


def work_json_key(period: Period, name: str) -> str:
    """A JSON work file of the period's run."""
    return f"{WORK_PREFIX}/{period.grain}/{period.name}/{name}.json"


def report_key(period: Period) -> str:
    return f"{REPORT_PREFIX}/{period.grain}/{period.name}.html"


def growth_partition_prefixes(period: Period) -> dict[str, list[str]]:
    """The growth partitions the gate needs (`month:<M>` / `week:<Sunday>`), each with the
    prefixes that must hold a Parquet file."""
    if period.grain == "month":
        return {
            f"month:{period.name}": [
                f"{schemas.GROWTH_MONTHLY.prefix}/month={period.name}/",
                f"{schemas.GROWTH_ACCOUNT_MONTHLY.prefix}/month={period.name}/",
            ]
        }
    return {
        f"week:{week}": [f"{schemas.ACCOUNT_STATUS_WEEKLY.prefix}/week={week}/"]
        for week in (period.name, period.previous().name)
    }


def period_executions(executions: Iterable[dict[str, Any]], period: Period) -> list[dict[str, Any]]:
    """The period's executions (first run, re-runs and restatements), oldest first."""
    found = []
    for execution in executions:
        parsed = period_of_execution(str(execution["name"]))
        if parsed and parsed[:2] == (period.grain, period.name):
            found.append(execution)
    return sorted(found, key=lambda e: period_of_execution(str(e["name"]))[2])  # type: ignore[index]


def named_with(executions: Iterable[dict[str, Any]], prefix: str) -> str | None:
    """The name of the first execution whose name starts with `prefix`."""
    for execution in executions:
        if str(execution["name"]).startswith(prefix):
            return str(execution["name"])
    return None


def input_version(
    upstream: str, etags: Mapping[str, str], profit_record: Mapping[str, Any] | None
) -> str:
    """The version of an upstream's inputs: their files' ETags, and for profit the month's
    publication status and reconciliation (a sign-off changes the row without a file)."""
    extra = None
    if upstream == PROFIT:
        record = profit_record or {}
        extra = {
            "publication_status": record.get("publication_status"),
            "reconciliation": record.get("reconciliation"),
        }
    return executive_inputs.version(etags, extra=extra)


def due_periods(now: datetime) -> list[Period]:
    """The latest month and week whose report should exist by `now`."""
    month = period_to_run(MONTH, now)
    if now.day < MONTH_DUE_DAY:
        month = month.previous()
    week = period_to_run(WEEK, now)
    if now < week.end_instant + WEEK_DUE_AFTER:
        week = week.previous()
    return [month, week]


def preliminary_watch(now: datetime) -> list[Period]:
    """The months the daily check looks at for a row still preliminary, latest first."""
    months = [period_to_run(MONTH, now)]
    for _ in range(PRELIMINARY_LOOKBACK_MONTHS - 1):
        months.append(months[-1].previous())
    return months
