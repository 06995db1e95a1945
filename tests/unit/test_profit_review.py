"""The monthly review SLA (pure) and the profit alarms' inventory entries and runbook."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from functions.core.monitor.alarm_inventory import INVENTORY, MissingData, Owner
from functions.core.monitor.alarm_inventory.profit import ALARMS
from functions.core.schemas import Pipeline
from functions.core.transform import profit_review

RUNBOOK = Path(__file__).resolve().parents[2] / "docs" / "runbooks" / "profit.md"


def test_a_month_is_overdue_only_after_its_review_window() -> None:
    computed = {"2026-09"}
    # given September computed and not signed off, a 10-day window
    on_time = profit_review.overdue_months(
        date(2026, 10, 10), computed=computed, signed_off=set(), review_days=10
    )
    late = profit_review.overdue_months(
        date(2026, 10, 11), computed=computed, signed_off=set(), review_days=10
    )
    signed = profit_review.overdue_months(
        date(2026, 10, 11), computed=computed, signed_off={"2026-09"}, review_days=10
    )
    # then it is overdue from day 11 on, unless signed off
    assert (on_time, late, signed) == ([], ["2026-09"], [])


def test_months_never_computed_are_not_overdue() -> None:
    assert (
        profit_review.overdue_months(
            date(2026, 12, 1), computed=set(), signed_off=set(), review_days=1
        )
        == []
    )


def test_months_to_check_cross_the_year() -> None:
    assert profit_review.months_to_check(date(2026, 2, 3)) == ["2026-01", "2025-12", "2025-11"]
    assert profit_review.month_end("2028-02") == date(2028, 2, 29)


def test_profit_alarms_are_in_the_inventory_owned_by_finance_with_a_runbook_section() -> None:
    headings = {
        line.removeprefix("## ").strip()
        for line in RUNBOOK.read_text().splitlines()
        if line.startswith("## ")
    }
    for alarm in ALARMS:
        assert alarm in INVENTORY
        assert alarm.pipeline is Pipeline.PROFIT
        assert alarm.owner is Owner.FINANCE
        assert alarm.secondary_owner is Owner.DATA_ENGINEERING
        assert alarm.runbook_anchor in headings
        if alarm.watched is None:
            # the verdict stands between the sparse datapoints (runs and sign-offs)
            assert alarm.missing_data is MissingData.IGNORE
        else:
            # AWS publishes a function's errors or a workflow's failures only when there are
            # invocations or executions: a period without any had no failure
            assert alarm.missing_data is MissingData.NOT_BREACHING
