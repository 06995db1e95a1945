"""One parse and one format of instants: precision, zone, order, and naive input refused."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from functions.core.errors import ValidationError
from functions.core.times import (
    format_millis,
    format_seconds,
    parse_date,
    parse_event_time,
    parse_time,
)

MOMENT = datetime(2026, 9, 10, 2, 3, 4, 567890, tzinfo=UTC)


def test_seconds_and_millis_truncate_and_end_in_z() -> None:
    # Given an instant with microseconds, Then each format cuts (never rounds) to its unit
    assert format_seconds(MOMENT) == "2026-09-10T02:03:04Z"
    assert format_millis(MOMENT) == "2026-09-10T02:03:04.567Z"


def test_formats_write_utc_whatever_the_zone_given() -> None:
    # Given the same instant at UTC+02:00, Then the text is the UTC one
    paris = MOMENT.astimezone(timezone(timedelta(hours=2)))
    assert format_seconds(paris) == "2026-09-10T02:03:04Z"
    assert format_millis(paris) == "2026-09-10T02:03:04.567Z"


def test_string_order_is_time_order() -> None:
    later = MOMENT + timedelta(milliseconds=1)
    assert format_millis(MOMENT) < format_millis(later)
    assert format_seconds(MOMENT) < format_seconds(MOMENT + timedelta(seconds=1))


def test_parse_reads_z_and_offsets_as_aware_utc() -> None:
    assert parse_time("2026-09-10T02:03:04.567Z") == MOMENT.replace(microsecond=567000)
    assert parse_time("2026-09-10T04:03:04+02:00") == datetime(2026, 9, 10, 2, 3, 4, tzinfo=UTC)
    assert parse_time(format_millis(MOMENT)).tzinfo is UTC


def test_naive_text_is_refused_never_guessed() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        parse_time("2026-09-10T02:03:04")
    with pytest.raises(ValidationError, match="no time zone") as raised:
        parse_event_time("2026-09-10T02:03:04")
    assert raised.value.reason == "bad_event"


@pytest.mark.parametrize("value", [None, "", 42, "yesterday"])
def test_an_event_time_missing_or_not_iso_is_a_bad_event(value: object) -> None:
    with pytest.raises(ValidationError) as raised:
        parse_event_time(value)
    assert raised.value.reason == "bad_event"


def test_an_event_time_round_trips_at_second_precision() -> None:
    text = format_seconds(MOMENT)
    assert parse_event_time(text) == MOMENT.replace(microsecond=0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-09-30", date(2026, 9, 30)),
        ("2026-09-31", None),  # no such day
        ("2026-9-30", None),  # not zero-padded
        ("20260930", None),  # ISO basic form: not the contract's
        ("2026-09-30T00:00:00", None),  # a time, not a date
        ("", None),
    ],
)
def test_a_contract_date_is_exactly_yyyy_mm_dd(text: str, expected: date | None) -> None:
    assert parse_date(text) == expected
