"""The shared business definitions (functions/core/definitions.py) and the profit figures
built on them: hand-written companies with every expected figure computed by hand, and
Hypothesis properties over any invoices."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from functions.core import codes, definitions
from functions.core.ingest import finance_inputs as fi
from functions.core.transform import profit

NOW = datetime(2026, 10, 4, 6, tzinfo=UTC)
MONTH = "2026-09"


def _invoice(
    invoice_id: str,
    account: str,
    *,
    amount: int,
    status: str,
    paid: date | None,
    issued: date = date(2026, 9, 1),
    key: str = "invoices/2026-09/invoices.csv",
) -> dict[str, Any]:
    return {
        "invoice_id": invoice_id,
        "account_id": account,
        "issued_date": issued,
        "paid_date": paid,
        "period_start": date(2026, 9, 1),
        "period_end": date(2026, 9, 30),
        "amount_cents": amount,
        "currency": "USD",
        "status": status,
        "source_key": key,
        "month": issued.strftime("%Y-%m"),
    }


def _expense(expense_id: str, amount: int, account: str | None) -> dict[str, Any]:
    return {
        "expense_id": expense_id,
        "expense_date": date(2026, 9, 10),
        "category": "hosting",
        "team": "engineering",
        "vendor": "v",
        "amount_cents": amount,
        "currency": "USD",
        "account_id": account,
        "source_key": "expenses/2026-09/expenses.csv",
        "month": MONTH,
    }


def _salary(team: str, amount: int) -> dict[str, Any]:
    return {
        "team": team,
        "headcount": 1,
        "amount_cents": amount,
        "currency": "USD",
        "source_key": "landing/salaries/2026-09/salaries.csv",
        "month": MONTH,
    }


def _inputs(
    invoices: list[dict[str, Any]],
    expenses: list[dict[str, Any]] = (),  # type: ignore[assignment]
    salaries: list[dict[str, Any]] = (),  # type: ignore[assignment]
    known: frozenset[str] | None = None,
) -> profit.FinanceInputs:
    return profit.FinanceInputs(
        invoices=pa.Table.from_pylist(
            invoices, schema=fi.invoice_spec().table.arrow_schema(with_partitions=True)
        ),
        expenses=pa.Table.from_pylist(
            list(expenses), schema=fi.expense_spec().table.arrow_schema(with_partitions=True)
        ),
        salaries=pa.Table.from_pylist(
            list(salaries), schema=fi.salary_spec().table.arrow_schema(with_partitions=True)
        ),
        known_accounts=known,
    )


def _events(rows: list[tuple[str, str]]) -> pa.Table:
    return pa.table(
        {"account_id": [a for a, _ in rows], "event_type": [t for _, t in rows]},
        schema=pa.schema([("account_id", pa.string()), ("event_type", pa.string())]),
    )


# --- known accounts ------------------------------------------------------------------


def test_a_known_account_is_one_a_creating_event_created() -> None:
    # given a created by a trial, b by a subscription, and c with only a seat change
    events = _events(
        [
            ("a", "trial_started"),
            ("a", "subscribed"),
            ("b", "subscribed"),
            ("c", "seats_changed"),
            ("c", "cancelled"),
        ]
    )
    # then c, which has events but no creating one, is not known
    assert definitions.known_accounts(events) == frozenset({"a", "b"})
    assert definitions.known_accounts(_events([])) == frozenset()


# --- paying subscribers --------------------------------------------------------------


def test_paying_subscribers_count_money_received_in_the_month_net_of_refunds() -> None:
    # given in September:
    #   a: paid 5,000 on 09-03                      -> received 5,000: paying
    #   b: issued in September, still open          -> received 0: not paying
    #   c: issued in September, void                -> received 0: not paying
    #   d: issued in September, paid on 10-02       -> received 0 in September: not paying
    #   e: paid 3,000 on 09-05, refunded -3,000 on 09-20 -> net 0: not paying
    #   f: paid 4,000 on 09-05, refunded -1,000 on 09-25 -> net 3,000: paying
    #   g: issued in August, paid on 09-01 2,000    -> received 2,000 in September: paying
    invoices = [
        _invoice("i-a", "a", amount=5000, status="paid", paid=date(2026, 9, 3)),
        _invoice("i-b", "b", amount=5000, status="open", paid=None),
        _invoice("i-c", "c", amount=5000, status="void", paid=None),
        _invoice("i-d", "d", amount=5000, status="paid", paid=date(2026, 10, 2)),
        _invoice("i-e", "e", amount=3000, status="paid", paid=date(2026, 9, 5)),
        _invoice("r-e", "e", amount=-3000, status="refunded", paid=date(2026, 9, 20)),
        _invoice("i-f", "f", amount=4000, status="paid", paid=date(2026, 9, 5)),
        _invoice("r-f", "f", amount=-1000, status="refunded", paid=date(2026, 9, 25)),
        _invoice(
            "i-g",
            "g",
            amount=2000,
            status="paid",
            paid=date(2026, 9, 1),
            issued=date(2026, 8, 25),
            key="invoices/2026-08/invoices.csv",
        ),
    ]
    known = frozenset("abcdefg")
    # when September is computed, with 1,000 of salaries and 500 of expenses
    tables = profit.month_tables(
        MONTH,
        _inputs(invoices, [_expense("x-1", 500, None)], [_salary("engineering", 1000)], known),
        now=NOW,
    )
    totals = tables.totals
    # then revenue = 5,000 + 0 + 3,000 + 2,000 = 10,000 (e nets to 0), paying = a, f, g
    assert totals.revenue_cents == 5000 + (3000 - 3000) + (4000 - 1000) + 2000 == 10_000
    assert totals.paying_subscribers == 3
    # profit = 10,000 - 500 - 1,000 = 8,500; unit profit = 8,500 / 3
    assert totals.profit_cents == 8500
    assert totals.unit_profit() == (8500 / 3, None)
    assert totals.cost_per_account() == (1500 / 3, None)


def test_nobody_paying_leaves_unit_profit_null_with_its_reason() -> None:
    # given only an open invoice: issued, never paid
    invoices = [_invoice("i-b", "b", amount=5000, status="open", paid=None)]
    totals = profit.month_tables(MONTH, _inputs(invoices, known=frozenset("b")), now=NOW).totals
    # then nobody paid: no division, a reason instead
    assert totals.paying_subscribers == 0
    assert totals.unit_profit() == (None, codes.NO_SUBSCRIBERS)


def test_invoices_and_expenses_of_an_account_no_creating_event_created_are_quarantined() -> None:
    # given account z had events (a seat change) but no trial_started or subscribed
    known = definitions.known_accounts(_events([("a", "subscribed"), ("z", "seats_changed")]))
    invoices = [
        _invoice("i-a", "a", amount=10_000, status="paid", paid=date(2026, 9, 3)),
        _invoice("i-z", "z", amount=5_000, status="paid", paid=date(2026, 9, 3)),
    ]
    expenses = [_expense("x-a", 300, "a"), _expense("x-z", 1_000, "z"), _expense("x-0", 200, None)]
    # when September is computed
    tables = profit.month_tables(MONTH, _inputs(invoices, expenses, [], known), now=NOW)
    # then z's 5,000 of revenue and 1,000 of expenses are left out and quarantined
    assert tables.totals.revenue_cents == 10_000
    assert tables.totals.expenses_cents == 300 + 200
    assert tables.totals.paying_subscribers == 1
    quarantined = tables.quarantined.to_pylist()
    assert sorted(r["record_id"].split("#")[1] for r in quarantined) == ["i-z", "x-z"]
    assert {r["reason"] for r in quarantined} == {codes.UNKNOWN_ACCOUNT}


_invoice_parts = st.tuples(
    st.sampled_from(["a", "b", "c", "d"]),
    st.sampled_from(["paid", "refunded", "open", "void"]),
    st.integers(min_value=1, max_value=10_000),
    st.integers(min_value=1, max_value=60),  # paid this many days after 2026-08-20
)


def _any_invoices(parts: list[tuple[str, str, int, int]]) -> list[dict[str, Any]]:
    return [
        _invoice(
            f"i-{n}",
            account,
            amount=-amount if status == "refunded" else amount,
            status=status,
            paid=date.fromordinal(date(2026, 8, 20).toordinal() + offset)
            if status in definitions.REVENUE_STATUSES
            else None,
        )
        for n, (account, status, amount, offset) in enumerate(parts)
    ]


@settings(max_examples=60, deadline=None)
@given(st.lists(_invoice_parts, max_size=12))
def test_paying_subscribers_are_accounts_with_positive_received_revenue(
    parts: list[tuple[str, str, int, int]],
) -> None:
    # given any invoices of known accounts
    invoices = _any_invoices(parts)
    tables = profit.month_tables(MONTH, _inputs(invoices, known=frozenset("abcd")), now=NOW)
    # then the count equals the accounts whose money received in September sums above zero,
    # computed here straight from the invoices
    received: dict[str, int] = {}
    for inv in invoices:
        if inv["status"] in ("paid", "refunded") and inv["paid_date"].strftime("%Y-%m") == MONTH:
            received[inv["account_id"]] = received.get(inv["account_id"], 0) + inv["amount_cents"]
    assert tables.totals.paying_subscribers == sum(1 for v in received.values() if v > 0)
    assert tables.totals.revenue_cents == sum(received.values())
    # and profit is revenue - expenses - salaries
    totals = tables.totals
    assert (
        totals.profit_cents == totals.revenue_cents - totals.expenses_cents - totals.salaries_cents
    )


# --- the spill marker and coverage ---------------------------------------------------


def test_a_replayed_record_carries_its_first_attempt_in_the_partition_key() -> None:
    key = definitions.spilled_partition_key(1_788_393_758_588, "acct-0005")
    assert key == "spilled:1788393758588:acct-0005"
    assert definitions.first_attempt_ms(key) == 1_788_393_758_588
    # a normal key, or one that only looks like the marker, carries nothing
    assert definitions.first_attempt_ms("acct-0005") is None
    assert definitions.first_attempt_ms("spilled:soon:acct-0005") is None
    assert definitions.first_attempt_ms(None) is None
    # a forged key with a number beyond epoch milliseconds, or non-ASCII digits, is ignored
    assert definitions.first_attempt_ms("spilled:" + "9" * 30 + ":acct") is None
    assert definitions.first_attempt_ms("spilled:\u0661\u0662:acct") is None
    assert len(definitions.spilled_partition_key(1, "x" * 300)) == 256


def test_a_period_is_covered_only_when_its_data_starts_by_its_first_day() -> None:
    assert definitions.covers(date(2026, 9, 1), date(2026, 9, 1))
    assert definitions.covers(date(2026, 8, 15), date(2026, 9, 1))
    assert not definitions.covers(date(2026, 9, 2), date(2026, 9, 1))
    assert not definitions.covers(None, date(2026, 9, 1))
