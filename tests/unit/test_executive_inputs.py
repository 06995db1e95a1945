"""What a published KPI row was built from (functions/core/report/executive_inputs.py)."""

from __future__ import annotations

from functions.core.report import executive_inputs as ei
from functions.core.report.executive_period import month_period, week_period


def test_a_month_reads_its_days_its_growth_month_and_its_profit_month() -> None:
    prefixes = ei.input_prefixes(month_period("2026-02"))
    # February 2026 has 28 days, plus the active users of its last day
    assert len(prefixes["engagement"]) == 28 + 1
    assert prefixes["engagement"][0] == "curated/engagement_daily/dt=2026-02-01/"
    assert prefixes["engagement"][-1] == "curated/active_users_daily/dt=2026-02-28/"
    assert prefixes["growth"] == ["curated/growth_account_monthly/month=2026-02/"]
    assert prefixes["profit"] == [
        "curated/revenue_account_monthly/month=2026-02/",
        "curated/profit_monthly/month=2026-02/",
    ]


def test_a_week_reads_its_snapshot_and_the_one_before_and_no_profit() -> None:
    prefixes = ei.input_prefixes(week_period("2026-09-13"))
    assert len(prefixes["engagement"]) == 7 + 1
    assert prefixes["growth"] == [
        "curated/account_status_weekly/week=2026-09-13/",
        "curated/account_status_weekly/week=2026-09-06/",
    ]
    assert "profit" not in prefixes


def test_a_version_changes_with_any_file_or_status_and_not_with_listing_order() -> None:
    files = {"a/x.parquet": '"e1"', "a/y.parquet": '"e2"', "a/_SUCCESS": '"zz"'}
    same = dict(reversed(list(files.items())))
    assert ei.version(files) == ei.version(same)
    assert ei.version(files) != ei.version({**files, "a/y.parquet": '"e3"'})
    assert ei.version(files) != ei.version({**files, "a/z.parquet": '"e4"'})
    assert ei.version(files) == ei.version({**files, "a/_SUCCESS": '"other"'})  # not Parquet
    signed = ei.version(files, extra={"publication_status": "signed_off"})
    assert signed != ei.version(files, extra={"publication_status": "preliminary"})


def test_changed_inputs_names_the_upstreams_that_moved() -> None:
    recorded = {"engagement": "1", "growth": "2", "profit": "3"}
    assert ei.changed_inputs(recorded, recorded) == []
    assert ei.changed_inputs(recorded, {**recorded, "growth": "9"}) == ["growth"]


def test_the_daily_check_watches_three_months_and_six_weeks() -> None:
    periods = ei.lookback_periods(
        {"month": month_period("2026-10"), "week": week_period("2026-11-01")}
    )
    assert [p.name for p in periods if p.grain == "month"] == ["2026-10", "2026-09", "2026-08"]
    weeks = [p.name for p in periods if p.grain == "week"]
    assert weeks[0] == "2026-11-01" and weeks[-1] == "2026-09-27" and len(weeks) == 6
