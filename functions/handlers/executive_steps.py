"""The steps of the executive workflows (functions/handlers/executive_kpi.py routes to them).

Every step gets the run (`time`, `grain`, `period`, `run_id`) and hands the next one small
Parquet/JSON work files under `_work/executive/` in the curated bucket (outside every
table's location). The rules are core's (functions/core/report/executive*.py); a step
reads with the adapters, calls core, writes with the adapters.

"Now" is the run's `time`; every key is deterministic, so a re-run overwrites with the
same bytes.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from typing import Any, Final

import pyarrow as pa

from functions.adapters import metrics, s3_objects, s3_tables, state_table
from functions.adapters.metrics import Datapoint
from functions.core import backfills, schemas
from functions.core.report import (
    executive,
    executive_engine,
    executive_history,
    executive_inputs,
    executive_layout,
)
from functions.core.report import executive_freshness as freshness
from functions.core.report.executive_period import WEEK, Period
from functions.core.report.report import render_report
from functions.core.times import parse_event_time
from functions.handlers import executive_athena
from functions.handlers.clients import client
from functions.handlers.curated_tables import write_curated
from functions.handlers.executive_common import (
    Run,
    get_work,
    get_work_json,
    input_versions,
    put_work,
    put_work_json,
    read_kpi_rows,
)
from functions.handlers.settings import settings

ENGINE: Final = executive.Engine(
    memory_limit="1GB", temp_directory=f"{tempfile.gettempdir()}/duckdb-executive"
)
PUBLISHED_METRIC: Final = "ExecutiveKpiPublished"
RESTATED_METRIC: Final = "ExecutiveKpiRestatements"
Step = Callable[[Run, dict[str, Any]], dict[str, Any]]


# --- the three aggregates ------------------------------------------------------------


def aggregate_engagement(run: Run, event: dict[str, Any]) -> dict[str, Any]:
    config, s3 = settings(), client("s3")
    curated = config.curated_bucket
    period = run.period
    _note_versions(s3, curated, period, backfills.ENGAGEMENT, profit_record=None)
    if _on_athena(event):
        return {"engine": executive_engine.ATHENA}
    active = s3_tables.read_table(
        s3,
        bucket=curated,
        table=schemas.ACTIVE_USERS_DAILY,
        partition_filter={"dt": period.end.isoformat()},
    )
    # The period's days go to local disk and DuckDB's own reader scans them as it
    # aggregates: memory holds one row per account, not the period's rows (bench/README.md,
    # exec_join: an Arrow stream of the same days grew with them).
    with tempfile.TemporaryDirectory(dir=tempfile.gettempdir()) as scratch:
        daily = s3_tables.download_days(
            s3,
            bucket=curated,
            table=schemas.ENGAGEMENT_DAILY,
            first=period.start,
            last=period.end,
            directory=scratch,
        )
        table = executive.engagement_aggregate(period, daily, active, engine=ENGINE)
    put_work(s3, bucket=curated, period=period, name="engagement", table=table)
    return {"accounts": table.num_rows}


def aggregate_growth(run: Run, event: dict[str, Any]) -> dict[str, Any]:
    config, s3 = settings(), client("s3")
    curated = config.curated_bucket
    period = run.period
    _note_versions(s3, curated, period, backfills.GROWTH, profit_record=None)
    if _on_athena(event):
        return {"engine": executive_engine.ATHENA}
    if period.grain == WEEK:
        snapshots = [
            s3_tables.read_table(
                s3,
                bucket=curated,
                table=schemas.ACCOUNT_STATUS_WEEKLY,
                partition_filter={"week": p.name},
            )
            for p in (period, period.previous())
        ]
        table = executive.weekly_accounts(*snapshots)
    else:
        table = executive.monthly_accounts(
            s3_tables.read_table(
                s3,
                bucket=curated,
                table=schemas.GROWTH_ACCOUNT_MONTHLY,
                partition_filter={"month": period.name},
            )
        )
    put_work(s3, bucket=curated, period=period, name="accounts", table=table)
    return {"accounts": table.num_rows}


def aggregate_profit(run: Run, event: dict[str, Any]) -> dict[str, Any]:
    config, s3 = settings(), client("s3")
    curated = config.curated_bucket
    period = run.period
    revenue = executive.REVENUE_AGGREGATE.empty_table()
    totals: dict[str, Any] | None = None
    record = None
    if period.grain != WEEK:
        record = state_table.month_record(
            client("dynamodb"), table=config.state_table, month=period.name
        )
        _note_versions(s3, curated, period, backfills.PROFIT, profit_record=record)
        if not _on_athena(event):  # Athena reads revenue_account_monthly itself
            revenue = executive.revenue_aggregate(
                s3_tables.read_table(
                    s3,
                    bucket=curated,
                    table=schemas.REVENUE_ACCOUNT_MONTHLY,
                    partition_filter={"month": period.name},
                )
            )
        totals = executive_history.profit_totals(
            s3_tables.read_table(
                s3,
                bucket=curated,
                table=schemas.PROFIT_MONTHLY,
                partition_filter={"month": period.name},
            ).to_pylist()
        )
    put_work(s3, bucket=curated, period=period, name="revenue", table=revenue)
    profit = {
        "totals": totals,
        "publication_status": (record or {}).get("publication_status"),
        "reconciliation": (record or {}).get("reconciliation"),
    }
    put_work_json(s3, bucket=curated, period=period, name="profit", value=profit)
    return {"paying_accounts": revenue.num_rows, "profit_status": profit["publication_status"]}


def _on_athena(event: dict[str, Any]) -> bool:
    """The Athena path reads the curated tables itself: the branch only notes versions."""
    return event.get("engine") == executive_engine.ATHENA


def _note_versions(
    s3: Any, bucket: str, period: Period, upstream: str, *, profit_record: dict[str, Any] | None
) -> None:
    """The version of this upstream's inputs, listed before they are read (a change racing
    the read then shows as a difference at the next daily check: a rebuild, never a miss)."""
    versions = input_versions(
        s3, bucket=bucket, period=period, profit_record=profit_record, upstreams=[upstream]
    )
    put_work_json(s3, bucket=bucket, period=period, name=f"built_from-{upstream}", value=versions)


def _built_from(s3: Any, bucket: str, period: Period) -> dict[str, str]:
    versions: dict[str, str] = {}
    for upstream in executive_inputs.input_prefixes(period):
        versions.update(
            get_work_json(s3, bucket=bucket, period=period, name=f"built_from-{upstream}")
        )
    return versions


# --- the join, the gate, the report, publication --------------------------------------


def join(run: Run, event: dict[str, Any]) -> dict[str, Any]:
    config, s3 = settings(), client("s3")
    curated = config.curated_bucket
    period = run.period
    tables = {
        name: get_work(s3, bucket=curated, period=period, name=name)
        for name in ("accounts", "engagement", "revenue")
    }
    totals = executive.join_tables(
        tables["accounts"], tables["engagement"], tables["revenue"], engine=ENGINE
    )
    executive_athena.write_join_totals(
        s3, period=period, version=executive_athena.version_of(run, event), totals=totals
    )
    put_work_json(s3, bucket=curated, period=period, name=executive_athena.TOTALS, value=totals)
    return executive_athena.summary(totals)


def reconcile(run: Run, event: dict[str, Any]) -> dict[str, Any]:
    """The reconciliation gate: the KPI row, final only when every input was fresh and
    the profit month reconciled with the ledger (or was signed off)."""
    config, s3 = settings(), client("s3")
    curated = config.curated_bucket
    period = run.period
    profit = get_work_json(s3, bucket=curated, period=period, name="profit")
    totals = get_work_json(s3, bucket=curated, period=period, name=executive_athena.TOTALS)
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
    put_work(s3, bucket=curated, period=period, name="kpi", table=table)
    restated = _restatements(
        run,
        table,
        # A check after the first means an earlier one found a stale input and started
        # its backfill (the gate fails the run rather than pass a stale input).
        backfilled=int((event.get("gate") or {}).get("attempt", 1)) > 1,
        built_from=_built_from(s3, curated, period),
    )
    put_work(s3, bucket=curated, period=period, name="restatements", table=restated)
    return {
        "publication_status": row["publication_status"],
        "reconciliation": profit["publication_status"],
        "missing": dict(row["missing_reasons"]),
        "restatements": restated.num_rows,
    }


def report(run: Run, event: dict[str, Any]) -> dict[str, Any]:
    config, s3 = settings(), client("s3")
    curated, period = config.curated_bucket, run.period
    current = get_work(s3, bucket=curated, period=period, name="kpi")
    published = s3_tables.read_table(
        s3, bucket=curated, table=schemas.EXEC_KPI, partition_filter={"grain": period.grain}
    )
    kpis = executive_history.history(period, published, current)
    restated = executive_history.relevant_restatements(
        period,
        kpis,
        every=s3_tables.read_table(s3, bucket=curated, table=schemas.RESTATEMENTS),
        staged=get_work(s3, bucket=curated, period=period, name="restatements"),
    )
    profit = get_work_json(s3, bucket=curated, period=period, name="profit")
    html = render_report(
        grain=period.grain,
        period=period.name,
        kpis=kpis,
        restatements=restated,
        reconciliation=executive_history.reconciliation_rows(period, profit.get("reconciliation")),
        generated_at=run.as_json()["time"],
    )
    key = executive_layout.report_key(period)
    s3_objects.put_object(
        s3,
        bucket=config.reports_bucket,
        key=key,
        body=html.encode("utf-8"),
        content_type="text/html; charset=utf-8",
    )
    return {"report": f"s3://{config.reports_bucket}/{key}", "bytes": len(html.encode())}


def _checks(gate: dict[str, Any]) -> dict[str, freshness.UpstreamCheck]:
    """The freshness gate's answer (the workflow passes it as `gate`), parsed."""
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
    """The period's KPI restatements against the row published before (none if none was)."""
    config, s3 = settings(), client("s3")
    period = run.period
    published = read_kpi_rows(s3, bucket=config.curated_bucket, period=period)
    if published.num_rows == 0:
        return executive_history.no_restatements()
    recorded = state_table.built_from(client("dynamodb"), table=config.state_table, period=period)
    inputs_changed = bool(recorded and executive_inputs.changed_inputs(recorded, built_from))
    return executive_history.kpi_restatements(
        published,
        new_row,
        period=period,
        restated_at=run.now,
        run_id=run.run_id,
        reason=executive_history.restatement_reason(
            published, backfilled=backfilled, inputs_changed=inputs_changed
        ),
    )


