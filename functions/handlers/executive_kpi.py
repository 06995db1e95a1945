"""Lambda entry point of the executive workflows' work steps
(state_machines/executive.asl.json, rendered per grain).

`event["action"]` picks the step; every step gets the run (`time`, `grain`, `period`,
`run_id`) and hands the next one small Parquet/JSON work files under `_work/executive/`
in the curated bucket (outside every table's location):

- `aggregate_engagement`, `aggregate_growth`, `aggregate_profit` (the Parallel branches):
  one row per account and period each (never raw events);
- `join`: accounts x aggregates in DuckDB with a memory limit -> the period's totals;
- `reconcile`: the reconciliation gate -> the KPI row (final / preliminary), and the
  restatements against the row published before;
- `report`: the HTML report (functions/core/report/report.py) to the reports bucket;
- `publish`: exec_kpi and restatements with their Glue partitions.

"Now" is the run's `time`; every key is deterministic, so a re-run overwrites with the
same bytes.
"""

from __future__ import annotations

import json
import tempfile
from typing import Any, Final

import pyarrow as pa
import pyarrow.compute as pc
from aws_lambda_powertools import Logger

from functions.adapters import executive_io, metrics
from functions.core import backfills, restatements, schemas
from functions.core.errors import ValidationError
from functions.core.report import executive, executive_inputs
from functions.core.report import executive_freshness as freshness
from functions.core.report.executive_period import WEEK, Period
from functions.core.times import parse_event_time
from functions.handlers.clients import client
from functions.handlers.executive_common import Run, injected_fault, run_request, settings

ENGINE: Final = executive.Engine(
    memory_limit="1GB", temp_directory=f"{tempfile.gettempdir()}/duckdb-executive"
)
HISTORY_PERIODS: Final = {"month": 12, "week": 13}
PUBLISHED_METRIC: Final = "ExecutiveKpiPublished"
RESTATED_METRIC: Final = "ExecutiveKpiRestatements"

logger = Logger()


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    action = str(event.get("action", ""))
    step = ACTIONS.get(action)
    if step is None:
        raise ValidationError(f"unknown action {action!r}: one of {sorted(ACTIONS)}")
    injected_fault(action, retry_count=int(event.get("retry_count", 0)))
    run = run_request(event)
    answer = step(run, event)
    logger.info(action, extra=answer)
    return answer


# --- the three aggregates ------------------------------------------------------------


def aggregate_engagement(run: Run, event: dict[str, Any]) -> dict[str, Any]:
    where, s3 = settings().where, client("s3")
    period = run.period
    _note_versions(s3, where.curated, period, backfills.ENGAGEMENT, profit_record=None)
    daily = executive_io.read_days(
        s3, bucket=where.curated, table=schemas.ENGAGEMENT_DAILY, period=period
    )
    active = executive_io.read_table(
        s3,
        bucket=where.curated,
        table=schemas.ACTIVE_USERS_DAILY,
        partitions={"dt": period.end.isoformat()},
    )
    table = executive.engagement_aggregate(period, daily, active, engine=ENGINE)
    executive_io.put_work(s3, bucket=where.curated, period=period, name="engagement", table=table)
    return {"accounts": table.num_rows, "engagement_rows": daily.num_rows}


def aggregate_growth(run: Run, event: dict[str, Any]) -> dict[str, Any]:
    where, s3 = settings().where, client("s3")
    period = run.period
    _note_versions(s3, where.curated, period, backfills.GROWTH, profit_record=None)
    if period.grain == WEEK:
        snapshots = [
            executive_io.read_table(
                s3,
                bucket=where.curated,
                table=schemas.ACCOUNT_STATUS_WEEKLY,
                partitions={"week": p.name},
            )
            for p in (period, period.previous())
        ]
        table = executive.weekly_accounts(*snapshots)
    else:
        table = executive.monthly_accounts(
            executive_io.read_table(
                s3,
                bucket=where.curated,
                table=schemas.GROWTH_ACCOUNT_MONTHLY,
                partitions={"month": period.name},
            )
        )
    executive_io.put_work(s3, bucket=where.curated, period=period, name="accounts", table=table)
    return {"accounts": table.num_rows}


def aggregate_profit(run: Run, event: dict[str, Any]) -> dict[str, Any]:
    where, s3 = settings().where, client("s3")
    period = run.period
    revenue = executive.REVENUE_AGGREGATE.empty_table()
    totals: dict[str, Any] | None = None
    record = None
    if period.grain != WEEK:
        record = executive_io.profit_month(
            client("dynamodb"), table=where.state_table, month=period.name
        )
        _note_versions(s3, where.curated, period, backfills.PROFIT, profit_record=record)
        revenue = executive.revenue_aggregate(
            executive_io.read_table(
                s3,
                bucket=where.curated,
                table=schemas.REVENUE_ACCOUNT_MONTHLY,
                partitions={"month": period.name},
            )
        )
        rows = executive_io.read_table(
            s3,
            bucket=where.curated,
            table=schemas.PROFIT_MONTHLY,
            partitions={"month": period.name},
        ).to_pylist()
        if rows:
            totals = {
                k: rows[0][k]
                for k in (
                    "revenue_cents",
                    "expenses_cents",
                    "salaries_cents",
                    "profit_cents",
                    "paying_subscribers",
                )
            }
    executive_io.put_work(s3, bucket=where.curated, period=period, name="revenue", table=revenue)
    profit = {
        "totals": totals,
        "publication_status": (record or {}).get("publication_status"),
        "reconciliation": (record or {}).get("reconciliation"),
    }
    executive_io.put_work_json(s3, bucket=where.curated, period=period, name="profit", value=profit)
    return {"paying_accounts": revenue.num_rows, "profit_status": profit["publication_status"]}


