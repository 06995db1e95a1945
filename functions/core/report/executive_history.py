"""What the executive report shows besides the period's row (pure): the rows of the
periods before it, the restatements of the KPIs and why, the profit month's
reconciliation, and the profit totals the row is built with."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Final

import pyarrow as pa
import pyarrow.compute as pc

from functions.core import restatements, schemas
from functions.core.report import executive
from functions.core.report.executive_period import WEEK, Period

# How many earlier periods the report's history shows, per grain.
HISTORY_PERIODS: Final = {"month": 12, "week": 13}
PROFIT_TOTALS: Final = (
    "revenue_cents",
    "expenses_cents",
    "salaries_cents",
    "profit_cents",
    "paying_subscribers",
)


def profit_totals(profit_rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The month's totals from its profit_monthly row, None when there is none."""
    if not profit_rows:
        return None
    return {k: profit_rows[0][k] for k in PROFIT_TOTALS}


def history(period: Period, published: pa.Table, current: pa.Table) -> pa.Table:
    """This period's new row and the published rows (of its grain) of the periods before it."""
    earlier = published.filter(pc.less(published.column("period"), period.name))
    periods = sorted(set(earlier.column("period").to_pylist()))[-HISTORY_PERIODS[period.grain] :]
    earlier = earlier.filter(pc.is_in(earlier.column("period"), pa.array(periods, pa.string())))
    table = pa.concat_tables([earlier.cast(current.schema), current])
    return table.sort_by([("period", "ascending")])


def restatement_reason(published: pa.Table, *, backfilled: bool, inputs_changed: bool) -> str:
    """Why the KPIs differ from the row published before (restatements.republish_reason)."""
    return restatements.republish_reason(
        backfilled=backfilled,
        inputs_changed=inputs_changed,
        published_status=published.column("publication_status").to_pylist()[0],
    )


def kpi_restatements(
    published: pa.Table,
    new_row: pa.Table,
    *,
    period: Period,
    restated_at: datetime,
    run_id: str,
    reason: str,
) -> pa.Table:
    """Every KPI of the period that differs from the row published before: old, new, why."""
    return restatements.restatement_rows(
        published.select(executive.KPI_COLUMNS).append_column("grain", published.column("grain")),
        new_row.select(executive.KPI_COLUMNS).append_column("grain", new_row.column("grain")),
        key_cols=["grain"],
        metric_cols=executive.KPI_COLUMNS,
        table_name=schemas.EXEC_KPI.name,
        period=period.name,
        restated_at=restated_at,
        run_id=run_id,
        reason=reason,
    )


def no_restatements() -> pa.Table:
    return schemas.RESTATEMENTS.arrow_schema(with_partitions=True).empty_table()


def relevant_restatements(
    period: Period, kpis: pa.Table, every: pa.Table, staged: pa.Table
) -> pa.Table:
    """The restatements of this grain's KPI rows recorded since the last report (the newest
    earlier row's build), of any period, and this run's own (`staged`)."""
    earlier = kpis.filter(pc.less(kpis.column("period"), period.name))
    mask = pc.and_(
        pc.equal(every.column("table_name"), schemas.EXEC_KPI.name),
        pc.equal(every.column("key"), period.grain),
    )
    if earlier.num_rows:
        restated_at = every.column("restated_at")
        last_report = pc.max(earlier.column("generated_at")).cast(restated_at.type)
        mask = pc.and_(mask, pc.greater(restated_at, last_report))
    schema = schemas.RESTATEMENTS.arrow_schema(with_partitions=True)
    return pa.concat_tables([every.filter(mask).cast(schema), staged.cast(schema)])


def reconciliation_rows(period: Period, summary: Any) -> pa.Table | None:
    """The profit pipeline's reconciliation of the month (from its state-table record:
    line totals and status, never the restricted ledger files), as RECONCILIATION rows."""
    if period.grain == WEEK or not summary:
        return None
    lines = (json.loads(summary) if isinstance(summary, str) else summary).get("lines", {})
    rows = [
        {
            "line": line,
            "computed_cents": detail["computed_cents"],
            "ledger_cents": detail["ledger_cents"],
            "difference_cents": detail["difference_cents"],
            # The tolerance the profit pipeline applied (deployment setting), as recorded.
            "tolerance_cents": detail["tolerance_cents"],
            "status": detail["status"],
            "month": period.name,
        }
        for line, detail in sorted(lines.items())
    ]
    return pa.Table.from_pylist(
        rows, schema=schemas.RECONCILIATION.arrow_schema(with_partitions=True)
    )
