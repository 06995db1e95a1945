"""`generate()`: the whole synthetic company, its raw inputs, truth.json and manifest.json.

Each part draws from its own random stream derived from the seed, so the same seed gives
byte-identical files, and changing one part (say, expenses) does not reshuffle the clicks.
"""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path
from typing import Any

from pablo.generate.account_events import write_account_events
from pablo.generate.accounts import Account, build_accounts, missing_step_faults
from pablo.generate.clickstream import ClickTruth, ClickWriter
from pablo.generate.experiments import write_experiments
from pablo.generate.model import GeneratorConfig, day_start, month_bounds
from pablo.generate.money import (
    Billing,
    build_billing,
    write_expenses,
    write_invoices,
    write_ledger,
    write_salaries,
)
from pablo.generate.output import MANIFEST, TRUTH, OutputTree


def generate(config: GeneratorConfig, out: Path, *, progress: bool = False) -> dict[str, Any]:
    """Writes every raw input under `out`; returns the truth document."""
    tree = OutputTree(out)
    tree.prepare()

    def stream(part: str) -> random.Random:
        return random.Random(f"{config.seed}:{part}")

    accounts = build_accounts(stream("accounts"), config)
    steady = _ranked_by_paying_days(config, accounts)
    silent_account, no_revenue_account = steady[-1], steady[-2]
    months = config.months()
    silent = {silent_account: months[-1]}

    billing = build_billing(stream("billing"), config, accounts, no_revenue_account)
    account_truth = write_account_events(stream("account_events"), config, tree, accounts)
    invoice_faults = write_invoices(stream("invoices"), config, tree, billing)
    expenses, expense_faults = write_expenses(stream("expenses"), config, tree, accounts)
    salaries, headcount, salary_faults = write_salaries(stream("salaries"), config, tree)
    true_totals = {
        "revenue": billing.revenue_by_month(),
        "expenses": expenses,
        "salaries": salaries,
    }
    ledger, mismatches, ledger_faults = write_ledger(stream("ledger"), config, tree, true_totals)
    experiments, experiment_faults, assignments = write_experiments(
        stream("experiments"), config, tree, accounts
    )
    clicks = ClickWriter(stream("clicks"), config, accounts, silent).write(tree, progress)

    truth = {
        "parameters": config.as_dict(),
        "window": {
            "start": config.start.isoformat(),
            "last_day": config.last_day.isoformat(),
            "days": config.days,
            "months": months,
        },
        "accounts": _accounts_truth(accounts),
        "growth": _growth_truth(config, accounts),
        "totals": {
            "clicks": _click_totals(clicks),
            "account_events": {
                k: account_truth[k]
                for k in ("records", "valid_events", "backfill_file", "exact_duplicates")
            },
            "invoices": _invoice_totals(billing),
            "expenses_cents_by_month": expenses,
            "salaries_cents_by_month": salaries,
            "headcount_by_month": headcount,
            "ledger_cents_by_month": ledger,
            "assignments": assignments,
        },
        "experiments": experiments,
        "faults": {
            "click_natural_duplicates": {
                "copies": clicks.natural_duplicate_copies,
                "examples": clicks.natural_examples,
            },
            "click_synthetic_duplicates": clicks.synthetic,
            "late_clicks": {
                "count": clicks.late_records,
                "by_event_day_and_send_day": [
                    {"event_day": e, "send_day": s, "count": n}
                    for (e, s), n in sorted(clicks.late_pairs.items())
                ],
                "examples": clicks.late_examples,
            },
            "too_late_clicks": clicks.too_late,
            "stream_outage": clicks.outage,
            "lifecycle_missing_steps": missing_step_faults(accounts),
            "no_activity": [{"account_id": a, "month": m} for a, m in sorted(silent.items())],
            "no_revenue": billing.no_revenue,
            "ledger_mismatch": mismatches,
            "srm": [e["experiment_id"] for e in experiments if e["srm_injected"]],
            "multiple_variant_units": [
                {"experiment_id": e["experiment_id"], **u}
                for e in experiments
                for u in e["multiple_variant_units"]
            ],
            "account_event_conflicts": [
                f for f in account_truth["faults"] if f["reason"] == "duplicate_event_id"
            ],
            "malformed_records": [
                f
                for f in (
                    clicks.malformed
                    + account_truth["faults"]
                    + invoice_faults
                    + expense_faults
                    + salary_faults
                    + ledger_faults
                    + experiment_faults
                )
                if f["reason"] != "duplicate_event_id"
            ],
            "refunds": billing.refunds,
        },
    }
    tree.json_document(TRUTH, truth)
    tree.write_manifest(config.as_dict())
    return truth


