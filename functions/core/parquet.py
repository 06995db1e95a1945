"""Parquet files of a registry table, written the same way everywhere (pure).

Deterministic: the same rows give the same bytes (fixed writer options, no run timestamps,
no Arrow schema blob), so a rerun overwrites a file with itself and tests compare bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from functions.core import schemas


def writer_options(
    *, dictionary_columns: Sequence[str] | None = None, compression_level: int = 3
) -> dict[str, Any]:
    """The options every Parquet file of the lake is written with.

    `dictionary_columns` limits dictionary encoding to the columns that repeat (None: all);
    trying it on unique columns like ids costs time and saves nothing.
    """
    return {
        "compression": "zstd",
        "compression_level": compression_level,
        "use_dictionary": True if dictionary_columns is None else list(dictionary_columns),
        "write_statistics": True,
        "store_schema": False,  # the Arrow schema blob adds nothing the registry lacks
    }


def parquet_bytes(
    table: pa.Table,
    registry: schemas.Table,
    *,
    dictionary_columns: Sequence[str] | None = None,
    compression_level: int = 3,
) -> bytes:
    """`table` as Parquet with the registry's file schema and the lake's writer options."""
    schema = registry.arrow_schema()
    body = table.select(schema.names).cast(schema)
    sink = pa.BufferOutputStream()
    pq.write_table(
        body,
        sink,
        **writer_options(
            dictionary_columns=dictionary_columns, compression_level=compression_level
        ),
    )
    return bytes(sink.getvalue().to_pybytes())


def write_parquet(
    table: pa.Table,
    registry: schemas.Table,
    *,
    dictionary_columns: Sequence[str] | None = None,
    compression_level: int = 3,
) -> dict[str, bytes]:
    """One Parquet file per `dt` of `table`, without the partition column (it is in the key)."""
    if "dt" not in registry.partition_names:
        raise ValueError(f"{registry.name} is not partitioned by dt")
    files: dict[str, bytes] = {}
    dates = sorted(pc.unique(table.column("dt")).to_pylist())
    for dt in dates:
        part = table if len(dates) == 1 else table.filter(pc.equal(table.column("dt"), dt))
        files[dt] = parquet_bytes(
            part,
            registry,
            dictionary_columns=dictionary_columns,
            compression_level=compression_level,
        )
    return files


def file_writer(
    path: str,
    schema: pa.Schema,
    *,
    dictionary_columns: Sequence[str] | None = None,
    compression_level: int = 3,
) -> pq.ParquetWriter:
    """A Parquet file written in row groups, with the same options as `parquet_bytes`."""
    return pq.ParquetWriter(
        path,
        schema,
        **writer_options(
            dictionary_columns=dictionary_columns, compression_level=compression_level
        ),
    )
