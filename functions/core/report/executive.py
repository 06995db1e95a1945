"""Executive KPIs: per-(account, period) aggregates, the accounts x aggregates join, and the
one exec_kpi row per period. Pure (pyarrow + duckdb).

Why this shape (run book: "joins of accounts to revenue and engagement ... OOM"): every
input is first reduced to one row per account and period (`engagement_aggregate`,
`weekly_accounts`, the profit pipeline's revenue_account_monthly), so the join is at most
accounts x 3 rows, whatever the click volume; raw events are never joined to accounts. The
join runs in DuckDB with a memory limit and spills instead of failing.

Every ratio goes through `ratio`: null with a reason code when it cannot be computed, never
NaN, infinity or a division error. Definitions: docs/metrics.md, "Executive KPIs".
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import duckdb
import pyarrow as pa

from functions.core import definitions, schemas
from functions.core.backfills import ENGAGEMENT, GROWTH, PROFIT
from functions.core.codes import (
    FINAL,
    MONTHLY_ONLY,
    NO_ACCOUNTS_AT_START,
    NO_ACTIVITY,
    NO_DATA,
    NO_SEATS,
    NO_STARTING_MRR,
    NO_SUBSCRIBERS,
    PARTIAL_PERIOD,
    PRELIMINARY,
    SIGNED_OFF,
    UPSTREAM_INCOMPLETE,
    UPSTREAM_STALE,
)
from functions.core.report.executive_freshness import UpstreamCheck
from functions.core.report.executive_period import MONTH, WEEK, Period
from functions.core.report.report_format import KPI_COLUMNS

# Publication statuses of a month the ledger confirmed (or an accountant signed off).
RECONCILED_STATUSES: Final = frozenset({FINAL, SIGNED_OFF})
DEFAULT_MEMORY_LIMIT: Final = "1GB"

ENGAGEMENT_KPIS: Final = ("dau", "wau", "mau", "hours_per_active_user_day", "seat_utilisation")
GROWTH_KPIS: Final = (
    "mrr_cents",
    "arr_cents",
    "net_new_mrr_cents",
    "mrr_new_cents",
    "mrr_expansion_cents",
    "mrr_contraction_cents",
    "mrr_churn_cents",
    "mrr_reactivation_cents",
    "nrr",
    "grr",
    "new_accounts",
    "churned_accounts",
    "active_accounts",
    "logo_churn_rate",
)
PROFIT_KPIS: Final = (
    "revenue_cents",
    "expenses_cents",
    "salaries_cents",
    "profit_cents",
    "unit_profit_cents",
    "cost_per_account_cents",
)

# The schemas of the per-(account, period) aggregates the Parallel branches hand the join.
ENGAGEMENT_AGGREGATE: Final = pa.schema(
    [
        pa.field("account_id", pa.string(), nullable=False),
        pa.field("active_user_days", pa.int64(), nullable=False),
        pa.field("session_hours", pa.float64(), nullable=False),
        pa.field("clicks", pa.int64(), nullable=False),
        pa.field("days_present", pa.int64(), nullable=False),
        pa.field("incomplete_days", pa.int64(), nullable=False),
        pa.field("wau", pa.int64(), nullable=False),
        pa.field("mau", pa.int64(), nullable=False),
    ]
)
ACCOUNTS: Final = pa.schema(
    [
        pa.field("account_id", pa.string(), nullable=False),
        pa.field("seats_end", pa.int64(), nullable=False),
        pa.field("mrr_start_cents", pa.int64(), nullable=False),
        pa.field("mrr_end_cents", pa.int64(), nullable=False),
        pa.field("mrr_new_cents", pa.int64(), nullable=False),
        pa.field("mrr_expansion_cents", pa.int64(), nullable=False),
        pa.field("mrr_contraction_cents", pa.int64(), nullable=False),
        pa.field("mrr_churn_cents", pa.int64(), nullable=False),
        pa.field("mrr_reactivation_cents", pa.int64(), nullable=False),
    ]
)
REVENUE_AGGREGATE: Final = pa.schema(
    [
        pa.field("account_id", pa.string(), nullable=False),
        pa.field("paid_cents", pa.int64(), nullable=False),
    ]
)


@dataclass(frozen=True)
class Engine:
    """DuckDB resources: a Lambda keeps the limit well under its memory and spills to /tmp."""

    memory_limit: str = DEFAULT_MEMORY_LIMIT
    temp_directory: str | None = None
    threads: int | None = None

    def connect(self) -> duckdb.DuckDBPyConnection:
        config: dict[str, Any] = {"memory_limit": self.memory_limit}
        if self.temp_directory:
            config["temp_directory"] = self.temp_directory
        if self.threads:
            config["threads"] = self.threads
        return duckdb.connect(":memory:", config=config)


# --- the aggregates (one row per account and period) -----------------------------------

# engagement_daily holds one row per (account_id, dt) (its primary key), so a row counts a
# day: count(*) and a sum, which hold one row per account whatever the month's rows. A
# count(DISTINCT dt) keeps every (account, day) pair it has seen: at 1M accounts its memory
# grew 18% when the clicks doubled from 5M to 10M (bench/README.md, exec_join).
ENGAGEMENT_AGGREGATE_SQL: Final = """
WITH days AS (
    SELECT account_id,
           CAST(sum(active_users) AS BIGINT) AS active_user_days,
           CAST(coalesce(sum(session_hours), 0) AS DOUBLE) AS session_hours,
           CAST(sum(clicks) AS BIGINT) AS clicks,
           CAST(count(*) AS BIGINT) AS days_present,
           CAST(sum(CASE WHEN NOT complete THEN 1 ELSE 0 END) AS BIGINT) AS incomplete_days
    FROM {daily}
    WHERE dt BETWEEN {first} AND {last}
    GROUP BY account_id
), last_day AS (
    SELECT account_id, CAST(max(wau) AS BIGINT) AS wau, CAST(max(mau) AS BIGINT) AS mau
    FROM {active} WHERE dt = {last} GROUP BY account_id
)
SELECT coalesce(d.account_id, l.account_id) AS account_id,
       coalesce(d.active_user_days, 0) AS active_user_days,
       coalesce(d.session_hours, 0.0) AS session_hours,
       coalesce(d.clicks, 0) AS clicks,
       coalesce(d.days_present, 0) AS days_present,
       coalesce(d.incomplete_days, 0) AS incomplete_days,
       coalesce(l.wau, 0) AS wau,
       coalesce(l.mau, 0) AS mau
