"""Growth tables from replayed account lifecycles: weekly status snapshots, lifecycle issues,
monthly growth per account and per month. Pure: events in, Arrow tables out.

Definitions (docs/metrics.md, Growth): MRR of an account at a moment is the `mrr_cents` of its
latest event if its status is paying (active, renewal_due, cancelled), else 0. Monthly
movements compare month start with month end per account (the standard SaaS bridge), so
for every account and month: start + new + expansion + reactivation - contraction - churn
= end. Ratios with no denominator are null with a reason code, never NaN or infinity.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final

import pyarrow as pa

from functions.core import schemas
from functions.core.codes import NO_ACCOUNTS_AT_START, NO_STARTING_MRR
from functions.core.lifecycle import (
    RENEWAL_DUE,
    UNKNOWN,
    Event,
    Replay,
    State,
    replay,
)
from functions.core.transform import growth_paths

ONE_MICROSECOND: Final = timedelta(microseconds=1)


# --- calendar ----------------------------------------------------------------------------


def week_ending(day: date) -> date:
    """The Sunday that ends `day`'s week (Monday..Sunday)."""
    return day + timedelta(days=6 - day.weekday())


def week_end_instant(week: date) -> datetime:
    """The last instant of the week that ends on Sunday `week` (what a snapshot is as of)."""
    return datetime.combine(week + timedelta(days=1), time(), tzinfo=UTC) - ONE_MICROSECOND


def month_start(month: str) -> datetime:
    return datetime.strptime(month + "-01", "%Y-%m-%d").replace(tzinfo=UTC)


def next_month(month: str) -> str:
    year, number = int(month[:4]), int(month[5:7])
    return f"{year + number // 12}-{number % 12 + 1:02d}"


def month_of(moment: datetime) -> str:
    return moment.strftime("%Y-%m")


def weeks_to_build(now: datetime, *, restate_weeks: int) -> list[date]:
    """The week that `now` falls in and the `restate_weeks` before it, oldest first.

    The run at the end of a week (Sunday evening) builds that week's snapshot; the earlier
    weeks are rebuilt so events recorded a few days late reach their week's snapshot.
    """
    current = week_ending(now.astimezone(UTC).date())
    return [current - timedelta(weeks=n) for n in range(restate_weeks, -1, -1)]


def closed_weeks(now: datetime, *, count: int) -> list[date]:
    """The `count` latest weeks that had fully ended at `now`, oldest first."""
    latest = week_ending(now.astimezone(UTC).date())
    if week_end_instant(latest) > now:
        latest -= timedelta(weeks=1)
    return [latest - timedelta(weeks=n) for n in range(count - 1, -1, -1)]


def missing_closed_weeks(present_keys: Iterable[str], now: datetime, *, count: int) -> list[str]:
    """The `count` latest closed weeks (Sundays) with no snapshot among `present_keys`,
    ignoring weeks before the oldest snapshot (nothing was due before the first run)."""
    present = set(present_keys)
    if not present:
        return []  # the first run of a deployment: nothing was due before it
    first = min(present)
    keys = [growth_paths.snapshot_key(w.isoformat()) for w in closed_weeks(now, count=count)]
    return [k.split("week=")[1][:10] for k in keys if k >= first and k not in present]


def closed_months(now: datetime, *, count: int) -> list[str]:
    """The `count` latest calendar months that had ended at `now`, oldest first."""
    months: list[str] = []
    current = month_of(now.astimezone(UTC))
    year, number = int(current[:4]), int(current[5:7])
    for _ in range(count):
        number -= 1
        if number == 0:
            year, number = year - 1, 12
        months.append(f"{year}-{number:02d}")
    return sorted(months)


# --- replay of every account -------------------------------------------------------------


def replay_accounts(events: Iterable[Event]) -> dict[str, Replay]:
    """Every account's replay, keyed and ordered by account_id (one event per event_id)."""
    by_account: dict[str, dict[str, Event]] = defaultdict(dict)
    for event in events:
        by_account[event.account_id].setdefault(event.event_id, event)
    return {a: replay(list(by_account[a].values())) for a in sorted(by_account)}


def _state_before(replayed: Replay, moment: datetime) -> State | None:
    """The state after every event strictly before `moment`."""
    latest: State | None = None
    for state in replayed.states:
        if state.event.event_time >= moment:
            break
        latest = state
    return latest


# --- weekly snapshot ---------------------------------------------------------------------


