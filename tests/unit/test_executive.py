"""Executive KPIs, pure: periods, the freshness gate, the aggregates, the join, the row."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from functions.core import backfills, codes, schemas
from functions.core.engagement_state import DayState
from functions.core.errors import ValidationError
from functions.core.report import executive as ex
from functions.core.report import executive_freshness as fr
from functions.core.report.executive_period import (
    month_period,
    parse_period,
    period_of_execution,
    period_to_run,
    rerun_name,
    week_period,
)

NOW = datetime(2026, 10, 5, 7, tzinfo=UTC)
SEPTEMBER = month_period("2026-09")


def _fresh(period: Any) -> dict[str, fr.UpstreamCheck]:
    return {u: fr.UpstreamCheck(u, True, period.end_instant) for u in backfills.UPSTREAMS}


def _account(account: str, *, start: int, end: int, seats: int = 2, **moves: int) -> dict[str, Any]:
    row = {name: 0 for name in ex.ACCOUNTS.names if name.startswith("mrr_")}
    return {
        **row,
        "account_id": account,
        "seats_end": seats,
        "mrr_start_cents": start,
        "mrr_end_cents": end,
        **moves,
    }


def _engagement(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=ex.ENGAGEMENT_AGGREGATE)


# --- periods ---------------------------------------------------------------------------


def test_periods_are_named_for_their_executions() -> None:
    assert SEPTEMBER.execution_name == "monthly-2026-09" and SEPTEMBER.days == 30
    week = week_period("2026-09-27")
    assert (week.start, week.execution_name) == (date(2026, 9, 21), "weekly-2026-09-27")
    assert week.previous().name == "2026-09-20" and SEPTEMBER.previous().name == "2026-08"
    assert month_period("2026-01").previous().name == "2025-12"
    assert period_of_execution(rerun_name(SEPTEMBER, 2)) == ("month", "2026-09", 2)
    assert period_of_execution("weekly-2026-09-27") == ("week", "2026-09-27", 0)
    assert period_of_execution("backfill-x") is None


def test_a_scheduled_run_computes_the_period_before_it() -> None:
    assert period_to_run("month", NOW).name == "2026-09"
    assert period_to_run("week", datetime(2026, 10, 5, 8, tzinfo=UTC)).name == "2026-10-04"
    # a Sunday's own week is not over yet
    assert period_to_run("week", datetime(2026, 10, 4, 23, tzinfo=UTC)).name == "2026-09-27"


@pytest.mark.parametrize(
    ("grain", "name"), [("month", "2026-13"), ("week", "2026-09-26"), ("day", "2026-09-01")]
)
def test_a_bad_period_is_a_clear_error(grain: str, name: str) -> None:
    with pytest.raises(ValidationError):
        parse_period(grain, name)


# --- the freshness gate -------------------------------------------------------------------


def _days(
    period: Any, *, skip: frozenset[date] = frozenset(), dirty: frozenset[date] = frozenset()
) -> list[DayState]:
    return [DayState(d, NOW, 1 if d in dirty else 0, 0) for d in period.dates() if d not in skip]


def test_engagement_is_fresh_when_every_day_is_aggregated_and_clean() -> None:
    check = fr.engagement_check(SEPTEMBER, _days(SEPTEMBER), now=NOW, run_id="r")
    assert check.fresh and check.fresh_through == datetime(2026, 10, 1, tzinfo=UTC)


def test_a_month_whose_data_starts_mid_month_is_fresh_but_partial_never_final() -> None:
    # given every September day aggregated and clean, but the 1st-14th backfilled before any
    # click existed (0 landed) and clicks from the 15th on
    states = [DayState(d, NOW, 0, 0, landed=0 if d.day < 15 else 40) for d in SEPTEMBER.dates()]
    check = fr.engagement_check(SEPTEMBER, states, now=NOW, run_id="r")
    # then the input is fresh (nothing to backfill) but does not cover the month
    assert check.fresh and not check.covered
    assert "starts after 2026-09-01" in check.detail
    # and the month's row is preliminary with engagement KPIs null for that reason
    checks = {**_fresh(SEPTEMBER), backfills.ENGAGEMENT: check}
    totals = ex.join_tables(
        pa.Table.from_pylist([_account("a", start=100, end=100)], schema=ex.ACCOUNTS),
        _engagement([]),
        pa.Table.from_pylist([], schema=ex.REVENUE_AGGREGATE),
    )
    row = ex.kpi_row(
        ex.KpiInputs(SEPTEMBER, totals, checks, ex.ProfitTotals(0, 0, 0, 0, 0), "final", NOW)
    )
    assert row["publication_status"] == codes.PRELIMINARY
    assert dict(row["missing_reasons"])["mau"] == codes.PARTIAL_PERIOD
    assert row["mrr_cents"] == 100  # growth covers the month: still reported


def test_data_from_before_the_month_covers_it_even_if_its_first_day_was_quiet() -> None:
    # given clicks on 31 August, none on 1 September, some from the 2nd
    august_31 = DayState(date(2026, 8, 31), NOW, 0, 0, landed=12)
    states = [august_31] + [
        DayState(d, NOW, 0, 0, landed=0 if d.day == 1 else 5) for d in SEPTEMBER.dates()
    ]
    assert fr.engagement_check(SEPTEMBER, states, now=NOW, run_id="r").covered


def test_a_dirty_or_missing_day_is_stale_and_names_its_backfill() -> None:
    # given a dirty day on the 15th and the 30th never aggregated
    states = _days(
        SEPTEMBER, skip=frozenset({date(2026, 9, 30)}), dirty=frozenset({date(2026, 9, 15)})
    )
    check = fr.engagement_check(SEPTEMBER, states, now=NOW, run_id="monthly-2026-09-eng")
    # then it is stale through the 14th, and the backfill recomputes exactly those days
    assert not check.fresh and check.reason == codes.UPSTREAM_STALE
    assert check.fresh_through == datetime(2026, 9, 15, tzinfo=UTC)
    assert check.backfill["days"] == ["2026-09-15", "2026-09-30"]
    assert check.backfill["reason"] == "backfill" and "dirty" in check.detail
    only_dirty = fr.engagement_check(
        SEPTEMBER, _days(SEPTEMBER, dirty=frozenset({date(2026, 9, 2)})), now=NOW, run_id="r"
    )
    assert only_dirty.reason == codes.DIRTY_PARTITIONS


def test_growth_and_profit_checks() -> None:
    week = week_period("2026-09-27")
    assert fr.growth_check(week, {"week:2026-09-27": True, "week:2026-09-20": True}, now=NOW).fresh
    stale = fr.growth_check(week, {"week:2026-09-27": True}, now=NOW)
    assert not stale.fresh and "week:2026-09-20" in stale.detail
    assert fr.profit_check(week, present=False, now=NOW) is None  # profit is monthly
    missing = fr.profit_check(SEPTEMBER, present=False, now=NOW)
    assert missing is not None and missing.backfill == {
        "time": "2026-10-05T07:00:00Z",
        "month": "2026-09",
    }


def test_the_gate_gives_up_after_its_bound_naming_the_stale_input() -> None:
    stale = fr.UpstreamCheck("growth", False, None, codes.UPSTREAM_STALE, "growth missing")
    fresh = fr.UpstreamCheck("profit", True, NOW)
    waiting = fr.GateDecision((stale, fresh), attempt=2, max_attempts=3)
    assert not waiting.fresh and not waiting.give_up
    done = fr.GateDecision((stale, fresh), attempt=3, max_attempts=3)
    assert done.give_up and done.cause.startswith("stale upstream input(s): growth after 3")


# --- aggregates, join, KPI row -----------------------------------------------------------


def test_engagement_aggregate_is_one_row_per_account_within_the_period() -> None:
    daily = pa.Table.from_pylist(
        [
            {
                "account_id": "a",
                "active_users": 2,
                "session_hours": 1.5,
                "clicks": 10,
                "complete": True,
                "dt": "2026-09-01",
            },
            {
                "account_id": "a",
                "active_users": 1,
                "session_hours": 0.5,
                "clicks": 3,
                "complete": False,
                "dt": "2026-09-30",
            },
            {
                "account_id": "b",
                "active_users": 9,
                "session_hours": 9.0,
                "clicks": 9,
                "complete": True,
                "dt": "2026-10-01",
            },  # outside the period
        ]
    )
    active = pa.Table.from_pylist([{"account_id": "c", "wau": 1, "mau": 4, "dt": "2026-09-30"}])
    rows = {
        r["account_id"]: r for r in ex.engagement_aggregate(SEPTEMBER, daily, active).to_pylist()
    }
    assert set(rows) == {"a", "c"}
    assert rows["a"]["active_user_days"] == 3 and rows["a"]["incomplete_days"] == 1
    assert rows["c"]["mau"] == 4 and rows["c"]["active_user_days"] == 0


def _daily_row(account: str, dt: str, *, complete: bool = True) -> dict[str, object]:
    return {
        "account_id": account,
        "active_users": 1,
        "session_hours": 0.25,
        "clicks": 2,
        "complete": complete,
        "dt": dt,
    }


def test_engagement_aggregate_counts_days_from_day_files(tmp_path: Path) -> None:
    # Given account a on the period's first and last days, incomplete on the last, and b on
    # one day, as downloaded day files: the day in the path (dt=<day>/), not in the file
    # (engagement_daily: one row per account and day)
    rows_by_day = {
        "2026-09-01": [_daily_row("a", "2026-09-01"), _daily_row("b", "2026-09-01")],
        "2026-09-30": [_daily_row("a", "2026-09-30", complete=False)],
    }
    files = []
    for day, rows in rows_by_day.items():
        (tmp_path / f"dt={day}").mkdir()
        files.append(str(tmp_path / f"dt={day}" / "000000.parquet"))
        pq.write_table(pa.Table.from_pylist(rows).drop_columns(["dt"]), files[-1])
    active = pa.Table.from_pylist([{"account_id": "a", "wau": 1, "mau": 1, "dt": "2026-09-30"}])
    # When the period's aggregate is computed from the files
    rows = {
        r["account_id"]: r for r in ex.engagement_aggregate(SEPTEMBER, files, active).to_pylist()
    }
    # Then each row is a day present, and an incomplete one counts once more as incomplete
    assert (rows["a"]["days_present"], rows["a"]["incomplete_days"]) == (2, 1)
    assert (rows["a"]["active_user_days"], rows["a"]["clicks"]) == (2, 4)
    assert (rows["b"]["days_present"], rows["b"]["incomplete_days"]) == (1, 0)


def test_weekly_accounts_bridge_start_to_end() -> None:
    def snap(rows: list[tuple[str, str, int, int]], week: str) -> pa.Table:
        return pa.Table.from_pylist(
            [
                {
                    "account_id": a,
                    "status": s,
                    "status_inferred": False,
                    "plan": "team",
                    "seats": seats,
                    "mrr_cents": mrr,
                    "last_event_time": NOW,
                    "week": week,
                }
                for a, s, seats, mrr in rows
            ],
            schema=schemas.ACCOUNT_STATUS_WEEKLY.arrow_schema(with_partitions=True),
        )

    before = snap(
        [
            ("grow", "active", 2, 100),
            ("drop", "active", 2, 300),
            ("gone", "active", 1, 50),
            ("back", "churned", 0, 0),
        ],
        "2026-09-20",
    )
    now = snap(
        [
            ("grow", "active", 3, 150),
            ("drop", "active", 1, 200),
            ("gone", "churned", 0, 0),
            ("back", "active", 1, 70),
            ("new", "active", 1, 90),
        ],
        "2026-09-27",
    )
    rows = ex.weekly_accounts(now, before).to_pylist()
    moves = {r["account_id"]: r for r in rows}
    assert (
        moves["grow"]["mrr_expansion_cents"] == 50 and moves["drop"]["mrr_contraction_cents"] == 100
    )
    assert moves["gone"]["mrr_churn_cents"] == 50 and moves["back"]["mrr_reactivation_cents"] == 70
    assert moves["new"]["mrr_new_cents"] == 90
    for r in rows:
        assert (
            r["mrr_start_cents"]
            + r["mrr_new_cents"]
            + r["mrr_expansion_cents"]
            + r["mrr_reactivation_cents"]
            - r["mrr_contraction_cents"]
            - r["mrr_churn_cents"]
            == r["mrr_end_cents"]
        )


def test_a_month_with_no_subscribers_has_no_nan_and_says_why() -> None:
    # given no accounts, no activity, no revenue, but expenses
    totals = ex.join_tables(
        ex.ACCOUNTS.empty_table(),
        ex.ENGAGEMENT_AGGREGATE.empty_table(),
        ex.REVENUE_AGGREGATE.empty_table(),
    )
    row = ex.kpi_row(
        ex.KpiInputs(
            SEPTEMBER,
            totals,
            _fresh(SEPTEMBER),
            ex.ProfitTotals(0, 900, 100, -1000, 0),
            "final",
            NOW,
        )
    )
    reasons = dict(row["missing_reasons"])
    # then every ratio is null with its reason, counts are zero, nothing is NaN or infinite
    assert reasons == {
        "nrr": codes.NO_STARTING_MRR,
        "grr": codes.NO_STARTING_MRR,
        "logo_churn_rate": codes.NO_ACCOUNTS_AT_START,
        "hours_per_active_user_day": codes.NO_ACTIVITY,
        "seat_utilisation": codes.NO_SEATS,
        "unit_profit_cents": codes.NO_SUBSCRIBERS,
        "cost_per_account_cents": codes.NO_SUBSCRIBERS,
    }
    assert row["mrr_cents"] == 0 and row["dau"] == 0.0 and row["profit_cents"] == -1000
    ex.kpi_table([row])  # conforms to the registry


def test_seat_utilisation_counts_users_and_seats_of_the_same_paying_accounts() -> None:
    # given a paying account (MRR 100 at the end, 4 seats, MAU 3), a trial account (no MRR,
    # 10 seats on its trial, MAU 5) and an unknown account's clicks (MAU 2)
    accounts = pa.Table.from_pylist(
        [
            _account("paying", start=100, end=100, seats=4),
            _account("trial", start=0, end=0, seats=10),
        ],
        schema=ex.ACCOUNTS,
    )

    def active(account: str, mau: int) -> dict[str, Any]:
        return {
            "account_id": account,
            "active_user_days": mau,
            "session_hours": 1.0,
            "clicks": mau,
            "days_present": 1,
            "incomplete_days": 0,
            "wau": mau,
            "mau": mau,
        }

    engagement = _engagement([active("paying", 3), active("trial", 5), active("stray", 2)])
    revenue = pa.Table.from_pylist([], schema=ex.REVENUE_AGGREGATE)
    # when the month's KPIs are built
    totals = ex.join_tables(accounts, engagement, revenue)
    row = ex.kpi_row(
        ex.KpiInputs(
            SEPTEMBER, totals, _fresh(SEPTEMBER), ex.ProfitTotals(0, 0, 0, 0, 0), "final", NOW
        )
    )
    # then utilisation = 3 users / 4 seats of the one paying account (not 10 / 4)
    assert row["seat_utilisation"] == 3 / 4
    assert row["mau"] == 3 + 5 + 2


def test_an_account_with_no_activity_counts_and_divides_safely() -> None:
    accounts = pa.Table.from_pylist(
        [
            _account("busy", start=100, end=100, seats=2),
            _account("idle", start=50, end=50, seats=3),
        ],
        schema=ex.ACCOUNTS,
    )
    engagement = _engagement(
        [
            {
                "account_id": "busy",
                "active_user_days": 30,
                "session_hours": 15.0,
                "clicks": 90,
                "days_present": 30,
                "incomplete_days": 0,
                "wau": 2,
                "mau": 2,
            }
        ]
    )
    revenue = pa.Table.from_pylist(
        [{"account_id": "busy", "paid_cents": 100}], schema=ex.REVENUE_AGGREGATE
    )
    totals = ex.join_tables(accounts, engagement, revenue)
    assert totals["accounts"] == 2 and totals["seats"] == 5 and totals["paid_cents"] == 100
    row = ex.kpi_row(
        ex.KpiInputs(
            SEPTEMBER, totals, _fresh(SEPTEMBER), ex.ProfitTotals(100, 10, 20, 70, 1), "final", NOW
        )
    )
    assert row["dau"] == 1.0 and row["hours_per_active_user_day"] == 0.5
    assert row["seat_utilisation"] == pytest.approx(2 / 5)
    assert row["nrr"] == 1.0 and row["unit_profit_cents"] == 70.0
    assert row["publication_status"] == codes.FINAL and row["missing_reasons"] == []


def test_stale_incomplete_and_unreconciled_inputs_make_the_period_preliminary() -> None:
    totals = ex.join_tables(
        ex.ACCOUNTS.empty_table(),
        _engagement(
            [
                {
                    "account_id": "a",
                    "active_user_days": 1,
                    "session_hours": 1.0,
                    "clicks": 1,
                    "days_present": 1,
                    "incomplete_days": 1,
                    "wau": 1,
                    "mau": 1,
                }
            ]
        ),
        ex.REVENUE_AGGREGATE.empty_table(),
    )
    checks = _fresh(SEPTEMBER)
    checks["growth"] = fr.UpstreamCheck("growth", False, None, codes.UPSTREAM_STALE)
    row = ex.kpi_row(ex.KpiInputs(SEPTEMBER, totals, checks, None, None, NOW))
    reasons = dict(row["missing_reasons"])
    assert (
        reasons["mrr_cents"] == codes.UPSTREAM_STALE and reasons["dau"] == codes.UPSTREAM_INCOMPLETE
    )
    assert reasons["revenue_cents"] == codes.NO_DATA
    assert row["publication_status"] == codes.PRELIMINARY
    clean = ex.kpi_row(
        ex.KpiInputs(
            SEPTEMBER, dict(totals, incomplete_days=0), _fresh(SEPTEMBER), None, "preliminary", NOW
        )
    )
    assert clean["publication_status"] == codes.PRELIMINARY  # unreconciled profit month


def test_a_week_has_no_profit_kpis_and_says_so() -> None:
    week = week_period("2026-09-27")
    totals = ex.join_tables(
        ex.ACCOUNTS.empty_table(),
        ex.ENGAGEMENT_AGGREGATE.empty_table(),
        ex.REVENUE_AGGREGATE.empty_table(),
    )
    checks = {u: c for u, c in _fresh(week).items() if u != "profit"}
    row = ex.kpi_row(ex.KpiInputs(week, totals, checks, None, None, NOW))
    assert all(dict(row["missing_reasons"])[k] == codes.MONTHLY_ONLY for k in ex.PROFIT_KPIS)
    assert row["publication_status"] == codes.FINAL and row["profit_fresh_through"] is None


def test_ratio_never_returns_nan_or_infinity() -> None:
    assert ex.ratio(1, 0, "r") == (None, "r")
    assert ex.ratio(float("inf"), 1, "r") == (None, "r")
    assert ex.ratio(None, 1, "r") == (None, "r")
    assert ex.ratio(1, 4, "r") == (0.25, None)


_COUNT = st.integers(min_value=0, max_value=10**12)


@settings(max_examples=60, deadline=None)
@given(
    totals=st.fixed_dictionaries(
        {
            **{
                name: _COUNT
                for name in (
                    "accounts_start",
                    "active_accounts",
                    "new_accounts",
                    "churned_accounts",
                    "seats",
                    "mrr_start_cents",
                    "mrr_end_cents",
                    "mrr_new_cents",
                    "mrr_expansion_cents",
                    "mrr_contraction_cents",
                    "mrr_churn_cents",
                    "mrr_reactivation_cents",
                    "active_user_days",
                    "wau",
                    "mau",
                    "mau_paying",
                    "incomplete_days",
                )
            },
            "session_hours": st.floats(min_value=0, max_value=1e12, allow_nan=False),
        }
    ),
    profit=st.tuples(_COUNT, _COUNT, _COUNT, st.integers(-(10**12), 10**12), _COUNT),
)
def test_no_input_makes_a_kpi_nan_or_infinite(
    totals: dict[str, Any], profit: tuple[int, ...]
) -> None:
    row = ex.kpi_row(
        ex.KpiInputs(SEPTEMBER, totals, _fresh(SEPTEMBER), ex.ProfitTotals(*profit), "final", NOW)
    )
    reasons = dict(row["missing_reasons"])
    for name in ex.KPI_COLUMNS:
        value = row[name]
        assert value is not None or name in reasons
        assert not isinstance(value, float) or math.isfinite(value)
    ex.kpi_table([row])


def test_generated_at_and_freshness_come_from_the_inputs() -> None:
    checks = _fresh(SEPTEMBER)
    row = ex.kpi_row(ex.KpiInputs(SEPTEMBER, None, checks, None, None, NOW + timedelta(hours=1)))
    assert row["generated_at"] == NOW + timedelta(hours=1)
    assert row["growth_fresh_through"] == SEPTEMBER.end_instant
    assert dict(row["missing_reasons"])["mrr_cents"] == codes.UPSTREAM_STALE


def test_the_backfill_version_changes_only_when_a_stale_day_gets_new_late_data() -> None:
    # given the 15th dirty (one late-data mark) and the 30th never aggregated
    def check(marks_on_15th: int) -> fr.UpstreamCheck:
        states = [
            DayState(d, NOW, marks_on_15th if d == date(2026, 9, 15) else 0, 0)
            for d in SEPTEMBER.dates()
            if d != date(2026, 9, 30)
        ]
        return fr.engagement_check(SEPTEMBER, states, now=NOW, run_id="r")

    # when the gate checks twice with nothing new, then once after a late click on the 15th
    first, again, dirtied = check(1), check(1), check(2)

    # then the same state names the same backfill (not started twice) and new data a new one
    assert first.backfill_version and first.backfill_version == again.backfill_version
    assert dirtied.backfill_version != first.backfill_version
    assert dirtied.backfill["days"] == first.backfill["days"] == ["2026-09-15", "2026-09-30"]


_ACCOUNT_ROW = st.tuples(
    st.integers(min_value=0, max_value=50_000),  # MRR at start
    st.integers(min_value=0, max_value=50_000),  # MRR at end
    st.integers(min_value=0, max_value=40),  # seats at end
    st.integers(min_value=0, max_value=30),  # MAU
    st.integers(min_value=-5_000, max_value=90_000),  # money received
)


@settings(max_examples=50, deadline=None)
@given(st.lists(_ACCOUNT_ROW, min_size=1, max_size=8))
def test_every_kpi_equals_the_figure_in_the_curated_table_it_comes_from(
    rows: list[tuple[int, int, int, int, int]],
) -> None:
    # given any growth_account_monthly, engagement aggregate and revenue_account_monthly rows
    names = [f"acct-{i}" for i in range(len(rows))]
    accounts = pa.Table.from_pylist(
        [
            _account(n, start=start, end=end, seats=seats)
            for n, (start, end, seats, _, _) in zip(names, rows, strict=True)
        ],
        schema=ex.ACCOUNTS,
    )
    engagement = _engagement(
        [
            {
                "account_id": n,
                "active_user_days": mau,
                "session_hours": 0.0,
                "clicks": mau,
                "days_present": 1,
                "incomplete_days": 0,
                "wau": mau,
                "mau": mau,
            }
            for n, (_, _, _, mau, _) in zip(names, rows, strict=True)
        ]
    )
    revenue = pa.Table.from_pylist(
        [{"account_id": n, "paid_cents": paid} for n, (*_, paid) in zip(names, rows, strict=True)],
        schema=ex.REVENUE_AGGREGATE,
    )
    paid = [r[4] for r in rows]
    profit = ex.ProfitTotals(sum(paid), 1_000, 2_000, sum(paid) - 3_000, sum(p > 0 for p in paid))
    # when the month's row is built
    totals = ex.join_tables(accounts, engagement, revenue)
    row = ex.kpi_row(ex.KpiInputs(SEPTEMBER, totals, _fresh(SEPTEMBER), profit, "final", NOW))
    # then each KPI is the sum (or ratio) of its source columns, computed here directly
    assert row["mrr_cents"] == sum(r[1] for r in rows)
    assert row["arr_cents"] == 12 * sum(r[1] for r in rows)
    assert row["active_accounts"] == sum(r[1] > 0 for r in rows)
    assert row["mau"] == sum(r[3] for r in rows)
    paying_seats = sum(r[2] for r in rows if r[1] > 0)
    paying_mau = sum(r[3] for r in rows if r[1] > 0)
    assert row["seat_utilisation"] == (paying_mau / paying_seats if paying_seats else None)
    assert row["revenue_cents"] == profit.revenue_cents
    assert row["salaries_cents"] == profit.salaries_cents
    assert row["profit_cents"] == row["revenue_cents"] - 1_000 - 2_000
    assert totals["paying_accounts"] == sum(p > 0 for p in paid)
