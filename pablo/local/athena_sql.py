"""What the emulator's Athena does with a query, apart from AWS I/O: which statement it is,
the Athena types and text of result values, the result CSV, and result pages.

The SQL itself is `pablo query`'s: Athena (Trino) SQL transpiled by sqlglot and run on
DuckDB over the Glue catalog (`pablo.query.sql`, `pablo.query.engine`).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from functions.core import schemas
from pablo.query.sql import NOT_SUPPORTED, SYNTAX_ERROR, QueryError

# GetQueryResults answers at most this many rows a page (Athena's MaxResults limit).
MAX_RESULTS_PER_PAGE = 1000
DML, DDL, UTILITY = "DML", "DDL", "UTILITY"


ALREADY_EXISTS = "ALREADY_EXISTS"
HIVE_PATH_ALREADY_EXISTS = "HIVE_PATH_ALREADY_EXISTS"
TYPE_MISMATCH = "TYPE_MISMATCH"
INVALID_TOKEN = "INVALID_TOKEN"


@dataclass(frozen=True)
class Statement:
    """One query, classified: `select` is the SELECT to run (the whole query for DML)."""

    kind: str  # select | ctas | insert
    statement_type: str  # Athena's StatementType: DML, DDL or UTILITY
    select_sql: str
    target: exp.Table | None = None  # the table a CTAS creates or an INSERT fills
    columns: tuple[str, ...] = ()  # an INSERT's column list, when it names one
    location: str | None = None  # a CTAS's external_location
    partitioned_by: tuple[str, ...] = ()  # a CTAS's partition columns (last in its SELECT)


def classify(sql: str) -> Statement:
    """The statement in `sql`; QueryError for syntax errors and unsupported statements."""
    try:
        tree = sqlglot.parse_one(sql, read="athena")
    except (ParseError, TokenError) as exc:
        raise QueryError(_first_line(exc), reason=SYNTAX_ERROR) from exc
    if isinstance(tree, exp.Query):
        return Statement("select", DML, tree.sql(dialect="athena"))
    if isinstance(tree, exp.Create) and tree.kind == "TABLE" and tree.expression is not None:
        return _ctas(tree)
    if isinstance(tree, exp.Insert) and isinstance(tree.expression, exp.Query):
        return _insert(tree)
    kind = type(tree).__name__.upper()
    raise QueryError(
        f"the emulator's Athena runs SELECT, CREATE TABLE AS and INSERT INTO, not {kind}",
        reason=NOT_SUPPORTED,
    )


def _ctas(tree: exp.Create) -> Statement:
    target = tree.this if isinstance(tree.this, exp.Table) else tree.find(exp.Table)
    location, partitioned_by, file_format = None, (), "PARQUET"
    properties = tree.args.get("properties")
    for prop in properties.expressions if properties else []:
        if isinstance(prop, exp.FileFormatProperty):
            file_format = prop.this.name.upper()
        elif isinstance(prop, exp.PartitionedByProperty):
            partitioned_by = tuple(e.name for e in prop.this.expressions)
        elif isinstance(prop, exp.Property) and prop.name.lower() == "external_location":
            location = prop.args["value"].name
    if file_format != "PARQUET":
        raise QueryError(
            f"CTAS format {file_format}: the emulator writes PARQUET", reason=NOT_SUPPORTED
        )
    assert tree.expression is not None
    return Statement(
        "ctas",
        DDL,
        tree.expression.sql(dialect="athena"),
        target=target,
        location=location,
        partitioned_by=partitioned_by,
    )


def _insert(tree: exp.Insert) -> Statement:
    this = tree.this
    columns: tuple[str, ...] = ()
    if isinstance(this, exp.Schema):
        columns = tuple(e.name for e in this.expressions)
        this = this.this
    assert isinstance(this, exp.Table)
    return Statement("insert", DML, tree.expression.sql(dialect="athena"), this, columns)


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


# Result values and types, as Athena shows them.


def athena_type(data_type: pa.DataType) -> tuple[str, int, int]:
    """(Athena type name, precision, scale) of an Arrow result column."""
    if pa.types.is_decimal(data_type):
        return "decimal", data_type.precision, data_type.scale
    for check, name in _ATHENA_TYPES:
        if check(data_type):
            return name, 0, 0
    return "varchar", 0, 0


_ATHENA_TYPES: tuple[tuple[Any, str], ...] = (
    (pa.types.is_boolean, "boolean"),
    (pa.types.is_int8, "tinyint"),
    (pa.types.is_int16, "smallint"),
    (pa.types.is_int32, "integer"),
    (pa.types.is_integer, "bigint"),
    (pa.types.is_float32, "real"),
    (pa.types.is_floating, "double"),
    (pa.types.is_date, "date"),
    (pa.types.is_timestamp, "timestamp"),
    (pa.types.is_binary, "varbinary"),
    (pa.types.is_large_binary, "varbinary"),
    (pa.types.is_list, "array"),
    (pa.types.is_map, "map"),
    (pa.types.is_struct, "row"),
)


def column_info(table: pa.Table) -> list[dict[str, Any]]:
    """GetQueryResults' ResultSetMetadata.ColumnInfo of a result table."""
    info = []
    for field in table.schema:
        name, precision, scale = athena_type(field.type)
        info.append(
            {
                "CatalogName": "hive",
                "SchemaName": "",
                "TableName": "",
                "Name": field.name,
                "Label": field.name,
                "Type": name,
                "Precision": precision,
                "Scale": scale,
                "Nullable": "UNKNOWN",
                "CaseSensitive": name == "varchar",
            }
        )
    return info


