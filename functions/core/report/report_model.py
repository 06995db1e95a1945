"""What the executive report shows, as plain data: validated inputs and display rows.

Pure (pyarrow + stdlib). `load_inputs` checks the tables against the registry and raises
ValidationError on anything the report could only show wrongly (a KPI that is NaN, a null
KPI without its reason, a period missing or given twice). The `*_rows` helpers turn the
validated rows into text the HTML layer lays out; none of them returns a blank or NaN.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

import pyarrow as pa

from functions.core import schemas
from functions.core.codes import FINAL, MATCHED, PRELIMINARY, SIGNED_OFF
from functions.core.errors import ValidationError
from functions.core.report.report_format import (
    ARROWS,
    FRESHNESS_INPUTS,
    KPI_SPECS,
    SPEC_BY_COLUMN,
    Change,
    KpiSpec,
    format_metric,
    format_value,
    instant,
    is_finite_number,
    money,
    reason_words,
)
from functions.core.report.report_format import change as kpi_change

GRAINS: Final = ("week", "month")
_PERIOD_PATTERN: Final = {
    "month": re.compile(r"\d{4}-\d{2}"),
    "week": re.compile(r"\d{4}-\d{2}-\d{2}"),
}
SUNDAY: Final = 6

Row = dict[str, Any]


# --- validation --------------------------------------------------------------------------


def check_period(grain: str, period: str) -> None:
    if grain not in GRAINS:
        raise ValidationError(f"grain must be one of {GRAINS}, got {grain!r}", reason="bad_grain")
    if not _PERIOD_PATTERN[grain].fullmatch(period):
        raise ValidationError(f"{grain} period {period!r} is not well formed", reason="bad_period")
    try:
        day = (
            datetime.strptime(period, "%Y-%m").date()
            if grain == "month"
            else date.fromisoformat(period)
        )
    except ValueError as exc:
        raise ValidationError(f"{grain} period {period!r}: {exc}", reason="bad_period") from exc
    if grain == "week" and day.weekday() != SUNDAY:
        raise ValidationError(
            f"week {period} must be the Sunday ending the week", reason="bad_period"
        )


def conform(table: pa.Table, registry: schemas.Table, *, what: str) -> list[Row]:
    """Rows of `table` cast to the registry's schema; its partition columns are optional."""
    schema = registry.arrow_schema(with_partitions=True)
    missing = [c for c in registry.column_names if c not in table.column_names]
    if missing:
        raise ValidationError(f"{what} lacks columns {missing}", reason="schema_mismatch")
    fields = [f for f in schema if f.name in table.column_names]
    try:
        cast = table.select([f.name for f in fields]).cast(pa.schema(fields))
    except (ValueError, pa.ArrowNotImplementedError) as exc:  # also nulls in required columns
        raise ValidationError(
            f"{what} does not match its schema: {exc}", reason="schema_mismatch"
        ) from exc
    rows: list[Row] = cast.to_pylist()
    return rows


def _period_of(grain: str, row: Row) -> str:
    if row.get("period"):
        return str(row["period"])
    if grain == "month":
        return str(row["period_start"].strftime("%Y-%m"))
    return str(row["period_end"].isoformat())


def _check_kpi_row(row: Row) -> None:
    period = row["period"]
    reasons = row["missing_reasons"]
    for spec in KPI_SPECS:
        value = row[spec.column]
        if value is None:
            if not reasons.get(spec.column):
                raise ValidationError(
                    f"exec_kpi {period}: {spec.column} is null with no reason in missing_reasons",
                    reason="missing_reason",
                )
        elif not is_finite_number(value):
            raise ValidationError(
                f"exec_kpi {period}: {spec.column} is {value!r}; KPIs are finite or null",
                reason="not_finite",
            )


