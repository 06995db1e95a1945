"""Engagement bookkeeping in the pipeline state table, as pure data (no I/O).

One item per event day, `pk = "engagement#day"`, `sk = <YYYY-MM-DD>`:

- `aggregated_at`: when the daily workflow first published the day (ISO UTC);
- `marks`: how many ingest batches brought clicks for the day after it was aggregated;
- `clean_marks`: `marks` as the last recomputation saw it;
- `unknown_accounts`: the accounts whose clicks the last computation quarantined as
  `unknown_account` (no creating event had landed for them).

A day is dirty when `marks > clean_marks`: counters instead of a flag, so a click that lands
while the day is being recomputed keeps it dirty for the next run (a flag cleared at the end
of the run would lose it). A day is also recomputed once a creating event lands for one of
its `unknown_accounts` (a late account event is late data: its clicks join the figures and
the changed values are restated).

The newest event time landed (for the freshness SLA) is one item, `pk = "engagement#freshness"`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

from functions.core.times import parse_time

DAY_PK: Final = "engagement#day"
FRESHNESS_PK: Final = "engagement#freshness"
FRESHNESS_SK: Final = "clicks"
# Active users look back 30 days; a restated day changes WAU/MAU of the days after it.
ACTIVE_WINDOW_DAYS: Final = 30


@dataclass(frozen=True)
class DayState:
    day: date
    aggregated_at: datetime | None
    marks: int
    clean_marks: int
    # Distinct clicks kept when last aggregated; None when not recorded (older items).
    landed: int | None = None
    unknown_accounts: frozenset[str] = frozenset()

    @property
    def dirty(self) -> bool:
        return self.aggregated_at is not None and self.marks > self.clean_marks


def day_state(item: Mapping[str, Any]) -> DayState:
    """A state-table item (plain values, e.g. from `state_table.get_item`) as a DayState."""
    aggregated = item.get("aggregated_at")
    return DayState(
        day=date.fromisoformat(str(item["sk"])),
        aggregated_at=parse_time(str(aggregated)) if aggregated else None,
        marks=int(item.get("marks", 0)),
        clean_marks=int(item.get("clean_marks", 0)),
        landed=int(item["landed"]) if item.get("landed") is not None else None,
        unknown_accounts=frozenset(str(a) for a in item.get("unknown_accounts") or ()),
    )


def days_to_compute(
    now: datetime, states: Iterable[DayState], known_accounts: Collection[str] = frozenset()
) -> list[date]:
    """Yesterday (UTC, relative to `now`) plus every dirty day and every day whose
    quarantined unknown accounts now include a known one, oldest first."""
    yesterday = now.astimezone(UTC).date() - timedelta(days=1)
    known = frozenset(known_accounts)
    days = {yesterday} | {
        s.day
        for s in states
        if s.day <= yesterday and (s.dirty or (s.aggregated_at and s.unknown_accounts & known))
    }
    return sorted(days)


def awaiting_accounts(states: Iterable[DayState]) -> bool:
    """Whether any day quarantined clicks of accounts that were unknown when it ran (only
    then does planning need the known accounts)."""
    return any(s.unknown_accounts for s in states)


def active_user_days(computed: Iterable[date], *, until: date) -> list[date]:
    """Days whose DAU/WAU/MAU change when `computed` days change: each computed day and the
    days after it within the 30-day window, never after `until`."""
    days: set[date] = set()
    for day in computed:
        days.update(
            day + timedelta(days=n)
            for n in range(ACTIVE_WINDOW_DAYS)
            if day + timedelta(days=n) <= until
        )
    return sorted(days)


def date_range(start: date, end: date) -> list[date]:
    """Every day from `start` to `end`, inclusive (empty when end < start)."""
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def freshness_hours(now: datetime, newest_event: datetime | None) -> float | None:
    """Hours between `now` and the newest event time landed; None when nothing ever landed."""
    if newest_event is None:
        return None
    return max(0.0, (now - newest_event).total_seconds() / 3600)
