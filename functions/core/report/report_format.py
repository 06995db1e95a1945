"""How the executive report says things: KPI labels and units, values, changes, reasons.

Pure text formatting (stdlib only). Every function returns plain text; the HTML layer
escapes it. Money arrives as integer (or, for per-account ratios, fractional) cents and is
shown as dollars; ratios arrive as fractions and are shown as percentages.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum
from typing import Final

from functions.core import codes, schemas

# Money at or above this many dollars is shown without cents (cents are noise at that size).
WHOLE_DOLLARS_FROM: Final = Decimal(1000)


class Kind(StrEnum):
    MONEY = "money"  # cents in, dollars out
    PERCENT = "percent"  # a fraction in, a percentage out; changes in percentage points
    COUNT = "count"
    DECIMAL = "decimal"
    HOURS = "hours"


class Group(StrEnum):
    MRR = "Recurring revenue"
    RETENTION = "Retention"
    ACCOUNTS = "Accounts"
    ENGAGEMENT = "Engagement"
    PROFIT = "Profit"


@dataclass(frozen=True)
class KpiSpec:
    """How one exec_kpi column is shown. `better` is +1 when up is good, -1 when down is."""

    column: str
    label: str
    kind: Kind
    group: Group
    better: int
    headline: bool = False


# Columns of exec_kpi that describe the row rather than measure the business.
ROW_COLUMNS: Final = frozenset(
    {
        "period_start",
        "period_end",
        "missing_reasons",
        "engagement_fresh_through",
        "growth_fresh_through",
        "profit_fresh_through",
        "publication_status",
        "generated_at",
    }
)
# The KPIs are every other column of the registry's exec_kpi, in registry order.
KPI_COLUMNS: Final = tuple(c for c in schemas.EXEC_KPI.column_names if c not in ROW_COLUMNS)
# Inputs whose freshness the report shows: the `<input>_fresh_through` columns.
FRESHNESS_INPUTS: Final = tuple(
    c.removesuffix("_fresh_through")
    for c in schemas.EXEC_KPI.column_names
    if c.endswith("_fresh_through")
)

_SPECS: Final = (
    KpiSpec("mrr_cents", "MRR", Kind.MONEY, Group.MRR, +1, headline=True),
    KpiSpec("arr_cents", "ARR", Kind.MONEY, Group.MRR, +1, headline=True),
    KpiSpec("net_new_mrr_cents", "Net new MRR", Kind.MONEY, Group.MRR, +1, headline=True),
    KpiSpec("mrr_new_cents", "New MRR", Kind.MONEY, Group.MRR, +1),
    KpiSpec("mrr_expansion_cents", "Expansion MRR", Kind.MONEY, Group.MRR, +1),
    KpiSpec("mrr_reactivation_cents", "Reactivation MRR", Kind.MONEY, Group.MRR, +1),
    KpiSpec("mrr_contraction_cents", "Contraction MRR", Kind.MONEY, Group.MRR, -1),
    KpiSpec("mrr_churn_cents", "Churned MRR", Kind.MONEY, Group.MRR, -1),
    KpiSpec("nrr", "Net revenue retention", Kind.PERCENT, Group.RETENTION, +1, headline=True),
    KpiSpec("grr", "Gross revenue retention", Kind.PERCENT, Group.RETENTION, +1),
    KpiSpec("logo_churn_rate", "Logo churn", Kind.PERCENT, Group.RETENTION, -1),
    KpiSpec("active_accounts", "Active accounts", Kind.COUNT, Group.ACCOUNTS, +1, headline=True),
    KpiSpec("new_accounts", "New accounts", Kind.COUNT, Group.ACCOUNTS, +1),
    KpiSpec("churned_accounts", "Churned accounts", Kind.COUNT, Group.ACCOUNTS, -1),
    KpiSpec("dau", "Daily active users (average)", Kind.DECIMAL, Group.ENGAGEMENT, +1),
    KpiSpec("wau", "Weekly active users", Kind.COUNT, Group.ENGAGEMENT, +1),
    KpiSpec("mau", "Monthly active users", Kind.COUNT, Group.ENGAGEMENT, +1, headline=True),
    KpiSpec(
        "hours_per_active_user_day",
        "Hours per active user per day",
        Kind.HOURS,
        Group.ENGAGEMENT,
        +1,
    ),
    KpiSpec("seat_utilisation", "Seat utilisation", Kind.PERCENT, Group.ENGAGEMENT, +1),
    KpiSpec("revenue_cents", "Revenue", Kind.MONEY, Group.PROFIT, +1, headline=True),
    KpiSpec("expenses_cents", "Expenses", Kind.MONEY, Group.PROFIT, -1),
    KpiSpec("salaries_cents", "Salaries", Kind.MONEY, Group.PROFIT, -1),
    KpiSpec("profit_cents", "Profit", Kind.MONEY, Group.PROFIT, +1, headline=True),
    KpiSpec("unit_profit_cents", "Profit per paying account", Kind.MONEY, Group.PROFIT, +1),
    KpiSpec("cost_per_account_cents", "Cost per paying account", Kind.MONEY, Group.PROFIT, -1),
)


def _fallback_spec(column: str) -> KpiSpec:
    """A KPI added to the registry after this module still shows, labelled by its description."""
    col = schemas.EXEC_KPI.column(column)
    kind = (
        Kind.MONEY
        if column.endswith("_cents")
        else Kind.COUNT
        if col.type == "bigint"
        else Kind.DECIMAL
    )
    return KpiSpec(column, col.description, kind, Group.PROFIT, 0)


# In the report's reading order; a registry KPI this module does not know yet comes last.
KPI_SPECS: Final[tuple[KpiSpec, ...]] = tuple(s for s in _SPECS if s.column in KPI_COLUMNS) + tuple(
    _fallback_spec(c) for c in KPI_COLUMNS if c not in {s.column for s in _SPECS}
)
SPEC_BY_COLUMN: Final = {s.column: s for s in KPI_SPECS}

# Reason codes of the pipelines in words an executive reads; unknown codes are spelled out.
REASON_WORDS: Final[dict[str, str]] = {
    codes.NO_SUBSCRIBERS: "no subscribers",
    codes.NO_STARTING_MRR: "no MRR at period start",
    codes.NO_ACCOUNTS_AT_START: "no paying accounts at period start",
    codes.NO_ACTIVITY: "no activity",
    codes.NO_SEATS: "no licensed seats",
    codes.NO_DATA: "no data",
    "no_revenue": "no revenue",
    codes.UPSTREAM_STALE: "upstream stale",
    codes.UPSTREAM_INCOMPLETE: "upstream incomplete",
    codes.PARTIAL_PERIOD: "data starts after the period's first day",
    "upstream_missing": "upstream missing",
    codes.MISSING_LEDGER: "ledger total missing",
    codes.LATE_DATA: "late data arrived",
    codes.BACKFILL_REASON: "upstream backfill",
    codes.CORRECTION: "correction",
    codes.MATCHED: "matched the ledger",
    codes.MISMATCHED: "differs from the ledger",
}


def reason_words(code: str) -> str:
    return REASON_WORDS.get(code, code.replace("_", " ").strip() or "no reason given")


# --- values ------------------------------------------------------------------------------


def _decimal(value: float | int) -> Decimal:
    return Decimal(value) if isinstance(value, int) else Decimal(repr(float(value)))


def money(cents: float | int) -> str:
    """Cents as dollars: `$1,234,567` from $1,000 up, `$12.34` below; `-$5.00` when negative."""
    dollars = _decimal(cents) / 100
    sign = "-" if dollars < 0 else ""
    dollars = abs(dollars)
    if dollars >= WHOLE_DOLLARS_FROM:
        return f"{sign}${dollars.quantize(Decimal(1), ROUND_HALF_EVEN):,}"
    return f"{sign}${dollars.quantize(Decimal('0.01'), ROUND_HALF_EVEN):,}"


def format_value(kind: Kind, value: float | int) -> str:
    if kind is Kind.MONEY:
        return money(value)
    if kind is Kind.PERCENT:
        return f"{value * 100:.1f}%"
    if kind is Kind.COUNT:
        return f"{round(value):,}"
    if kind is Kind.HOURS:
        return f"{value:,.2f} h"
    return f"{value:,.1f}"


def format_metric(metric: str, value: float | int | None) -> str:
    """A restated metric's value: KPI format when it is a KPI, money for `*_cents`."""
    if value is None:
        return "not reported"
    spec = SPEC_BY_COLUMN.get(metric)
    if spec is not None:
        return format_value(spec.kind, value)
    if metric.endswith("_cents"):
        return money(value)
    return f"{value:,.4g}" if isinstance(value, float) else f"{value:,}"


