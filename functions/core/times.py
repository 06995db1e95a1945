"""One way to read and to write an instant (pure).

Every instant the pipelines store or pass on is UTC, written with a trailing `Z`, so that
string order is time order:
- `format_seconds`: `2026-09-10T02:03:04Z`, AWS's own event format; event and execution
  times, acknowledgements, `computed_at`, freshness marks.
- `format_millis`: `2026-09-10T02:03:04.567Z`, where order within a second matters (the
  click pipeline's arrival and aggregation marks in the state table).
Both truncate (never round) what they leave out.

Naive input: a text without a zone or offset is refused, never guessed. Every writer of
times here (EventBridge, Step Functions inputs, the state table, these functions) writes a
zone, so a naive time is a mistake upstream: `parse_time` raises ValueError and
`parse_event_time` a ValidationError. A naive `datetime` given to a formatter is read as
the machine's local time by `astimezone`, as the standard library does; the pipelines pass
aware ones only.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Final

from functions.core.errors import ValidationError

SECONDS_FORMAT: Final = "%Y-%m-%dT%H:%M:%SZ"
_DATE_RE: Final = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def format_seconds(moment: datetime) -> str:
    """`moment` in UTC to the second, with `Z`."""
    return moment.astimezone(UTC).strftime(SECONDS_FORMAT)


def format_millis(moment: datetime) -> str:
    """`moment` in UTC to the millisecond, with `Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{moment.microsecond // 1000:03d}Z"
    )


def parse_time(text: str) -> datetime:
    """An ISO 8601 time with a zone (a trailing Z allowed) as an aware UTC datetime;
    ValueError when it is not ISO 8601 or has no zone."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"time {text!r} has no time zone")
    return moment.astimezone(UTC)


def parse_event_time(value: object) -> datetime:
    """An event's `time` as an aware UTC datetime; ValidationError (`bad_event`) when it is
    missing, not a string, not ISO 8601 or without a zone."""
    if not isinstance(value, str) or not value:
        raise ValidationError("the event needs `time` (ISO 8601 UTC)", reason="bad_event")
    try:
        return parse_time(value)
    except ValueError as exc:
        raise ValidationError(f"event time {value!r}: {exc}", reason="bad_event") from exc


def parse_date(text: str) -> date | None:
    """A data contract's date, exactly `YYYY-MM-DD` and a real day; None otherwise."""
    if not _DATE_RE.match(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def previous_month(day: date) -> str:
    """The month closed before `day` (the monthly run computes it)."""
    year, month = (day.year, day.month - 1) if day.month > 1 else (day.year - 1, 12)
    return f"{year:04d}-{month:02d}"