FROM days d FULL OUTER JOIN last_day l ON d.account_id = l.account_id
ORDER BY account_id
"""


def sql_text(value: str) -> str:
    """A string literal both engines read the same (ISO dates, period names)."""
    return "'" + value.replace("'", "''") + "'"


def engagement_aggregate_sql(period: Period, *, daily: str, active: str) -> str:
    """The engagement aggregate over two relations (registered tables here, Glue tables on
    Athena): one text that DuckDB and Athena (Trino) both run, so the two engines cannot
    disagree on what it means."""
    return ENGAGEMENT_AGGREGATE_SQL.format(
        daily=daily,
        active=active,
        first=sql_text(period.start.isoformat()),
        last=sql_text(period.end.isoformat()),
    )


def engagement_aggregate(
    period: Period,
    daily: pa.Table | Sequence[str],
    active: pa.Table,
    *,
    engine: Engine | None = None,
) -> pa.Table:
    """Per account over the period: active user-days, hours, clicks, days present and
    incomplete (engagement_daily), and WAU/MAU on the period's last day
    (active_users_daily), each with its `dt` column. `daily` may be local Parquet paths
    under `dt=<day>/` directories (s3_tables.download_days): DuckDB's reader then scans them
    as it aggregates, so memory holds one row per account, not the period's rows."""
    con = (engine or Engine()).connect()
    try:
        if isinstance(daily, pa.Table):
            con.register("daily_in", daily)
            relation = "daily_in"
        else:
            files = ", ".join(sql_text(path) for path in daily)
            relation = (
                f"read_parquet([{files}], hive_partitioning = true, hive_types = {{'dt': VARCHAR}})"
            )
        con.register("active_in", active)
        sql = engagement_aggregate_sql(period, daily=relation, active="active_in")
        result = con.execute(sql).fetch_arrow_table()
    finally:
        con.close()
    return _conform(result, ENGAGEMENT_AGGREGATE)


