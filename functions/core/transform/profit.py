"""The monthly profit tables of one closed month, from the raw finance tables (pure).

Inputs are Arrow tables with the `raw_*` registry columns (partitions included); DuckDB
does the set work in memory. Outputs follow the curated/finance registry tables:

- revenue_account_monthly: money paid per account (invoices resolved to their latest row,
  `paid`/`refunded` with paid_date in the month), and the expenses attributable to it;
- expenses_monthly: by category and team;
- salaries_team_monthly (finance only): by team;
- profit_monthly: revenue - expenses - salaries, paying subscribers (accounts whose revenue
  received in the month is above zero: `definitions.paying_subscribers`), unit profit and
  cost per account (null with reason `no_subscribers` when nobody paid: never a division
  error).

Invoices and expenses whose account no creating account event created are left out of every
sum and returned as quarantine rows (`unknown_account`); the contract checks this here, in
the monthly run, because only this run has the account list.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from functions.core import codes, definitions, quarantine, schemas
from functions.core.codes import NO_SUBSCRIBERS
from functions.core.definitions import REVENUE_STATUSES
from functions.core.errors import ValidationError
from functions.core.times import previous_month

# A month's key in landing paths and partitions.
_MONTH_KEY_REGEX: Final = r"/([0-9]{4}-[0-9]{2})/[^/]+$"


@dataclass(frozen=True)
class FinanceInputs:
    """The raw rows the month needs (tables with registry columns and partitions)."""

    invoices: pa.Table  # every raw_invoices row landed so far (latest row wins)
    expenses: pa.Table  # raw_expenses rows (any months; filtered to the month here)
    salaries: pa.Table  # raw_salaries rows of the month
    # Accounts a creating event created (definitions.known_accounts); None: no account
    # event landed yet, so the check is skipped rather than quarantining every invoice.
    known_accounts: frozenset[str] | None


@dataclass(frozen=True)
class MonthlyTables:
    month: str
    revenue_accounts: pa.Table  # REVENUE_ACCOUNT_MONTHLY, with partition
    expenses: pa.Table  # EXPENSES_MONTHLY
    salaries: pa.Table  # SALARIES_TEAM_MONTHLY
    totals: MonthTotals
    quarantined: pa.Table  # unknown_account rows


@dataclass(frozen=True)
class MonthTotals:
    revenue_cents: int
    expenses_cents: int
    salaries_cents: int
    paying_subscribers: int

    @property
    def profit_cents(self) -> int:
        return self.revenue_cents - self.expenses_cents - self.salaries_cents

    def unit_profit(self) -> tuple[float | None, str | None]:
        return _per_subscriber(self.profit_cents, self.paying_subscribers)

    def cost_per_account(self) -> tuple[float | None, str | None]:
        return _per_subscriber(self.expenses_cents + self.salaries_cents, self.paying_subscribers)

    def line(self, name: str) -> int:
        """The computed total of a ledger line (revenue, expenses, salaries)."""
        return {
            "revenue": self.revenue_cents,
            "expenses": self.expenses_cents,
            "salaries": self.salaries_cents,
        }[name]


def _per_subscriber(cents: int, subscribers: int) -> tuple[float | None, str | None]:
    if subscribers <= 0:
        return None, NO_SUBSCRIBERS
    return cents / subscribers, None


def check_month(month: str) -> str:
    try:
        datetime.strptime(month, "%Y-%m")
    except ValueError as exc:
        raise ValidationError(f"month {month!r} is not YYYY-MM", reason="invalid_month") from exc
    return month


SCHEDULED_EVENT_SOURCE: Final = "aws.events"


def run_request(event: dict[str, Any], *, parse_time: Any) -> tuple[datetime, str]:
    """(now, month) of a monthly run: the scheduled event (month = the one before its
    time) or an explicit `{"time", "month"}`. Any other event (say, an S3 notification
    routed here by mistake) is refused: computing "last month" from it would be a guess."""
    source = event.get("source")
    if source is not None and source != SCHEDULED_EVENT_SOURCE:
        raise ValidationError(
            f"the monthly run takes a scheduled event or {{time, month}}, not {source!r} "
            f"{event.get('detail-type')!r}",
            reason="bad_event",
        )
    now: datetime = parse_time(str(event.get("time", "")))
    month = check_month(str(event.get("month") or previous_month(now.date())))
    return now, month


def month_tables(month: str, inputs: FinanceInputs, *, now: datetime) -> MonthlyTables:
    """Every profit table of `month` except profit_monthly's status (see `profit_row`)."""
    check_month(month)
    con = duckdb.connect(":memory:")
    try:
        con.register("invoices_in", inputs.invoices)
        con.register("expenses_in", inputs.expenses)
        con.register("salaries_in", inputs.salaries)
        known = sorted(inputs.known_accounts) if inputs.known_accounts is not None else None
        con.register("known", pa.table({"account_id": pa.array(known or [], pa.string())}))
        check = "TRUE" if known is None else "account_id IN (SELECT account_id FROM known)"
        _latest_invoices(con, month, check)
        _month_expenses(con, month, check)
        revenue_accounts = _revenue_accounts(con, month)
        expenses = _expenses(con, month)
        salaries = _salaries(con, month)
        quarantined = _unknown_accounts(con, now)
    finally:
        con.close()
    paying = definitions.paying_subscribers(
        dict(
            zip(
                revenue_accounts.column("account_id").to_pylist(),
                revenue_accounts.column("paid_cents").to_pylist(),
                strict=True,
            )
        )
    )
    totals = MonthTotals(
        revenue_cents=_sum(revenue_accounts, "paid_cents"),
        expenses_cents=_sum(expenses, "amount_cents"),
        salaries_cents=_sum(salaries, "amount_cents"),
        paying_subscribers=paying,
    )
    return MonthlyTables(month, revenue_accounts, expenses, salaries, totals, quarantined)


