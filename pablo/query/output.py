"""The output convention of every command that prints data: `--format table|csv|json`.

Query results render as an aligned text table, CSV, JSON or Parquet. The module is read to
build the command line's parsers: pyarrow is imported only to render.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TextIO

from functions.core.errors import ConfigurationError

if TYPE_CHECKING:
    import pyarrow as pa

TABLE, CSV, JSON, TEXT, PARQUET = "table", "csv", "json", "text", "parquet"
FORMATS: tuple[str, ...] = (TABLE, CSV, JSON)
# `pablo query` also writes its rows as Parquet, with their types.
QUERY_FORMATS: tuple[str, ...] = (*FORMATS, PARQUET)
# A command whose output is a report rather than rows: its human text, or JSON.
REPORT_FORMATS: tuple[str, ...] = (TEXT, JSON)
NULL_TEXT = "NULL"


def add_format_argument(
    parser: argparse.ArgumentParser, formats: tuple[str, ...] = FORMATS
) -> None:
    """`--format` (the first of `formats` by default) and `--json`, its shorthand; read as
    `args.output_format`."""
    parser.add_argument(
        "--format",
        choices=formats,
        default=formats[0],
        dest="output_format",
        help="output format",
    )
    parser.add_argument(
        "--json",
        action="store_const",
        const=JSON,
        dest="output_format",
        help=f"same as --format {JSON}",
    )


def write(table: pa.Table, output_format: str, stream: TextIO) -> None:
    """`table` on `stream` in `output_format`; Parquet as bytes, never onto a terminal."""
    if output_format != PARQUET:
        stream.write(render(table, output_format))
        return
    if stream.isatty():
        raise ConfigurationError(
            "--format parquet writes binary: redirect it to a file (> out.parquet)"
        )
    import pyarrow.parquet as pq  # noqa: PLC0415 (pyarrow only when rows are written)

    stream.flush()
    pq.write_table(table, stream.buffer, compression="zstd")
    stream.buffer.flush()


def render(table: pa.Table, output_format: str) -> str:
    if output_format == CSV:
        return to_csv(table)
    if output_format == JSON:
        return to_json(table)
    if output_format == TABLE:
        return to_text_table(table)
    raise ValueError(f"unknown format {output_format!r}; one of {', '.join(FORMATS)}")


def plain(value: Any) -> Any:
    """A JSON-ready value: maps as objects, dates and times in ISO 8601."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list):
        if value and all(isinstance(item, tuple) and len(item) == 2 for item in value):
            return {str(k): plain(v) for k, v in value}
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return value


def text(value: Any) -> str:
    value = plain(value)
    if value is None:
        return NULL_TEXT
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _rows(table: pa.Table) -> list[dict[str, Any]]:
    return table.to_pylist()


def to_json(table: pa.Table) -> str:
    return rows_to_json(_rows(table))


def to_csv(table: pa.Table) -> str:
    return rows_to_csv(table.column_names, _rows(table))


def rows_to_json(rows: list[dict[str, Any]]) -> str:
    """Rows (any command's records) as a JSON array of objects."""
    return json.dumps([{k: plain(v) for k, v in row.items()} for row in rows], indent=2) + "\n"


def rows_to_csv(columns: list[str], rows: list[dict[str, Any]]) -> str:
    """Rows as CSV: a header, nulls empty, nested values as compact JSON."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow("" if row.get(c) is None else text(row[c]) for c in columns)
    return buffer.getvalue()


def to_text_table(table: pa.Table) -> str:
    names = table.column_names
    cells = [[text(v) for v in row.values()] for row in _rows(table)]
    numeric = [_is_numeric(table.schema.field(i).type) for i in range(len(names))]
    widths = [max([len(n)] + [len(row[i]) for row in cells]) for i, n in enumerate(names)]

    def line(values: list[str]) -> str:
        padded = [
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ]
        return " | ".join(padded).rstrip()

    out = [line(names), "-+-".join("-" * w for w in widths)]
    out.extend(line(row) for row in cells)
    count = len(cells)
    out.append(f"({count} row{'' if count == 1 else 's'})")
    return "\n".join(out) + "\n"


def _is_numeric(data_type: pa.DataType) -> bool:
    import pyarrow as pa  # noqa: PLC0415

    return bool(
        pa.types.is_integer(data_type)
        or pa.types.is_floating(data_type)
        or pa.types.is_decimal(data_type)
    )
