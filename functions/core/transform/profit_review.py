"""The monthly review SLA: each closed month is signed off within N days of its end (pure)."""

from __future__ import annotations

import json
from calendar import monthrange
from datetime import UTC, date, datetime, timedelta
from typing import Any

from functions.core.errors import ValidationError
from functions.core.times import previous_month

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


def figures_json(value: Any) -> str:
    """The month's reconciliation as the text a sign-off covers (sorted keys: one text per
    set of figures)."""
    return json.dumps(value, sort_keys=True, default=str)


def signed_off_figures(signed: dict[str, Any] | None, figures: str) -> bool:
    """Whether the latest sign-off covers `figures` (the month's reconciliation now)."""
    return signed is not None and signed.get("figures") == figures


def signoff_item(
    *, month: str, by: str, note: str, at: datetime, figures: str, latest: dict[str, Any] | None
) -> dict[str, Any]:
    """A sign-off of `figures` (without its partition key), appended after `latest`. The
    same figures signed off again are refused; figures that changed since the latest
    sign-off get an entry of their own, the earlier ones kept."""
    if signed_off_figures(latest, figures):
        assert latest is not None
        raise ValidationError(
            f"{month} was signed off with these figures by {latest['by']} at {latest['at']}",
            reason="already_signed_off",
        )
    stamp = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {
        "sk": f"{month}#{stamp}",
        "month": month,
        "by": by,
        "note": note,
        "at": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "figures": figures,
    }
