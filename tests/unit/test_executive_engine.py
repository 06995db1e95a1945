"""The executive engine choice and the Athena statement: one SQL text for both engines."""

from __future__ import annotations

from typing import Any

import duckdb
import pyarrow as pa
import sqlglot
from sqlglot import exp

from functions.core import schemas
from functions.core.report import executive as ex
from functions.core.report import executive_engine as engine
from functions.core.report.executive_period import month_period, week_period

MONTH = month_period("2026-09")


def test_a_month_goes_to_athena_from_the_threshold_and_a_week_never() -> None:
    # given a threshold of 1,000 bytes
    # when months and a week of various sizes are measured
    below = engine.engine_for(MONTH, input_bytes=999, athena_min_bytes=1000)
    at = engine.engine_for(MONTH, input_bytes=1000, athena_min_bytes=1000)
    week = engine.engine_for(week_period("2026-09-27"), input_bytes=10**12, athena_min_bytes=1000)
    # then only the month at or above it runs on Athena
    assert (below, at, week) == (engine.DUCKDB, engine.ATHENA, engine.DUCKDB)


def test_each_execution_writes_its_own_prefix_and_work_table() -> None:
    # given the first run of a month and its re-run
    started = "2026-10-05T07:00:00.000Z"
    versions = [
        engine.run_version("monthly-2026-09", started),
        engine.run_version("monthly-2026-09-rerun-1", started),
        engine.run_version("monthly-2026-09", "2027-01-05T07:00:00.000Z"),  # the name reused
    ]
    prefixes = [engine.join_totals_prefix(MONTH, v) for v in versions]
    # then each has a prefix of its own inside the period's partition, and a Glue-safe table
    assert len(set(prefixes)) == 3
    assert all(
        p.startswith("curated/exec_join_totals/grain=month/period=2026-09/version=monthly_2026_09")
        for p in prefixes
    )
    assert engine.run_version("monthly-2026-09", started) == versions[0]  # a retried step
    names = {engine.work_table_name(MONTH, v) for v in versions}
    assert len(names) == 3
    assert all(n.startswith("exec_join_totals_work_") and n.islower() for n in names)


def test_the_create_table_as_is_athena_sql_over_the_glue_tables() -> None:
    # given the month's statement over a deployed curated database
    sql = engine.create_table_as(
        engine.monthly_join_sql(
            MONTH, tables=engine.qualified("pablo_prod_curated", engine.MONTHLY_INPUTS)
        ),
        database="pablo_prod_curated",
        table="exec_join_totals_work_x",
        location="s3://curated-bucket/p/",
    )
    # when Athena's dialect parses it
    tree = sqlglot.parse_one(sql, read="athena")
    # then it is a CTAS into the new prefix that reads the four inputs, nothing else
    assert isinstance(tree, exp.Create)
    assert "external_location = 's3://curated-bucket/p/'" in sql
    read = {t.name for t in tree.expression.find_all(exp.Table) if t.db == "pablo_prod_curated"}
    assert read == {t.name for t in engine.MONTHLY_INPUTS}
    # and the join's output columns are the registry table's, in order
    assert [s.alias_or_name for s in tree.expression.selects] == list(
        schemas.EXEC_JOIN_TOTALS.column_names
    )


def _day(account: str, dt: str, counts: tuple[int, float, int], *, complete: bool = True) -> Any:
    users, hours, clicks = counts
    return {
        "account_id": account,
        "active_users": users,
        "session_hours": hours,
        "clicks": clicks,
        "complete": complete,
        "dt": dt,
    }


def test_the_athena_text_run_on_duckdb_gives_the_lambda_paths_totals() -> None:
    # given a small month: acct-a pays 5000 and has 2 users, acct-b pays nothing, an unknown
    # account clicks on one incomplete day
    daily = pa.Table.from_pylist(
        [
            _day("acct-a", "2026-09-01", (2, 1.5, 10)),
            _day("acct-a", "2026-09-30", (1, 0.5, 4)),
            _day("acct-b", "2026-09-10", (1, 1.0, 3)),
            _day("acct-x", "2026-09-12", (1, 0.25, 2), complete=False),
            _day("acct-a", "2026-10-01", (9, 9.0, 99)),  # outside the month
        ]
    )
    active = pa.Table.from_pylist(
        [
            {"account_id": "acct-a", "wau": 2, "mau": 2, "dt": "2026-09-30"},
            {"account_id": "acct-b", "wau": 0, "mau": 1, "dt": "2026-09-30"},
        ]
    )
    accounts = pa.Table.from_pylist(
        [
            {
                "account_id": a,
                "seats_end": seats,
                "mrr_start_cents": start,
                "mrr_end_cents": end,
                "mrr_new_cents": 0,
                "mrr_expansion_cents": max(end - start, 0),
                "mrr_contraction_cents": 0,
                "mrr_churn_cents": start if end == 0 else 0,
                "mrr_reactivation_cents": 0,
                "month": "2026-09",
            }
            for a, seats, start, end in (("acct-a", 5, 4000, 5000), ("acct-b", 3, 3000, 0))
        ]
    )
    revenue = pa.Table.from_pylist(
        [{"account_id": "acct-a", "paid_cents": 5000, "month": "2026-09"}]
    )
    # when the DuckDB path joins its aggregates, and the Athena statement's SELECT runs on
    # DuckDB over the same rows under the Glue names
    lambda_totals = ex.join_tables(
        ex.monthly_accounts(accounts),
        ex.engagement_aggregate(MONTH, daily, active),
        ex.revenue_aggregate(revenue),
    )
    con = duckdb.connect()
    con.execute("CREATE SCHEMA db")
    for name, rows in (
        ("engagement_daily", daily),
        ("active_users_daily", active),
        ("growth_account_monthly", accounts),
        ("revenue_account_monthly", revenue),
    ):
        con.register(f"{name}_in", rows)
        con.execute(f"CREATE VIEW db.{name} AS SELECT * FROM {name}_in")
    sql = engine.monthly_join_sql(
        MONTH, tables={t.name: f'"db"."{t.name}"' for t in engine.MONTHLY_INPUTS}
    )
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description or []]
    athena_totals = dict(zip(names, cursor.fetchone() or (), strict=True))
    # then both give the same totals, and the ones worked out by hand
    assert athena_totals == lambda_totals
    assert lambda_totals == {
        "accounts": 2,
        "unknown_accounts": 1,  # acct-x
        "accounts_start": 2,
        "active_accounts": 1,  # acct-a
        "new_accounts": 0,
        "churned_accounts": 1,  # acct-b
        "paying_accounts": 1,
        "seats": 5,  # acct-a's, the only account paying at the end
        "mau_paying": 2,
        "mrr_start_cents": 7000,
        "mrr_end_cents": 5000,
        "mrr_new_cents": 0,
        "mrr_expansion_cents": 1000,
        "mrr_contraction_cents": 0,
        "mrr_churn_cents": 3000,
        "mrr_reactivation_cents": 0,
        "active_user_days": 5,  # 2 + 1 + 1 + 1 (October's 9 left out)
        "session_hours": 3.25,
        "clicks": 19,
        "incomplete_days": 1,
        "wau": 2,
        "mau": 3,
        "paid_cents": 5000,
    }
