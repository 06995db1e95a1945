"""The executive report's rules beside the period's row (functions/core/report/
executive_history.py, executive_layout.py): history, why a KPI was restated, the profit
reconciliation rows, a period's executions."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from functions.core import codes
from functions.core.report import executive_history, executive_layout
from functions.core.report.executive_period import month_period, week_period


def _rows(periods: list[str], status: str = "final") -> pa.Table:
    return pa.table(
        {
            "period": pa.array(periods, pa.string()),
            "publication_status": pa.array([status] * len(periods), pa.string()),
        }
    )


def test_history_keeps_the_latest_earlier_periods_and_this_one_in_order() -> None:
    # given 14 published weeks before 2026-12-06 and one after it, and this week's new row
    weeks = [f"2026-{m:02d}-{d:02d}" for m, d in [(9, 6), (9, 13), (9, 20), (9, 27)]]
    weeks += [f"2026-10-{d:02d}" for d in (4, 11, 18, 25)]
    weeks += [f"2026-11-{d:02d}" for d in (1, 8, 15, 22, 29)]
    weeks += ["2026-08-30", "2026-12-13"]
    period = week_period("2026-12-06")
    # when the report's history is built
    table = executive_history.history(period, _rows(weeks), _rows([period.name]))
    # then it holds the 13 weeks before it (2026-08-30 is the 14th, dropped), then this one
    periods = table.column("period").to_pylist()
    assert periods == [
        "2026-09-06",
        "2026-09-13",
        "2026-09-20",
        "2026-09-27",
        "2026-10-04",
        "2026-10-11",
        "2026-10-18",
        "2026-10-25",
        "2026-11-01",
        "2026-11-08",
        "2026-11-15",
        "2026-11-22",
        "2026-11-29",
        "2026-12-06",
    ]


def test_why_a_kpi_was_restated() -> None:
    final, preliminary = _rows(["2026-09"]), _rows(["2026-09"], codes.PRELIMINARY)
    reason = executive_history.restatement_reason
    # a run that backfilled an input says so, whatever else happened
    assert reason(final, backfilled=True, inputs_changed=True) == "backfill"
    # an input that changed since the row was built, or a preliminary row: late data
    assert reason(final, backfilled=False, inputs_changed=True) == codes.LATE_DATA
    assert reason(preliminary, backfilled=False, inputs_changed=False) == codes.LATE_DATA
    # a final row rebuilt from the same inputs: a correction
    assert reason(final, backfilled=False, inputs_changed=False) == "correction"


def test_reconciliation_rows_of_a_month_and_none_for_a_week() -> None:
    summary = (
        '{"lines": {"revenue": {"computed_cents": 1000, "ledger_cents": 1050,'
        ' "difference_cents": -50, "tolerance_cents": 100, "status": "matched"}}}'
    )
    rows = executive_history.reconciliation_rows(month_period("2026-09"), summary)
    assert rows is not None
    assert rows.to_pylist() == [
        {
            "line": "revenue",
            "computed_cents": 1000,
            "ledger_cents": 1050,
            "difference_cents": -50,
            "tolerance_cents": 100,
            "status": "matched",
            "month": "2026-09",
        }
    ]
    assert executive_history.reconciliation_rows(week_period("2026-09-06"), summary) is None
    assert executive_history.reconciliation_rows(month_period("2026-09"), None) is None


def test_profit_totals_of_the_month_row() -> None:
    row: dict[str, Any] = dict.fromkeys(executive_history.PROFIT_TOTALS, 5) | {"month": "x"}
    assert executive_history.profit_totals([row]) == dict.fromkeys(
        executive_history.PROFIT_TOTALS, 5
    )
    assert executive_history.profit_totals([]) is None


def test_a_periods_executions_oldest_first_and_a_running_one_by_prefix() -> None:
    listed = [
        {"name": "monthly-2026-09-restate-1"},
        {"name": "monthly-2026-10"},
        {"name": "monthly-2026-09"},
        {"name": "weekly-2026-09-06"},
    ]
    runs = executive_layout.period_executions(listed, month_period("2026-09"))
    assert [r["name"] for r in runs] == ["monthly-2026-09", "monthly-2026-09-restate-1"]
    assert executive_layout.named_with(listed, "monthly-2026-1") == "monthly-2026-10"
    assert executive_layout.named_with(listed, "weekly-2026-10") is None


def test_the_gate_needs_both_growth_months_tables_or_two_weekly_snapshots() -> None:
    month = executive_layout.growth_partition_prefixes(month_period("2026-09"))
    assert list(month) == ["month:2026-09"] and len(month["month:2026-09"]) == 2
    week = executive_layout.growth_partition_prefixes(week_period("2026-09-13"))
    assert list(week) == ["week:2026-09-13", "week:2026-09-06"]