def snapshot_table(replays: dict[str, Replay], week: date) -> pa.Table:
    """ACCOUNT_STATUS_WEEKLY rows as of the end of `week` (partition `week` included)."""
    moment = week_end_instant(week)
    rows: list[dict[str, Any]] = []
    for account_id, replayed in replays.items():
        state = _state_before(replayed, moment + ONE_MICROSECOND)
        if state is None:
            continue  # the account did not exist yet
        rows.append(
            {
                "account_id": account_id,
                "status": state.status,
                "status_inferred": state.status_inferred,
                "plan": state.event.plan,
                "seats": state.event.seats,
                "mrr_cents": state.mrr_cents,
                "last_event_time": state.event.event_time,
                "week": week.isoformat(),
            }
        )
    return _table(rows, schemas.ACCOUNT_STATUS_WEEKLY)


@dataclass(frozen=True)
class SnapshotQuality:
    accounts: int
    inferred_or_unknown: int

    @property
    def share_percent(self) -> float:
        """Share of accounts whose status is inferred or unknown; 0 for no accounts."""
        return 100.0 * self.inferred_or_unknown / self.accounts if self.accounts else 0.0


def snapshot_quality(snapshot: pa.Table) -> SnapshotQuality:
    inferred = snapshot.column("status_inferred").to_pylist()
    statuses = snapshot.column("status").to_pylist()
    flagged = sum(1 for i, s in zip(inferred, statuses, strict=True) if i or s == UNKNOWN)
    return SnapshotQuality(snapshot.num_rows, flagged)


# --- lifecycle issues --------------------------------------------------------------------


def issues_table(replays: dict[str, Replay]) -> pa.Table:
    """LIFECYCLE_ISSUES rows of every account (partition `month` of the later event)."""
    issues = [issue for replayed in replays.values() for issue in replayed.issues]
    issues.sort(key=lambda i: (i.to_event_time, i.account_id, i.to_event_id, i.missing_step))
    rows = [
        {
            "account_id": i.account_id,
            "from_event_id": i.from_event_id,
            "to_event_id": i.to_event_id,
            "from_status": i.from_status,
            "to_event_type": i.to_event_type,
            "missing_step": i.missing_step,
            "inferred_status": i.inferred_status,
            "to_event_time": i.to_event_time,
            "month": month_of(i.to_event_time),
        }
        for i in issues
    ]
    return _table(rows, schemas.LIFECYCLE_ISSUES)


# --- monthly growth ----------------------------------------------------------------------


@dataclass(frozen=True)
class AccountMonth:
    """One account's month: the bridge from start to end and what happened in between."""

    account_id: str
    month: str
    status_start: str | None
    status_end: str
    seats_start: int
    seats_end: int
    seats_added: int
    seats_removed: int
    mrr_start_cents: int
    mrr_end_cents: int
    mrr_new_cents: int
    mrr_expansion_cents: int
    mrr_contraction_cents: int
    mrr_churn_cents: int
    mrr_reactivation_cents: int
    renewal_expansion_cents: int
    came_up_for_renewal: bool
    renewed: bool

    def row(self) -> dict[str, Any]:
        values = dict(self.__dict__)
        values.pop("renewed")
        return values


def account_month(replayed: Replay, month: str) -> AccountMonth | None:
    """The account's month, or None when the account did not exist by the month's end."""
    start, end = month_start(month), month_start(next_month(month))
    at_start, at_end = _state_before(replayed, start), _state_before(replayed, end)
    if at_end is None:
        return None
    during = [s for s in replayed.states if start <= s.event.event_time < end]
    mrr_start = at_start.mrr_cents if at_start else 0
    mrr_end = at_end.mrr_cents
    paid_before = any(s.paying for s in replayed.states if s.event.event_time < start)
    added, removed = _seat_moves(at_start.paid_seats if at_start else 0, during)
    renewal_base = _renewal_base(at_start, during)
    return AccountMonth(
        account_id=replayed.account_id,
        month=month,
        status_start=at_start.status if at_start else None,
        status_end=at_end.status,
        seats_start=at_start.paid_seats if at_start else 0,
        seats_end=at_end.paid_seats,
        seats_added=added,
        seats_removed=removed,
        mrr_start_cents=mrr_start,
        mrr_end_cents=mrr_end,
        mrr_new_cents=mrr_end if not mrr_start and mrr_end and not paid_before else 0,
        mrr_expansion_cents=max(0, mrr_end - mrr_start) if mrr_start and mrr_end else 0,
        mrr_contraction_cents=max(0, mrr_start - mrr_end) if mrr_start and mrr_end else 0,
        mrr_churn_cents=mrr_start if mrr_start and not mrr_end else 0,
        mrr_reactivation_cents=mrr_end if not mrr_start and mrr_end and paid_before else 0,
        renewal_expansion_cents=max(0, mrr_end - renewal_base) if renewal_base is not None else 0,
        came_up_for_renewal=renewal_base is not None,
        renewed=any(s.event.event_type == "renewed" for s in during),
    )


