"""Validate the four finance inputs (invoices, expenses, salaries, ledger) against
docs/data-contracts.md and split each landed CSV file into accepted rows and quarantine rows.

Pure: bytes in, Arrow tables out. Every line of a file ends up in exactly one place:
accepted (a `raw_*` registry row with its partition), an exact duplicate (counted, not
stored twice) or quarantined with one reason code (the first rule of the contract's list
that applies). Nothing raises for bad data.

Currency: the contract accepts only the reporting currency. A file wholly in another
currency lands nothing (each row `unknown_currency`). A file mixing currencies is rejected
whole (each line `mixed_currency`, the currencies in the detail): its amounts cannot be
trusted to be in the units they claim, so none is summed until the sender resends it; the
month's reconciliation then flags the gap for an accountant.

`unknown_account` needs the account list, which the monthly run has: see
`functions.core.transform.profit`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Final

import pyarrow as pa

from functions.core import schemas
from functions.core.codes import (
    DUPLICATE_ID,
    INCONSISTENT_STATUS,
    INVALID_DATE,
    INVALID_HEADER,
    INVALID_PATH,
    MALFORMED_ROW,
    MISSING_FIELD,
    MIXED_CURRENCY,
    NEGATIVE_AMOUNT,
    UNKNOWN_CATEGORY,
    UNKNOWN_CURRENCY,
    UNKNOWN_LINE,
    UNKNOWN_STATUS,
    UNKNOWN_TEAM,
    WRONG_TYPE,
)
from functions.core.ingest.strict_input import csv_records
from functions.core.quarantine import Rejection, quarantine_table
from functions.core.times import parse_date

MAX_ID_CHARS: Final = schemas.MAX_ID_CHARS
_INT_RE: Final = re.compile(r"^-?[0-9]+$")
_MONTH_IN_KEY: Final = re.compile(r"/([0-9]{4})-([0-9]{2})/[^/]+$")

Row = dict[str, Any]
RowCheck = Callable[[Row], "tuple[str, str] | None"]


@dataclass(frozen=True)
class InputSpec:
    """One finance input: its registry table, typed fields, id and row rules."""

    source: str
    table: schemas.Table
    id_fields: tuple[str, ...]
    int_fields: tuple[str, ...]
    date_fields: tuple[str, ...]
    checks: tuple[RowCheck, ...]
    month_from_path: bool = False  # salaries and ledger: month = the key's YYYY-MM
    month_of: str | None = None  # else: month = month of this date field

    @property
    def fields(self) -> list[str]:
        return self.table.file_column_names

    def nullable(self, name: str) -> bool:
        return self.table.column(name).nullable


@dataclass
class FileOutcome:
    """Where every line of one landed file went."""

    source: str
    source_key: str
    month: str | None  # the path's month (salaries, ledger) or None
    accepted: pa.Table  # registry rows with partitions
    quarantined: pa.Table  # QUARANTINE rows with partitions
    exact_duplicates: int
    lines: int  # data lines (header excluded)
    reasons: dict[str, int] = field(default_factory=dict)


# --- row rules -----------------------------------------------------------------------


def _one_of(name: str, allowed: Sequence[str], reason: str) -> RowCheck:
    def check(row: Row) -> tuple[str, str] | None:
        value = row[name]
        if value is not None and value not in allowed:
            return reason, f"{name}={value!r}; allowed: {', '.join(allowed)}"
        return None

    return check


def _not_negative(*names: str) -> RowCheck:
    def check(row: Row) -> tuple[str, str] | None:
        for name in names:
            if row[name] is not None and row[name] < 0:
                return NEGATIVE_AMOUNT, f"{name}={row[name]} is below 0"
        return None

    return check


def _currency(reporting: str) -> RowCheck:
    def check(row: Row) -> tuple[str, str] | None:
        if row["currency"] != reporting:
            return (
                UNKNOWN_CURRENCY,
                f"currency={row['currency']!r}; only {reporting} is accepted (not summed)",
            )
        return None

    return check


def _invoice_amount(row: Row) -> tuple[str, str] | None:
    # A refund row carries the money returned, so it alone is negative.
    if row["amount_cents"] < 0 and row["status"] != "refunded":
        return NEGATIVE_AMOUNT, f"amount_cents={row['amount_cents']} on a {row['status']} invoice"
    return None


def _invoice_status(row: Row) -> tuple[str, str] | None:
    paid, status = row["paid_date"], row["status"]
    if status in ("paid", "refunded") and paid is None:
        return INCONSISTENT_STATUS, f"{status} invoice without paid_date"
    if status in ("open", "void") and paid is not None:
        return INCONSISTENT_STATUS, f"{status} invoice with paid_date {paid}"
    if paid is not None and paid < row["issued_date"]:
        return INCONSISTENT_STATUS, f"paid_date {paid} before issued_date {row['issued_date']}"
    if row["period_end"] < row["period_start"]:
        return INCONSISTENT_STATUS, "period_end before period_start"
    return None


def invoice_spec(reporting: str = schemas.REPORTING_CURRENCY) -> InputSpec:
    return InputSpec(
        source="invoices",
        table=schemas.RAW_INVOICES,
        id_fields=("invoice_id",),
        int_fields=("amount_cents",),
        date_fields=("issued_date", "paid_date", "period_start", "period_end"),
        checks=(
            _one_of("status", schemas.INVOICE_STATUSES, UNKNOWN_STATUS),
            _currency(reporting),
            _invoice_amount,
            _invoice_status,
        ),
        month_of="issued_date",
    )


def expense_spec(reporting: str = schemas.REPORTING_CURRENCY) -> InputSpec:
    return InputSpec(
        source="expenses",
        table=schemas.RAW_EXPENSES,
        id_fields=("expense_id",),
        int_fields=("amount_cents",),
        date_fields=("expense_date",),
        checks=(
            _one_of("category", schemas.EXPENSE_CATEGORIES, UNKNOWN_CATEGORY),
            _one_of("team", schemas.TEAMS, UNKNOWN_TEAM),
            _currency(reporting),
            _not_negative("amount_cents"),
        ),
        month_of="expense_date",
    )


def salary_spec(reporting: str = schemas.REPORTING_CURRENCY) -> InputSpec:
    return InputSpec(
        source="salaries",
        table=schemas.RAW_SALARIES,
        id_fields=("team",),
        int_fields=("headcount", "amount_cents"),
        date_fields=(),
        checks=(
            _one_of("team", schemas.TEAMS, UNKNOWN_TEAM),
            _currency(reporting),
            _not_negative("headcount", "amount_cents"),
        ),
        month_from_path=True,
    )


def ledger_spec(reporting: str = schemas.REPORTING_CURRENCY) -> InputSpec:
    return InputSpec(
        source="ledger",
        table=schemas.RAW_LEDGER,
        id_fields=("line",),
        int_fields=("amount_cents",),
        date_fields=(),
        checks=(
            _one_of("line", schemas.LEDGER_LINES, UNKNOWN_LINE),
            _currency(reporting),
        ),
        month_from_path=True,
    )


SPECS: Final[dict[str, Callable[[str], InputSpec]]] = {
    "invoices": invoice_spec,
    "expenses": expense_spec,
    "salaries": salary_spec,
    "ledger": ledger_spec,
}


def spec_for(source: str, reporting: str = schemas.REPORTING_CURRENCY) -> InputSpec:
    try:
        return SPECS[source](reporting)
    except KeyError as exc:
        raise KeyError(f"no finance input {source!r}; known: {sorted(SPECS)}") from exc


# --- the file ------------------------------------------------------------------------


def month_from_key(key: str) -> str | None:
    """The `YYYY-MM` folder right above the file name, if it is a real month."""
    match = _MONTH_IN_KEY.search("/" + key)
    if match is None or not 1 <= int(match.group(2)) <= 12:
        return None
    return f"{match.group(1)}-{match.group(2)}"


def validate_file(
    spec: InputSpec, data: bytes, *, source_key: str, received_at: datetime
) -> FileOutcome:
    """Split one landed CSV file into accepted, duplicate and quarantined lines."""
    records = list(csv_records(data))
    month = month_from_key(source_key) if spec.month_from_path else None
    rejected: list[Rejection] = []
    accepted: list[Row] = []
    duplicates = 0
    header, body = (records[0], records[1:]) if records else (None, [])
    header_problem = _header_problem(spec, header)
    currencies = _currencies(spec, body)
    if header_problem is not None or (spec.month_from_path and month is None):
        reason = INVALID_HEADER if header_problem is not None else INVALID_PATH
        detail = header_problem or f"no YYYY-MM folder in {source_key!r}"
        rejected = [Rejection(line, raw, reason, detail) for line, raw, _ in body]
    elif len(currencies) > 1:
        detail = (
            f"the file mixes currencies {', '.join(sorted(currencies))}: rejected whole, "
            "resend it in one currency"
        )
        rejected = [Rejection(line, raw, MIXED_CURRENCY, detail) for line, raw, _ in body]
    else:
        seen: dict[tuple[Any, ...], bytes] = {}
        for line, raw, values in body:
            outcome = _validate_row(spec, values)
            if isinstance(outcome, tuple):
                rejected.append(Rejection(line, raw, *outcome))
                continue
            ident = tuple(outcome[f] for f in spec.id_fields)
            content = _canonical(raw)
            if ident in seen:
                if seen[ident] == content:
                    duplicates += 1
                else:
                    detail = f"{'/'.join(map(str, ident))} already in this file with other values"
                    rejected.append(Rejection(line, raw, DUPLICATE_ID, detail))
                continue
            seen[ident] = content
            outcome["source_key"] = source_key
            outcome["month"] = month if spec.month_from_path else _row_month(spec, outcome)
            accepted.append(outcome)
    quarantined = quarantine_table(
        rejected,
        source=spec.source,
        pipeline=schemas.Pipeline.PROFIT.value,
        source_key=source_key,
        received_at=received_at,
    )
    reasons: dict[str, int] = {}
    for item in rejected:
        reasons[item.reason] = reasons.get(item.reason, 0) + 1
    return FileOutcome(
        source=spec.source,
        source_key=source_key,
        month=month,
        accepted=_rows_table(spec, accepted),
        quarantined=quarantined,
        exact_duplicates=duplicates,
        lines=len(body),
        reasons=reasons,
    )


def _currencies(spec: InputSpec, body: list[tuple[int, bytes, list[str] | None]]) -> set[str]:
    """The currency codes the file's well-formed rows claim (empty fields aside)."""
    position = spec.fields.index("currency")
    return {
        values[position]
        for _, _, values in body
        if values is not None and len(values) == len(spec.fields) and values[position]
    }


