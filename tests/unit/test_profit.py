"""Monthly profit tables and reconciliation on a generated company (truth.json as oracle)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pytest

from functions.core import codes, times
from functions.core.errors import ValidationError
from functions.core.ingest import finance_inputs as fi
from functions.core.parquet import parquet_bytes
from functions.core.schemas import PROFIT_MONTHLY, REVENUE_ACCOUNT_MONTHLY
from functions.core.times import parse_event_time
from functions.core.transform import profit, reconciliation
from pablo.generate.company import generate
from pablo.generate.model import GeneratorConfig

NOW = datetime(2026, 11, 4, 6, tzinfo=UTC)
FINANCE_SOURCES = ("salaries", "ledger")


@dataclass
class Company:
    truth: dict[str, Any]
    tables: dict[str, pa.Table]
    outcomes: list[fi.FileOutcome]


def landing_key(source: str, month: str) -> str:
    root = "landing/" if source in FINANCE_SOURCES else ""
    return f"{root}{source}/{month}/{source}-{month}.csv"


@pytest.fixture(scope="module")
def company(tmp_path_factory: pytest.TempPathFactory) -> Company:
    out = tmp_path_factory.mktemp("company")
    truth = generate(GeneratorConfig(seed=11, accounts=8, days=35), out)
    tables: dict[str, pa.Table] = {}
    outcomes = []
    for source in ("invoices", "expenses", "salaries", "ledger"):
        accepted = []
        for path in sorted((out / source).glob("*.csv")):
            outcome = fi.validate_file(
                fi.spec_for(source),
                path.read_bytes(),
                source_key=landing_key(source, path.stem),
                received_at=NOW,
            )
            outcomes.append(outcome)
            accepted.append(outcome.accepted)
        tables[source] = pa.concat_tables(accepted)
    return Company(truth, tables, outcomes)


def _month(company: Company, month: str, known: frozenset[str] | None = None) -> Any:
    inputs = profit.FinanceInputs(
        invoices=company.tables["invoices"],
        expenses=company.tables["expenses"],
        salaries=company.tables["salaries"],
        known_accounts=known if known is not None else frozenset(company.truth["accounts"]["ids"]),
    )
    return profit.month_tables(month, inputs, now=NOW)


def test_every_injected_finance_fault_is_caught_with_its_reason(company: Company) -> None:
    # given the faults truth.json lists for the four finance inputs
    expected = {
        (f["file"].split("/")[0], f["line"], f["reason"])
        for f in company.truth["faults"]["malformed_records"]
        if f["input"] in ("invoices", "expenses", "salaries", "ledger")
        and f["reason"] != "unknown_account"
    }
    # when every file is validated
    caught = {
        (o.source, row["line_number"], row["reason"])
        for o in company.outcomes
        for row in o.quarantined.to_pylist()
    }
    # then exactly those lines are quarantined, with those reasons
    assert caught == expected


def test_unknown_accounts_are_quarantined_by_the_monthly_run(company: Company) -> None:
    expected = {
        f["id"]
        for f in company.truth["faults"]["malformed_records"]
        if f["reason"] == "unknown_account"
    }
    found = set()
    for month in company.truth["window"]["months"]:
        tables = _month(company, month)
        assert set(tables.quarantined.column("reason").to_pylist()) <= {"unknown_account"}
        found |= {r.rsplit("#", 1)[1] for r in tables.quarantined.column("record_id").to_pylist()}
    assert found == expected


def test_reconciles_to_the_cent_and_catches_the_injected_ledger_mismatch(
    company: Company,
) -> None:
    mismatches = {m["month"]: m for m in company.truth["faults"]["ledger_mismatch"]}
    for month in company.truth["window"]["months"]:
        # given the month's tables and the ledger / when reconciled with zero tolerance
        tables = _month(company, month)
        ledger = reconciliation.ledger_totals(company.tables["ledger"], month)
        result = reconciliation.reconcile(month, tables.totals, ledger, tolerance_cents=0)
        lines = {r.line: r for r in result.lines}
        # then totals equal the generator's truth to the cent
        totals = company.truth["totals"]
        assert tables.totals.revenue_cents == totals["invoices"]["revenue_cents_by_month"][month]
        assert tables.totals.expenses_cents == totals["expenses_cents_by_month"][month]
        assert tables.totals.salaries_cents == totals["salaries_cents_by_month"][month]
        if month in mismatches:
            fault = mismatches[month]
            line = lines[fault["line"]]
            assert line.status == codes.MISMATCHED
            assert line.difference_cents == fault["difference_cents"]
            assert line.ledger_cents == fault["ledger_cents"]
            assert result.publication_status(signed_off=False) == codes.PRELIMINARY
            assert result.publication_status(signed_off=True) == codes.SIGNED_OFF
        else:
            assert all(r.status == codes.MATCHED for r in result.lines)
            assert all(r.difference_cents == 0 for r in result.lines)
            assert result.publication_status(signed_off=False) == codes.FINAL


def test_a_mismatch_within_tolerance_matches(company: Company) -> None:
    (fault,) = company.truth["faults"]["ledger_mismatch"]
    tables = _month(company, fault["month"])
    ledger = reconciliation.ledger_totals(company.tables["ledger"], fault["month"])
    loose = reconciliation.reconcile(
        fault["month"], tables.totals, ledger, tolerance_cents=abs(fault["difference_cents"])
    )
    assert loose.matched


def test_missing_ledger_line() -> None:
    totals = profit.MonthTotals(100, 10, 5, 1)
    result = reconciliation.reconcile("2026-09", totals, {"revenue": 100}, tolerance_cents=0)
    assert [r.status for r in result.lines] == ["matched", "missing_ledger", "missing_ledger"]
    assert result.table().column("difference_cents").to_pylist() == [0, None, None]


def test_totals_add_up_for_every_month(company: Company) -> None:
    for month in company.truth["window"]["months"]:
        tables = _month(company, month)
        row = profit.profit_row(month, tables.totals, publication_status="final").to_pylist()[0]
        per_account = sum(tables.revenue_accounts.column("paid_cents").to_pylist())
        assert per_account == row["revenue_cents"]
        assert row["profit_cents"] == (
            row["revenue_cents"] - row["expenses_cents"] - row["salaries_cents"]
        )
        truth_accounts = company.truth["totals"]["invoices"]["revenue_cents_by_account_month"]
        paid = {
            r["account_id"]: r["paid_cents"]
            for r in tables.revenue_accounts.to_pylist()
            if r["paid_cents"]
        }
        assert paid == {a: c for a, c in truth_accounts.get(month, {}).items() if c}
        attributed = sum(tables.revenue_accounts.column("attributed_expense_cents").to_pylist())
        assert attributed <= row["expenses_cents"]
        assert row["unit_profit_cents"] == pytest.approx(
            row["profit_cents"] / row["paying_subscribers"]
        )


def test_no_subscribers_gives_null_with_reason_not_an_error() -> None:
    row = profit.profit_row(
        "2026-09", profit.MonthTotals(0, 500, 700, 0), publication_status="final"
    ).to_pylist()[0]
    assert row["unit_profit_cents"] is None
    assert row["unit_profit_cents_reason"] == codes.NO_SUBSCRIBERS
    assert row["cost_per_account_cents"] is None
    assert row["cost_per_account_cents_reason"] == codes.NO_SUBSCRIBERS
    assert row["profit_cents"] == -1200


def test_reruns_give_byte_identical_parquet(company: Company) -> None:
    month = company.truth["window"]["months"][0]
    first, second = _month(company, month), _month(company, month)
    assert parquet_bytes(first.revenue_accounts, REVENUE_ACCOUNT_MONTHLY) == parquet_bytes(
        second.revenue_accounts, REVENUE_ACCOUNT_MONTHLY
    )
    rows = [profit.profit_row(month, t.totals, publication_status="final") for t in (first, second)]
    assert parquet_bytes(rows[0], PROFIT_MONTHLY) == parquet_bytes(rows[1], PROFIT_MONTHLY)


def test_latest_invoice_row_wins_across_files() -> None:
    # given an invoice open in September's file and paid in October's
    def invoice(status: str, paid: str | None, key: str) -> dict[str, Any]:
        return {
            "invoice_id": "INV-1",
            "account_id": "acct-1",
            "issued_date": datetime(2026, 9, 1).date(),
            "paid_date": datetime.fromisoformat(paid).date() if paid else None,
            "period_start": datetime(2026, 9, 1).date(),
            "period_end": datetime(2026, 9, 30).date(),
            "amount_cents": 1000,
            "currency": "USD",
            "status": status,
            "source_key": key,
            "month": "2026-09",
        }

    schema = fi.invoice_spec().table.arrow_schema(with_partitions=True)
    invoices = pa.Table.from_pylist(
        [
            invoice("paid", "2026-10-03", "invoices/2026-10/x.csv"),
            invoice("open", None, "invoices/2026-09/x.csv"),
        ],
        schema=schema,
    )
    empty = pa.Table.from_pylist(
        [], schema=fi.expense_spec().table.arrow_schema(with_partitions=True)
    )
    salaries = pa.Table.from_pylist(
        [], schema=fi.salary_spec().table.arrow_schema(with_partitions=True)
    )
    inputs = profit.FinanceInputs(invoices, empty, salaries, frozenset({"acct-1"}))
    # then the money counts in October, not September
    assert profit.month_tables("2026-09", inputs, now=NOW).totals.revenue_cents == 0
    october = profit.month_tables("2026-10", inputs, now=NOW).totals
    assert (october.revenue_cents, october.paying_subscribers) == (1000, 1)


def test_previous_month() -> None:
    assert times.previous_month(datetime(2026, 1, 4).date()) == "2025-12"
    assert times.previous_month(datetime(2026, 10, 4).date()) == "2026-09"


def test_run_request_takes_a_schedule_or_an_explicit_month_and_refuses_other_events() -> None:
    scheduled = {"source": "aws.events", "time": "2026-10-04T06:00:00Z"}
    assert profit.run_request(scheduled, parse_time=parse_event_time)[1] == "2026-09"
    explicit = {"time": "2026-10-20T10:00:00Z", "month": "2026-08"}
    assert profit.run_request(explicit, parse_time=parse_event_time)[1] == "2026-08"
    s3_event = {"source": "aws.s3", "detail-type": "Object Created", "time": "2026-10-01T00:00:00Z"}
    with pytest.raises(ValidationError):
        profit.run_request(s3_event, parse_time=parse_event_time)
    with pytest.raises(ValidationError):
        profit.run_request(
            {"time": "2026-10-01T00:00:00Z", "month": "2026-13"}, parse_time=parse_event_time
        )


def test_a_month_before_any_delivery_has_no_data(company: Company) -> None:
    inputs = profit.FinanceInputs(
        invoices=company.tables["invoices"],
        expenses=company.tables["expenses"],
        salaries=company.tables["salaries"],
        known_accounts=None,
    )
    ledger = company.tables["ledger"]
    assert not profit.has_data("2026-08", inputs, ledger)
    assert profit.has_data(company.truth["window"]["months"][0], inputs, ledger)
    # one ledger total alone is data: the month must then reconcile
    only_ledger = pa.Table.from_pylist(
        [
            {
                "line": "revenue",
                "amount_cents": 1,
                "currency": "USD",
                "source_key": "k",
                "month": "2026-08",
            }
        ],
        schema=ledger.schema,
    )
    assert profit.has_data("2026-08", inputs, only_ledger)