def kpi_history(kpis: pa.Table, *, grain: str, period: str) -> list[Row]:
    """The exec_kpi rows of `grain` up to `period`, oldest first; the last one is `period`."""
    check_period(grain, period)
    rows = [
        dict(r, missing_reasons=_as_dict(r["missing_reasons"]))
        for r in conform(kpis, schemas.EXEC_KPI, what="exec_kpi")
    ]
    if any(r.get("grain", grain) != grain for r in rows):
        raise ValidationError(f"exec_kpi rows of another grain than {grain}", reason="bad_grain")
    for row in rows:
        row["period"] = _period_of(grain, row)
    periods = [r["period"] for r in rows]
    duplicated = sorted({p for p in periods if periods.count(p) > 1})
    if duplicated:
        raise ValidationError(f"exec_kpi repeats periods {duplicated}", reason="duplicate_period")
    history = sorted((r for r in rows if r["period"] <= period), key=lambda r: r["period"])
    if not history or history[-1]["period"] != period:
        raise ValidationError(f"exec_kpi has no row for {grain} {period}", reason="missing_period")
    for row in history:
        _check_kpi_row(row)
    return history


def _as_dict(value: Any) -> dict[str, str]:
    """Arrow maps arrive as lists of (key, value) pairs."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    return {str(k): str(v) for k, v in value}


# --- KPI rows ----------------------------------------------------------------------------


@dataclass(frozen=True)
class KpiRow:
    """One KPI of the report's period: its value, or the reason it has none."""

    spec: KpiSpec
    value: float | int | None
    text: str  # the value formatted, or the reason in words
    reason_code: str | None  # set exactly when value is None
    previous_text: str
    change: Change
    restated_from: str | None  # the value published before a restatement, formatted

    @property
    def missing(self) -> bool:
        return self.value is None

    @property
    def arrow(self) -> str:
        return ARROWS[self.change.direction]


def kpi_display_rows(history: Sequence[Row], *, restatements: Sequence[Row] = ()) -> list[KpiRow]:
    """One row per KPI for the last period of `history` (validated by `kpi_history`)."""
    current = history[-1]
    previous = history[-2] if len(history) > 1 else None
    restated = _latest_restatements(restatements, period=current["period"])
    rows = []
    for spec in KPI_SPECS:
        value = current[spec.column]
        reason = None if value is not None else current["missing_reasons"][spec.column]
        prior, why = _previous(spec, previous)
        old = restated.get(spec.column)
        rows.append(
            KpiRow(
                spec=spec,
                value=value,
                text=format_value(spec.kind, value)
                if value is not None
                else reason_words(str(reason)),
                reason_code=reason,
                previous_text=format_value(spec.kind, prior) if prior is not None else why,
                change=kpi_change(spec, value, prior, why=why),
                restated_from=None if old is None else format_metric(spec.column, old),
            )
        )
    return rows


def _previous(spec: KpiSpec, previous: Row | None) -> tuple[float | int | None, str]:
    if previous is None:
        return None, "no earlier period"
    value = previous[spec.column]
    if value is None:
        return None, "previous: " + reason_words(previous["missing_reasons"][spec.column])
    return value, ""


def _latest_restatements(restatements: Sequence[Row], *, period: str) -> dict[str, float | None]:
    """KPI column -> the oldest published value of this period's exec_kpi restatements."""
    earliest: dict[str, float | None] = {}
    for row in sorted(restatements, key=_restatement_order, reverse=True):
        if row["table_name"] == schemas.EXEC_KPI.name and row["period"] == period:
            earliest[row["metric"]] = row["old_value"]
    return earliest


# --- restatements ------------------------------------------------------------------------


@dataclass(frozen=True)
class RestatementRow:
    what: str
    period: str
    key: str
    old_text: str
    new_text: str
    reason: str
    reason_code: str
    restated_at: str


def _restatement_order(row: Row) -> tuple[Any, ...]:
    return (row["restated_at"], row["table_name"], row["period"], row["key"], row["metric"])


def restatement_rows(restatements: pa.Table) -> tuple[list[Row], list[RestatementRow]]:
    rows = conform(restatements, schemas.RESTATEMENTS, what="restatements")
    for row in rows:
        for column in ("old_value", "new_value"):
            if row[column] is not None and not is_finite_number(row[column]):
                raise ValidationError(
                    f"restatement {column} is {row[column]!r}", reason="not_finite"
                )
    rows.sort(key=_restatement_order)
    shown = [
        RestatementRow(
            what=_metric_label(r["table_name"], r["metric"]),
            period=r["period"],
            key=r["key"],
            old_text=format_metric(r["metric"], r["old_value"]),
            new_text=format_metric(r["metric"], r["new_value"]),
            reason=reason_words(r["reason"]),
            reason_code=r["reason"],
            restated_at=instant(r["restated_at"]),
        )
        for r in rows
    ]
    return rows, shown


