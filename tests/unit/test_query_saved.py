"""Every saved query, run by `pablo query --lake`, returns the rows DuckDB gives when run
directly on the Parquet with SQL written by hand (DuckDB idioms, not the transpiler's).

The lake comes from a small generated company pushed through the pipelines' pure cores
(tests/unit/query_lake.py). Athena-only functions the saved queries use (date_trunc,
approx_distinct, date_diff, date_parse, from_iso8601_date, count_if, element_at,
cardinality, day_of_week, integer division) must come out with the same values.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import duckdb
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from functions.core import schemas
from infra.saved_queries import load_saved_queries
from pablo.cli import main
from pablo.generate.company import generate
from pablo.query.cli import run_query
from tests.unit.query_lake import CONFIG, Lake, build_tables, write_table

# Hand-written DuckDB for each saved query; {table} reads lake/<table> directly.
EXPECTED_SQL: dict[str, str] = {
    "mrr_by_month": """
        SELECT month, strptime(month || '-01', '%Y-%m-%d') AS month_start,
               accounts_end AS paying_accounts,
               mrr_end_cents / 100 AS mrr, mrr_end_cents * 12 / 100 AS arr,
               (mrr_new_cents + mrr_expansion_cents + mrr_reactivation_cents
                - mrr_contraction_cents - mrr_churn_cents) / 100 AS net_new_mrr,
               mrr_new_cents / 100 AS new_mrr, mrr_expansion_cents / 100 AS expansion_mrr,
               mrr_reactivation_cents / 100 AS reactivation_mrr,
               mrr_contraction_cents / 100 AS contraction_mrr,
               mrr_churn_cents / 100 AS churned_mrr, round(nrr, 4) AS nrr, nrr_reason
        FROM {growth_monthly} ORDER BY month
    """,
    "engagement_by_account": """
        WITH d AS (
            SELECT account_id, date_trunc('month', dt::DATE) AS month,
                   count(*) FILTER (WHERE active_users > 0) AS active_days,
                   sum(sessions) AS sessions, round(sum(session_hours), 2) AS session_hours,
                   sum(clicks) AS clicks,
                   count(*) FILTER (WHERE NOT complete) AS incomplete_days
            FROM {engagement_daily} GROUP BY ALL
        ), u AS (
            SELECT account_id, date_trunc('month', dt::DATE) AS month,
                   count(DISTINCT user_id) AS users
            FROM {engagement_user_daily} WHERE clicks > 0 GROUP BY ALL
        )
        SELECT d.account_id, d.month, d.active_days,
               coalesce(u.users, 0) AS monthly_active_users, d.sessions, d.session_hours,
               d.clicks, d.clicks // nullif(d.active_days, 0) AS clicks_per_active_day,
               d.incomplete_days
        FROM d LEFT JOIN u ON u.account_id = d.account_id AND u.month = d.month
        ORDER BY d.month, d.account_id
    """,
    "profit_by_month": """
        SELECT month, revenue_cents / 100 AS revenue, expenses_cents / 100 AS expenses,
               salaries_cents / 100 AS salaries, profit_cents / 100 AS profit,
               round(profit_cents / nullif(revenue_cents, 0), 4) AS margin,
               paying_subscribers,
               round(unit_profit_cents / 100, 2) AS profit_per_subscriber,
               unit_profit_cents_reason AS profit_per_subscriber_reason, publication_status
        FROM {profit_monthly} ORDER BY month
    """,
    "experiment_results": """
        WITH per_unit AS (
            SELECT d.experiment_id, d.variant, d.unit_id, count(*) AS days_observed,
                   sum(d.clicks) AS clicks, sum(d.session_hours) AS session_hours,
                   count(*) FILTER (WHERE d.active_users > 0) AS active_days,
                   max(d.date - CAST(a.assigned_at AS DATE)) AS since
            FROM {experiment_unit_daily} d
            JOIN {experiment_assignments} a
              ON a.experiment_id = d.experiment_id AND a.unit_id = d.unit_id
             AND a.variant = d.variant AND NOT a.multiple_variants
            GROUP BY ALL
        )
        SELECT experiment_id, variant, count(*) AS units, sum(days_observed) AS unit_days,
               round(avg(clicks), 3) AS clicks_per_unit,
               round(avg(session_hours), 3) AS hours_per_unit,
               round(avg(active_days / days_observed), 4) AS active_day_rate,
               max(since) AS max_days_since_exposure
        FROM per_unit GROUP BY ALL ORDER BY experiment_id, variant
    """,
    "experiment_health": """
        SELECT experiment_id, week, units, len(map_keys(observed_split)) AS variants,
               map_extract(observed_split, 'control')[1] AS control_units,
               map_extract(planned_split, 'control')[1] AS control_planned_weight,
               round(chi_square, 3) AS chi_square, round(p_value, 4) AS p_value, srm_flag,
               units_multiple_variants, units_no_data
        FROM {experiment_health_weekly}
        WHERE week = (SELECT max(week) FROM {experiment_health_weekly})
        ORDER BY srm_flag DESC, experiment_id
    """,
    "active_users_trend": """
        SELECT dt::DATE AS day, isodow(dt::DATE) AS iso_weekday, sum(dau) AS dau,
               sum(wau) AS wau, sum(mau) AS mau,
               round(sum(dau) / nullif(sum(mau), 0), 4) AS stickiness,
               round(sum(mau) / nullif(sum(licensed_seats), 0), 4) AS seat_utilisation,
               count(*) FILTER (WHERE seat_utilisation IS NULL) AS accounts_without_seats
        FROM {active_users_daily} GROUP BY dt ORDER BY day
    """,
    "lifecycle_issues": """
        SELECT month, missing_step, to_event_type, inferred_status, count(*) AS issues,
               count(DISTINCT account_id) AS accounts,
               min(to_event_time) AS first_seen, max(to_event_time) AS last_seen
        FROM {lifecycle_issues} GROUP BY ALL
        ORDER BY month, issues DESC, missing_step, to_event_type
    """,
    "restatements": """
        SELECT month AS restated_in, table_name, metric, reason, count(*) AS changes,
               count(DISTINCT period) AS periods, min(period) AS first_period,
               max(period) AS last_period,
               max(abs(coalesce(new_value, 0) - coalesce(old_value, 0))) AS largest_change,
               max(restated_at) AS last_restated_at
        FROM {restatements} GROUP BY ALL ORDER BY ALL
    """,
    "seat_utilisation": """
        WITH d AS (
            SELECT * FROM {active_users_daily}
            WHERE dt = (SELECT max(dt) FROM {active_users_daily})
        ), s AS (
            SELECT * FROM {account_status_weekly}
            WHERE week = (SELECT max(week) FROM {account_status_weekly})
        )
        SELECT rank() OVER (ORDER BY d.seat_utilisation) AS utilisation_rank, d.account_id,
               d.dt AS day, s.status, s.plan, s.mrr_cents / 100 AS mrr, d.mau,
               d.licensed_seats, round(d.seat_utilisation, 3) AS seat_utilisation,
               d.seat_utilisation < 0.5 AS at_risk
        FROM d JOIN s USING (account_id)
        WHERE s.status IN ('active', 'renewal_due', 'cancelled')
        ORDER BY d.seat_utilisation NULLS FIRST, d.account_id
    """,
}
SAVED = {q.name: q for q in load_saved_queries()}


@pytest.fixture(scope="session", name="lake")
def lake_fixture(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    company = tmp_path_factory.mktemp("company")
    generate(CONFIG, company)
    out = tmp_path_factory.mktemp("demo-out")
    tables = build_tables(company, out / "work")
    for name, table in tables.items():
        write_table(out / "lake", schemas.table(name), table)
    return Lake(out, tables)


def _scan(lake: Lake, table: str) -> str:
    path = lake.root / table
    return (
        f"read_parquet('{path}/**/*.parquet', hive_partitioning = true, "
        "hive_types_autocast = false)"
    )


def _expected(lake: Lake, name: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    sql = EXPECTED_SQL[name].format_map({t: _scan(lake, t) for t in lake.tables})
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        table = con.execute(sql).fetch_arrow_table()
    return table.column_names, _rows(table.to_pylist())


def _normal(value: Any) -> Any:
    """One comparable form: instants as naive UTC, numbers as floats to 9 digits."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    if isinstance(value, Decimal | int | float) and not isinstance(value, bool):
        number = float(value)
        return None if math.isnan(number) else round(number, 9)
    return value