def has_data(month: str, inputs: FinanceInputs, ledger: pa.Table) -> bool:
    """Whether any input of `month` landed: an invoice issued or paid in it, an expense line,
    a salary row or a ledger total."""
    con = duckdb.connect(":memory:")
    try:
        con.register("invoices_in", inputs.invoices)
        invoices = _scalar(
            con,
            "SELECT count(*) FROM invoices_in WHERE strftime(issued_date, '%Y-%m') = $m "
            "OR strftime(paid_date, '%Y-%m') = $m",
            {"m": month},
        )
    finally:
        con.close()
    expenses = pc.sum(pc.equal(inputs.expenses.column("month"), month)).as_py()
    others = [
        t.filter(pc.equal(t.column("month"), month)).num_rows for t in (inputs.salaries, ledger)
    ]
    return bool(invoices or expenses or any(others))


def profit_row(month: str, totals: MonthTotals, *, publication_status: str) -> pa.Table:
    """The one profit_monthly row of the month."""
    unit, unit_reason = totals.unit_profit()
    cost, cost_reason = totals.cost_per_account()
    row = {
        "revenue_cents": totals.revenue_cents,
        "expenses_cents": totals.expenses_cents,
        "salaries_cents": totals.salaries_cents,
        "profit_cents": totals.profit_cents,
        "paying_subscribers": totals.paying_subscribers,
        "unit_profit_cents": unit,
        "unit_profit_cents_reason": unit_reason,
        "cost_per_account_cents": cost,
        "cost_per_account_cents_reason": cost_reason,
        "publication_status": publication_status,
        "month": month,
    }
    return pa.Table.from_pylist(
        [row], schema=schemas.PROFIT_MONTHLY.arrow_schema(with_partitions=True)
    )


# --- SQL steps ---------------------------------------------------------------------


def _latest_invoices(con: duckdb.DuckDBPyConnection, month: str, check: str) -> None:
    """Resolve every invoice to its row from the latest file (delivery month in the key,
    then the key), keep those paid/refunded in `month` or issued in it."""
    con.execute(
        f"""
        CREATE TEMP TABLE latest AS
        SELECT * EXCLUDE (rank) FROM (
            SELECT *, row_number() OVER (
                PARTITION BY invoice_id
                ORDER BY regexp_extract(source_key, '{_MONTH_KEY_REGEX}', 1) DESC,
                         source_key DESC
            ) AS rank
            FROM invoices_in
        ) WHERE rank = 1
        """
    )
    con.execute(
        f"""
        CREATE TEMP TABLE revenue_rows AS
        SELECT *, ({check}) AS known_account FROM latest
        WHERE (status IN {REVENUE_STATUSES!r} AND strftime(paid_date, '%Y-%m') = ?)
           OR strftime(issued_date, '%Y-%m') = ?
        """,
        [month, month],
    )