def _metric_label(table_name: str, metric: str) -> str:
    spec = SPEC_BY_COLUMN.get(metric)
    if spec is not None and table_name == schemas.EXEC_KPI.name:
        return spec.label
    return f"{table_name}.{metric}"


# --- freshness, reconciliation, publication ----------------------------------------------


@dataclass(frozen=True)
class FreshnessRow:
    input: str
    fresh_through: str
    period_end: str
    status: str
    fresh: bool


def freshness_rows(current: Row) -> list[FreshnessRow]:
    """Each input's newest data against the period's last day (covered when on or after it)."""
    end: date = current["period_end"]
    rows = []
    for name in FRESHNESS_INPUTS:
        through: datetime | None = current[f"{name}_fresh_through"]
        if through is None:
            rows.append(FreshnessRow(name, "no data", end.isoformat(), "no data", False))
            continue
        lag = (end - through.date()).days
        status = (
            "covers period end" if lag <= 0 else f"{lag} day{'s' * (lag != 1)} behind period end"
        )
        rows.append(FreshnessRow(name, instant(through), end.isoformat(), status, lag <= 0))
    return rows


@dataclass(frozen=True)
class ReconciliationRow:
    line: str
    computed: str
    ledger: str
    difference: str
    tolerance: str
    status: str
    status_code: str


def reconciliation_rows(reconciliation: pa.Table | None) -> list[ReconciliationRow] | None:
    if reconciliation is None:
        return None
    rows = conform(reconciliation, schemas.RECONCILIATION, what="reconciliation")
    return [
        ReconciliationRow(
            line=r["line"],
            computed=money(r["computed_cents"]),
            ledger="not sent" if r["ledger_cents"] is None else money(r["ledger_cents"]),
            difference="n/a (no ledger total)"
            if r["difference_cents"] is None
            else money(r["difference_cents"]),
            tolerance=money(r["tolerance_cents"]),
            status=reason_words(r["status"]),
            status_code=r["status"],
        )
        for r in sorted(rows, key=lambda r: r["line"])
    ]


@dataclass(frozen=True)
class Publication:
    status: str  # final, preliminary, signed_off
    label: str
    reasons: list[str]


def publication(
    *,
    grain: str,
    current: Row,
    freshness: Sequence[FreshnessRow],
    reconciliation: Sequence[ReconciliationRow] | None,
) -> Publication:
    """The period's status and, in words, why it has it."""
    status = current["publication_status"]
    label = {FINAL: "Final", PRELIMINARY: "Preliminary", SIGNED_OFF: "Signed off"}.get(
        status, status.replace("_", " ").capitalize()
    )
    reasons = [
        f"{r.line.capitalize()}: {r.status} (computed {r.computed}, ledger {r.ledger}, "
        f"tolerance {r.tolerance})"
        for r in reconciliation or ()
        if r.status_code != MATCHED
    ]
    reasons += [f"{f.input.capitalize()} data: {f.status}" for f in freshness if not f.fresh]
    missing = sorted(c for c, v in current.items() if c in SPEC_BY_COLUMN and v is None)
    if missing:
        reasons.append(f"{len(missing)} KPI{'s' * (len(missing) != 1)} not reported (see below)")
    if status == SIGNED_OFF:
        reasons.insert(0, "Signed off by finance.")
    elif status != FINAL and not reasons:
        reasons.append(
            "Weekly figures stay preliminary until the month is closed and reconciled."
            if grain == "week"
            else "Not yet reconciled with the ledger."
        )
    elif status == FINAL and not reasons:
        reasons.append(
            "Every input is fresh through period end"
            + (" and every ledger line reconciled." if reconciliation else ".")
        )
    return Publication(status, label, reasons)
