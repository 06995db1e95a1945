"""Invoices and payments, ops expenses, salaries and the ledger's control totals.

Billing: yearly contracts billed monthly. Every account paying on the 1st gets an invoice
for the calendar month at its MRR; an account that starts paying mid-month gets a
prorated invoice that day (mrr x remaining days // days in month). Most invoices are paid
1-10 days after issue, some late (next month), some never. An invoice's state changes
arrive as a new row for the same invoice_id in the file of the month the change happened.
Revenue of a month = sum of amount_cents of invoices whose final status is paid or
refunded and whose paid_date falls in that month (refund rows are negative).
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

from functions.core.schemas import EXPENSE_CATEGORIES, LEDGER_LINES, TEAMS
from pablo.generate.accounts import Account
from pablo.generate.contracts import EXPENSES, INVOICES, LEDGER, SALARIES
from pablo.generate.model import (
    CURRENCY,
    GeneratorConfig,
    day_start,
    days_in_month,
    month_bounds,
    month_of,
)
from pablo.generate.output import OutputTree
from pablo.generate.records import Row, bad, interleave, write_csv_rows

REVENUE_STATUSES = ("paid", "refunded")


@dataclass(frozen=True)
class Invoice:
    invoice_id: str
    account_id: str
    issued_date: date
    paid_date: date | None
    period_start: date
    period_end: date
    amount_cents: int
    status: str

    def values(self) -> list[object]:
        by_name: dict[str, object] = {
            "invoice_id": self.invoice_id,
            "account_id": self.account_id,
            "issued_date": self.issued_date.isoformat(),
            "paid_date": self.paid_date.isoformat() if self.paid_date else None,
            "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(),
            "amount_cents": self.amount_cents,
            "currency": CURRENCY,
            "status": self.status,
        }
        return [by_name[name] for name in INVOICES.sent_fields]

    def as_of(self, d: date) -> Invoice:
        """The invoice as an export on day `d` shows it (not yet paid -> open)."""
        if self.status == "paid" and (self.paid_date is None or self.paid_date > d):
            return replace(self, status="open", paid_date=None)
        return self


@dataclass
class Billing:
    invoices: list[Invoice]
    no_revenue: list[dict[str, Any]]
    refunds: list[dict[str, Any]]

    def revenue_by_month(self) -> dict[str, int]:
        totals: dict[str, int] = defaultdict(int)
        for inv in self.invoices:
            if inv.status in REVENUE_STATUSES and inv.paid_date is not None:
                totals[month_of(inv.paid_date)] += inv.amount_cents
        return dict(sorted(totals.items()))

    def revenue_by_account_month(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for inv in self.invoices:
            if inv.status in REVENUE_STATUSES and inv.paid_date is not None:
                out[month_of(inv.paid_date)][inv.account_id] += inv.amount_cents
        return {m: dict(sorted(v.items())) for m, v in sorted(out.items())}


def build_billing(
    rng: random.Random, config: GeneratorConfig, accounts: list[Account], no_revenue: str
) -> Billing:
    """`no_revenue` is the account whose first-month invoice is never paid."""
    invoices: list[Invoice] = []
    months = config.months()
    unpaid: list[dict[str, Any]] = []
    for month in months:
        first, last = month_bounds(month)
        number = 0
        for account in accounts:
            bill = _monthly_invoice(account, first, last)
            if bill is None:
                continue
            issued, amount = bill
            number += 1
            invoice_id = f"INV-{month.replace('-', '')}-{number:04d}"
            paid = _paid_date(rng, issued, config.last_day)
            if account.account_id == no_revenue and month == months[0]:
                paid = None
                unpaid.append({"account_id": no_revenue, "month": month, "invoice_id": invoice_id})
            invoices.append(
                Invoice(
                    invoice_id,
                    account.account_id,
                    issued,
                    paid,
                    issued,
                    last,
                    amount,
                    "paid" if paid else "open",
                )
            )
    refunds = _add_refund_and_void(rng, config, invoices)
    return Billing(invoices=invoices, no_revenue=unpaid, refunds=refunds)


def _monthly_invoice(account: Account, first: date, last: date) -> tuple[date, int] | None:
    """(issue date, amount) of the account's invoice for the month, if it owes one."""
    snap = account.snapshot_at(day_start(first))
    if snap.paying:
        return first, snap.mrr_cents
    for ev in account.events:
        d = ev.event_time.date()
        if first < d <= last and ev.event_type in ("subscribed", "reactivated"):
            remaining = (last - d).days + 1
            return d, ev.mrr_cents * remaining // days_in_month(first)
    return None