def monthly_accounts(growth_accounts: pa.Table) -> pa.Table:
    """The accounts of a month from growth_account_monthly (already one row per account)."""
    return _conform(growth_accounts.select(ACCOUNTS.names), ACCOUNTS)


WEEKLY_ACCOUNTS_SQL: Final = """
WITH cur AS (SELECT account_id, coalesce(seats, 0) AS seats,
                    coalesce(mrr_cents, 0) AS mrr FROM snapshot_now),
     prev AS (SELECT account_id, status, coalesce(mrr_cents, 0) AS mrr FROM snapshot_before)
SELECT c.account_id,
       CASE WHEN c.mrr > 0 THEN c.seats ELSE 0 END::BIGINT AS seats_end,
       coalesce(p.mrr, 0)::BIGINT AS mrr_start_cents,
       c.mrr::BIGINT AS mrr_end_cents,
       CASE WHEN coalesce(p.mrr, 0) = 0 AND c.mrr > 0
                 AND coalesce(p.status, '') NOT IN ('churned', 'cancelled')
            THEN c.mrr ELSE 0 END::BIGINT AS mrr_new_cents,
       CASE WHEN p.mrr > 0 AND c.mrr > 0 THEN greatest(c.mrr - p.mrr, 0) ELSE 0 END::BIGINT
           AS mrr_expansion_cents,
       CASE WHEN p.mrr > 0 AND c.mrr > 0 THEN greatest(p.mrr - c.mrr, 0) ELSE 0 END::BIGINT
           AS mrr_contraction_cents,
       CASE WHEN p.mrr > 0 AND c.mrr = 0 THEN p.mrr ELSE 0 END::BIGINT AS mrr_churn_cents,
       CASE WHEN coalesce(p.mrr, 0) = 0 AND c.mrr > 0
                 AND p.status IN ('churned', 'cancelled')
            THEN c.mrr ELSE 0 END::BIGINT AS mrr_reactivation_cents
FROM cur c LEFT JOIN prev p ON c.account_id = p.account_id
ORDER BY c.account_id
"""


def weekly_accounts(snapshot_now: pa.Table, snapshot_before: pa.Table) -> pa.Table:
    """The accounts of a week: movements between the snapshots at the end of the week
    before and of this week (account_status_weekly). Same bridge as the monthly growth
    table: start + new + expansion + reactivation - contraction - churn = end."""
    con = duckdb.connect(":memory:")
    try:
        con.register("snapshot_now", snapshot_now)
        con.register("snapshot_before", snapshot_before)
        result = con.execute(WEEKLY_ACCOUNTS_SQL).fetch_arrow_table()
    finally:
        con.close()
    return _conform(result, ACCOUNTS)


def revenue_aggregate(revenue_accounts: pa.Table) -> pa.Table:
    """Money paid per account in the month (revenue_account_monthly)."""
    return _conform(revenue_accounts.select(REVENUE_AGGREGATE.names), REVENUE_AGGREGATE)


# --- the join ------------------------------------------------------------------------

