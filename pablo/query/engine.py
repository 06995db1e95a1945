"""Run Athena SQL on DuckDB over hive-partitioned Parquet: a lake snapshot or the emulator.

The catalog comes from the schema registry (a lake snapshot written by `pablo demo --out`:
`lake/<table>/<k>=<v>/.../*.parquet`) or from the emulator's Glue catalog (tables, columns,
partition keys and S3 locations as deployed). Each table the query names becomes a DuckDB
view `<database>.<table>` over a pyarrow dataset read with the table's Glue schema, so
partition keys are columns with their Glue types (strings, as in Athena, not the dates
DuckDB would guess) and timestamps are UTC without a zone, like Athena's `timestamp`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from functions.core import schemas
from pablo.query.sql import (
    DEFAULT_DATABASE,
    NOT_SUPPORTED,
    Catalog,
    QueryError,
    TableSpec,
    TextFormat,
    Translation,
    registry_catalog,
    translate,
)

_SOURCE_PREFIX = "__source_"


def lake_root(directory: Path) -> Path:
    """The lake inside a demo's `--out` directory, or the directory itself."""
    nested = directory / "lake"
    if nested.is_dir():
        return nested
    if directory.is_dir():
        return directory
    raise QueryError(f"lake directory {directory} does not exist")


def lake_catalog(directory: Path, tables: Iterable[schemas.Table] = schemas.TABLES) -> Catalog:
    """Every registry table, at `<lake>/<table name>/` (absent directory: no rows yet)."""
    root = lake_root(directory)
    return registry_catalog(lambda t: str(root / t.name), tables)


def glue_catalog(glue: Any) -> Catalog:
    """The tables of every Glue database, as deployed (glue: a boto3 Glue client)."""
    logical = {d.value for d in schemas.Database}
    specs: list[TableSpec] = []
    for database in _pages(glue, "get_databases", "DatabaseList"):
        name = database["Name"]
        short = next((d for d in logical if name == d or name.endswith(f"_{d}")), name)
        for table in _pages(glue, "get_tables", "TableList", DatabaseName=name):
            specs.append(_glue_spec(short, table))
    return Catalog(tuple(specs), databases=tuple(dict.fromkeys(s.database for s in specs)))


