"""EventBridge schedule expressions (pure): rate(), cron() and at(), and when they fire.

AWS cron has six fields, `Minutes Hours Day-of-month Month Day-of-week Year`, and differs
from Unix cron (which is why no Unix cron library is used):

- day-of-week runs 1-7 = SUN-SAT (names SUN..SAT accepted);
- exactly one of day-of-month and day-of-week is `?` (the other one decides);
- `L` in day-of-month is the month's last day, `LW` its last weekday, `15W` the weekday
  nearest the 15th without leaving the month; in day-of-week `L` alone is Saturday
  (day 7), `5L` the month's last Thursday, `6#3` its third Friday;
- `,` lists, `-` ranges, `/` increments and `*` work in every field but `?`.

Rates are anchored at a fixed instant (the epoch unless told otherwise), so `rate(1 day)`
fires at 00:00 UTC: AWS anchors a rule's rate at its creation time, which the EventBridge
API does not return. Cron and at() expressions can take an IANA time zone (EventBridge
Scheduler's ScheduleExpressionTimezone); rules are always UTC.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Final, Protocol
from zoneinfo import ZoneInfo

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
MONTH_NAMES: Final = {
    name: number
    for number, name in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], 1
    )
}
DAY_NAMES: Final = {
    name: number for number, name in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], 1)
}
RATE_UNITS: Final = {"minute": 60, "hour": 3600, "day": 86400}
_RATE: Final = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_CRON: Final = re.compile(r"^cron\((.*)\)$")
_AT: Final = re.compile(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")
_SATURDAY: Final = 7

DayRule = Callable[[date], bool]


class ScheduleExpressionError(ValueError):
    """A schedule expression that AWS would refuse (or that this module cannot read)."""


class Schedule(Protocol):
    def firings(self, after: datetime, until: datetime) -> list[datetime]:
        """Every firing time in (after, until], oldest first, as aware UTC datetimes."""
        ...


@dataclass(frozen=True)
class RateSchedule:
    seconds: int
    anchor: datetime = EPOCH

    def firings(self, after: datetime, until: datetime) -> list[datetime]:
        step = timedelta(seconds=self.seconds)
        elapsed = (after - self.anchor).total_seconds()
        k = max(0, int(elapsed // self.seconds) + 1)
        found = []
        moment = self.anchor + step * k
        while moment <= until:
            if moment > after:
                found.append(moment)
            moment += step
        return found


@dataclass(frozen=True)
class AtSchedule:
    moment: datetime

    def firings(self, after: datetime, until: datetime) -> list[datetime]:
        return [self.moment] if after < self.moment <= until else []


@dataclass(frozen=True)
class CronSchedule:
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    day_rule: DayRule
    months: frozenset[int]
    years: frozenset[int] | None
    zone: ZoneInfo

    def matches_day(self, day: date) -> bool:
        if self.years is not None and day.year not in self.years:
            return False
        return day.month in self.months and self.day_rule(day)

    def firings(self, after: datetime, until: datetime) -> list[datetime]:
        first_day = after.astimezone(self.zone).date()
        last_day = until.astimezone(self.zone).date()
        found = []
        day = first_day
        while day <= last_day:
            if self.matches_day(day):
                for hour in self.hours:
                    for minute in self.minutes:
                        local = datetime(
                            day.year, day.month, day.day, hour, minute, tzinfo=self.zone
                        )
                        moment = local.astimezone(UTC)
                        if after < moment <= until:
                            found.append(moment)
            day += timedelta(days=1)
        return sorted(found)


def parse_schedule(
    expression: str, *, timezone: str = "UTC", rate_anchor: datetime = EPOCH
) -> Schedule:
    """The schedule of a rate(), cron() or at() expression (ScheduleExpressionError if bad)."""
    text = expression.strip()
    zone = _zone(timezone)
    if match := _RATE.match(text):
        value, unit = int(match.group(1)), match.group(2).rstrip("s")
        if value <= 0:
            raise ScheduleExpressionError(f"{expression}: the rate must be positive")
        return RateSchedule(value * RATE_UNITS[unit], rate_anchor.astimezone(UTC))
    if match := _CRON.match(text):
        return parse_cron(match.group(1), zone)
    if match := _AT.match(text):
        local = datetime.fromisoformat(match.group(1)).replace(tzinfo=zone)
        return AtSchedule(local.astimezone(UTC))
    raise ScheduleExpressionError(f"{expression!r} is not a rate(), cron() or at() expression")


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (KeyError, ValueError) as exc:
        raise ScheduleExpressionError(f"unknown time zone {name!r}") from exc


def parse_cron(body: str, zone: ZoneInfo) -> CronSchedule:
    """The six AWS cron fields (without the surrounding `cron(...)`)."""
    fields = body.split()
    if len(fields) != 6:
        raise ScheduleExpressionError(f"cron({body}) needs 6 fields, got {len(fields)}")
    minute, hour, day_of_month, month, day_of_week, year = (f.upper() for f in fields)
    if (day_of_month == "?") == (day_of_week == "?"):
        raise ScheduleExpressionError(
            f"cron({body}): exactly one of day-of-month and day-of-week must be '?'"
        )
    day_rule = (
        _day_of_week_rule(day_of_week) if day_of_month == "?" else _day_of_month_rule(day_of_month)
    )
    return CronSchedule(
        minutes=tuple(sorted(_values(minute, 0, 59, {}))),
        hours=tuple(sorted(_values(hour, 0, 23, {}))),
        day_rule=day_rule,
        months=frozenset(_values(month, 1, 12, MONTH_NAMES)),
        years=None if year == "*" else frozenset(_values(year, 1970, 2199, {})),
        zone=zone,
    )


def _values(field: str, low: int, high: int, names: dict[str, int]) -> set[int]:
    """The numbers a field with `*`, `,`, `-` and `/` stands for."""
    found: set[int] = set()
    for part in field.split(","):
        span, _, step_text = part.partition("/")
        step = _number(step_text, names) if step_text else 1
        if step <= 0:
            raise ScheduleExpressionError(f"{field!r}: the increment must be positive")
        if span == "*":
            start, end = low, high
        elif "-" in span:
            start_text, end_text = span.split("-", 1)
            start, end = _number(start_text, names), _number(end_text, names)
        else:
            start = _number(span, names)
            end = high if step_text else start
        if not low <= start <= high or not low <= end <= high or start > end:
            raise ScheduleExpressionError(f"{field!r} is outside {low}-{high}")
        found.update(range(start, end + 1, step))
    return found


def _number(text: str, names: dict[str, int]) -> int:
    if text in names:
        return names[text]
    if not text.isdigit():
        raise ScheduleExpressionError(f"{text!r} is not a number")
    return int(text)


def _aws_weekday(day: date) -> int:
    """1-7 = SUN-SAT, as AWS cron numbers days."""
    return (day.isoweekday() % 7) + 1


def _last_day(day: date) -> int:
    return calendar.monthrange(day.year, day.month)[1]


def _nearest_weekday(day: date, target: int) -> int:
    """The day of the month of the weekday nearest `target`, staying inside the month."""
    last = _last_day(day)
    target = min(target, last)
    weekday = date(day.year, day.month, target).weekday()  # Monday = 0
    if weekday == 5:  # Saturday: Friday before, or Monday after if the 1st
        return target - 1 if target > 1 else target + 2
    if weekday == 6:  # Sunday: Monday after, or Friday before if the month's last day
        return target + 1 if target < last else target - 2
    return target


def _day_of_month_rule(field: str) -> DayRule:
    if field == "L":
        return lambda day: day.day == _last_day(day)
    if field == "LW":
        return lambda day: day.day == _nearest_weekday(day, _last_day(day))
    if field.endswith("W"):
        target = _number(field[:-1], {})
        if not 1 <= target <= 31:
            raise ScheduleExpressionError(f"{field!r}: W needs a day 1-31")
        return lambda day: day.day == _nearest_weekday(day, target)
    days = _values(field, 1, 31, {})
    return lambda day: day.day in days


def _day_of_week_rule(field: str) -> DayRule:
    if field == "L":
        return lambda day: _aws_weekday(day) == _SATURDAY
    if field.endswith("L"):
        weekday = _number(field[:-1], DAY_NAMES)
        _check_weekday(weekday, field)
        return lambda day: _aws_weekday(day) == weekday and day.day + 7 > _last_day(day)
    if "#" in field:
        weekday_text, _, nth_text = field.partition("#")
        weekday, nth = _number(weekday_text, DAY_NAMES), _number(nth_text, {})
        _check_weekday(weekday, field)
        if not 1 <= nth <= 5:
            raise ScheduleExpressionError(f"{field!r}: # needs an occurrence 1-5")
        return lambda day: _aws_weekday(day) == weekday and (day.day - 1) // 7 + 1 == nth
    weekdays = _values(field, 1, 7, DAY_NAMES)
    return lambda day: _aws_weekday(day) in weekdays


def _check_weekday(weekday: int, field: str) -> None:
    if not 1 <= weekday <= 7:
        raise ScheduleExpressionError(f"{field!r}: day-of-week is 1-7 (SUN-SAT)")