JOIN_SQL: Final = """
WITH joined AS (
    SELECT coalesce(a.account_id, e.account_id, r.account_id) AS account_id,
           a.account_id IS NOT NULL AS known,
           coalesce(a.seats_end, 0) AS seats_end,
           coalesce(a.mrr_start_cents, 0) AS mrr_start_cents,
           coalesce(a.mrr_end_cents, 0) AS mrr_end_cents,
           coalesce(a.mrr_new_cents, 0) AS mrr_new_cents,
           coalesce(a.mrr_expansion_cents, 0) AS mrr_expansion_cents,
           coalesce(a.mrr_contraction_cents, 0) AS mrr_contraction_cents,
           coalesce(a.mrr_churn_cents, 0) AS mrr_churn_cents,
           coalesce(a.mrr_reactivation_cents, 0) AS mrr_reactivation_cents,
           coalesce(e.active_user_days, 0) AS active_user_days,
           coalesce(e.session_hours, 0.0) AS session_hours,
           coalesce(e.clicks, 0) AS clicks,
           coalesce(e.incomplete_days, 0) AS incomplete_days,
           coalesce(e.wau, 0) AS wau,
           coalesce(e.mau, 0) AS mau,
           coalesce(r.paid_cents, 0) AS paid_cents
    FROM {accounts} a
    FULL OUTER JOIN {engagement} e ON a.account_id = e.account_id
    FULL OUTER JOIN {revenue} r ON coalesce(a.account_id, e.account_id) = r.account_id
)
SELECT CAST(count(*) FILTER (WHERE known) AS BIGINT) AS accounts,
       CAST(count(*) FILTER (WHERE NOT known) AS BIGINT) AS unknown_accounts,
       CAST(count(*) FILTER (WHERE mrr_start_cents > 0) AS BIGINT) AS accounts_start,
       CAST(count(*) FILTER (WHERE mrr_end_cents > 0) AS BIGINT) AS active_accounts,
       CAST(count(*) FILTER (WHERE mrr_new_cents > 0) AS BIGINT) AS new_accounts,
       CAST(count(*) FILTER (WHERE mrr_churn_cents > 0) AS BIGINT) AS churned_accounts,
       CAST(count(*) FILTER (WHERE known AND {paying}) AS BIGINT) AS paying_accounts,
       CAST(coalesce(sum(seats_end) FILTER (WHERE mrr_end_cents > 0), 0) AS BIGINT) AS seats,
       CAST(coalesce(sum(mau) FILTER (WHERE mrr_end_cents > 0), 0) AS BIGINT) AS mau_paying,
       CAST(coalesce(sum(mrr_start_cents), 0) AS BIGINT) AS mrr_start_cents,
       CAST(coalesce(sum(mrr_end_cents), 0) AS BIGINT) AS mrr_end_cents,
       CAST(coalesce(sum(mrr_new_cents), 0) AS BIGINT) AS mrr_new_cents,
       CAST(coalesce(sum(mrr_expansion_cents), 0) AS BIGINT) AS mrr_expansion_cents,
       CAST(coalesce(sum(mrr_contraction_cents), 0) AS BIGINT) AS mrr_contraction_cents,
       CAST(coalesce(sum(mrr_churn_cents), 0) AS BIGINT) AS mrr_churn_cents,
       CAST(coalesce(sum(mrr_reactivation_cents), 0) AS BIGINT) AS mrr_reactivation_cents,
       CAST(coalesce(sum(active_user_days), 0) AS BIGINT) AS active_user_days,
       CAST(coalesce(sum(session_hours), 0.0) AS DOUBLE) AS session_hours,
       CAST(coalesce(sum(clicks), 0) AS BIGINT) AS clicks,
       CAST(coalesce(max(incomplete_days), 0) AS BIGINT) AS incomplete_days,
       CAST(coalesce(sum(wau), 0) AS BIGINT) AS wau,
       CAST(coalesce(sum(mau), 0) AS BIGINT) AS mau,
       CAST(coalesce(sum(paid_cents), 0) AS BIGINT) AS paid_cents
FROM joined
"""


def join_sql(*, accounts: str, engagement: str, revenue: str) -> str:
    """The join over three relations; like the aggregate, one text for DuckDB and Athena."""
    return JOIN_SQL.format(
        accounts=accounts,
        engagement=engagement,
        revenue=revenue,
        paying=definitions.PAYING_SUBSCRIBER_SQL,
    )


def join_totals(
    con: duckdb.DuckDBPyConnection, *, accounts: str, engagement: str, revenue: str
) -> dict[str, Any]:
    """Accounts x (account, period) aggregates, summed. The arguments are SQL relations
    (a registered table, or `read_parquet('...')` in the benchmark): the same statement
    runs on a Lambda's Arrow tables and on a million accounts from Parquet."""
    cursor = con.execute(join_sql(accounts=accounts, engagement=engagement, revenue=revenue))
    names = [d[0] for d in cursor.description or []]
    row = cursor.fetchone()
    if row is None:  # an aggregate without GROUP BY always answers one row
        raise RuntimeError("the join returned no row")
    return dict(zip(names, row, strict=True))


