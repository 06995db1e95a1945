"""Athena (Trino) SQL to DuckDB SQL, with the tables resolved against a catalog.

Pure (sqlglot and the schema registry). `translate` parses the analyst's SQL in Athena's
dialect, resolves every table reference to a catalog entry (`curated.growth_monthly`, the Glue name
`pablo_prod_curated.growth_monthly`, or a bare `growth_monthly` in the default database, as
Athena resolves it against the query's database), checks every column against the table's
Glue columns, annotates types (so Trino's integer division stays integer division on
DuckDB), and writes DuckDB SQL over views named `<database>.<table>`.

Every problem is a `QueryError` whose message is one line: the CLI prints it, never a
traceback.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from difflib import get_close_matches

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, OptimizeError, ParseError, TokenError, UnsupportedError
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.qualify import qualify
from sqlglot.schema import MappingSchema

from functions.core import schemas
from functions.core.errors import PabloError

READ_DIALECT = "athena"
WRITE_DIALECT = "duckdb"
# Glue column types are Hive type names (`string`, `map<string,string>`).
GLUE_TYPE_DIALECT = "hive"
DEFAULT_DATABASE = schemas.Database.CURATED.value
# Athena names an unaliased computed output column `_col<position>`.
_ATHENA_UNNAMED = "_col{}"


# Athena's names for why a query failed (the start of its StateChangeReason): a QueryError's
# `reason`, so the emulator's Athena fails a query as Athena would.
SYNTAX_ERROR = "SYNTAX_ERROR"
SCHEMA_NOT_FOUND = "SCHEMA_NOT_FOUND"
TABLE_NOT_FOUND = "TABLE_NOT_FOUND"
COLUMN_NOT_FOUND = "COLUMN_NOT_FOUND"
ACCESS_DENIED = "ACCESS_DENIED"
NOT_SUPPORTED = "NOT_SUPPORTED"
GENERIC_USER_ERROR = "GENERIC_USER_ERROR"


class QueryError(PabloError):
    """The query cannot run: unknown table or column, syntax, or unsupported on this path."""

    reason = GENERIC_USER_ERROR


@dataclass(frozen=True)
class TextFormat:
    """A Glue table of delimited text (LazySimpleSerDe or OpenCSVSerde), as Athena reads it."""

    delimiter: str = ","
    quote: str | None = None  # OpenCSVSerde's quoteChar; LazySimpleSerDe has none
    skip_header_lines: int = 0


@dataclass(frozen=True)
class TableSpec:
    """One queryable table: where its Parquet lives and its Glue columns.

    `database` is the logical database (`raw`, `curated`, `finance`, `ops`); `location` a
    local directory or an `s3://bucket/prefix/` URL of hive-partitioned Parquet.
    """

    database: str
    name: str
    columns: tuple[tuple[str, str], ...]  # (name, Glue type), file columns
    partition_keys: tuple[tuple[str, str], ...] = ()
    location: str = ""
    restricted: bool = False
    description: str = ""
    text: TextFormat | None = None  # a delimited text (CSV) table; None: Parquet

    @property
    def qualified_name(self) -> str:
        return f"{self.database}.{self.name}"

    @property
    def all_columns(self) -> tuple[tuple[str, str], ...]:
        """Columns as Athena shows them: file columns, then partition keys."""
        return self.columns + self.partition_keys


@dataclass(frozen=True)
class Catalog:
    """The tables a query may name, by logical database."""

    tables: tuple[TableSpec, ...]
    databases: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.databases:
            found = tuple(dict.fromkeys(t.database for t in self.tables))
            object.__setattr__(self, "databases", found)

    def logical_database(self, qualifier: str) -> str | None:
        """`curated` for `curated` or any Glue name `<prefix>_curated`, else None."""
        qualifier = qualifier.lower()
        for database in sorted(self.databases, key=len, reverse=True):
            if qualifier == database or qualifier.endswith(f"_{database}"):
                return database
        return None

    def find(self, database: str, name: str) -> TableSpec | None:
        for spec in self.tables:
            if spec.database == database and spec.name == name.lower():
                return spec
        return None

    def resolve(self, qualifier: str | None, name: str, *, default_database: str) -> TableSpec:
        database = default_database if not qualifier else self.logical_database(qualifier)
        if database is None:
            known = ", ".join(self.databases)
            raise QueryError(
                f"unknown database {qualifier!r}; known databases: {known}",
                reason=SCHEMA_NOT_FOUND,
            )
        spec = self.find(database, name)
        if spec is not None:
            return spec
        raise QueryError(
            self._unknown_table_message(qualifier, database, name), reason=TABLE_NOT_FOUND
        )

    def _unknown_table_message(self, qualifier: str | None, database: str, name: str) -> str:
        shown = f"{qualifier}.{name}" if qualifier else name
        elsewhere = [t.qualified_name for t in self.tables if t.name == name.lower()]
        if elsewhere:
            return (
                f"unknown table {shown} in database {database}; "
                f"did you mean {' or '.join(elsewhere)}?"
            )
        names = [t.name for t in self.tables if t.database == database]
        close = get_close_matches(name.lower(), names, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        return f"unknown table {shown} in database {database}{hint}"


def registry_spec(table: schemas.Table, location: str = "") -> TableSpec:
    return TableSpec(
        database=table.database.value,
        name=table.name,
        columns=tuple((c.name, c.type) for c in table.columns),
        partition_keys=tuple((c.name, c.type) for c in table.partition_keys),
        location=location,
        restricted=table.restricted,
        description=table.description,
    )


def registry_catalog(
    location: Callable[[schemas.Table], str] = lambda _: "",
    tables: Iterable[schemas.Table] = schemas.TABLES,
) -> Catalog:
    """Every registry table, each at `location(table)`."""
    specs = tuple(registry_spec(t, location(t)) for t in tables)
    return Catalog(specs, databases=tuple(d.value for d in schemas.Database))


@dataclass(frozen=True)
class Translation:
    """The DuckDB SQL and the catalog tables it reads."""

    sql: str
    tables: tuple[TableSpec, ...]


def parse_query(sql: str) -> exp.Query:
    """One Athena SELECT statement, or a QueryError saying what is wrong with it."""
    if not sql.strip():
        raise QueryError("empty query", reason=SYNTAX_ERROR)
    try:
        statements = [s for s in sqlglot.parse(sql, read=READ_DIALECT) if s is not None]
    except ParseError as exc:
        raise QueryError(_syntax_message(exc), reason=SYNTAX_ERROR) from exc
    except TokenError as exc:
        raise QueryError(f"syntax error: {_first_line(exc)}", reason=SYNTAX_ERROR) from exc
    if len(statements) != 1:
        raise QueryError(f"expected one statement, got {len(statements)}", reason=SYNTAX_ERROR)
    statement = statements[0]
    if not isinstance(statement, exp.Query):
        kind = statement.key.upper()
        raise QueryError(f"only SELECT queries can run here, not {kind}", reason=NOT_SUPPORTED)
    _refuse_table_functions(statement)
    return statement


def _refuse_table_functions(query: exp.Query) -> None:
    """Queries read catalog tables only: a table function in FROM (DuckDB's read_csv,
    read_parquet, read_text, glob...) would read any file the user can, finance files
    included. UNNEST, Athena's one table function, is not a table reference and stays."""
    for table in query.find_all(exp.Table):
        if isinstance(table.this, exp.Func):
            call = table.this.sql(dialect=READ_DIALECT)
            raise QueryError(
                f"{_shorten(call)} is not a table: pablo query reads only the catalog's "
                "tables (database.table)",
                reason=ACCESS_DENIED,
            )