def _note_versions(
    s3: Any, bucket: str, period: Period, upstream: str, *, profit_record: dict[str, Any] | None
) -> None:
    """The version of this upstream's inputs, listed before they are read (a change racing
    the read then shows as a difference at the next daily check: a rebuild, never a miss)."""
    versions = executive_io.input_versions(
        s3, bucket=bucket, period=period, profit_record=profit_record, upstreams=[upstream]
    )
    executive_io.put_work_json(
        s3, bucket=bucket, period=period, name=f"built_from-{upstream}", value=versions
    )


def _built_from(s3: Any, bucket: str, period: Period) -> dict[str, str]:
    versions: dict[str, str] = {}
    for upstream in executive_inputs.input_prefixes(period):
        versions.update(
            executive_io.get_work_json(
                s3, bucket=bucket, period=period, name=f"built_from-{upstream}"
            )
        )
    return versions


# --- the join, the gate, the report, publication --------------------------------------


def join(run: Run, event: dict[str, Any]) -> dict[str, Any]:
    where, s3 = settings().where, client("s3")
    period = run.period
    tables = {
        name: executive_io.get_work(s3, bucket=where.curated, period=period, name=name)
        for name in ("accounts", "engagement", "revenue")
    }
    totals = executive.join_tables(
        tables["accounts"], tables["engagement"], tables["revenue"], engine=ENGINE
    )
    executive_io.put_work_json(s3, bucket=where.curated, period=period, name="totals", value=totals)
    return {k: totals[k] for k in ("accounts", "unknown_accounts", "active_accounts", "paid_cents")}


def reconcile(run: Run, event: dict[str, Any]) -> dict[str, Any]:
    """The reconciliation gate: the KPI row, final only when every input was fresh and
    the profit month reconciled with the ledger (or was signed off)."""
    where, s3 = settings().where, client("s3")
    period = run.period
    profit = executive_io.get_work_json(s3, bucket=where.curated, period=period, name="profit")
    totals = executive_io.get_work_json(s3, bucket=where.curated, period=period, name="totals")
    checks = _checks(event.get("gate") or {})
    profit_totals = executive.ProfitTotals(**profit["totals"]) if profit["totals"] else None
    row = executive.kpi_row(
        executive.KpiInputs(
            period=period,
            totals=totals,
            checks=checks,
            profit=profit_totals,
            reconciliation_status=profit["publication_status"],
            generated_at=run.now,
        )
    )
    table = executive.kpi_table([row])
    executive_io.put_work(s3, bucket=where.curated, period=period, name="kpi", table=table)
    restated = _restatements(
        # A check after the first means an earlier one found a stale input and started
        # its backfill (the gate fails the run rather than pass a stale input).
        run,
        table,
        backfilled=int((event.get("gate") or {}).get("attempt", 1)) > 1,
        built_from=_built_from(s3, where.curated, period),
    )
    executive_io.put_work(
        s3, bucket=where.curated, period=period, name="restatements", table=restated
    )
    return {
        "publication_status": row["publication_status"],
        "reconciliation": profit["publication_status"],
        "missing": dict(row["missing_reasons"]),
        "restatements": restated.num_rows,
    }


def _checks(gate: dict[str, Any]) -> dict[str, freshness.UpstreamCheck]:
    checks: dict[str, freshness.UpstreamCheck] = {}
    for item in gate.get("checks", []):
        through = item.get("fresh_through")
        checks[item["upstream"]] = freshness.UpstreamCheck(
            upstream=item["upstream"],
            fresh=bool(item["fresh"]),
            fresh_through=parse_event_time(through) if through else None,
            reason=item.get("reason"),
            detail=item.get("detail", ""),
            covered=bool(item.get("covered", True)),
        )
    return checks