def join_tables(
    accounts: pa.Table, engagement: pa.Table, revenue: pa.Table, *, engine: Engine | None = None
) -> dict[str, Any]:
    con = (engine or Engine()).connect()
    try:
        con.register("accounts_in", _conform(accounts, ACCOUNTS))
        con.register("engagement_in", _conform(engagement, ENGAGEMENT_AGGREGATE))
        con.register("revenue_in", _conform(revenue, REVENUE_AGGREGATE))
        return join_totals(
            con, accounts="accounts_in", engagement="engagement_in", revenue="revenue_in"
        )
    finally:
        con.close()


# --- the KPI row ---------------------------------------------------------------------


def ratio(
    numerator: float | None, denominator: float | None, reason: str
) -> tuple[float | None, str | None]:
    """numerator / denominator, or (None, reason) when it cannot be computed or is not
    finite: the one place a KPI divides."""
    if numerator is None or denominator is None or denominator == 0:
        return None, reason
    value = float(numerator) / float(denominator)
    if not math.isfinite(value):
        return None, reason
    return value, None


@dataclass(frozen=True)
class ProfitTotals:
    """The profit pipeline's month (profit_monthly), or None parts when it had no data."""

    revenue_cents: int
    expenses_cents: int
    salaries_cents: int
    profit_cents: int
    paying_subscribers: int


@dataclass(frozen=True)
class KpiInputs:
    period: Period
    totals: Mapping[str, Any] | None  # join_totals; None when the join could not run
    checks: Mapping[str, UpstreamCheck]  # by upstream
    profit: ProfitTotals | None  # None: no finance input for the month (profit's no_data)
    reconciliation_status: str | None  # profit_monthly's publication_status, months only
    generated_at: datetime