def _pages(client: Any, operation: str, key: str, **kwargs: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for page in client.get_paginator(operation).paginate(**kwargs):
        items.extend(page.get(key, []))
    return items


def _glue_spec(database: str, table: Mapping[str, Any]) -> TableSpec:
    storage = table.get("StorageDescriptor", {})
    parameters = table.get("Parameters", {})
    return TableSpec(
        database=database,
        name=table["Name"],
        columns=tuple((c["Name"], c["Type"]) for c in storage.get("Columns", [])),
        partition_keys=tuple((c["Name"], c["Type"]) for c in table.get("PartitionKeys", [])),
        location=storage.get("Location", ""),
        restricted=parameters.get("pablo.restricted") == "true",
        description=table.get("Description", ""),
        text=text_format(storage, parameters),
    )


# The two SerDes Athena reads delimited text with; any other table is read as Parquet.
LAZY_SIMPLE_SERDE = "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe"
OPEN_CSV_SERDE = "org.apache.hadoop.hive.serde2.OpenCSVSerde"


def text_format(storage: Mapping[str, Any], parameters: Mapping[str, str]) -> TextFormat | None:
    """How a Glue table's text files are split, or None for a Parquet table."""
    serde = storage.get("SerdeInfo", {})
    library = serde.get("SerializationLibrary", "")
    options = serde.get("Parameters", {})
    skip = int(parameters.get("skip.header.line.count", "0"))
    if library == OPEN_CSV_SERDE:
        return TextFormat(
            delimiter=options.get("separatorChar", ","),
            quote=options.get("quoteChar", '"'),
            skip_header_lines=skip,
        )
    if library == LAZY_SIMPLE_SERDE:
        delimiter = options.get("field.delim", options.get("serialization.format", "\x01"))
        return TextFormat(delimiter=delimiter, skip_header_lines=skip)
    return None


def s3_filesystem(endpoint: str, region: str, access_key: str, secret_key: str) -> pafs.FileSystem:
    """pyarrow's S3 client for the emulator (DuckDB's httpfs is not used: see design.md)."""
    scheme, _, host = endpoint.partition("://")
    return pafs.S3FileSystem(
        endpoint_override=host.rstrip("/"),
        scheme=scheme,
        access_key=access_key,
        secret_key=secret_key,
        region=region,
    )


def run(
    sql: str,
    catalog: Catalog,
    *,
    filesystem: pafs.FileSystem | None = None,
    default_database: str = DEFAULT_DATABASE,
    allow_restricted: bool = False,
) -> pa.Table:
    """The rows of an Athena query, run on DuckDB (QueryError for every expected failure)."""
    translation = translate(
        sql, catalog, default_database=default_database, allow_restricted=allow_restricted
    )
    return execute(translation, filesystem=filesystem)


def execute(translation: Translation, *, filesystem: pafs.FileSystem | None = None) -> pa.Table:
    """Run a translation; `filesystem` reads the tables' locations (default: local files)."""
    filesystem = filesystem or pafs.LocalFileSystem()
    with duckdb.connect() as con:
        # Athena works in UTC; the stored instants are UTC.
        con.execute("SET TimeZone = 'UTC'")
        for spec in translation.tables:
            _create_view(con, spec, filesystem)
        lock_to_registered_tables(con)
        try:
            return athena_types(con.execute(translation.sql).fetch_arrow_table())
        except duckdb.PermissionException as exc:
            raise QueryError(
                f"pablo query reads only the catalog's tables: {_one_line(exc)}"
            ) from exc
        except duckdb.Error as exc:
            raise QueryError(
                f"the DuckDB path cannot run this query: {_one_line(exc)}", reason=NOT_SUPPORTED
            ) from exc
        except pa.ArrowException as exc:
            raise QueryError(f"reading the Parquet failed: {_one_line(exc)}") from exc


def lock_to_registered_tables(con: duckdb.DuckDBPyConnection) -> None:
    """From here on the connection reads only the views already made: no file, directory,
    extension or database of its own (read_csv, COPY, ATTACH, INSTALL/LOAD are refused),
    and the setting cannot be switched back. The views' data comes through pyarrow, which
    was opened before the lock."""
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


def athena_types(table: pa.Table) -> pa.Table:
    """Integer results typed as Athena types them: DuckDB sums bigints into HUGEINT (Arrow
    decimal(38, 0)) and counts a map into UBIGINT; Athena answers bigint for both."""
    fields = []
    for f in table.schema:
        integral = pa.types.is_decimal(f.type) and f.type.scale == 0
        fields.append(f.with_type(pa.int64()) if integral or pa.types.is_uint64(f.type) else f)
    return table.cast(pa.schema(fields))


def _create_view(con: duckdb.DuckDBPyConnection, spec: TableSpec, fs: pafs.FileSystem) -> None:
    source = f"{_SOURCE_PREFIX}{spec.database}_{spec.name}"
    con.register(source, _dataset(spec, fs))
    select = ", ".join(_column_sql(name, glue_type) for name, glue_type in spec.all_columns)
    con.execute(f'CREATE SCHEMA IF NOT EXISTS "{spec.database}"')
    con.execute(f'CREATE VIEW "{spec.database}"."{spec.name}" AS SELECT {select} FROM {source}')


def _column_sql(name: str, glue_type: str) -> str:
    # Athena's timestamp has no zone: the UTC instant read as a plain timestamp.
    if glue_type == "timestamp":
        return f'CAST("{name}" AS TIMESTAMP) AS "{name}"'
    return f'"{name}"'


def _arrow_schema(columns: Iterable[tuple[str, str]], table: str) -> pa.Schema:
    fields = []
    for name, glue_type in columns:
        try:
            fields.append(pa.field(name, schemas.arrow_type(glue_type)))
        except ValueError as exc:
            raise QueryError(
                f"column {table}.{name} has Glue type {glue_type}, which the DuckDB path "
                "does not read"
            ) from exc
    return pa.schema(fields)


def _dataset(spec: TableSpec, fs: pafs.FileSystem) -> ds.Dataset | pa.Table:
    schema = _arrow_schema(spec.all_columns, spec.qualified_name)
    partitions = _arrow_schema(spec.partition_keys, spec.qualified_name)
    path = dataset_path(spec.location)
    try:
        info = fs.get_file_info(path)
        if info.type != pafs.FileType.Directory:
            return schema.empty_table()  # no data written yet: no rows, as on Athena
        return ds.dataset(
            path,
            filesystem=fs,
            format=_file_format(spec, schema),
            schema=schema,
            partitioning=ds.partitioning(partitions, flavor="hive"),
        )
    except (OSError, pa.ArrowException) as exc:
        raise QueryError(f"cannot read {spec.qualified_name} at {spec.location}: {exc}") from exc


def _file_format(spec: TableSpec, schema: pa.Schema) -> ds.FileFormat | str:
    """Parquet, or CSV read with the table's own columns: text files have no header Athena
    reads (a header line is skipped by count); an empty field is an empty string in a
    string column and NULL in any other, as Athena reads it."""
    if spec.text is None:
        return "parquet"
    file_columns = [f for f in schema if f.name not in dict(spec.partition_keys)]
    return ds.CsvFileFormat(
        parse_options=pacsv.ParseOptions(
            delimiter=spec.text.delimiter,
            quote_char=spec.text.quote or False,
        ),
        read_options=pacsv.ReadOptions(
            column_names=[f.name for f in file_columns], skip_rows=spec.text.skip_header_lines
        ),
        convert_options=pacsv.ConvertOptions(
            column_types={f.name: f.type for f in file_columns},
            strings_can_be_null=False,
        ),
    )


def dataset_path(location: str) -> str:
    """A pyarrow path: `bucket/prefix` for s3 URLs, the directory otherwise."""
    if location.startswith("s3://"):
        return location[len("s3://") :].rstrip("/")
    if not location:
        raise QueryError("table has no location")
    return location.rstrip("/")


def _one_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    # DuckDB prefixes its error class ("Catalog Error: ..."), which says nothing to analysts.
    return lines[0].split(" Error: ", 1)[-1] if lines else type(exc).__name__
