"""Rows with an optional fault, interleaved and written with their line numbers noted.

A malformed row is written where a real export would have it (somewhere in the file, not
at the end), and its file and 1-based line number go to truth.json with the reason code
the validator should give it.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pablo.generate.output import CsvFile, JsonLinesFile


@dataclass
class Row:
    values: Any  # a list (CSV), a dict (JSON object) or bytes (a raw line)
    fault: dict[str, Any] | None = None  # {"reason": ..., "id": ...} for a bad row


def bad(values: Any, reason: str, ident: str | None, detail: str) -> Row:
    return Row(values, {"reason": reason, "id": ident, "detail": detail})


def interleave(rng: random.Random, good: list[Row], bad_rows: Iterable[Row]) -> list[Row]:
    rows = list(good)
    for row in bad_rows:
        rows.insert(rng.randint(0, len(rows)), row)
    return rows


def write_csv_rows(
    out: CsvFile, rows: list[Row], *, input_name: str, rel: str
) -> list[dict[str, Any]]:
    """Writes the rows; returns the fault notes (line 1 is the header)."""
    faults: list[dict[str, Any]] = []
    for position, row in enumerate(rows):
        if isinstance(row.values, bytes):
            out.write_line(row.values)
        else:
            out.write_row(row.values)
        if row.fault is not None:
            faults.append(_note(row.fault, input_name, rel, position + 2))
    return faults


def write_json_rows(
    out: JsonLinesFile, rows: list[Row], *, input_name: str, rel: str
) -> list[dict[str, Any]]:
    faults: list[dict[str, Any]] = []
    for position, row in enumerate(rows):
        if isinstance(row.values, bytes):
            out.write_line(row.values)
        else:
            out.write_object(row.values)
        if row.fault is not None:
            faults.append(_note(row.fault, input_name, rel, position + 1))
    return faults


def _note(fault: dict[str, Any], input_name: str, rel: str, line: int) -> dict[str, Any]:
    return {"input": input_name, "file": rel, "line": line, **fault}