def _ranked_by_paying_days(config: GeneratorConfig, accounts: list[Account]) -> list[str]:
    """Accounts ranked by days paying in the window (fewest last), ties by id; the
    scripted missing-step accounts are left out so their faults stay single."""
    paying_days = {
        a.account_id: sum(
            a.snapshot_at(day_start(config.day(d))).paying for d in range(config.days)
        )
        for a in accounts
        if a.index >= 2
    }
    return sorted(paying_days, key=lambda a: (paying_days[a], a))


def _accounts_truth(accounts: list[Account]) -> dict[str, Any]:
    return {
        "count": len(accounts),
        "ids": [a.account_id for a in accounts],
        "users": sum(len(a.users) for a in accounts),
        "users_by_account": {a.account_id: len(a.users) for a in accounts},
    }


def _growth_truth(config: GeneratorConfig, accounts: list[Account]) -> dict[str, Any]:
    """Paying accounts (active, renewal_due or cancelled-not-yet-churned) and MRR at the
    window start and at each month end (or the window end for the last, partial month)."""
    points = {"window_start": day_start(config.start)}
    for month in config.months():
        last = min(month_bounds(month)[1], config.last_day)
        points[month] = day_start(last + timedelta(days=1)) - timedelta(milliseconds=1)
    out: dict[str, Any] = {}
    for label, t in points.items():
        snaps = [a.snapshot_at(t) for a in accounts]
        statuses: dict[str, int] = {}
        for s in snaps:
            statuses[s.status or "none"] = statuses.get(s.status or "none", 0) + 1
        out[label] = {
            "paying_accounts": sum(s.paying for s in snaps),
            "mrr_cents": sum(s.mrr_cents for s in snaps if s.paying),
            "statuses": dict(sorted(statuses.items())),
        }
    return out


def _click_totals(clicks: ClickTruth) -> dict[str, Any]:
    return {
        "records_sent": clicks.records_sent,
        "valid_records": clicks.valid_records,
        "malformed_records": len(clicks.malformed),
        "distinct_valid_event_ids": clicks.distinct_valid_event_ids,
        "natural_duplicate_copies": clicks.natural_duplicate_copies,
        "synthetic_duplicate_copies": clicks.synthetic_duplicate_copies,
        "late_records": clicks.late_records,
        "too_late_records": clicks.too_late_records,
        "expected_accepted_event_ids": sum(clicks.accepted_by_event_day.values()),
        "expected_unknown_account_clicks": clicks.unknown_account_clicks,
        "accepted_event_ids_by_event_day": dict(sorted(clicks.accepted_by_event_day.items())),
        "records_by_send_day": clicks.records_by_send_day,
    }


def _invoice_totals(billing: Billing) -> dict[str, Any]:
    return {
        "invoices": len(billing.invoices),
        "revenue_cents_by_month": billing.revenue_by_month(),
        "revenue_cents_by_account_month": billing.revenue_by_account_month(),
        # Paying subscribers of a month: accounts whose money received in it, net of
        # refunds, is above zero (docs/metrics.md, Definitions).
        "paying_subscribers_by_month": {
            month: sum(1 for cents in accounts.values() if cents > 0)
            for month, accounts in billing.revenue_by_account_month().items()
        },
    }


__all__ = ["MANIFEST", "TRUTH", "generate"]