def _row_month(spec: InputSpec, row: Row) -> str:
    if spec.month_of is None:
        raise ValueError(f"{spec.source}: no month_of field and no month in the path")
    value: date = row[spec.month_of]  # month_of fields are not nullable
    return value.strftime("%Y-%m")


def _canonical(raw: bytes) -> bytes:
    return raw.rstrip(b"\r\n")


def _header_problem(
    spec: InputSpec, header: tuple[int, bytes, list[str] | None] | None
) -> str | None:
    expected = spec.fields
    if header is None:
        return "empty file: no header"
    values = header[2]
    if values != expected:
        return f"header {values!r}; expected {','.join(expected)}"
    return None


def _validate_row(spec: InputSpec, values: list[str] | None) -> Row | tuple[str, str]:
    names = spec.fields
    if values is None:
        return MALFORMED_ROW, "broken quoting or not UTF-8"
    if len(values) != len(names):
        return MALFORMED_ROW, f"{len(values)} fields instead of {len(names)}"
    row: Row = {}
    for name, text in zip(names, values, strict=True):
        if text == "":
            if not spec.nullable(name):
                return MISSING_FIELD, f"{name} is empty"
            row[name] = None
        else:
            row[name] = text
    for name in spec.int_fields:
        if row[name] is not None:
            if not _INT_RE.match(row[name]):
                return WRONG_TYPE, f"{name}={row[name]!r} is not an integer"
            row[name] = int(row[name])
    for name in spec.date_fields:
        if row[name] is not None:
            parsed = parse_date(row[name])
            if parsed is None:
                return INVALID_DATE, f"{name}={row[name]!r} is not a YYYY-MM-DD date"
            row[name] = parsed
    for name in spec.id_fields:
        if len(row[name]) > MAX_ID_CHARS:
            return WRONG_TYPE, f"{name} longer than {MAX_ID_CHARS} characters"
    for check in spec.checks:
        problem = check(row)
        if problem is not None:
            return problem
    return row


def _rows_table(spec: InputSpec, rows: list[Row]) -> pa.Table:
    schema = spec.table.arrow_schema(with_partitions=True)
    return pa.Table.from_pylist(rows, schema=schema)


def file_token(source_key: str) -> str:
    """A deterministic, path-safe file name for outputs derived from one landed file."""
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", source_key.rsplit("/", 1)[-1].rsplit(".", 1)[0])
    digest = hashlib.sha256(source_key.encode()).hexdigest()[:12]
    return f"{stem[:60]}-{digest}"
