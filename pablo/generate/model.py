"""Parameters, prices and small helpers shared by the generator's modules.

Everything here is deterministic: ids come from the generator's `random.Random`, times
from the configured window, never from the wall clock.
"""

from __future__ import annotations

import calendar
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from functions.core.errors import ConfigurationError
from functions.core.schemas import REPORTING_CURRENCY

GENERATOR_VERSION = 1
CURRENCY = REPORTING_CURRENCY

# Per-seat monthly list price, integer cents of USD. mrr_cents = seats x price.
PRICE_PER_SEAT_CENTS: dict[str, int] = {"starter": 2000, "team": 3500, "business": 6000}

MIN_ACCOUNTS = 8  # the scripted lifecycle cases need this many accounts
MIN_DAYS = 7
HISTORY_DAYS = 540  # account history starts up to ~18 months before --start

# Statuses derived from account event types (the Growth pipeline owns the formal machine).
PAYING_STATUSES = frozenset({"active", "renewal_due", "cancelled"})
ACCESS_STATUSES = PAYING_STATUSES | {"trial"}

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class GeneratorConfig:
    seed: int = 7
    accounts: int = 60
    start: date = date(2026, 9, 1)
    days: int = 61
    clicks_per_user_day: float = 4.0  # mean clicks of a user on a day they are active

    def __post_init__(self) -> None:
        if self.accounts < MIN_ACCOUNTS:
            raise ConfigurationError(f"--accounts must be at least {MIN_ACCOUNTS}")
        if self.days < MIN_DAYS:
            raise ConfigurationError(f"--days must be at least {MIN_DAYS}")
        if not 0.5 <= self.clicks_per_user_day <= 100_000:
            raise ConfigurationError("--clicks-per-user-day must be between 0.5 and 100000")

    @property
    def window_start(self) -> datetime:
        return datetime(self.start.year, self.start.month, self.start.day, tzinfo=UTC)

    @property
    def window_end(self) -> datetime:
        """Exclusive end of the generated window."""
        return self.window_start + self.days * DAY

    @property
    def last_day(self) -> date:
        return self.start + timedelta(days=self.days - 1)

    def day(self, index: int) -> date:
        return self.start + timedelta(days=index)

    def months(self) -> list[str]:
        """Every calendar month the window touches, YYYY-MM, in order."""
        out: list[str] = []
        for i in range(self.days):
            m = month_of(self.day(i))
            if not out or out[-1] != m:
                out.append(m)
        return out

    def as_dict(self) -> dict[str, object]:
        return {
            "seed": self.seed,
            "accounts": self.accounts,
            "start": self.start.isoformat(),
            "days": self.days,
            "clicks_per_user_day": self.clicks_per_user_day,
            "generator_version": GENERATOR_VERSION,
        }


def month_of(d: date | datetime) -> str:
    return f"{d.year:04d}-{d.month:02d}"


def month_bounds(month: str) -> tuple[date, date]:
    """First and last day of a YYYY-MM month."""
    year, mon = int(month[:4]), int(month[5:7])
    return date(year, mon, 1), date(year, mon, calendar.monthrange(year, mon)[1])


def days_in_month(d: date) -> int:
    return calendar.monthrange(d.year, d.month)[1]


def add_years(t: datetime, years: int) -> datetime:
    """Same month/day `years` later (29 February becomes 28 February)."""
    try:
        return t.replace(year=t.year + years)
    except ValueError:
        return t.replace(year=t.year + years, day=28)


def iso_z(t: datetime) -> str:
    """ISO-8601 UTC with a Z suffix, whole seconds: the contract's timestamp format."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def epoch_ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def from_epoch_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def day_start(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def new_uuid(rng: random.Random) -> str:
    """A version-4 UUID drawn from the generator's random stream (reproducible)."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def working_time(
    rng: random.Random, d: date, *, start_hour: int = 8, end_hour: int = 18
) -> datetime:
    """A whole-second UTC time on day `d` between the given hours."""
    seconds = rng.randrange(start_hour * 3600, end_hour * 3600)
    return day_start(d) + timedelta(seconds=seconds)
