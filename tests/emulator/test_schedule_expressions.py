"""AWS schedule expressions (rate, cron, at) as the emulator reads them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pablo.local.schedule_expressions import ScheduleExpressionError, parse_schedule


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def fire(expression: str, after: datetime, until: datetime, **kwargs: str) -> list[datetime]:
    return parse_schedule(expression, **kwargs).firings(after, until)  # type: ignore[arg-type]


def test_rate_fires_on_multiples_of_the_interval_in_the_half_open_range() -> None:
    # given (09:00, 12:00], when the rate is one hour
    times = fire("rate(1 hour)", utc(2026, 11, 25, 9), utc(2026, 11, 25, 12))
    # then 10:00, 11:00 and 12:00 fire; 09:00 (the start) does not
    assert times == [utc(2026, 11, 25, h) for h in (10, 11, 12)]
    assert fire("rate(1 day)", utc(2026, 11, 25, 0, 1), utc(2026, 11, 27, 0, 1)) == [
        utc(2026, 11, 26),
        utc(2026, 11, 27),
    ]
    assert len(fire("rate(15 minutes)", utc(2026, 1, 1), utc(2026, 1, 1, 1))) == 4


def test_rate_can_be_anchored_elsewhere() -> None:
    anchor = utc(2026, 11, 25, 10, 7)
    schedule = parse_schedule("rate(5 minutes)", rate_anchor=anchor)
    assert schedule.firings(utc(2026, 11, 25, 10), utc(2026, 11, 25, 10, 20)) == [
        utc(2026, 11, 25, 10, 7),
        utc(2026, 11, 25, 10, 12),
        utc(2026, 11, 25, 10, 17),
    ]


def test_daily_cron_at_two_in_the_morning() -> None:
    times = fire("cron(0 2 * * ? *)", utc(2026, 11, 25), utc(2026, 11, 28))
    assert times == [utc(2026, 11, d, 2) for d in (25, 26, 27)]


def test_day_of_week_is_one_to_seven_sunday_first() -> None:
    # given Monday = 2 in AWS cron, then 2026-11-30 (a Monday) fires
    times = fire("cron(30 6 ? * 2 *)", utc(2026, 11, 24), utc(2026, 12, 8))
    assert times == [utc(2026, 11, 30, 6, 30), utc(2026, 12, 7, 6, 30)]
    assert fire("cron(30 6 ? * MON *)", utc(2026, 11, 24), utc(2026, 12, 8)) == times
    weekdays = fire("cron(0 12 ? * MON-FRI *)", utc(2026, 11, 27), utc(2026, 12, 2))
    assert [t.day for t in weekdays] == [27, 30, 1]  # Fri 27, Mon 30, Tue 1


def test_lists_ranges_and_increments() -> None:
    times = fire("cron(0/20 8-9 * * ? *)", utc(2026, 1, 1), utc(2026, 1, 1, 23))
    assert [(t.hour, t.minute) for t in times] == [
        (8, 0), (8, 20), (8, 40), (9, 0), (9, 20), (9, 40)
    ]  # fmt: skip
    assert [t.hour for t in fire("cron(0 1,13 * * ? *)", utc(2026, 1, 1), utc(2026, 1, 2))] == [
        1,
        13,
    ]


def test_monthly_on_the_first_and_on_the_last_day() -> None:
    first = fire("cron(0 3 1 * ? *)", utc(2026, 1, 1), utc(2026, 4, 30))
    assert [t.month for t in first] == [1, 2, 3, 4]  # 1 January 03:00 is after 00:00
    assert fire("cron(0 3 1 * ? *)", utc(2025, 12, 31), utc(2026, 1, 2)) == [utc(2026, 1, 1, 3)]
    last = fire("cron(0 23 L * ? *)", utc(2026, 1, 1), utc(2026, 4, 1))
    assert [t.day for t in last] == [31, 28, 31]
    leap = fire("cron(0 23 L 2 ? *)", utc(2028, 1, 1), utc(2028, 12, 31))
    assert leap == [utc(2028, 2, 29, 23)]


def test_w_picks_the_nearest_weekday_inside_the_month() -> None:
    # 2026-08-15 is a Saturday -> Friday 14th; 2026-02-01 is a Sunday -> Monday 2nd
    assert fire("cron(0 9 15W * ? *)", utc(2026, 8, 1), utc(2026, 8, 31)) == [utc(2026, 8, 14, 9)]
    assert fire("cron(0 9 1W * ? *)", utc(2026, 2, 1), utc(2026, 2, 28)) == [utc(2026, 2, 2, 9)]
    # 2026-08-01 is a Saturday: 1W may not go back into July -> Monday 3rd
    assert fire("cron(0 9 1W * ? *)", utc(2026, 8, 1), utc(2026, 8, 31)) == [utc(2026, 8, 3, 9)]
    # the last weekday of May 2026 (31st is a Sunday) is Friday the 29th
    assert fire("cron(0 9 LW * ? *)", utc(2026, 5, 1), utc(2026, 5, 31, 23)) == [
        utc(2026, 5, 29, 9)
    ]


def test_last_and_nth_weekday_of_the_month() -> None:
    # the last Friday (6L) and the third Friday (6#3) of November 2026
    assert fire("cron(0 18 ? * 6L *)", utc(2026, 11, 1), utc(2026, 11, 30)) == [
        utc(2026, 11, 27, 18)
    ]
    assert fire("cron(0 18 ? * FRI#3 *)", utc(2026, 11, 1), utc(2026, 11, 30)) == [
        utc(2026, 11, 20, 18)
    ]
    # L alone in day-of-week is Saturday
    assert [t.day for t in fire("cron(0 0 ? * L *)", utc(2026, 11, 1), utc(2026, 11, 15))] == [
        7,
        14,
    ]


def test_year_field_limits_the_years() -> None:
    times = fire("cron(0 0 1 1 ? 2027-2028)", utc(2025, 6, 1), utc(2030, 6, 1))
    assert times == [utc(2027, 1, 1), utc(2028, 1, 1)]


def test_time_zone_shifts_cron_and_follows_daylight_saving() -> None:
    # 09:00 in New York is 14:00 UTC in winter and 13:00 UTC in summer
    winter = fire(
        "cron(0 9 * * ? *)", utc(2026, 1, 5), utc(2026, 1, 6), timezone="America/New_York"
    )
    summer = fire(
        "cron(0 9 * * ? *)", utc(2026, 7, 6), utc(2026, 7, 7), timezone="America/New_York"
    )
    assert winter == [utc(2026, 1, 5, 14)]
    assert summer == [utc(2026, 7, 6, 13)]


def test_at_fires_once() -> None:
    schedule = parse_schedule("at(2026-11-26T08:00:00)")
    assert schedule.firings(utc(2026, 11, 25), utc(2026, 11, 27)) == [utc(2026, 11, 26, 8)]
    assert schedule.firings(utc(2026, 11, 26, 8), utc(2026, 11, 27)) == []


def test_two_days_of_hourly_and_daily_firings_are_exact() -> None:
    start = utc(2026, 11, 25, 10, 30)
    end = start + timedelta(days=2)
    assert len(fire("rate(1 hour)", start, end)) == 48
    assert len(fire("cron(0 2 * * ? *)", start, end)) == 2


@pytest.mark.parametrize(
    "expression",
    [
        "cron(0 2 * * *)",  # five fields (Unix cron)
        "cron(0 2 * * * *)",  # neither day field is '?'
        "cron(0 2 ? * ? *)",  # both are
        "cron(60 2 * * ? *)",  # minute out of range
        "cron(0 2 ? * 8 *)",  # day-of-week is 1-7
        "cron(0 2 ? * 6#6 *)",
        "rate(0 minutes)",
        "rate(1 week)",
        "every day",
    ],
)
def test_bad_expressions_are_refused(expression: str) -> None:
    with pytest.raises(ScheduleExpressionError):
        parse_schedule(expression)


def test_unknown_time_zone_is_refused() -> None:
    with pytest.raises(ScheduleExpressionError, match="time zone"):
        parse_schedule("cron(0 9 * * ? *)", timezone="Mars/Olympus")