def _month_expenses(con: duckdb.DuckDBPyConnection, month: str, check: str) -> None:
    con.execute(
        f"""
        CREATE TEMP TABLE expense_rows AS
        SELECT *, (account_id IS NULL OR {check}) AS known_account FROM expenses_in
        WHERE strftime(expense_date, '%Y-%m') = ?
        """,
        [month],
    )


def _revenue_accounts(con: duckdb.DuckDBPyConnection, month: str) -> pa.Table:
    table = con.execute(
        f"""
        WITH paid AS (
            SELECT account_id, sum(amount_cents) AS paid_cents, count(*) AS invoices
            FROM revenue_rows
            WHERE known_account AND status IN {REVENUE_STATUSES!r}
              AND strftime(paid_date, '%Y-%m') = ?
            GROUP BY account_id
        ), attributed AS (
            SELECT account_id, sum(amount_cents) AS attributed_expense_cents
            FROM expense_rows WHERE known_account AND account_id IS NOT NULL
            GROUP BY account_id
        )
        SELECT account_id,
               coalesce(paid.paid_cents, 0) AS paid_cents,
               coalesce(paid.invoices, 0) AS invoices,
               coalesce(attributed.attributed_expense_cents, 0) AS attributed_expense_cents,
               ? AS month
        FROM paid FULL OUTER JOIN attributed USING (account_id)
        ORDER BY account_id
        """,
        [month, month],
    ).fetch_arrow_table()
    return _conform(table, schemas.REVENUE_ACCOUNT_MONTHLY)


def _expenses(con: duckdb.DuckDBPyConnection, month: str) -> pa.Table:
    table = con.execute(
        """
        SELECT category, team, sum(amount_cents) AS amount_cents, count(*) AS lines, ? AS month
        FROM expense_rows WHERE known_account
        GROUP BY category, team ORDER BY category, team
        """,
        [month],
    ).fetch_arrow_table()
    return _conform(table, schemas.EXPENSES_MONTHLY)


def _salaries(con: duckdb.DuckDBPyConnection, month: str) -> pa.Table:
    table = con.execute(
        """
        SELECT team, sum(headcount) AS headcount, sum(amount_cents) AS amount_cents, ? AS month
        FROM salaries_in WHERE month = ?
        GROUP BY team ORDER BY team
        """,
        [month, month],
    ).fetch_arrow_table()
    return _conform(table, schemas.SALARIES_TEAM_MONTHLY)


def _unknown_accounts(con: duckdb.DuckDBPyConnection, now: datetime) -> pa.Table:
    """Invoices and expense lines of accounts no account event created, as quarantine rows.
    The landed line is not kept in the raw table, so the row is re-rendered as CSV and the
    record id names the file and the row's id."""
    tables: list[pa.Table] = []
    for source, table, relation, id_field in (
        ("invoices", schemas.RAW_INVOICES, "revenue_rows", "invoice_id"),
        ("expenses", schemas.RAW_EXPENSES, "expense_rows", "expense_id"),
    ):
        fields = table.file_column_names
        rows = con.execute(
            f"SELECT {', '.join(fields)}, source_key FROM {relation} WHERE NOT known_account "
            f"ORDER BY source_key, {id_field}"
        ).fetchall()
        rejected = [
            quarantine.Rejection(
                line=None,
                raw=_as_csv_line(values),
                reason=codes.UNKNOWN_ACCOUNT,
                detail=f"{values[fields.index('account_id')]} was created by no account event",
                source_key=key,
                record_id=f"{key}#{values[fields.index(id_field)]}",
            )
            for *values, key in rows
        ]
        tables.append(
            quarantine.quarantine_table(
                rejected,
                source=source,
                pipeline=schemas.Pipeline.PROFIT.value,
                source_key=None,
                received_at=now,
            )
        )
    return pa.concat_tables(tables)


def _as_csv_line(values: list[Any]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(
        ["" if v is None else v.isoformat() if isinstance(v, date) else v for v in values]
    )
    return out.getvalue().encode()


def _conform(table: pa.Table, registry: schemas.Table) -> pa.Table:
    schema = registry.arrow_schema(with_partitions=True)
    return table.select(schema.names).cast(schema)


def _sum(table: pa.Table, column: str) -> int:
    return int(sum(v for v in table.column(column).to_pylist() if v is not None))


def _scalar(
    con: duckdb.DuckDBPyConnection, sql: str, parameters: dict[str, str] | None = None
) -> int:
    row = con.execute(sql, parameters or {}).fetchone()
    return int(row[0]) if row and row[0] is not None else 0
