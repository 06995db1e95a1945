"""The demo lands each generated file when the company would deliver it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from pablo.demo import plan_deliveries
from pablo.generate.company import generate
from pablo.generate.model import GeneratorConfig

START = date(2026, 9, 1)
DAYS = 35


@pytest.fixture(scope="module")
def company(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("company")
    generate(GeneratorConfig(seed=3, accounts=8, start=START, days=DAYS), out)
    return out


def test_every_landing_file_is_delivered_once_in_time_order(company: Path) -> None:
    # Given a generated company
    # When the demo plans its deliveries
    deliveries = plan_deliveries(company, START, DAYS)
    # Then every landing file is delivered once, in time order, except the month that
    # closes after the replay ends (October of a 35-day window from September 1)
    folders = ("account_events", "assignments", "invoices", "expenses", "salaries", "ledger")
    generated = {p for folder in folders for p in (company / folder).glob("*.*")}
    generated |= {company / "experiments" / "experiments.csv"}
    unclosed = {p for p in generated if p.stem == "2026-10"}
    assert unclosed
    assert {d.path for d in deliveries} == generated - unclosed
    assert [d.at for d in deliveries] == sorted(d.at for d in deliveries)


def test_history_lands_at_the_start_and_daily_files_the_next_night(company: Path) -> None:
    deliveries = {d.path.name: d for d in plan_deliveries(company, START, DAYS)}
    # Given the history backfill (dated the day before the window) and a later daily file
    backfill = deliveries["2026-08-31.jsonl"]
    daily = next(
        d
        for d in deliveries.values()
        if d.source == "account_events" and d.path.stem > "2026-09-05"
    )
    day = date.fromisoformat(daily.path.stem)
    # Then each lands at 01:00 the night after its day, under its day's prefix
    assert backfill.at == datetime(2026, 9, 1, 1, tzinfo=UTC)
    assert daily.at == datetime(day.year, day.month, day.day, 1, tzinfo=UTC) + timedelta(days=1)
    assert daily.key == f"account_events/{day:%Y/%m/%d}/account_events-{day.isoformat()}.jsonl"


def test_month_close_files_land_early_next_month_and_finance_data_stays_in_finance(
    company: Path,
) -> None:
    deliveries = [d for d in plan_deliveries(company, START, DAYS) if d.path.stem == "2026-09"]
    by_source = {d.source: d for d in deliveries}
    assert by_source["invoices"].at == datetime(2026, 10, 1, 2, tzinfo=UTC)
    assert by_source["ledger"].at == datetime(2026, 10, 3, 2, tzinfo=UTC)
    assert by_source["salaries"].bucket_output == "FinanceBucketName"
    assert by_source["salaries"].key == "landing/salaries/2026-09/salaries-2026-09.csv"
    assert by_source["invoices"].bucket_output == "LandingBucketName"