def _restatements(
    run: Run, new_row: pa.Table, *, backfilled: bool, built_from: dict[str, str]
) -> pa.Table:
    """Every KPI of the period that differs from the row published before: old, new, why
    (restatements.republish_reason)."""
    where, s3 = settings().where, client("s3")
    period = run.period
    published = executive_io.read_table(
        s3,
        bucket=where.curated,
        table=schemas.EXEC_KPI,
        partitions={"grain": period.grain, "period": period.name},
    )
    if published.num_rows == 0:
        return restatements.empty()
    recorded = executive_io.built_from(client("dynamodb"), table=where.state_table, period=period)
    inputs_changed = bool(recorded and executive_inputs.changed_inputs(recorded, built_from))
    reason = restatements.republish_reason(
        backfilled=backfilled,
        inputs_changed=inputs_changed,
        published_status=published.column("publication_status").to_pylist()[0],
    )
    return restatements.restatement_rows(
        published.select(executive.KPI_COLUMNS).append_column("grain", published.column("grain")),
        new_row.select(executive.KPI_COLUMNS).append_column("grain", new_row.column("grain")),
        key_cols=["grain"],
        metric_cols=executive.KPI_COLUMNS,
        table_name=schemas.EXEC_KPI.name,
        period=period.name,
        restated_at=run.now,
        run_id=run.run_id,
        reason=reason,
    )


def report(run: Run, event: dict[str, Any]) -> dict[str, Any]:
    # Imported here: plotly loads only in the step that renders the report.
    from functions.core.report.report import render_report  # noqa: PLC0415

    where, s3 = settings().where, client("s3")
    period = run.period
    current = executive_io.get_work(s3, bucket=where.curated, period=period, name="kpi")
    kpis = _history(period, current)
    restated = _relevant_restatements(period, kpis)
    profit = executive_io.get_work_json(s3, bucket=where.curated, period=period, name="profit")
    html = render_report(
        grain=period.grain,
        period=period.name,
        kpis=kpis,
        restatements=restated,
        reconciliation=_reconciliation(period, profit.get("reconciliation")),
        generated_at=run.as_json()["time"],
    )
    key = executive_io.put_report(s3, bucket=where.reports, period=period, html=html)
    return {"report": f"s3://{where.reports}/{key}", "bytes": len(html.encode())}


def _history(period: Period, current: pa.Table) -> pa.Table:
    """This period's new row and the published rows of the periods before it."""
    where, s3 = settings().where, client("s3")
    published = executive_io.read_table(
        s3, bucket=where.curated, table=schemas.EXEC_KPI, partitions={"grain": period.grain}
    )
    earlier = published.filter(pc.less(published.column("period"), period.name))
    periods = sorted(set(earlier.column("period").to_pylist()))[-HISTORY_PERIODS[period.grain] :]
    earlier = earlier.filter(pc.is_in(earlier.column("period"), pa.array(periods, pa.string())))
    table = pa.concat_tables([earlier.cast(current.schema), current])
    return table.sort_by([("period", "ascending")])


def _relevant_restatements(period: Period, kpis: pa.Table) -> pa.Table:
    """The restatements of this grain's KPI rows recorded since the last report (the newest
    earlier row's build), of any period, and this run's own."""
    where, s3 = settings().where, client("s3")
    staged = executive_io.get_work(s3, bucket=where.curated, period=period, name="restatements")
    every = executive_io.read_table(s3, bucket=where.curated, table=schemas.RESTATEMENTS)
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


def _reconciliation(period: Period, summary: Any) -> pa.Table | None:
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


def publish(run: Run, event: dict[str, Any]) -> dict[str, Any]:
    config = settings()
    where, s3, glue = config.where, client("s3"), client("glue")
    period = run.period
    row = executive_io.get_work(s3, bucket=where.curated, period=period, name="kpi")
    keys = executive_io.write_kpi(s3, glue, where=where, row=row.cast(_kpi_schema()))
    restated = executive_io.get_work(s3, bucket=where.curated, period=period, name="restatements")
    if restated.num_rows:
        executive_io.write_restatements(
            s3,
            glue,
            where=where,
            rows=restated,
            name=f"exec_kpi-{period.grain}-{period.name}-{run.run_id}",
        )
    executive_io.record_built_from(
        client("dynamodb"),
        table=where.state_table,
        period=period,
        versions=_built_from(s3, where.curated, period),
        run_id=run.run_id,
    )
    _metrics(run, restated.num_rows)
    status = row.column("publication_status").to_pylist()[0]
    return {
        "kpi": f"s3://{where.curated}/{keys[0]}",
        "publication_status": status,
        "restatements": restated.num_rows,
        "report": f"s3://{where.reports}/{executive_io.report_key(period)}",
    }


def _kpi_schema() -> pa.Schema:
    return schemas.EXEC_KPI.arrow_schema(with_partitions=True)


def _metrics(run: Run, restated: int) -> None:
    cloudwatch, namespace = client("cloudwatch"), settings().metrics_namespace
    dimensions = {"Grain": run.period.grain}
    metrics.put_count(
        cloudwatch, namespace=namespace, metric=PUBLISHED_METRIC, dimensions=dimensions, at=run.now
    )
    metrics.put_count(
        cloudwatch,
        namespace=namespace,
        metric=RESTATED_METRIC,
        dimensions=dimensions,
        at=run.now,
        count=restated,
    )


ACTIONS: Final = {
    "aggregate_engagement": aggregate_engagement,
    "aggregate_growth": aggregate_growth,
    "aggregate_profit": aggregate_profit,
    "join": join,
    "reconcile": reconcile,
    "report": report,
    "publish": publish,
}
