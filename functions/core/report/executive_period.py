"""Periods of the executive KPIs (weeks ending Sunday, calendar months) and the names of
the workflow executions that compute them. Pure.

An execution is named for its period (`monthly-2026-09`, `weekly-2026-09-27`), so Step
Functions itself refuses a second start of the same period (names are unique per state
machine); a failed period is re-run under `<name>-rerun-<n>`, and a published one recomputed after
late data under `<name>-restate-<n>`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Final

from functions.core.errors import ValidationError

WEEK: Final = "week"
MONTH: Final = "month"
GRAINS: Final = (WEEK, MONTH)
EXECUTION_PREFIX: Final = {MONTH: "monthly", WEEK: "weekly"}
RERUN_MARK: Final = "-rerun-"
RESTATE_MARK: Final = "-restate-"
_MONTH_RE: Final = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_NAME_RE: Final = re.compile(
    r"^(?P<prefix>monthly|weekly)-(?P<period>\d{4}-\d{2}(-\d{2})?)"
    r"(-(?P<kind>rerun|restate)-(?P<n>\d+))?$"
)
SUNDAY: Final = 6


@dataclass(frozen=True, order=True)
class Period:
    """One KPI period: `name` is its partition value (YYYY-MM, or the week's Sunday)."""

    grain: str
    name: str
    start: date
    end: date  # inclusive

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def end_instant(self) -> datetime:
        """The first instant after the period (exclusive bound)."""
        return datetime.combine(self.end + timedelta(days=1), datetime.min.time(), tzinfo=UTC)

    @property
    def execution_name(self) -> str:
        return f"{EXECUTION_PREFIX[self.grain]}-{self.name}"

    def dates(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range(self.days)]

    def previous(self) -> Period:
        if self.grain == WEEK:
            return week_period(self.end - timedelta(weeks=1))
        return month_period(f"{self.start - timedelta(days=1):%Y-%m}")


def month_period(month: str) -> Period:
    if not _MONTH_RE.match(month):
        raise ValidationError(f"month {month!r} is not YYYY-MM", reason="bad_period")
    start = date.fromisoformat(month + "-01")
    following = date(start.year + start.month // 12, start.month % 12 + 1, 1)
    return Period(MONTH, month, start, following - timedelta(days=1))


def week_period(sunday: date | str) -> Period:
    day = date.fromisoformat(sunday) if isinstance(sunday, str) else sunday
    if day.weekday() != SUNDAY:
        raise ValidationError(
            f"week {day.isoformat()} is not a Sunday (weeks end on Sunday)", reason="bad_period"
        )
    return Period(WEEK, day.isoformat(), day - timedelta(days=6), day)


def parse_period(grain: str, name: str) -> Period:
    if grain == MONTH:
        return month_period(name)
    if grain == WEEK:
        try:
            return week_period(name)
        except ValueError as exc:
            raise ValidationError(f"week {name!r} is not a date", reason="bad_period") from exc
    raise ValidationError(f"grain {grain!r} is not one of {GRAINS}", reason="bad_period")


def period_to_run(grain: str, now: datetime) -> Period:
    """The period a scheduled run at `now` computes: the month before `now`, or the last
    week (Monday..Sunday) that ended before `now`'s day."""
    today = now.astimezone(UTC).date()
    if grain == MONTH:
        return month_period(f"{today.replace(day=1) - timedelta(days=1):%Y-%m}")
    if grain == WEEK:
        return week_period(today - timedelta(days=(today.weekday() - SUNDAY) % 7 or 7))
    raise ValidationError(f"grain {grain!r} is not one of {GRAINS}", reason="bad_period")


def rerun_name(period: Period, attempt: int) -> str:
    """A failed period run again with its original input."""
    return f"{period.execution_name}{RERUN_MARK}{attempt}"


def restate_name(period: Period, attempt: int) -> str:
    """A published period recomputed now (late data): its changes become restatements."""
    return f"{period.execution_name}{RESTATE_MARK}{attempt}"


def period_of_execution(name: str) -> tuple[str, str, int] | None:
    """(grain, period, rerun number or 0) of an execution name this module made, else None."""
    found = _NAME_RE.match(name)
    if not found:
        return None
    grain = MONTH if found["prefix"] == "monthly" else WEEK
    return grain, found["period"], int(found["n"] or 0)