class _Row:
    """The KPI values and the reason of each null one, filled field by field."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = dict.fromkeys(KPI_COLUMNS)
        self.reasons: dict[str, str] = {}

    def set(self, name: str, value: Any, reason: str | None = None) -> None:
        if isinstance(value, float) and not math.isfinite(value):
            value, reason = None, reason or NO_DATA
        self.values[name] = value
        if value is None:
            self.reasons[name] = reason or NO_DATA
        else:
            self.reasons.pop(name, None)

    def null(self, names: tuple[str, ...], reason: str) -> None:
        for name in names:
            self.set(name, None, reason)


def kpi_row(inputs: KpiInputs) -> dict[str, Any]:
    """One exec_kpi row (partition columns included)."""
    row = _Row()
    totals = inputs.totals
    _growth(row, inputs, totals)
    _engagement(row, inputs, totals)
    _profit(row, inputs, totals)
    period = inputs.period
    for name in KPI_COLUMNS:  # nothing left unset without a reason
        if row.values[name] is None and name not in row.reasons:
            row.reasons[name] = NO_DATA

    def through(upstream: str) -> datetime | None:
        check = inputs.checks.get(upstream)
        return check.fresh_through if check else None

    return {
        "period_start": period.start,
        "period_end": period.end,
        **row.values,
        "missing_reasons": sorted(row.reasons.items()),
        "engagement_fresh_through": through(ENGAGEMENT),
        "growth_fresh_through": through(GROWTH),
        "profit_fresh_through": through(PROFIT),
        "publication_status": publication_status(inputs),
        "generated_at": inputs.generated_at,
        "grain": period.grain,
        "period": period.name,
    }


def publication_status(inputs: KpiInputs) -> str:
    """final when every input was fresh (and, for a month, the profit pipeline reconciled
    it with the ledger or an accountant signed it off); preliminary otherwise."""
    if not all(c.fresh and c.covered for c in inputs.checks.values()):
        return PRELIMINARY
    if inputs.totals is not None and inputs.totals.get("incomplete_days"):
        return PRELIMINARY
    if inputs.period.grain == MONTH and inputs.reconciliation_status not in RECONCILED_STATUSES:
        return PRELIMINARY
    return FINAL


def _stale(inputs: KpiInputs, upstream: str) -> bool:
    check = inputs.checks.get(upstream)
    return check is not None and not check.fresh


def _growth(row: _Row, inputs: KpiInputs, totals: Mapping[str, Any] | None) -> None:
    if totals is None or _stale(inputs, GROWTH):
        row.null(GROWTH_KPIS, UPSTREAM_STALE)
        return
    mrr = int(totals["mrr_end_cents"])
    start = int(totals["mrr_start_cents"])
    new, expansion = int(totals["mrr_new_cents"]), int(totals["mrr_expansion_cents"])
    contraction, churn = int(totals["mrr_contraction_cents"]), int(totals["mrr_churn_cents"])
    reactivation = int(totals["mrr_reactivation_cents"])
    row.set("mrr_cents", mrr)
    row.set("arr_cents", 12 * mrr)
    row.set("net_new_mrr_cents", new + expansion + reactivation - contraction - churn)
    row.set("mrr_new_cents", new)
    row.set("mrr_expansion_cents", expansion)
    row.set("mrr_contraction_cents", contraction)
    row.set("mrr_churn_cents", churn)
    row.set("mrr_reactivation_cents", reactivation)
    row.set("nrr", *ratio(start + expansion - contraction - churn, start, NO_STARTING_MRR))
    row.set("grr", *ratio(start - contraction - churn, start, NO_STARTING_MRR))
    row.set("new_accounts", int(totals["new_accounts"]))
    row.set("churned_accounts", int(totals["churned_accounts"]))
    row.set("active_accounts", int(totals["active_accounts"]))
    row.set(
        "logo_churn_rate",
        *ratio(
            int(totals["churned_accounts"]), int(totals["accounts_start"]), NO_ACCOUNTS_AT_START
        ),
    )


def _engagement(row: _Row, inputs: KpiInputs, totals: Mapping[str, Any] | None) -> None:
    if totals is None or _stale(inputs, ENGAGEMENT):
        row.null(ENGAGEMENT_KPIS, UPSTREAM_STALE)
        return
    if int(totals["incomplete_days"]):
        # A stream outage overlapped the period: a low count would be reported as truth.
        row.null(ENGAGEMENT_KPIS, UPSTREAM_INCOMPLETE)
        return
    check = inputs.checks.get(ENGAGEMENT)
    if check is not None and not check.covered:
        # The data starts after the period's first day: an average over the whole period
        # would understate, as during an outage.
        row.null(ENGAGEMENT_KPIS, PARTIAL_PERIOD)
        return
    user_days = int(totals["active_user_days"])
    row.set("dau", *ratio(user_days, inputs.period.days, NO_DATA))
    row.set("wau", int(totals["wau"]))
    row.set("mau", int(totals["mau"]))
    row.set(
        "hours_per_active_user_day",
        *ratio(float(totals["session_hours"]), user_days, NO_ACTIVITY),
    )
    if _stale(inputs, GROWTH):
        row.set("seat_utilisation", None, UPSTREAM_STALE)
    else:
        # Users and seats of the same accounts: those paying at the period end.
        row.set(
            "seat_utilisation",
            *ratio(int(totals["mau_paying"]), int(totals["seats"]), NO_SEATS),
        )


def _profit(row: _Row, inputs: KpiInputs, totals: Mapping[str, Any] | None) -> None:
    if inputs.period.grain == WEEK:
        row.null(PROFIT_KPIS, MONTHLY_ONLY)
        return
    if _stale(inputs, PROFIT):
        row.null(PROFIT_KPIS, UPSTREAM_STALE)
        return
    profit = inputs.profit
    if profit is None:
        row.null(PROFIT_KPIS, NO_DATA)
        return
    # Revenue from the join (sum of money paid per account) equals the profit pipeline's
    # revenue by construction; the profit pipeline's figure is the one reconciled.
    row.set("revenue_cents", profit.revenue_cents)
    row.set("expenses_cents", profit.expenses_cents)
    row.set("salaries_cents", profit.salaries_cents)
    row.set("profit_cents", profit.profit_cents)
    subscribers = profit.paying_subscribers
    row.set("unit_profit_cents", *ratio(profit.profit_cents, subscribers, NO_SUBSCRIBERS))
    row.set(
        "cost_per_account_cents",
        *ratio(profit.expenses_cents + profit.salaries_cents, subscribers, NO_SUBSCRIBERS),
    )


def kpi_table(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=schemas.EXEC_KPI.arrow_schema(with_partitions=True))


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    return table.select(schema.names).cast(schema)
