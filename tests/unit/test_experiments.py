"""The weekly experiment build on a generated company: SRM flags exactly the injected
mismatch, multiple-variant units are flagged and left out, unit daily metrics equal the
engagement tables, covariates sum the pre-period, and a rebuild gives the same bytes."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from functions.core import schemas
from functions.core.ingest import experiments_inputs
from functions.core.ingest.clicks import parquet_bytes
from functions.core.transform import experiments
from pablo.query import sql as query_sql
from tests.unit.experiments_company import Company, make_company

WEEK = date(2026, 9, 13)  # a Sunday; the experiments start on 09-03..09-05
DATA_THROUGH = date(2026, 9, 21)
TYPES = schemas.CLICK_EVENT_TYPES


@pytest.fixture(scope="module")
def company(tmp_path_factory: pytest.TempPathFactory) -> Company:
    return make_company(tmp_path_factory.mktemp("experiment-company"))


@pytest.fixture(scope="module")
def definitions(company: Company) -> dict[str, experiments_inputs.Definition]:
    outcome = experiments_inputs.validate_definitions(
        (company.out / "experiments" / "experiments.csv").read_bytes(), source_key="e.csv"
    )
    return experiments_inputs.definitions_from_table(outcome.accepted)


@pytest.fixture(scope="module")
def raw_assignments(company: Company, definitions: Any) -> pa.Table:
    files = [
        experiments_inputs.validate_assignments(
            path.read_bytes(),
            source_key=path.name,
            now=datetime(2030, 1, 1, tzinfo=UTC),
            definitions=definitions,
            landed={},
        ).accepted
        for path in sorted((company.out / "assignments").glob("*.jsonl"))
    ]
    return pa.concat_tables(files)


@pytest.fixture(scope="module")
def assignments(raw_assignments: pa.Table) -> pa.Table:
    return experiments.assignments_table(raw_assignments)


@pytest.fixture(scope="module")
def built(company: Company, assignments: pa.Table) -> experiments.UnitMetrics:
    return experiments.unit_metrics(
        _inputs(company, assignments), week=WEEK, data_through=DATA_THROUGH
    )


def _inputs(company: Company, assignments: pa.Table) -> experiments.Inputs:
    return experiments.Inputs(
        assignments=assignments,
        engagement_daily=company.daily,
        user_daily=company.user_daily,
        account_events=company.account_events,
    )


def test_only_the_injected_mismatch_fails_its_srm_check(
    company: Company, assignments: pa.Table, definitions: Any, built: experiments.UnitMetrics
) -> None:
    # when the health checks run at the default threshold
    health = experiments.health_table(
        assignments, definitions, week=WEEK, units_no_data=built.units_no_data
    )
    rows = {r["experiment_id"]: r for r in health.to_pylist()}
    # then exactly the experiment generated with a mismatch is flagged, with the truth's test
    for truth in company.truth["experiments"]:
        row = rows[truth["experiment_id"]]
        assert row["srm_flag"] is truth["srm_injected"] is truth["srm_expected"]
        assert row["units"] == truth["units"]
        assert dict(row["observed_split"]) == {
            k: str(v) for k, v in truth["observed_split"].items()
        }
        assert row["p_value"] == pytest.approx(truth["p_value"], rel=1e-5)
        assert row["units_multiple_variants"] == len(truth["multiple_variant_units"])
        assert row["week"] == WEEK.isoformat()


def test_units_with_two_variants_are_flagged_and_left_out(
    company: Company, assignments: pa.Table, built: experiments.UnitMetrics
) -> None:
    flagged = {
        (r["experiment_id"], r["unit_id"])
        for r in assignments.to_pylist()
        if r["multiple_variants"]
    }
    expected = {
        (e["experiment_id"], u["unit_id"])
        for e in company.truth["experiments"]
        for u in e["multiple_variant_units"]
    }
    assert flagged == expected and expected
    for table in (built.unit_daily, built.covariates):
        pairs = set(
            zip(table["experiment_id"].to_pylist(), table["unit_id"].to_pylist(), strict=True)
        )
        assert not pairs & flagged


def _engagement_rows(company: Company) -> dict[tuple[str, str, str], dict[str, Any]]:
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    for r in company.daily.to_pylist():
        rows["account", r["account_id"], r["dt"]] = {
            **{k: r[k] for k in ("active_users", "sessions", "session_hours", "clicks")},
            **{f"clicks_{t}": r[f"clicks_{t}"] for t in TYPES},
        }
    for r in company.user_daily.to_pylist():
        rows["user", r["user_id"], r["dt"]] = {
            "active_users": int(r["clicks"] > 0),
            "sessions": r["sessions"],
            "session_hours": r["session_seconds"] / 3600,
            "clicks": r["clicks"],
            **{f"clicks_{t}": r[f"clicks_{t}"] for t in TYPES},
        }
    return rows


def test_unit_metrics_equal_the_engagement_tables(
    company: Company, built: experiments.UnitMetrics
) -> None:
    engagement = _engagement_rows(company)
    zero = dict.fromkeys(next(iter(engagement.values())), 0)
    matched = 0
    for row in built.unit_daily.to_pylist():
        expected = engagement.get((row["unit_type"], row["unit_id"], row["dt"]))
        matched += expected is not None
        for name, value in (expected or zero).items():
            assert row[name] == pytest.approx(value, rel=1e-12), (row["unit_id"], row["dt"], name)
        assert row["date"].isoformat() == row["dt"]
    assert matched > 1000  # most unit-days have activity: the comparison is not vacuous


def test_one_row_per_analysed_unit_per_day_from_exposure_through_the_week(
    assignments: pa.Table, built: experiments.UnitMetrics
) -> None:
    days: dict[tuple[str, str], list[date]] = defaultdict(list)
    for row in built.unit_daily.to_pylist():
        days[row["experiment_id"], row["unit_id"]].append(row["date"])
    cutoff = datetime(2026, 9, 14, tzinfo=UTC)
    analysed = [
        r
        for r in assignments.to_pylist()
        if not r["multiple_variants"] and r["assigned_at"] < cutoff
    ]
    assert len(days) == len(analysed)
    for r in analysed:
        exposed = r["assigned_at"].astimezone(UTC).date()
        span = (WEEK - exposed).days + 1
        assert sorted(days[r["experiment_id"], r["unit_id"]]) == [
            exposed + timedelta(days=i) for i in range(span)
        ]


def test_seats_and_mrr_are_the_accounts_after_its_latest_event_of_the_day(
    company: Company, built: experiments.UnitMetrics
) -> None:
    events = sorted(
        company.account_events.to_pylist(), key=lambda e: (e["event_time"], e["event_id"])
    )
    checked = 0
    for row in built.unit_daily.to_pylist():
        if row["unit_type"] != "account":
            continue
        end = datetime.combine(row["date"] + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
        before = [e for e in events if e["account_id"] == row["unit_id"] and e["event_time"] < end]
        latest = before[-1] if before else None
        assert row["mrr_cents"] == (latest["mrr_cents"] if latest else None)
        expected_seats = (
            None if not latest or latest["event_type"] == "churned" else latest["seats"]
        )
        assert row["seats"] == expected_seats
        checked += 1
    assert checked > 100


def test_covariates_sum_the_pre_period_before_exposure(
    company: Company, assignments: pa.Table, built: experiments.UnitMetrics
) -> None:
    engagement = _engagement_rows(company)
    exposure = {
        (r["experiment_id"], r["unit_id"]): r["assigned_at"] for r in assignments.to_pylist()
    }
    assert built.covariates.num_rows == len(
        {(r["experiment_id"], r["unit_id"]) for r in built.unit_daily.to_pylist()}
    )
    for row in built.covariates.to_pylist():
        exposed = exposure[row["experiment_id"], row["unit_id"]].astimezone(UTC).date()
        window = [
            engagement.get(
                (row["unit_type"], row["unit_id"], (exposed - timedelta(days=i)).isoformat())
            )
            for i in range(1, 15)
        ]
        present = [w for w in window if w]
        assert row["window_days"] == 14
        assert row["pre_clicks"] == sum(w["clicks"] for w in present)
        assert row["pre_sessions"] == sum(w["sessions"] for w in present)
        assert row["pre_active_days"] == sum(1 for w in present if w["clicks"] > 0)
        assert row["pre_session_hours"] == pytest.approx(sum(w["session_hours"] for w in present))


def test_units_without_any_engagement_are_counted(
    company: Company, assignments: pa.Table, built: experiments.UnitMetrics
) -> None:
    engagement = _engagement_rows(company)
    expected: dict[str, int] = defaultdict(int)
    for days in _unit_days(built).items():
        (experiment_id, unit_type, unit_id), dts = days
        expected[experiment_id] += not any((unit_type, unit_id, dt) in engagement for dt in dts)
    assert built.units_no_data == dict(expected)
    assert sum(expected.values()) > 0  # the generator has accounts with no activity


def _unit_days(built: experiments.UnitMetrics) -> dict[tuple[str, str, str], list[str]]:
    days: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for row in built.unit_daily.to_pylist():
        days[row["experiment_id"], row["unit_type"], row["unit_id"]].append(row["dt"])
    return days


def test_a_rebuild_gives_byte_identical_files(
    company: Company,
    raw_assignments: pa.Table,
    assignments: pa.Table,
    built: experiments.UnitMetrics,
) -> None:
    again = experiments.unit_metrics(
        _inputs(company, assignments), week=WEEK, data_through=DATA_THROUGH
    )
    for table, first, second in (
        (schemas.EXPERIMENT_UNIT_DAILY, built.unit_daily, again.unit_daily),
        (schemas.EXPERIMENT_COVARIATES, built.covariates, again.covariates),
    ):
        assert parquet_bytes(first, table) == parquet_bytes(second, table)
    # and the assignments table does not depend on the order raw rows are read in
    shuffled = raw_assignments.take(list(reversed(range(raw_assignments.num_rows))))
    assert experiments.assignments_table(shuffled).equals(assignments)


def test_days_past_the_newest_engagement_day_are_not_built(
    company: Company, assignments: pa.Table
) -> None:
    short = experiments.unit_metrics(
        _inputs(company, assignments), week=WEEK, data_through=date(2026, 9, 10)
    )
    assert max(short.unit_daily.column("date").to_pylist()) == date(2026, 9, 10)
    assert short.last_day == date(2026, 9, 10)
    none = experiments.unit_metrics(_inputs(company, assignments), week=WEEK, data_through=None)
    assert none.unit_daily.num_rows == 0 and none.last_day is None


def test_the_latest_closed_week_ends_on_the_sunday_before() -> None:
    assert experiments.last_closed_week(datetime(2026, 9, 14, 6, tzinfo=UTC)) == date(2026, 9, 13)
    assert experiments.last_closed_week(datetime(2026, 9, 13, 23, tzinfo=UTC)) == date(2026, 9, 6)
    assert experiments.week_ending(date(2026, 9, 9)) == date(2026, 9, 13)


def test_health_skips_experiments_not_started_yet(assignments: pa.Table, definitions: Any) -> None:
    health = experiments.health_table(
        assignments, definitions, week=date(2026, 8, 30), units_no_data={}
    )
    assert health.num_rows == 0


def _doc_queries() -> list[str]:
    text = (Path(__file__).resolve().parents[2] / "docs" / "metrics.md").read_text()
    section = text.split("\n## Experiments\n", 1)[1].split("\n## ", 1)[0]
    return [block.split("```", 1)[0] for block in section.split("```sql\n")[1:]]


def test_the_documented_example_queries_run_on_the_tables(
    assignments: pa.Table, built: experiments.UnitMetrics
) -> None:
    # given the three tables as Athena sees them, and the doc's Athena SQL run the way
    # `pablo query` runs it locally (sqlglot from Trino to DuckDB)
    queries = _doc_queries()
    assert len(queries) == 2
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'; CREATE SCHEMA curated")
    for name, table in (
        ("experiment_assignments", assignments),
        ("experiment_unit_daily", built.unit_daily),
        ("experiment_covariates", built.covariates),
    ):
        con.register(f"arrow_{name}", table)
        con.execute(f"CREATE VIEW curated.{name} AS SELECT * FROM arrow_{name}")
    catalog = query_sql.registry_catalog()
    # when they run
    exposures = con.execute(query_sql.translate(queries[0], catalog).sql).fetch_arrow_table()
    variants = [
        tuple(r.values())
        for r in con.execute(query_sql.translate(queries[1], catalog).sql)
        .fetch_arrow_table()
        .to_pylist()
    ]
    # then the assignment source lists the analysed user units, and the CUPED query gives
    # a row per variant with every analysed unit
    users = [
        r
        for r in assignments.to_pylist()
        if r["unit_type"] == "user" and not r["multiple_variants"]
    ]
    assert exposures.num_rows == len(users)
    assert exposures.column_names == ["user_id", "timestamp", "experiment_id", "variation_id"]
    assert [v[0] for v in variants] == ["control", "treatment"]
    assert sum(v[1] for v in variants) == len(users)
    assert all(v[2] >= 0 and v[3] is not None for v in variants)
