"""The freshness gate of the executive workflows: is every upstream input of a period
there, complete and clean? Pure: the adapters read the state, this decides.

- engagement: every day of the period aggregated by the daily workflow and none dirty
  (a click landed after the day was published and the day was not recomputed yet);
  fresh through = the end of the last day up to which every day is aggregated and clean.
- growth: the period's growth tables exist (month: growth_monthly and
  growth_account_monthly; week: the account_status_weekly snapshots of the week and of
  the week before, which the weekly movements compare).
- profit (months only; profit is monthly): the month's profit_monthly partition exists.

A stale input names the backfill that repairs it (the upstream workflow's input) and its
version (engagement: the stale days with their late-data marks); the gate runs one backfill
at a time per execution and starts another only for a new version (a day dirtied again
while it waited), waits and checks again, a bounded number of times.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from functions.core import definitions
from functions.core.backfills import ENGAGEMENT, GROWTH, PROFIT
from functions.core.codes import BACKFILL_REASON, DIRTY_PARTITIONS, UPSTREAM_STALE
from functions.core.engagement_state import DayState
from functions.core.report.executive_period import MONTH, WEEK, Period
from functions.core.times import format_seconds


@dataclass(frozen=True)
class UpstreamCheck:
    upstream: str
    fresh: bool
    fresh_through: datetime | None
    reason: str | None = None  # upstream_stale or dirty_partitions when not fresh
    detail: str = ""
    backfill: dict[str, Any] = field(default_factory=dict)  # the upstream workflow's input
    # What the backfill covers, as of this check ("" for one backfill per run): a new
    # version, e.g. a late click landing on a day after its backfill started, starts another.
    backfill_version: str = ""
    # The input's data starts on or before the period's first day (definitions.covers): a
    # period whose data starts later is fresh but partial, never final.
    covered: bool = True

    def as_json(self) -> dict[str, Any]:
        return {
            "upstream": self.upstream,
            "fresh": self.fresh,
            "covered": self.covered,
            "fresh_through": format_seconds(self.fresh_through) if self.fresh_through else None,
            "reason": self.reason,
            "detail": self.detail,
        }


def _day_end(day: date) -> datetime:
    return Period(MONTH, "", day, day).end_instant


def engagement_check(
    period: Period, states: Iterable[DayState], *, now: datetime, run_id: str
) -> UpstreamCheck:
    by_day = {s.day: s for s in states}
    missing = [
        d for d in period.dates() if by_day.get(d) is None or by_day[d].aggregated_at is None
    ]
    dirty = [d for d in period.dates() if d in by_day and by_day[d].dirty]
    through: datetime | None = None
    for day in period.dates():
        if day in missing or day in dirty:
            break
        through = _day_end(day)
    if not missing and not dirty:
        covered = definitions.covers(_first_data_day(by_day.values()), period.start)
        detail = "" if covered else f"engagement data starts after {period.start.isoformat()}"
        return UpstreamCheck(ENGAGEMENT, True, through, detail=detail, covered=covered)
    days = sorted(missing + dirty)
    reason = DIRTY_PARTITIONS if dirty and not missing else UPSTREAM_STALE
    # Each day with its late-data mark count: the same stale state while a backfill runs
    # gives the same version (no second backfill), a mark landing since gives a new one.
    marks = ",".join(f"{d}:{by_day[d].marks if d in by_day else 0}" for d in days)
    parts = []
    if missing:
        parts.append(f"{len(missing)} day(s) not aggregated ({_span(missing)})")
    if dirty:
        parts.append(f"{len(dirty)} dirty day(s) ({_span(dirty)})")
    return UpstreamCheck(
        ENGAGEMENT,
        False,
        through,
        reason,
        f"engagement for {period.grain} {period.name}: " + "; ".join(parts),
        {
            "time": format_seconds(now),
            "days": [d.isoformat() for d in days],
            "reason": BACKFILL_REASON,
            "run_id": run_id,
        },
        hashlib.sha256(marks.encode()).hexdigest()[:12],
    )


def _first_data_day(states: Iterable[DayState]) -> date | None:
    """The first day with clicks (a day aggregated with none, e.g. backfilled before the
    data starts, is not data); a day of an item that predates the count counts as data."""
    days = [s.day for s in states if s.aggregated_at is not None and s.landed != 0]
    return min(days) if days else None


def growth_check(period: Period, present: Mapping[str, bool], *, now: datetime) -> UpstreamCheck:
    """`present`: which growth partitions exist, keyed `month:<M>` / `week:<Sunday>`."""
    if period.grain == MONTH:
        wanted = [f"month:{period.name}"]
    else:
        wanted = [f"week:{period.name}", f"week:{period.previous().name}"]
    absent = [w for w in wanted if not present.get(w)]
    if not absent:
        return UpstreamCheck(GROWTH, True, period.end_instant)
    return UpstreamCheck(
        GROWTH,
        False,
        None,
        UPSTREAM_STALE,
        f"growth for {period.grain} {period.name}: missing " + ", ".join(absent),
        {"time": format_seconds(max(now, period.end_instant))},
    )


def profit_check(period: Period, *, present: bool, now: datetime) -> UpstreamCheck | None:
    """None for weeks: profit is computed per month only."""
    if period.grain == WEEK:
        return None
    if present:
        return UpstreamCheck(PROFIT, True, period.end_instant)
    return UpstreamCheck(
        PROFIT,
        False,
        None,
        UPSTREAM_STALE,
        f"profit for month {period.name}: profit_monthly partition missing",
        {"time": format_seconds(max(now, period.end_instant)), "month": period.name},
    )


@dataclass(frozen=True)
class GateDecision:
    checks: tuple[UpstreamCheck, ...]
    attempt: int
    max_attempts: int

    @property
    def fresh(self) -> bool:
        return all(c.fresh for c in self.checks)

    @property
    def stale(self) -> list[UpstreamCheck]:
        return [c for c in self.checks if not c.fresh]

    @property
    def give_up(self) -> bool:
        return not self.fresh and self.attempt >= self.max_attempts

    @property
    def cause(self) -> str:
        if self.fresh:
            return ""
        names = ", ".join(c.upstream for c in self.stale)
        return f"stale upstream input(s): {names} after {self.attempt} check(s); " + " | ".join(
            c.detail for c in self.stale
        )


def _span(days: list[date]) -> str:
    days = sorted(days)
    if len(days) == 1:
        return days[0].isoformat()
    return f"{days[0].isoformat()}..{days[-1].isoformat()}"