def _shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def referenced_tables(query: exp.Query) -> list[exp.Table]:
    """Table references that name catalog tables (CTE references excluded)."""
    cte_names = {cte.alias_or_name.lower() for cte in query.find_all(exp.CTE)}
    return [
        table
        for table in query.find_all(exp.Table)
        if table.name and not (not table.db and table.name.lower() in cte_names)
    ]


def check_tables(
    sql: str,
    catalog: Catalog,
    *,
    default_database: str = DEFAULT_DATABASE,
    allow_restricted: bool = False,
) -> tuple[TableSpec, ...]:
    """The catalog tables `sql` reads; QueryError for syntax, unknown or restricted tables.

    The Athena path calls this first: a typo fails here in a line, not after a round trip.
    """
    used = _resolve_tables(parse_query(sql), catalog, default_database=default_database)
    _check_restricted(used, allow_restricted=allow_restricted)
    return tuple(used)


def translate(
    sql: str,
    catalog: Catalog,
    *,
    default_database: str = DEFAULT_DATABASE,
    allow_restricted: bool = False,
) -> Translation:
    """DuckDB SQL for an Athena query over `catalog` (views `<database>.<table>`)."""
    query = parse_query(sql)
    used = _resolve_tables(query, catalog, default_database=default_database)
    _check_restricted(used, allow_restricted=allow_restricted)
    _name_unnamed_outputs(query)
    schema = _sqlglot_schema(used)
    try:
        qualified = qualify(
            query,
            schema=schema,
            dialect=READ_DIALECT,
            quote_identifiers=False,
            identify=False,
        )
        typed = annotate_types(qualified, schema=schema, dialect=READ_DIALECT)
    except OptimizeError as exc:
        raise QueryError(_column_message(exc), reason=COLUMN_NOT_FOUND) from exc
    _fix_map_cardinality(typed)
    _exact_estimates(typed)
    _dates_stay_dates(typed)
    try:
        duck = typed.sql(dialect=WRITE_DIALECT, unsupported_level=ErrorLevel.RAISE, pretty=True)
    except UnsupportedError as exc:
        raise QueryError(
            f"the DuckDB path cannot run this query: {_first_line(exc)}", reason=NOT_SUPPORTED
        ) from exc
    return Translation(sql=duck, tables=tuple(used))


