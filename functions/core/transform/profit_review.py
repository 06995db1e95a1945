"""The monthly review SLA: each closed month is signed off within N days of its end (pure)."""

from __future__ import annotations

from calendar import monthrange
from datetime import date, timedelta

from functions.core.transform.profit import previous_month

# Days after month end within which an accountant signs the month off (run book: "numbers
# will be reviewed once a month"); the deployment may set another value.
DEFAULT_REVIEW_DAYS = 10


def month_end(month: str) -> date:
    year, mon = (int(p) for p in month.split("-"))
    return date(year, mon, monthrange(year, mon)[1])


def review_deadline(month: str, review_days: int) -> date:
    """The last day on which the month may still be signed off in time."""
    return month_end(month) + timedelta(days=review_days)


def months_to_check(today: date, *, lookback: int = 3) -> list[str]:
    """The `lookback` most recent closed months, newest first."""
    months: list[str] = []
    day = today
    for _ in range(lookback):
        month = previous_month(day)
        months.append(month)
        day = date.fromisoformat(f"{month}-01")
    return months


def overdue_months(
    today: date, *, computed: set[str], signed_off: set[str], review_days: int
) -> list[str]:
    """Closed months the pipeline computed that nobody signed off by their deadline."""
    return sorted(
        month
        for month in months_to_check(today)
        if month in computed
        and month not in signed_off
        and today > review_deadline(month, review_days)
    )