class Direction(StrEnum):
    UP = "up"
    DOWN = "down"
    FLAT = "flat"
    NONE = "none"  # no comparison possible


ARROWS: Final = {Direction.UP: "▲", Direction.DOWN: "▼", Direction.FLAT: "=", Direction.NONE: ""}


@dataclass(frozen=True)
class Change:
    direction: Direction
    text: str  # e.g. "+4.2%", "-1.3 pp", "no previous period"
    tone: str  # good, bad, neutral


def change(
    spec: KpiSpec, current: float | int | None, previous: float | int | None, *, why: str
) -> Change:
    """Change against the previous period; `why` says why there is none when previous is None."""
    if current is None:
        return Change(Direction.NONE, "not reported this period", "neutral")
    if previous is None:
        return Change(Direction.NONE, why, "neutral")
    delta = float(current) - float(previous)
    direction = Direction.UP if delta > 0 else Direction.DOWN if delta < 0 else Direction.FLAT
    tone = _tone(spec.better, direction)
    if spec.kind is Kind.PERCENT:
        return Change(direction, f"{_small(delta * 100)} pp", tone)
    if previous == 0:
        return Change(direction, f"from 0 ({_signed(spec, delta)})", tone)
    pct = delta / abs(float(previous)) * 100
    return Change(direction, f"{_small(pct)}%", tone)