def for_athena(sql: str, glue_databases: Mapping[str, str]) -> str:
    """The query for Athena itself: logical qualifiers (`curated.x`) become the Glue names.

    SQL that names no logical database goes through untouched, exactly as typed.
    """
    query = parse_query(sql)
    renamed = False
    for table in query.find_all(exp.Table):
        target = glue_databases.get(table.db.lower()) if table.db else None
        if target is not None:
            table.set("db", exp.to_identifier(target))
            renamed = True
    return query.sql(dialect=READ_DIALECT) if renamed else sql


def _resolve_tables(
    query: exp.Query, catalog: Catalog, *, default_database: str
) -> list[TableSpec]:
    used: dict[str, TableSpec] = {}
    for table in referenced_tables(query):
        spec = catalog.resolve(table.db or None, table.name, default_database=default_database)
        table.set("catalog", None)
        table.set("db", exp.to_identifier(spec.database))
        table.set("this", exp.to_identifier(spec.name))
        used[spec.qualified_name] = spec
    return list(used.values())


def _check_restricted(used: Iterable[TableSpec], *, allow_restricted: bool) -> None:
    for spec in used:
        if spec.restricted and not allow_restricted:
            raise QueryError(
                f"{spec.qualified_name} is restricted to finance: run it as finance "
                "(--role finance)",
                reason=ACCESS_DENIED,
            )


def _name_unnamed_outputs(query: exp.Query) -> None:
    """Alias computed outputs of the outermost SELECT the way Athena names them."""
    select = query if isinstance(query, exp.Select) else None
    if select is None:
        return
    for position, projection in enumerate(select.expressions):
        if isinstance(projection, exp.Alias | exp.Column | exp.Star):
            continue
        projection.replace(exp.alias_(projection.copy(), _ATHENA_UNNAMED.format(position)))


def _sqlglot_schema(tables: Iterable[TableSpec]) -> MappingSchema:
    mapping: dict[str, object] = {}
    for spec in tables:
        columns = {name: glue_type for name, glue_type in spec.all_columns}
        in_database = mapping.setdefault(spec.database, {})
        assert isinstance(in_database, dict)
        in_database[spec.name] = columns
    return MappingSchema(mapping, dialect=GLUE_TYPE_DIALECT)