def publish(run: Run, event: dict[str, Any]) -> dict[str, Any]:
    config, s3 = settings(), client("s3")
    curated, period = config.curated_bucket, run.period
    row = get_work(s3, bucket=curated, period=period, name="kpi")
    keys = write_curated(schemas.EXEC_KPI, row.cast(_kpi_schema()), name=executive_layout.KPI_FILE)
    restated = get_work(s3, bucket=curated, period=period, name="restatements")
    if restated.num_rows:
        write_curated(
            schemas.RESTATEMENTS,
            restated,
            name=f"exec_kpi-{period.grain}-{period.name}-{run.run_id}",
        )
    join_totals = executive_athena.publish_join_totals(period)
    state_table.record_built_from(
        client("dynamodb"),
        table=config.state_table,
        period=period,
        versions=_built_from(s3, curated, period),
        run_id=run.run_id,
    )
    _metrics(run, restated.num_rows)
    status = row.column("publication_status").to_pylist()[0]
    return {
        "kpi": f"s3://{curated}/{keys[0]}",
        "join_totals": join_totals,
        "publication_status": status,
        "restatements": restated.num_rows,
        "report": f"s3://{config.reports_bucket}/{executive_layout.report_key(period)}",
    }


def _kpi_schema() -> pa.Schema:
    return schemas.EXEC_KPI.arrow_schema(with_partitions=True)


def _metrics(run: Run, restated: int) -> None:
    dimensions = {"Grain": run.period.grain}
    metrics.put_metrics(
        client("cloudwatch"),
        namespace=settings().metrics_namespace,
        at=run.now,
        datapoints=[
            Datapoint(PUBLISHED_METRIC, 1, dimensions=dimensions),
            Datapoint(RESTATED_METRIC, restated, dimensions=dimensions),
        ],
    )


ACTIONS: Final[dict[str, Step]] = {
    "aggregate_engagement": aggregate_engagement,
    "aggregate_growth": aggregate_growth,
    "aggregate_profit": aggregate_profit,
    "choose_engine": executive_athena.choose_engine,
    "join": join,
    "start_athena_join": executive_athena.start_athena_join,
    "finish_athena_join": executive_athena.finish_athena_join,
    "reconcile": reconcile,
    "report": report,
    "publish": publish,
}