def _small(number: float) -> str:
    """Signed, one decimal; two when one would round a real change to zero."""
    return f"{number:+.2f}" if 0 < abs(number) < 0.05 else f"{number:+.1f}"


def _signed(spec: KpiSpec, delta: float) -> str:
    text = format_value(spec.kind, abs(delta))
    return ("+" if delta >= 0 else "-") + text


def _tone(better: int, direction: Direction) -> str:
    if better == 0 or direction in (Direction.FLAT, Direction.NONE):
        return "neutral"
    up_is_good = better > 0
    return "good" if (direction is Direction.UP) == up_is_good else "bad"


def is_finite_number(value: object) -> bool:
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


# --- time --------------------------------------------------------------------------------


def period_label(grain: str, period: str) -> str:
    """`September 2026` for a month, `Week ending Sunday 27 September 2026` for a week."""
    if grain == "month":
        return datetime.strptime(period, "%Y-%m").strftime("%B %Y")
    day = date.fromisoformat(period)
    return f"Week ending {day.strftime('%A')} {day.day} {day.strftime('%B %Y')}"


def short_period_label(grain: str, period: str) -> str:
    """Chart axis label: `Sep 2026` or `27 Sep`."""
    if grain == "month":
        return datetime.strptime(period, "%Y-%m").strftime("%b %Y")
    day = date.fromisoformat(period)
    return f"{day.day} {day.strftime('%b %Y')}"


def axis_period_label(grain: str, period: str) -> str:
    """Two-line chart axis label (`Sep<br>2026`, `27<br>Sep`) so a narrow chart needs no tilt."""
    if grain == "month":
        return datetime.strptime(period, "%Y-%m").strftime("%b<br>%Y")
    day = date.fromisoformat(period)
    return f"{day.day}<br>{day.strftime('%b')}"


def instant(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")