def value_text(value: Any) -> str | None:
    """A value as Athena's result text: timestamps with milliseconds, maps as {k=v}."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.replace(tzinfo=None).isoformat(sep=" ", timespec="milliseconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal | int | float | str):
        return str(value)
    if isinstance(value, bytes):
        return value.hex(" ")
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={value_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        if value and all(isinstance(i, tuple) and len(i) == 2 for i in value):  # an Arrow map
            return "{" + ", ".join(f"{k}={value_text(v)}" for k, v in value) + "}"
        return "[" + ", ".join(str(value_text(v)) for v in value) + "]"
    return json.dumps(value, default=str)


def text_rows(table: pa.Table) -> list[list[str | None]]:
    columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
    return [[value_text(c[i]) for c in columns] for i in range(table.num_rows)]


def result_csv(table: pa.Table) -> bytes:
    """The CSV Athena writes to the output location: a header, every value quoted, NULL as
    an empty unquoted field."""
    buffer = io.StringIO()
    buffer.write(_csv_line(table.column_names))
    for row in text_rows(table):
        buffer.write(_csv_line(row))
    return buffer.getvalue().encode("utf-8")


def _csv_line(values: list[str | None] | list[str]) -> str:
    return ",".join("" if v is None else _quoted(v) for v in values) + "\n"


def _quoted(value: str) -> str:
    inner = io.StringIO()
    csv.writer(inner, quoting=csv.QUOTE_ALL, lineterminator="").writerow([value])
    return inner.getvalue()


def result_page(
    table: pa.Table, *, statement_type: str, max_results: int | None, next_token: str | None
) -> dict[str, Any]:
    """One GetQueryResults page: a SELECT's first page starts with the header row, as on
    Athena; NextToken is the offset of the next row."""
    limit = min(max_results or MAX_RESULTS_PER_PAGE, MAX_RESULTS_PER_PAGE)
    rows: list[list[str | None]] = text_rows(table)
    if statement_type == DML:
        rows = [list(table.column_names), *rows]
    try:
        start = int(next_token) if next_token else 0
    except ValueError as exc:
        raise QueryError(f"NextToken {next_token!r} is not valid", reason=INVALID_TOKEN) from exc
    page = rows[start : start + limit]
    answer: dict[str, Any] = {
        "UpdateCount": 0,
        "ResultSet": {
            "Rows": [{"Data": [{} if v is None else {"VarCharValue": v} for v in r]} for r in page],
            "ResultSetMetadata": {"ColumnInfo": column_info(table)},
        },
    }
    if start + limit < len(rows):
        answer["NextToken"] = str(start + limit)
    return answer


# Tables a CTAS creates: Glue types of the registry, which the query engine reads back.

_GLUE_TYPES: tuple[tuple[Any, str], ...] = (
    (pa.types.is_boolean, "boolean"),
    (pa.types.is_int64, "bigint"),
    (pa.types.is_uint64, "bigint"),
    (pa.types.is_integer, "int"),
    (pa.types.is_floating, "double"),
    (pa.types.is_decimal, "double"),
    (pa.types.is_string, "string"),
    (pa.types.is_large_string, "string"),
    (pa.types.is_date, "date"),
    (pa.types.is_timestamp, "timestamp"),
    (pa.types.is_binary, "binary"),
)


def glue_type(name: str, data_type: pa.DataType) -> str:
    """The Glue type a CTAS stores a result column as (decimals as double); QueryError
    for nested types, which the emulator's tables do not hold."""
    if pa.types.is_null(data_type):
        return "string"
    for check, glue in _GLUE_TYPES:
        if check(data_type):
            return glue
    raise QueryError(
        f"column {name} has type {data_type}, which a CTAS here cannot store",
        reason=NOT_SUPPORTED,
    )


def conform(table: pa.Table, columns: list[tuple[str, str]]) -> pa.Table:
    """`table`'s columns, by position, cast to the Glue `columns` (name, type)."""
    if table.num_columns != len(columns):
        raise QueryError(
            f"Insert query has {table.num_columns} columns, the table has {len(columns)}",
            reason=TYPE_MISMATCH,
        )
    arrays = []
    for (name, glue), array in zip(columns, table.columns, strict=True):
        target = schemas.arrow_type(glue)
        try:
            arrays.append(pc.cast(array, target) if array.type != target else array)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise QueryError(
                f"column {name}: cannot cast {array.type} to {glue}", reason=TYPE_MISMATCH
            ) from exc
    return pa.table(arrays, names=[name for name, _ in columns])