def _paid_date(rng: random.Random, issued: date, last_day: date) -> date | None:
    r = rng.random()
    if r < 0.85:
        paid = issued + timedelta(days=rng.randint(1, 10))
    elif r < 0.95:
        paid = issued + timedelta(days=rng.randint(32, 45))  # paid late, next month
    else:
        return None  # left open
    return paid if paid <= last_day else None


def _add_refund_and_void(
    rng: random.Random, config: GeneratorConfig, invoices: list[Invoice]
) -> list[dict[str, Any]]:
    """One partial refund (a negative refund row) and one voided duplicate invoice."""
    paid = [i for i in invoices if i.paid_date is not None and i.paid_date < config.last_day]
    notes: list[dict[str, Any]] = []
    if paid:
        original = rng.choice(paid)
        assert original.paid_date is not None
        when = min(original.paid_date + timedelta(days=5), config.last_day)
        refund = Invoice(
            f"{original.invoice_id}-R1",
            original.account_id,
            when,
            when,
            original.period_start,
            original.period_end,
            -(original.amount_cents // 4),
            "refunded",
        )
        invoices.append(refund)
        notes.append(
            {
                "invoice_id": refund.invoice_id,
                "refunds_invoice_id": original.invoice_id,
                "account_id": refund.account_id,
                "amount_cents": refund.amount_cents,
                "month": month_of(when),
            }
        )
    if invoices:
        duplicated = rng.choice(invoices[: max(1, len(invoices) // 2)])
        invoices.append(
            replace(
                duplicated,
                invoice_id=f"{duplicated.invoice_id}-V1",
                paid_date=None,
                status="void",
            )
        )
    invoices.sort(key=lambda i: i.invoice_id)
    return notes


def write_invoices(
    rng: random.Random, config: GeneratorConfig, tree: OutputTree, billing: Billing
) -> list[dict[str, Any]]:
    """One file per month: invoices issued that month as of its end, plus payments that
    month of invoices issued earlier (a new row for the same invoice_id)."""
    faults: list[dict[str, Any]] = []
    months = config.months()
    for month in months:
        first, last = month_bounds(month)
        as_of = min(last, config.last_day)
        good: list[Row] = []
        for inv in billing.invoices:
            if first <= inv.issued_date <= last:
                good.append(Row(inv.as_of(as_of).values()))
            elif inv.issued_date < first and inv.paid_date and first <= inv.paid_date <= last:
                good.append(Row(inv.values()))
        bad_rows = _bad_invoices(month) if month == months[0] else []
        rel = f"invoices/{month}.csv"
        with tree.csv(rel, INVOICES.sent_fields) as out:
            rows = interleave(rng, good, bad_rows)
            faults += write_csv_rows(out, rows, input_name=INVOICES.name, rel=rel)
    # A second file in the first month mixes currencies: the contract rejects it whole.
    rel = f"invoices/{months[0]}-resend.csv"
    with tree.csv(rel, INVOICES.sent_fields) as out:
        faults += write_csv_rows(
            out, _mixed_currency_invoices(months[0]), input_name=INVOICES.name, rel=rel
        )
    return faults


def _bad_invoices(month: str) -> list[Row]:
    first, last = month_bounds(month)
    compact = month.replace("-", "")

    def values(n: int, **over: object) -> list[object]:
        base: dict[str, object] = {
            "invoice_id": f"INV-{compact}-BAD{n}",
            "account_id": "acct-0001",
            "issued_date": first.isoformat(),
            "paid_date": None,
            "period_start": first.isoformat(),
            "period_end": last.isoformat(),
            "amount_cents": 42000,
            "currency": CURRENCY,
            "status": "open",
        }
        base.update(over)
        return [base[name] for name in INVOICES.sent_fields]

    return [
        bad(values(2, amount_cents=-5000), "negative_amount", f"INV-{compact}-BAD2", "-5000"),
        bad(values(3, amount_cents="420.00"), "wrong_type", f"INV-{compact}-BAD3", "decimal"),
        bad(
            values(4, account_id="acct-9999"),
            "unknown_account",
            f"INV-{compact}-BAD4",
            "acct-9999 has no account events",
        ),
        bad(
            f"INV-{compact}-BAD5,acct-0002,{first.isoformat()}".encode(),
            "malformed_row",
            f"INV-{compact}-BAD5",
            "3 fields instead of 9",
        ),
    ]


def _mixed_currency_invoices(month: str) -> list[Row]:
    """Two USD rows and one EUR row: every line is quarantined as `mixed_currency`."""
    first, last = month_bounds(month)
    compact = month.replace("-", "")
    rows = []
    for n, currency in ((1, CURRENCY), (2, "EUR"), (3, CURRENCY)):
        by_name: dict[str, object] = {
            "invoice_id": f"INV-{compact}-MIX{n}",
            "account_id": "acct-0001",
            "issued_date": first.isoformat(),
            "paid_date": first.isoformat(),
            "period_start": first.isoformat(),
            "period_end": last.isoformat(),
            "amount_cents": 10_000,
            "currency": currency,
            "status": "paid",
        }
        values = [by_name[name] for name in INVOICES.sent_fields]
        rows.append(bad(values, "mixed_currency", f"INV-{compact}-MIX{n}", "EUR, USD"))
    return rows


# --- expenses -----------------------------------------------------------------------

EXPENSE_RANGES_CENTS: dict[str, tuple[int, int]] = {
    "hosting": (20_000, 300_000),
    "software": (1_000, 30_000),
    "hardware": (10_000, 150_000),
    "services": (10_000, 100_000),
    "office": (2_000, 50_000),
}
VENDORS: dict[str, tuple[str | None, ...]] = {
    "hosting": ("Amazon Web Services", "Cloudflare", "Fastly"),
    "software": ("Atlassian", "GitHub", "Slack", "Figma", "Datadog"),
    "hardware": ("Dell", "Apple", "Lenovo"),
    "services": ("Deloitte", "Upwork", "Toptal"),
    "office": ("WeWork", "Staples", None),
}
ATTRIBUTABLE = ("hosting", "services")  # costs that can be traced to one account


def write_expenses(
    rng: random.Random, config: GeneratorConfig, tree: OutputTree, accounts: list[Account]
) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """Returns valid expense totals per month and the fault notes."""
    totals: dict[str, int] = {}
    faults: list[dict[str, Any]] = []
    months = config.months()
    for month in months:
        first, last = month_bounds(month)
        last = min(last, config.last_day)
        paying = [a.account_id for a in accounts if a.snapshot_at(day_start(first)).paying]
        good: list[Row] = []
        total = 0
        for n in range(12 + len(accounts) // 4):
            row, amount = _expense(
                rng, f"EXP-{month.replace('-', '')}-{n + 1:04d}", first, last, paying
            )
            total += amount
            good.append(Row(row))
        totals[month] = total
        bad_rows = _bad_expenses(month, first) if month == months[-1] else []
        rel = f"expenses/{month}.csv"
        with tree.csv(rel, EXPENSES.sent_fields) as out:
            rows = interleave(rng, good, bad_rows)
            faults += write_csv_rows(out, rows, input_name=EXPENSES.name, rel=rel)
    return totals, faults


def _expense(
    rng: random.Random, expense_id: str, first: date, last: date, paying: list[str]
) -> tuple[list[object], int]:
    """One expense line's values and its amount."""
    category = rng.choices(EXPENSE_CATEGORIES, weights=(4, 4, 1, 2, 2))[0]
    low, high = EXPENSE_RANGES_CENTS[category]
    account = None
    if category in ATTRIBUTABLE and paying and rng.random() < 0.4:
        account = rng.choice(paying)
    amount = rng.randint(low, high)
    by_name: dict[str, object] = {
        "expense_id": expense_id,
        "expense_date": (first + timedelta(days=rng.randint(0, (last - first).days))).isoformat(),
        "category": category,
        "team": rng.choice(TEAMS),
        "vendor": rng.choice(VENDORS[category]),
        "amount_cents": amount,
        "currency": CURRENCY,
        "account_id": account,
    }
    return [by_name[name] for name in EXPENSES.sent_fields], amount


def _bad_expenses(month: str, first: date) -> list[Row]:
    compact = month.replace("-", "")

    def values(n: int, **over: object) -> list[object]:
        base: dict[str, object] = {
            "expense_id": f"EXP-{compact}-BAD{n}",
            "expense_date": first.isoformat(),
            "category": "software",
            "team": "data",
            "vendor": "GitHub",
            "amount_cents": 12000,
            "currency": CURRENCY,
            "account_id": None,
        }
        base.update(over)
        return [base[name] for name in EXPENSES.sent_fields]

    return [
        bad(values(1, team="marketing"), "unknown_team", f"EXP-{compact}-BAD1", "marketing"),
        bad(values(2, amount_cents=-900), "negative_amount", f"EXP-{compact}-BAD2", "-900"),
        bad(values(3, category="travel"), "unknown_category", f"EXP-{compact}-BAD3", "travel"),
        bad(values(4, expense_date=""), "missing_field", f"EXP-{compact}-BAD4", "expense_date"),
    ]


# --- salaries and ledger ------------------------------------------------------------

MONTHLY_COST_PER_HEAD_CENTS: dict[str, int] = {
    "engineering": 1_250_000,
    "frontend": 1_150_000,
    "data": 1_200_000,
    "sales": 900_000,
    "accounts": 800_000,
    "finance": 950_000,
    "operations": 750_000,
    "support": 600_000,
}


def write_salaries(
    rng: random.Random, config: GeneratorConfig, tree: OutputTree
) -> tuple[dict[str, int], dict[str, int], list[dict[str, Any]]]:
    """Returns salary totals and headcount per month, and the fault notes."""
    headcount = {team: rng.randint(1, 4) for team in TEAMS}
    totals: dict[str, int] = {}
    heads: dict[str, int] = {}
    faults: list[dict[str, Any]] = []
    months = config.months()
    for month in months:
        good: list[Row] = []
        for team in TEAMS:
            headcount[team] = max(1, headcount[team] + rng.choice((-1, 0, 0, 0, 1, 2)))
            n = headcount[team]
            amount = n * MONTHLY_COST_PER_HEAD_CENTS[team] + rng.randint(0, n * 50_000)
            by_name: dict[str, object] = {
                "team": team,
                "headcount": n,
                "amount_cents": amount,
                "currency": CURRENCY,
            }
            good.append(Row([by_name[f] for f in SALARIES.sent_fields]))
        totals[month] = sum(int(r.values[SALARIES.sent_fields.index("amount_cents")]) for r in good)
        heads[month] = sum(headcount.values())
        bad_rows: list[Row] = []
        if month == months[0]:
            bad_rows = [
                bad(
                    ["marketing", 4, 3_600_000, CURRENCY], "unknown_team", "marketing", "marketing"
                ),
                bad(
                    ["support", "twelve", 7_200_000, CURRENCY], "wrong_type", "support", "headcount"
                ),
            ]
        rel = f"salaries/{month}.csv"
        with tree.csv(rel, SALARIES.sent_fields) as out:
            rows = interleave(rng, good, bad_rows)
            faults += write_csv_rows(out, rows, input_name=SALARIES.name, rel=rel)
    return totals, heads, faults


def write_ledger(
    rng: random.Random,
    config: GeneratorConfig,
    tree: OutputTree,
    true_totals: dict[str, dict[str, int]],
) -> tuple[dict[str, dict[str, int]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Control totals per month and line: equal to the valid data, except one revenue line.

    Returns (ledger totals by month and line, mismatch faults, malformed-row faults)."""
    months = config.months()
    ledger: dict[str, dict[str, int]] = {}
    mismatches: list[dict[str, Any]] = []
    faults: list[dict[str, Any]] = []
    for month in months:
        lines = {line: true_totals[line].get(month, 0) for line in LEDGER_LINES}
        if month == months[0]:
            computed = lines["revenue"]
            lines["revenue"] = computed + rng.randint(10_000, 99_999)
            mismatches.append(
                {
                    "month": month,
                    "line": "revenue",
                    "ledger_cents": lines["revenue"],
                    "computed_cents": computed,
                    "difference_cents": computed - lines["revenue"],
                }
            )
        ledger[month] = lines
        good = [Row(_ledger_values(line, amount)) for line, amount in lines.items()]
        bad_rows = []
        if month == months[-1]:
            bad_rows = [bad(_ledger_values("taxes", 100_000), "unknown_line", "taxes", "taxes")]
        rel = f"ledger/{month}.csv"
        with tree.csv(rel, LEDGER.sent_fields) as out:
            rows = interleave(rng, good, bad_rows)
            faults += write_csv_rows(out, rows, input_name=LEDGER.name, rel=rel)
    return ledger, mismatches, faults


def _ledger_values(line: str, amount: int) -> list[object]:
    by_name: dict[str, object] = {"line": line, "amount_cents": amount, "currency": CURRENCY}
    return [by_name[f] for f in LEDGER.sent_fields]
