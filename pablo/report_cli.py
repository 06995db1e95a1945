"""`pablo report preview`: the executive report rendered from sample data, to look at.

The sample is a plausible, deterministic company history (no randomness): thirteen months
(or weeks) of growing MRR, a first period with no starting MRR, a month restated by late
data, and a latest period that is preliminary (revenue does not match the ledger, and
engagement data is two days behind, so its KPIs are missing with that reason).
`sample_kpi_row` builds one exec_kpi row; the report tests build their scenarios with it.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

import pyarrow as pa

from functions.core import codes, schemas
from functions.core.report.report import render_report

SAMPLE_END: Final = {"month": "2026-10", "week": "2026-10-25"}
SAMPLE_PERIODS: Final = 13
# The monthly sample starts at the company's first month; the weekly one mid-life.
SAMPLE_OPENING_MRR_CENTS: Final = {"month": 0, "week": 20_000_000}
SAMPLE_GENERATED_AT: Final = "2026-11-04T06:00:00Z"
ENGAGEMENT_KPIS: Final = ("dau", "wau", "mau", "hours_per_active_user_day", "seat_utilisation")


def cmd_preview(args: argparse.Namespace) -> int:
    inputs = sample_inputs(args.grain)
    page = render_report(grain=args.grain, generated_at=SAMPLE_GENERATED_AT, **inputs)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(page, encoding="utf-8")
    print(f"wrote {args.out} ({len(page.encode()) // 1024} KiB); open it in a browser")
    return 0


# --- sample data -------------------------------------------------------------------------


def period_bounds(grain: str, period: str) -> tuple[date, date]:
    """First and last day of a month `YYYY-MM` or of the week ending Sunday `YYYY-MM-DD`."""
    if grain == "week":
        end = date.fromisoformat(period)
        return end - timedelta(days=6), end
    start = date.fromisoformat(period + "-01")
    following = (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    return start, following - timedelta(days=1)


def periods_ending(grain: str, last: str, count: int) -> list[str]:
    if grain == "week":
        end = date.fromisoformat(last)
        return [(end - timedelta(weeks=i)).isoformat() for i in reversed(range(count))]
    year, month = int(last[:4]), int(last[5:7])
    months = []
    for _ in range(count):
        months.append(f"{year}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return list(reversed(months))


def sample_kpi_row(
    *,
    grain: str,
    period: str,
    index: int,
    mrr_start_cents: int,
    missing: Mapping[str, str] | None = None,
    publication_status: str = codes.FINAL,
    engagement_lag_days: int = 0,
) -> dict[str, Any]:
    """A consistent exec_kpi row (net new = the movements, ARR = 12 x MRR, profit adds up).

    `index` varies the movements from period to period; `missing` maps KPI columns to the
    reason code they are null with.
    """
    scale = 4 if grain == "week" else 1  # flows of a week are about a quarter of a month's
    start, end = period_bounds(grain, period)
    new = (1_800_000 + (index % 3) * 250_000) // scale
    expansion = (900_000 + (index % 4) * 110_000) // scale
    reactivation = (150_000 + (index % 2) * 60_000) // scale
    contraction = (380_000 + (index % 3) * 70_000) // scale
    churn = (650_000 + (index % 5) * 120_000) // scale
    if mrr_start_cents == 0:
        expansion = contraction = churn = reactivation = 0
    net_new = new + expansion + reactivation - contraction - churn
    mrr = mrr_start_cents + net_new
    active = 900 + 24 * index
    new_accounts, churned_accounts = 55 + index % 7, 0 if mrr_start_cents == 0 else 22 + index % 5
    mau = 7_400 + 180 * index
    revenue = mrr * 97 // 100 // scale
    expenses = (6_200_000 + index * 90_000) // scale
    salaries = (8_400_000 + index * 60_000) // scale
    profit = revenue - expenses - salaries
    row: dict[str, Any] = {
        "period_start": start,
        "period_end": end,
        "mrr_cents": mrr,
        "arr_cents": 12 * mrr,
        "net_new_mrr_cents": net_new,
        "mrr_new_cents": new,
        "mrr_expansion_cents": expansion,
        "mrr_contraction_cents": contraction,
        "mrr_churn_cents": churn,
        "mrr_reactivation_cents": reactivation,
        "nrr": None
        if mrr_start_cents == 0
        else (mrr_start_cents + expansion - contraction - churn) / mrr_start_cents,
        "grr": None
        if mrr_start_cents == 0
        else (mrr_start_cents - contraction - churn) / mrr_start_cents,
        "new_accounts": new_accounts,
        "churned_accounts": churned_accounts,
        "active_accounts": active,
        "logo_churn_rate": None
        if mrr_start_cents == 0
        else churned_accounts / (active - new_accounts + churned_accounts),
        "dau": round(mau * 0.41, 1),
        "wau": mau * 7 // 10,
        "mau": mau,
        "hours_per_active_user_day": 1.7 + 0.06 * (index % 4),
        "seat_utilisation": mau / (active * 10),
        "revenue_cents": revenue,
        "expenses_cents": expenses,
        "salaries_cents": salaries,
        "profit_cents": profit,
        "unit_profit_cents": profit / active,
        "cost_per_account_cents": (expenses + salaries) / active,
        "publication_status": publication_status,
        "generated_at": datetime.combine(end + timedelta(days=4), datetime.min.time(), UTC),
        "grain": grain,
        "period": period,
    }
    reasons = dict(missing or {})
    if mrr_start_cents == 0:
        reasons |= {"nrr": codes.NO_STARTING_MRR, "grr": codes.NO_STARTING_MRR}
        reasons |= {"logo_churn_rate": codes.NO_ACCOUNTS_AT_START}
    for column in reasons:
        row[column] = None
    row["missing_reasons"] = sorted(reasons.items())
    fresh = datetime.combine(end, datetime.min.time(), UTC) + timedelta(hours=23)
    row["engagement_fresh_through"] = fresh - timedelta(days=engagement_lag_days)
    row["growth_fresh_through"] = fresh
    row["profit_fresh_through"] = fresh
    return row


def kpi_table(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=schemas.EXEC_KPI.arrow_schema(with_partitions=True))


def restatement_table(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(
        rows, schema=schemas.RESTATEMENTS.arrow_schema(with_partitions=True)
    )


def reconciliation_table(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(
        rows, schema=schemas.RECONCILIATION.arrow_schema(with_partitions=True)
    )


def sample_inputs(grain: str) -> dict[str, Any]:
    """`period`, `kpis`, `restatements` and `reconciliation` for `render_report`."""
    periods = periods_ending(grain, SAMPLE_END[grain], SAMPLE_PERIODS)
    rows, mrr = [], SAMPLE_OPENING_MRR_CENTS[grain]
    for index, period in enumerate(periods):
        latest = period == periods[-1]
        row = sample_kpi_row(
            grain=grain,
            period=period,
            index=index,
            mrr_start_cents=mrr,
            missing=dict.fromkeys(ENGAGEMENT_KPIS, codes.UPSTREAM_STALE) if latest else None,
            publication_status=codes.PRELIMINARY if latest else codes.FINAL,
            engagement_lag_days=2 if latest else 0,
        )
        rows.append(row)
        mrr = row["mrr_cents"]
    restated = rows[-2]
    restatements = [
        {
            "table_name": schemas.EXEC_KPI.name,
            "period": restated["period"],
            "key": "total",
            "metric": metric,
            "old_value": float(restated[metric] - delta),
            "new_value": float(restated[metric]),
            "reason": codes.LATE_DATA,
            "restated_at": datetime.combine(
                restated["period_end"] + timedelta(days=9), datetime.min.time(), UTC
            ),
            "run_id": f"{grain}-{periods[-1]}",
            "month": periods[-1][:7],
        }
        for metric, delta in (("revenue_cents", 412_500), ("profit_cents", 412_500))
    ]
    return {
        "period": periods[-1],
        "kpis": kpi_table(rows),
        "restatements": restatement_table(restatements),
        "reconciliation": _sample_reconciliation(periods[-1], rows[-1])
        if grain == "month"
        else None,
    }


def _sample_reconciliation(month: str, row: Mapping[str, Any]) -> pa.Table:
    revenue, expenses = row["revenue_cents"], row["expenses_cents"]
    salaries = revenue - expenses - row["profit_cents"]
    lines = [
        ("revenue", revenue, revenue - 1_234_500),
        ("expenses", expenses, expenses),
        ("salaries", salaries, salaries),
    ]
    return reconciliation_table(
        [
            {
                "line": line,
                "computed_cents": computed,
                "ledger_cents": ledger,
                "difference_cents": computed - ledger,
                "tolerance_cents": 100,
                "status": codes.MATCHED if abs(computed - ledger) <= 100 else codes.MISMATCHED,
                "month": month,
            }
            for line, computed, ledger in lines
        ]
    )