def _rows(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [tuple(_normal(v) for v in row.values()) for row in rows]


def test_every_saved_query_has_a_hand_written_expectation() -> None:
    # Given the saved queries / Then each one is checked below (a new file needs its SQL)
    assert set(SAVED) == set(EXPECTED_SQL)


@pytest.mark.parametrize("name", sorted(EXPECTED_SQL))
def test_saved_query_on_the_lake_matches_duckdb_on_the_parquet(lake: Lake, name: str) -> None:
    # Given the lake and the saved query's hand-written DuckDB twin
    columns, expected = _expected(lake, name)
    # When pablo query runs the saved Athena SQL on the lake
    result = run_query(SAVED[name].sql, database=SAVED[name].database, lake=lake.out)
    # Then the same columns and the same rows, in the same order, come back
    assert result.column_names == columns
    assert _rows(result.to_pylist()) == expected
    assert expected, f"{name} returned no rows: the comparison would prove nothing"


def test_cli_saved_query_prints_csv_of_the_same_rows(
    lake: Lake, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the lake
    # When an analyst runs a saved query through the command line, as CSV
    code = main(["query", "--saved", "profit_by_month", "--lake", str(lake.out), "--format", "csv"])
    # Then it succeeds and prints the header and one line per month
    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert lines[0].split(",")[:2] == ["month", "revenue"]
    months = sorted(lake.tables["profit_monthly"].column("month").to_pylist())
    assert [line.split(",")[0] for line in lines[1:]] == months


def test_lake_is_laid_out_like_the_demo_snapshot(lake: Lake) -> None:
    # Given the lake built from the generated company
    for name, table in lake.tables.items():
        registry = schemas.table(name)
        # Then every table reads back, hive partitions included, with its registry schema
        dataset = ds.dataset(
            lake.root / name,
            format="parquet",
            partitioning="hive" if registry.partition_keys else None,
            schema=registry.arrow_schema(with_partitions=True),
        )
        assert dataset.count_rows() == table.num_rows, name
        # And no Parquet file repeats a partition column (they live in the path)
        for fragment in dataset.get_fragments():
            names = set(pq.read_schema(fragment.path).names)
            assert not names & set(registry.partition_names), fragment.path


def test_every_analyst_table_of_the_lake_has_rows(lake: Lake) -> None:
    # Given the lake / Then the tables the saved queries read are not empty
    for name in (
        "growth_monthly",
        "engagement_daily",
        "engagement_user_daily",
        "active_users_daily",
        "profit_monthly",
        "lifecycle_issues",
        "restatements",
        "account_status_weekly",
        "experiment_assignments",
        "experiment_unit_daily",
        "experiment_health_weekly",
    ):
        assert lake.tables[name].num_rows > 0, name
