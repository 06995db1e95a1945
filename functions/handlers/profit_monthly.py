"""Lambda entry point: compute one closed month's profit tables and reconcile them.

Called by the monthly Step Functions workflow with the scheduled event (its `time` is
"now"; the month is the one before it) or with `{"time": ..., "month": "YYYY-MM"}` to re-run
a month (a sign-off republishes this way). Writes revenue_account_monthly, expenses_monthly
and profit_monthly to the curated bucket, salaries_team_monthly and reconciliation to the
finance bucket, unknown-account rows to the quarantine; records the month in the state
table and publishes `ProfitMonthUnreconciled`: the number of months still preliminary
(unreconciled and not signed off).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger

from functions.adapters import glue_catalog, metrics, s3_tables, state_table
from functions.core import codes, definitions, metric_names, schemas
from functions.core.times import format_seconds, parse_event_time
from functions.core.transform import profit, profit_review, reconciliation
from functions.handlers.clients import client
from functions.handlers.settings import Settings, settings

UNRECONCILED_METRIC = metric_names.PROFIT_MONTH_UNRECONCILED
# Invoices and expense lines of accounts no creating event created (quarantined, counted).
UNKNOWN_ACCOUNT_METRIC = "ProfitUnknownAccountRows"
OUTPUT_NAME = "profit-monthly"

logger = Logger()


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    config = settings()
    now, month = profit.run_request(event, parse_time=parse_event_time)
    s3, dynamodb = client("s3"), client("dynamodb")
    buckets = config.buckets
    ledger = s3_tables.read_table(
        s3, bucket=buckets.finance, table=schemas.RAW_LEDGER, partition_filter={"month": month}
    )
    inputs = profit.FinanceInputs(
        invoices=s3_tables.read_table(s3, bucket=buckets.raw, table=schemas.RAW_INVOICES),
        expenses=s3_tables.read_table(
            s3, bucket=buckets.raw, table=schemas.RAW_EXPENSES, partition_filter={"month": month}
        ),
        salaries=s3_tables.read_table(
            s3,
            bucket=buckets.finance,
            table=schemas.RAW_SALARIES,
            partition_filter={"month": month},
        ),
        known_accounts=known_accounts(s3, bucket=buckets.raw),
    )
    if not profit.has_data(month, inputs, ledger):
        return _no_data(config, dynamodb, month, now)
    tables = profit.month_tables(month, inputs, now=now)
    result = reconciliation.reconcile(
        month,
        tables.totals,
        reconciliation.ledger_totals(ledger, month),
        tolerance_cents=config.reconciliation_tolerance_cents,
    )
    # A sign-off covers the figures it was given: once they change, the month needs a new one.
    figures = profit_review.figures_json(result.summary())
    signoff = state_table.signoff(dynamodb, table=config.state_table, month=month)
    status = result.publication_status(
        signed_off=profit_review.signed_off_figures(signoff, figures)
    )
    _write(config, s3, tables, result, status)
    state_table.record_month(
        dynamodb,
        table=config.state_table,
        month=month,
        item={
            "month": month,
            "publication_status": status,
            "matched": result.matched,
            "reconciliation": figures,
            "computed_at": format_seconds(now),
            "accounts_checked": inputs.known_accounts is not None,
        },
    )
    awaiting = _publish_awaiting(config, dynamodb, now)
    metrics.put_count(
        client("cloudwatch"),
        namespace=config.metrics_namespace,
        metric=UNKNOWN_ACCOUNT_METRIC,
        dimensions={},
        at=now,
        count=tables.quarantined.num_rows,
    )
    totals = tables.totals
    answer = {
        "month": month,
        "publication_status": status,
        "matched": result.matched,
        "needs_signoff": status == codes.PRELIMINARY,
        "signed_off_by": signoff["by"] if signoff else None,
        "reconciliation": result.summary(),
        "revenue_cents": totals.revenue_cents,
        "expenses_cents": totals.expenses_cents,
        "salaries_cents": totals.salaries_cents,
        "profit_cents": totals.profit_cents,
        "paying_subscribers": totals.paying_subscribers,
        "unknown_account_rows": tables.quarantined.num_rows,
        "accounts_checked": inputs.known_accounts is not None,
        "months_awaiting_signoff": awaiting,
    }
    logger.info("profit month computed", extra=answer)
    return answer


def _publish_awaiting(config: Settings, dynamodb: Any, now: datetime) -> list[str]:
    """Publish how many months wait for a sign-off. Every month, not only this one: a later
    month that matches must not clear the alarm of an earlier one nobody has verified."""
    awaiting = sorted(
        record["sk"]
        for record in state_table.month_records(dynamodb, table=config.state_table)
        if record.get("publication_status") == codes.PRELIMINARY
    )
    metrics.put_count(
        client("cloudwatch"),
        namespace=config.metrics_namespace,
        metric=UNRECONCILED_METRIC,
        dimensions={},
        at=now,
        count=len(awaiting),
    )
    return awaiting


def _no_data(config: Settings, dynamodb: Any, month: str, now: datetime) -> dict[str, Any]:
    """Nothing landed for the month: record it, publish nothing, flag nothing."""
    state_table.record_month(
        dynamodb,
        table=config.state_table,
        month=month,
        item={
            "month": month,
            "publication_status": codes.NO_DATA,
            "computed_at": format_seconds(now),
        },
    )
    awaiting = _publish_awaiting(config, dynamodb, now)
    answer = {
        "month": month,
        "publication_status": codes.NO_DATA,
        "needs_signoff": False,
        "months_awaiting_signoff": awaiting,
    }
    logger.info("no finance input for the month", extra=answer)
    return answer


def _write(
    config: Settings,
    s3: Any,
    tables: profit.MonthlyTables,
    result: reconciliation.Reconciliation,
    status: str,
) -> None:
    month = tables.month
    outputs: list[tuple[schemas.Table, Any]] = [
        (schemas.REVENUE_ACCOUNT_MONTHLY, tables.revenue_accounts),
        (schemas.EXPENSES_MONTHLY, tables.expenses),
        (schemas.SALARIES_TEAM_MONTHLY, tables.salaries),
        (schemas.RECONCILIATION, result.table()),
        (
            schemas.PROFIT_MONTHLY,
            profit.profit_row(month, tables.totals, publication_status=status),
        ),
    ]
    for table, rows in outputs:
        bucket = config.buckets.for_table(table)
        glue_catalog.write_and_register(
            s3,
            client("glue"),
            bucket=bucket,
            database=config.database(table),
            table=table,
            rows=rows,
            name=OUTPUT_NAME,
            kms=table.restricted,
        )
    s3_tables.write_partitioned(
        s3,
        bucket=config.buckets.quarantine,
        table=schemas.QUARANTINE,
        rows=tables.quarantined,
        name=f"{OUTPUT_NAME}-{month}",
        kms=False,
    )


def known_accounts(s3: Any, *, bucket: str) -> frozenset[str] | None:
    """Accounts a creating event created (`definitions.known_accounts` over
    raw_account_events), or None if no account event landed at all."""
    events = s3_tables.read_table(s3, bucket=bucket, table=schemas.RAW_ACCOUNT_EVENTS)
    if events.num_rows == 0:
        return None
    return definitions.known_accounts(events)