def _exact_estimates(tree: exp.Expr) -> None:
    """Athena's estimates, computed exactly here.

    approx_distinct: Trino's HyperLogLog is exact for small sets (sparse form) and within
    2.3% beyond; DuckDB's approx_count_distinct is off by 20% on a few dozen values. So the
    DuckDB path counts exactly, which is closer to Athena at the sizes it handles.
    approx_percentile (unweighted): DuckDB's t-digest interpolates; Trino's q-digest returns a
    value of the column, so quantile_disc is the closer exact answer.
    """
    for distinct in list(tree.find_all(exp.ApproxDistinct)):
        distinct.replace(exp.Count(this=exp.Distinct(expressions=[distinct.this])))
    for percentile in list(tree.find_all(exp.ApproxQuantile)):
        if percentile.args.get("weight") is None and percentile.args.get("accuracy") is None:
            arguments = [percentile.this, percentile.args["quantile"]]
            percentile.replace(exp.Anonymous(this="quantile_disc", expressions=arguments))


_TIME_UNITS = frozenset({"HOUR", "MINUTE", "SECOND", "MILLISECOND", "MICROSECOND"})


# Functions that return a date in Trino, whatever type sqlglot's annotator gives them.
_DATE_FUNCTIONS: tuple[type, ...] = tuple(
    getattr(exp, name)
    for name in ("FromISO8601Date", "TsOrDsToDate", "StrToDate", "CurrentDate", "Date")
    if hasattr(exp, name)
)


def _is_date(node: exp.Expr | None) -> bool:
    if node is None:
        return False
    if isinstance(node, _DATE_FUNCTIONS):
        return True
    return node.type is not None and node.type.is_type(exp.DataType.Type.DATE)


def _dates_stay_dates(tree: exp.Expr) -> None:
    """Trino's date + days/months (date_add, + INTERVAL) is a date; DuckDB's is a timestamp,
    so the sum is cast back to DATE (a time unit keeps Trino's error-free timestamp)."""
    for node in list(tree.find_all(exp.DateAdd, exp.DateSub, exp.Add, exp.Sub)):
        if isinstance(node, exp.DateAdd | exp.DateSub):
            unit = node.text("unit").upper() or "DAY"
            shifts_date = _is_date(node.this) and unit not in _TIME_UNITS
        else:
            left, right = node.args.get("this"), node.args.get("expression")
            interval = next((a for a in (left, right) if isinstance(a, exp.Interval)), None)
            other = right if interval is left else left
            unit = interval.text("unit").upper() if interval is not None else ""
            shifts_date = interval is not None and _is_date(other) and unit not in _TIME_UNITS
        if shifts_date:
            node.replace(exp.cast(node.copy(), exp.DataType.Type.DATE))


def _fix_map_cardinality(tree: exp.Expr) -> None:
    """Trino's cardinality() counts a map's entries; sqlglot writes DuckDB's array_length,
    which rejects maps, so a map argument keeps DuckDB's own cardinality()."""
    for node in list(tree.find_all(exp.ArraySize)):
        argument = node.this
        if argument.type is not None and argument.type.is_type(exp.DataType.Type.MAP):
            node.replace(exp.Anonymous(this="cardinality", expressions=[argument]))


_TOKEN_RE = re.compile(r"<Token token_type: TokenType\.(\w+), text: (.*?), line: .*?>")
_UNRESOLVED_RE = re.compile(r"Column '(.+?)' could not be resolved\. Line: (\d+), Col: (\d+)")


def _syntax_message(exc: ParseError) -> str:
    """`syntax error at line L, column C: what` without sqlglot's token dump."""
    error = exc.errors[0] if exc.errors else {}
    description = str(error.get("description") or _first_line(exc))

    def token(match: re.Match[str]) -> str:
        kind, value = match.groups()
        return "the end of the query" if kind == "SENTINEL" else repr(value)

    description = _TOKEN_RE.sub(token, description).rstrip(".")
    where = f" at line {error['line']}, column {error['col']}" if "line" in error else ""
    return f"syntax error{where}: {description}"


def _column_message(exc: OptimizeError) -> str:
    message = _first_line(exc)
    match = _UNRESOLVED_RE.search(message)
    if match:
        name, line, col = match.groups()
        return f"unknown column {name} (line {line}, column {col})"
    return f"the query cannot be resolved: {message}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    # sqlglot appends the query with ANSI underlines after the first line.
    first = text.splitlines()[0]
    return re.sub(r"\x1b\[[0-9;]*m", "", first)
