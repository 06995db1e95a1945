"""Validation of the finance inputs against docs/data-contracts.md (reason codes, dedup)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from functions.core.ingest import finance_inputs as fi

NOW = datetime(2026, 10, 1, 2, tzinfo=UTC)
INVOICE_HEADER = (
    "invoice_id,account_id,issued_date,paid_date,period_start,period_end,"
    "amount_cents,currency,status"
)
GOOD_INVOICE = "INV-1,acct-0001,2026-09-01,2026-09-10,2026-09-01,2026-09-30,52500,USD,paid"


def _invoices(*lines: str, key: str = "invoices/2026-09/a.csv") -> fi.FileOutcome:
    data = "\n".join((INVOICE_HEADER, *lines)).encode() + b"\n"
    return fi.validate_file(fi.invoice_spec(), data, source_key=key, received_at=NOW)


def test_clean_invoice_is_accepted_with_its_partition_and_source() -> None:
    # given a file with one good invoice / when validated
    outcome = _invoices(GOOD_INVOICE)
    # then it is accepted, typed, in the month of issued_date
    (row,) = outcome.accepted.to_pylist()
    assert row["amount_cents"] == 52500
    assert row["month"] == "2026-09"
    assert row["source_key"] == "invoices/2026-09/a.csv"
    assert outcome.quarantined.num_rows == 0


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("INV-2,acct-0001,2026-09-01", "malformed_row"),
        ("INV-2,,2026-09-01,,2026-09-01,2026-09-30,100,USD,open", "missing_field"),
        ("INV-2,acct-0001,2026-09-01,,2026-09-01,2026-09-30,420.00,USD,open", "wrong_type"),
        ("INV-2,acct-0001,2026-09-31,,2026-09-01,2026-09-30,100,USD,open", "invalid_date"),
        ("INV-2,acct-0001,2026-09-01,,2026-09-01,2026-09-30,100,USD,lost", "unknown_status"),
        ("INV-2,acct-0001,2026-09-01,,2026-09-01,2026-09-30,-100,USD,open", "negative_amount"),
        ("INV-2,acct-0001,2026-09-01,,2026-09-01,2026-09-30,100,USD,paid", "inconsistent_status"),
        (
            "INV-2,acct-0001,2026-09-05,2026-09-01,2026-09-01,2026-09-30,100,USD,paid",
            "inconsistent_status",
        ),
        ('INV-2,"acct-0001,2026-09-01', "malformed_row"),
    ],
)
def test_bad_invoice_rows_are_quarantined_with_their_reason(line: str, reason: str) -> None:
    # given one good and one bad row / when validated
    outcome = _invoices(GOOD_INVOICE, line)
    # then the bad row is quarantined with the reason, line number and exact bytes
    assert outcome.accepted.num_rows == 1
    (bad,) = outcome.quarantined.to_pylist()
    assert bad["reason"] == reason
    assert bad["line_number"] == 3
    assert bad["raw"].rstrip(b"\n") == line.encode()
    assert bad["pipeline"] == "profit"


def test_a_refund_row_may_be_negative() -> None:
    refund = "INV-1-R1,acct-0001,2026-09-15,2026-09-15,2026-09-01,2026-09-30,-13125,USD,refunded"
    assert _invoices(refund).accepted.num_rows == 1


def test_non_utf8_line_is_malformed_alone() -> None:
    # given a line with a byte that is not UTF-8
    data = (INVOICE_HEADER + "\n" + GOOD_INVOICE + "\n").encode() + (
        b"INV-3,acct-\xff,2026-09-01,,2026-09-01,2026-09-30,1,USD,open\n"
    )
    outcome = fi.validate_file(
        fi.invoice_spec(), data, source_key="invoices/2026-09/b.csv", received_at=NOW
    )
    # then that line alone is quarantined, with its exact bytes
    assert outcome.accepted.num_rows == 1
    (bad,) = outcome.quarantined.to_pylist()
    assert bad["reason"] == "malformed_row" and b"\xff" in bad["raw"]


def test_wrong_header_quarantines_every_line() -> None:
    data = b"id,account\n" + (GOOD_INVOICE + "\n" + GOOD_INVOICE + "\n").encode()
    outcome = fi.validate_file(
        fi.invoice_spec(), data, source_key="invoices/2026-09/c.csv", received_at=NOW
    )
    assert outcome.accepted.num_rows == 0
    assert outcome.quarantined.column("reason").to_pylist() == ["invalid_header"] * 2


def test_exact_duplicates_are_counted_and_conflicts_quarantined() -> None:
    # given the same invoice twice, then a conflicting copy
    conflict = GOOD_INVOICE.replace("52500", "1")
    outcome = _invoices(GOOD_INVOICE, GOOD_INVOICE, conflict)
    # then one copy is kept, one counted, the conflict quarantined
    assert outcome.accepted.num_rows == 1
    assert outcome.exact_duplicates == 1
    assert outcome.quarantined.column("reason").to_pylist() == ["duplicate_id"]


def test_a_file_wholly_in_another_currency_lands_nothing() -> None:
    eur = GOOD_INVOICE.replace("USD", "EUR")
    outcome = _invoices(eur, eur.replace("INV-1", "INV-2"))
    assert outcome.accepted.num_rows == 0
    assert set(outcome.quarantined.column("reason").to_pylist()) == {"unknown_currency"}


def test_a_file_mixing_currencies_is_rejected_whole() -> None:
    # given a file whose rows claim USD and EUR
    eur = GOOD_INVOICE.replace("INV-1", "INV-2").replace("USD", "EUR")
    outcome = _invoices(GOOD_INVOICE, eur, GOOD_INVOICE.replace("INV-1", "INV-3"))
    # then nothing is accepted (not even the USD rows) and every line says why
    assert outcome.accepted.num_rows == 0
    assert outcome.quarantined.column("reason").to_pylist() == ["mixed_currency"] * 3
    assert "EUR, USD" in outcome.quarantined.column("detail")[0].as_py()
    assert outcome.reasons == {"mixed_currency": 3}


def test_a_malformed_line_does_not_make_a_file_mixed() -> None:
    # given a USD file with a line too short to have a currency
    outcome = _invoices(GOOD_INVOICE, "INV-2,acct-0001,2026-09-01")
    # then only that line is quarantined
    assert outcome.accepted.num_rows == 1
    assert outcome.quarantined.column("reason").to_pylist() == ["malformed_row"]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("EXP-2,2026-09-07,travel,data,,100,USD,", "unknown_category"),
        ("EXP-2,2026-09-07,software,marketing,,100,USD,", "unknown_team"),
        ("EXP-2,2026-09-07,software,data,,-900,USD,", "negative_amount"),
        ("EXP-2,,software,data,,900,USD,", "missing_field"),
    ],
)
def test_bad_expense_rows(line: str, reason: str) -> None:
    header = "expense_id,expense_date,category,team,vendor,amount_cents,currency,account_id"
    good = "EXP-1,2026-09-07,hosting,engineering,AWS,138054,USD,acct-0012"
    data = f"{header}\n{good}\n{line}\n".encode()
    outcome = fi.validate_file(
        fi.expense_spec(), data, source_key="expenses/2026-09/e.csv", received_at=NOW
    )
    assert outcome.accepted.to_pylist()[0]["account_id"] == "acct-0012"
    assert outcome.quarantined.column("reason").to_pylist() == [reason]


def test_salaries_take_the_month_from_the_path_and_reject_a_team_twice() -> None:
    data = (
        b"team,headcount,amount_cents,currency\n"
        b"engineering,4,5130497,USD\nengineering,5,1,USD\nmarketing,1,1,USD\ndata,-1,1,USD\n"
    )
    outcome = fi.validate_file(
        fi.salary_spec(), data, source_key="landing/salaries/2026-09/s.csv", received_at=NOW
    )
    assert outcome.accepted.to_pylist()[0]["month"] == "2026-09"
    assert outcome.quarantined.column("reason").to_pylist() == [
        "duplicate_id",
        "unknown_team",
        "negative_amount",
    ]


def test_ledger_without_a_month_in_the_path_is_invalid_path() -> None:
    data = b"line,amount_cents,currency\nrevenue,1,USD\n"
    outcome = fi.validate_file(
        fi.ledger_spec(), data, source_key="landing/ledger/l.csv", received_at=NOW
    )
    assert outcome.quarantined.column("reason").to_pylist() == ["invalid_path"]


def test_ledger_unknown_line() -> None:
    data = b"line,amount_cents,currency\nrevenue,1,USD\ntaxes,5,USD\n"
    outcome = fi.validate_file(
        fi.ledger_spec(), data, source_key="landing/ledger/2026-09/l.csv", received_at=NOW
    )
    assert outcome.accepted.column("line").to_pylist() == ["revenue"]
    assert outcome.quarantined.column("reason").to_pylist() == ["unknown_line"]
