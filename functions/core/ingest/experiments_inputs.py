"""Validate the two Data Science inputs against docs/data-contracts.md. Pure: bytes in,
Arrow tables out; bad data never raises.

- `experiments/<file>.csv` (definitions, one row per variant): `validate_definitions`.
  A new file replaces the definitions of the experiments it lists (the handler keeps one
  raw file per experiment and only a newer landing overwrites it).
- `assignments/YYYY/MM/DD/<file>.jsonl`: `validate_assignments`, against the definitions
  landed so far and the assignment ids other files already landed.

Every line ends up in exactly one place: accepted (a raw registry row), an exact duplicate
(counted, stored once) or quarantined with the FIRST reason code of the contract's list
that applies. A unit assigned to two variants is valid input here: the weekly run flags it
(`multiple_variants`).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import pyarrow as pa

from functions.core import schemas
from functions.core.codes import (
    ASSIGNMENTS_SOURCE,
    DUPLICATE_ID,
    EXPERIMENTS_SOURCE,
    FUTURE_TIMESTAMP,
    INVALID_DATE,
    INVALID_HEADER,
    INVALID_ID,
    INVALID_TIMESTAMP,
    INVALID_WEIGHT,
    MALFORMED_ROW,
    MISSING_FIELD,
    NULL_FIELD,
    UNKNOWN_EXPERIMENT,
    UNKNOWN_UNIT_TYPE,
    UNKNOWN_VARIANT,
    WRONG_TYPE,
)
from functions.core.experiment_definitions import Definition
from functions.core.ingest.account_events import parse_timestamp, split_lines
from functions.core.ingest.strict_input import (
    csv_records,
    json_object_line,
)
from functions.core.quarantine import Rejection, quarantine_table
from functions.core.times import parse_date

PIPELINE: Final = schemas.Pipeline.EXPERIMENT.value

WEIGHT_SUM_TOLERANCE: Final = 0.001
MAX_ID_CHARS: Final = schemas.MAX_ID_CHARS
MAX_FUTURE_SKEW: Final = timedelta(minutes=5)
# Experiment and variant keys become partition values and file names: keep them path-safe.
_KEY_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_DECIMAL_RE: Final = re.compile(r"^[0-9]+(\.[0-9]+)?$")

DEFINITION_FIELDS: Final = tuple(schemas.RAW_EXPERIMENTS.column_names)
ASSIGNMENT_FIELDS: Final = tuple(schemas.RAW_ASSIGNMENTS.file_column_names)


@dataclass
class Outcome:
    """Where every line of one landed file went."""

    source: str
    source_key: str
    lines: int
    accepted: pa.Table  # RAW_EXPERIMENTS or RAW_ASSIGNMENTS rows (with partitions)
    rejected: list[Rejection] = field(default_factory=list)
    duplicates: int = 0

    def reason_counts(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for item in self.rejected:
            counts[item.reason] += 1
        return dict(sorted(counts.items()))

    def quarantine(self, *, received_at: datetime) -> pa.Table:
        """QUARANTINE rows (raw bytes kept) with partitions pipeline=experiment, dt."""
        return quarantine_table(
            sorted(self.rejected, key=lambda r: r.line or 0),
            source=self.source,
            pipeline=PIPELINE,
            source_key=self.source_key,
            received_at=received_at,
        )


# --- experiments (CSV) ---------------------------------------------------------------


def _definition_row(values: list[str] | None) -> dict[str, Any] | tuple[str, str]:
    if values is None:
        return MALFORMED_ROW, "broken quoting or not UTF-8"
    if len(values) != len(DEFINITION_FIELDS):
        return MALFORMED_ROW, f"{len(values)} fields instead of {len(DEFINITION_FIELDS)}"
    row = dict(zip(DEFINITION_FIELDS, values, strict=True))
    for name in DEFINITION_FIELDS:
        if row[name] == "":
            return MISSING_FIELD, f"{name} is empty"
    for name in ("experiment_id", "variant"):
        if not _KEY_RE.match(row[name]):
            return WRONG_TYPE, f"{name}={row[name][:140]!r}: letters, digits, _ . - only"
    if len(row["owner"]) > MAX_ID_CHARS:
        return WRONG_TYPE, f"owner longer than {MAX_ID_CHARS} characters"
    if not _DECIMAL_RE.match(row["planned_weight"]):
        return WRONG_TYPE, f"planned_weight={row['planned_weight']!r} is not a decimal"
    start = parse_date(row["start_date"])
    if start is None:
        return INVALID_DATE, f"start_date={row['start_date']!r} is not a YYYY-MM-DD date"
    if row["unit_type"] not in schemas.UNIT_TYPES:
        return UNKNOWN_UNIT_TYPE, f"unit_type={row['unit_type']!r}; allowed: account, user"
    weight = float(row["planned_weight"])
    if not 0 <= weight <= 1:
        return INVALID_WEIGHT, f"planned_weight={weight} is outside 0..1"
    return {**row, "planned_weight": weight, "start_date": start}


def validate_definitions(data: bytes, *, source_key: str) -> Outcome:
    """Split one experiments CSV into accepted definitions and quarantined lines.

    Row rules first (in contract order); then per experiment: a variant twice is
    `duplicate_id` (an identical line is an exact duplicate), and when the weights do not
    sum to 1 within 0.001, or the rows disagree on unit_type or start_date, every row of
    that experiment is quarantined (`invalid_weight`, `unknown_unit_type`, `invalid_date`):
    an experiment is only ever defined whole.
    """
    records = list(csv_records(data))
    header, body = (records[0], records[1:]) if records else (None, [])
    outcome = Outcome(EXPERIMENTS_SOURCE, source_key, len(body), _empty(schemas.RAW_EXPERIMENTS))
    if header is None or header[2] != list(DEFINITION_FIELDS):
        got = header[2] if header else "nothing"
        detail = f"header {got!r}; expected {','.join(DEFINITION_FIELDS)}"
        outcome.rejected = [Rejection(line, raw, INVALID_HEADER, detail) for line, raw, _ in body]
        return outcome
    by_experiment: dict[str, list[tuple[int, bytes, dict[str, Any]]]] = defaultdict(list)
    seen: dict[tuple[str, str], bytes] = {}
    for line, raw, values in body:
        row = _definition_row(values)
        if isinstance(row, tuple):
            outcome.rejected.append(Rejection(line, raw, *row))
            continue
        ident = (row["experiment_id"], row["variant"])
        content = raw.rstrip(b"\r\n")
        if ident in seen:
            if seen[ident] == content:
                outcome.duplicates += 1
            else:
                detail = f"variant {ident[1]} of {ident[0]} already in this file"
                outcome.rejected.append(Rejection(line, raw, DUPLICATE_ID, detail))
            continue
        seen[ident] = content
        by_experiment[row["experiment_id"]].append((line, raw, row))
    accepted: list[dict[str, Any]] = []
    for experiment_id, rows in by_experiment.items():
        problem = _experiment_problem([r for _, _, r in rows])
        if problem is None:
            accepted.extend(r for _, _, r in rows)
            continue
        reason, detail = problem
        outcome.rejected += [
            Rejection(line, raw, reason, f"{experiment_id}: {detail}") for line, raw, _ in rows
        ]
    outcome.accepted = pa.Table.from_pylist(accepted, schema=schemas.RAW_EXPERIMENTS.arrow_schema())
    return outcome


def _experiment_problem(rows: list[dict[str, Any]]) -> tuple[str, str] | None:
    total = sum(r["planned_weight"] for r in rows)
    if abs(total - 1) > WEIGHT_SUM_TOLERANCE:
        return INVALID_WEIGHT, f"weights sum to {total:.4f}, not 1"
    if len({r["unit_type"] for r in rows}) > 1:
        return UNKNOWN_UNIT_TYPE, "rows disagree on unit_type"
    if len({r["start_date"] for r in rows}) > 1:
        return INVALID_DATE, "rows disagree on start_date"
    return None


# --- assignments (JSON lines) -----------------------------------------------------------


Content = tuple[str, str, str, str, datetime]  # experiment, variant, unit type, unit, time


def _assignment(
    raw: bytes, *, now: datetime, definitions: Mapping[str, Definition]
) -> tuple[str, Content] | tuple[str, str]:
    """(assignment_id, content) or (reason, detail)."""
    value = json_object_line(raw)
    if isinstance(value, tuple):
        return value
    for name in ASSIGNMENT_FIELDS:
        if name not in value:
            return MISSING_FIELD, name
    for name in ASSIGNMENT_FIELDS:
        if value[name] is None:
            return NULL_FIELD, name
    for name in ASSIGNMENT_FIELDS:
        if not isinstance(value[name], str):
            return WRONG_TYPE, f"{name} is a JSON {type(value[name]).__name__}"
    for name in ("assignment_id", "experiment_id", "variant", "unit_id"):
        if not value[name].strip() or len(value[name]) > MAX_ID_CHARS:
            return INVALID_ID, f"{name} is empty or longer than {MAX_ID_CHARS} characters"
    moment = parse_timestamp(value["assigned_at"])
    if moment is None:
        return INVALID_TIMESTAMP, str(value["assigned_at"])[:100]
    if moment > now + MAX_FUTURE_SKEW:
        return FUTURE_TIMESTAMP, f"{value['assigned_at']} is after {now.isoformat()}"
    definition = definitions.get(value["experiment_id"])
    if definition is None:
        return UNKNOWN_EXPERIMENT, value["experiment_id"][:140]
    if value["variant"] not in definition.weights:
        variant = value["variant"][:140]
        return UNKNOWN_VARIANT, f"{variant} is not a variant of {definition.experiment_id}"
    if value["unit_type"] != definition.unit_type:
        return (
            UNKNOWN_UNIT_TYPE,
            f"unit_type={value['unit_type'][:40]!r}; {definition.experiment_id} assigns "
            f"{definition.unit_type} units",
        )
    content = (
        value["experiment_id"],
        value["variant"],
        value["unit_type"],
        value["unit_id"],
        moment.replace(microsecond=moment.microsecond // 1000 * 1000),  # stored as ms
    )
    return value["assignment_id"], content


def validate_assignments(
    data: bytes,
    *,
    source_key: str,
    now: datetime,
    definitions: Mapping[str, Definition],
    landed: Mapping[str, Content],
) -> Outcome:
    """Split one assignments file; `now` is the landing event's time, `landed` the content of
    every assignment_id other files already landed (first copy wins: the same content again
    is an exact duplicate, other content is `duplicate_id`)."""
    lines = split_lines(data)
    outcome = Outcome(ASSIGNMENTS_SOURCE, source_key, len(lines), _empty(schemas.RAW_ASSIGNMENTS))
    kept: dict[str, Content] = {}
    for number, raw in enumerate(lines, start=1):
        result = _assignment(raw, now=now, definitions=definitions)
        if not isinstance(result[1], tuple):
            outcome.rejected.append(Rejection(number, raw, result[0], str(result[1])))
            continue
        assignment_id, content = result[0], result[1]
        first = kept.get(assignment_id) or landed.get(assignment_id)
        if first is None:
            kept[assignment_id] = content
        elif first == content:
            outcome.duplicates += 1
        else:
            detail = f"assignment_id {assignment_id} already landed with other content"
            outcome.rejected.append(Rejection(number, raw, DUPLICATE_ID, detail))
    rows = [
        {
            "assignment_id": assignment_id,
            "experiment_id": experiment_id,
            "variant": variant,
            "unit_type": unit_type,
            "unit_id": unit_id,
            "assigned_at": moment,
            "source_key": source_key,
            "experiment": experiment_id,
        }
        for assignment_id, (experiment_id, variant, unit_type, unit_id, moment) in kept.items()
    ]
    outcome.accepted = pa.Table.from_pylist(
        rows, schema=schemas.RAW_ASSIGNMENTS.arrow_schema(with_partitions=True)
    )
    return outcome


def landed_contents(raw_assignments: pa.Table, *, except_key: str) -> dict[str, Content]:
    """assignment_id -> content of RAW_ASSIGNMENTS rows landed by files other than
    `except_key` (a re-delivered file is checked against the others, not itself)."""
    found: dict[str, Content] = {}
    rows = raw_assignments.to_pylist()
    for row in sorted(rows, key=lambda r: (r["source_key"], r["assignment_id"])):
        if row["source_key"] == except_key:
            continue
        found.setdefault(
            row["assignment_id"],
            (
                row["experiment_id"],
                row["variant"],
                row["unit_type"],
                row["unit_id"],
                row["assigned_at"].astimezone(UTC),
            ),
        )
    return found


def _empty(table: schemas.Table) -> pa.Table:
    return table.arrow_schema(with_partitions=True).empty_table()