def _seat_moves(seats_start: int, during: Sequence[State]) -> tuple[int, int]:
    """Paid seats added and removed, event by event (churn removes every seat)."""
    added = removed = 0
    current = seats_start
    for state in during:
        delta = state.paid_seats - current
        added += max(0, delta)
        removed += max(0, -delta)
        current = state.paid_seats
    return added, removed


def _renewal_base(at_start: State | None, during: Sequence[State]) -> int | None:
    """MRR just before the account came up for renewal this month (a renewal_due event, or
    a renewal whose renewal_due was missing and inferred); None when it did not."""
    previous = at_start
    for state in during:
        if state.event.event_type == RENEWAL_DUE or RENEWAL_DUE in state.missing_steps:
            return previous.mrr_cents if previous else 0
        previous = state
    return None


def account_months(replays: dict[str, Replay], month: str) -> list[AccountMonth]:
    months = (account_month(r, month) for r in replays.values())
    return [m for m in months if m is not None]


def account_monthly_table(rows: Sequence[AccountMonth]) -> pa.Table:
    """GROWTH_ACCOUNT_MONTHLY rows (partition `month` included), ordered by account."""
    ordered = sorted(rows, key=lambda r: (r.month, r.account_id))
    return _table([r.row() for r in ordered], schemas.GROWTH_ACCOUNT_MONTHLY)


def _ratio(numerator: int, denominator: int, reason: str) -> tuple[float | None, str | None]:
    if denominator <= 0:
        return None, reason
    return numerator / denominator, None


def monthly_row(month: str, rows: Sequence[AccountMonth]) -> dict[str, Any]:
    """One GROWTH_MONTHLY row from the month's account rows."""

    def total(name: str) -> int:
        return sum(getattr(r, name) for r in rows)

    start = total("mrr_start_cents")
    expansion, contraction = total("mrr_expansion_cents"), total("mrr_contraction_cents")
    churn = total("mrr_churn_cents")
    accounts_start = sum(1 for r in rows if r.mrr_start_cents > 0)
    churned = sum(1 for r in rows if r.mrr_churn_cents > 0)
    nrr, nrr_reason = _ratio(start + expansion - contraction - churn, start, NO_STARTING_MRR)
    grr, grr_reason = _ratio(start - contraction - churn, start, NO_STARTING_MRR)
    logo, logo_reason = _ratio(churned, accounts_start, NO_ACCOUNTS_AT_START)
    return {
        "accounts_start": accounts_start,
        "accounts_end": sum(1 for r in rows if r.mrr_end_cents > 0),
        "new_accounts": sum(1 for r in rows if r.mrr_new_cents > 0),
        "churned_accounts": churned,
        "renewed_accounts": sum(1 for r in rows if r.renewed),
        "reactivated_accounts": sum(1 for r in rows if r.mrr_reactivation_cents > 0),
        "seats_added": total("seats_added"),
        "seats_removed": total("seats_removed"),
        "mrr_start_cents": start,
        "mrr_end_cents": total("mrr_end_cents"),
        "mrr_new_cents": total("mrr_new_cents"),
        "mrr_expansion_cents": expansion,
        "mrr_contraction_cents": contraction,
        "mrr_churn_cents": churn,
        "mrr_reactivation_cents": total("mrr_reactivation_cents"),
        "renewal_expansion_cents": total("renewal_expansion_cents"),
        "nrr": nrr,
        "nrr_reason": nrr_reason,
        "grr": grr,
        "grr_reason": grr_reason,
        "logo_churn_rate": logo,
        "logo_churn_rate_reason": logo_reason,
        "month": month,
    }


def monthly_table(month: str, rows: Sequence[AccountMonth]) -> pa.Table:
    return _table([monthly_row(month, rows)], schemas.GROWTH_MONTHLY)


def _table(rows: list[dict[str, Any]], registry: schemas.Table) -> pa.Table:
    schema = registry.arrow_schema(with_partitions=True)
    return pa.Table.from_pylist(rows, schema=schema)
