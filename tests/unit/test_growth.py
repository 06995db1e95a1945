"""Growth tables: the MRR bridge holds for every account and month, ratios are null with a
reason when they cannot be computed, and re-running gives byte-identical Parquet."""

from __future__ import annotations

import math
import random
from datetime import UTC, date, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from functions.core import codes, schemas
from functions.core.lifecycle import Event
from functions.core.parquet import parquet_bytes
from functions.core.transform import growth
from pablo.generate.accounts import build_accounts
from pablo.generate.model import GeneratorConfig

MONTHS = ("2025-10", "2025-11", "2025-12", "2026-01", "2026-02", "2026-03", "2026-09", "2026-10")


def _company_events(seed: int, days: int) -> list[Event]:
    accounts = build_accounts(
        random.Random(seed), GeneratorConfig(seed=seed, accounts=24, days=days)
    )
    return [
        Event(e.event_id, e.account_id, e.event_type, e.event_time, e.plan, e.seats, e.mrr_cents)
        for a in accounts
        for e in a.visible_events()
    ]


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), days=st.integers(10, 90))
def test_mrr_bridge_and_counts_hold_for_every_account_and_month(seed: int, days: int) -> None:
    # given a generated company's recorded events (missing steps included)
    replays = growth.replay_accounts(_company_events(seed, days))
    for month in MONTHS:
        # when the month is built
        rows = growth.account_months(replays, month)
        for r in rows:
            # then start + new + expansion + reactivation - contraction - churn = end
            assert (
                r.mrr_start_cents
                + r.mrr_new_cents
                + r.mrr_expansion_cents
                + r.mrr_reactivation_cents
                - r.mrr_contraction_cents
                - r.mrr_churn_cents
                == r.mrr_end_cents
            )
            assert r.seats_start + r.seats_added - r.seats_removed == r.seats_end
            assert min(r.mrr_new_cents, r.mrr_expansion_cents, r.mrr_churn_cents) >= 0
        m = growth.monthly_row(month, rows)
        assert (
            m["accounts_start"]
            + m["new_accounts"]
            + m["reactivated_accounts"]
            - m["churned_accounts"]
            == m["accounts_end"]
        )
        for ratio in ("nrr", "grr", "logo_churn_rate"):
            value = m[ratio]
            assert (value is None) == (m[f"{ratio}_reason"] is not None)
            assert value is None or math.isfinite(value)


def test_month_without_accounts_gives_null_ratios_with_reasons() -> None:
    # given no account at all / when the month is built / then ratios are null with reasons
    row = growth.monthly_row("2026-09", [])
    assert (row["nrr"], row["nrr_reason"]) == (None, codes.NO_STARTING_MRR)
    assert (row["grr"], row["grr_reason"]) == (None, codes.NO_STARTING_MRR)
    assert (row["logo_churn_rate"], row["logo_churn_rate_reason"]) == (
        None,
        codes.NO_ACCOUNTS_AT_START,
    )
    table = growth.monthly_table("2026-09", [])
    assert table.column("nrr").null_count == 1


def test_expansion_churn_and_renewal_expansion_by_hand() -> None:
    t = lambda d: datetime(2026, 9, d, 10, tzinfo=UTC)  # noqa: E731
    events = [
        Event("a1", "acct-a", "subscribed", datetime(2025, 9, 5, tzinfo=UTC), "team", 10, 35000),
        Event("a2", "acct-a", "renewal_due", t(5), "team", 10, 35000),
        Event("a3", "acct-a", "seats_changed", t(6), "team", 12, 42000),
        Event("a4", "acct-a", "renewed", t(7), "team", 12, 42000),
        Event("b1", "acct-b", "subscribed", datetime(2025, 3, 1, tzinfo=UTC), "starter", 5, 10000),
        Event("b2", "acct-b", "cancelled", datetime(2026, 8, 1, tzinfo=UTC), "starter", 5, 10000),
        Event("b3", "acct-b", "churned", t(20), None, None, 0),
    ]
    replays = growth.replay_accounts(events)
    rows = {r.account_id: r for r in growth.account_months(replays, "2026-09")}
    assert rows["acct-a"].mrr_expansion_cents == 7000
    assert rows["acct-a"].renewal_expansion_cents == 7000
    assert rows["acct-a"].came_up_for_renewal and rows["acct-a"].renewed
    assert rows["acct-b"].mrr_churn_cents == 10000
    assert rows["acct-b"].seats_removed == 5
    m = growth.monthly_row("2026-09", list(rows.values()))
    assert m["nrr"] == (45000 + 7000 - 10000) / 45000
    assert m["grr"] == (45000 - 10000) / 45000
    assert m["logo_churn_rate"] == 0.5


def test_rebuilding_gives_byte_identical_parquet() -> None:
    # given the same events twice (the second in another order)
    events = _company_events(11, 60)
    first = growth.replay_accounts(events)
    second = growth.replay_accounts(list(reversed(events)))
    week = date(2026, 9, 20)
    # when every table is built twice / then the bytes are equal
    for build, registry in (
        (lambda r: growth.snapshot_table(r, week), schemas.ACCOUNT_STATUS_WEEKLY),
        (growth.issues_table, schemas.LIFECYCLE_ISSUES),
        (
            lambda r: growth.account_monthly_table(growth.account_months(r, "2026-09")),
            schemas.GROWTH_ACCOUNT_MONTHLY,
        ),
        (
            lambda r: growth.monthly_table("2026-09", growth.account_months(r, "2026-09")),
            schemas.GROWTH_MONTHLY,
        ),
    ):
        assert parquet_bytes(build(first), registry) == parquet_bytes(build(second), registry)


def test_calendar_helpers() -> None:
    sunday_evening = datetime(2026, 9, 6, 23, tzinfo=UTC)
    assert growth.weeks_to_build(sunday_evening, restate_weeks=1) == [
        date(2026, 8, 30),
        date(2026, 9, 6),
    ]
    assert growth.closed_weeks(sunday_evening, count=1) == [date(2026, 8, 30)]
    assert growth.closed_months(datetime(2026, 1, 4, tzinfo=UTC), count=2) == ["2025-11", "2025-12"]
