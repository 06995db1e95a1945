"""The lake's tables in S3: the schema registry's tables as hive-partitioned Parquet under
`<table.prefix>/<k>=<v>/<name>.parquet` (objects themselves: s3_objects).

A file name is deterministic, so a re-run overwrites its own file. Writes to a restricted
table's bucket ask for SSE-KMS explicitly (s3_objects.put_object). Clients are passed in.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from functions.adapters import s3_objects
from functions.core import schemas
from functions.core.parquet import parquet_bytes, write_parquet

# --- where a table's files are ---------------------------------------------------------


def partition_prefix(table: schemas.Table, partitions: Mapping[str, str]) -> str:
    path = "/".join(f"{k}={partitions[k]}" for k in table.partition_names)
    return f"{table.prefix}/{path}/"


def partition_key(table: schemas.Table, partitions: Mapping[str, str], name: str) -> str:
    return f"{partition_prefix(table, partitions)}{name}.parquet"


def object_key(table: schemas.Table, name: str) -> str:
    """The file `name` of a table without partitions."""
    return f"{table.prefix}/{name}.parquet"


def partitions_of(key: str, table: schemas.Table) -> dict[str, str]:
    """The table's partition values in a key (those it has)."""
    values: dict[str, str] = {}
    for segment in key.split("/"):
        name, sep, value = segment.partition("=")
        if sep and name in table.partition_names:
            values[name] = value
    return values


def dt_of(key: str) -> str | None:
    """The `dt` partition value in a key, if any."""
    for segment in key.split("/"):
        name, _, value = segment.partition("=")
        if name == "dt":
            return value
    return None


def is_data_key(key: str) -> bool:
    """A data file of a table: a `.parquet` object (the functions' files) or one with no
    extension (Athena's CREATE TABLE AS names its files so); hidden names (`_`, `.`), as
    Hive and Athena skip them, and other extensions are not data."""
    name = key.rsplit("/", 1)[-1]
    if not name or name.startswith(("_", ".")):
        return False
    return name.endswith(".parquet") or "." not in name


def parquet_keys(s3: Any, *, bucket: str, prefix: str) -> list[str]:
    """Every data file under `prefix` (`is_data_key`), sorted."""
    return [k for k in s3_objects.list_keys(s3, bucket=bucket, prefix=prefix) if is_data_key(k)]


# --- reading ---------------------------------------------------------------------------


def read_table(
    s3: Any, *, bucket: str, table: schemas.Table, partition_filter: Mapping[str, str] | None = None
) -> pa.Table:
    """Every Parquet file of `table` (optionally one partition), partitions as columns."""
    prefix = f"{table.prefix}/"
    if partition_filter:
        # Only a leading run of partition keys narrows the listing.
        for name in table.partition_names:
            if name not in partition_filter:
                break
            prefix += f"{name}={partition_filter[name]}/"
    schema = table.arrow_schema(with_partitions=True)
    keyed: list[tuple[str, dict[str, str]]] = []
    etags = s3_objects.list_etags(s3, bucket=bucket, prefix=prefix)
    for key in etags:
        values = partitions_of(key, table)
        wanted = all(values.get(k) == v for k, v in (partition_filter or {}).items())
        if is_data_key(key) and wanted:
            keyed.append((key, values))
    parts: list[pa.Table] = []
    bodies = s3_objects.read_tables(s3, bucket=bucket, keys=[key for key, _ in keyed], etags=etags)
    for (_, values), rows in zip(keyed, bodies, strict=True):
        for name in table.partition_names:
            column = pa.array([values[name]] * rows.num_rows, pa.string())
            rows = rows.append_column(name, column)  # noqa: PLW2901 (extended in place)
        parts.append(rows.select(schema.names).cast(schema))
    if not parts:
        return schema.empty_table()
    return pa.concat_tables(parts)


def read_files(s3: Any, *, bucket: str, table: schemas.Table) -> pa.Table:
    """Every Parquet file of a registry table, concatenated (file schema, no partitions)."""
    schema = table.arrow_schema()
    etags = s3_objects.list_etags(s3, bucket=bucket, prefix=f"{table.prefix}/")
    keys = [key for key in etags if is_data_key(key)]
    tables = s3_objects.read_tables(s3, bucket=bucket, keys=keys, schema=schema, etags=etags)
    return pa.concat_tables(tables) if tables else schema.empty_table()


def read_partition(
    s3: Any, *, bucket: str, table: schemas.Table, partitions: Mapping[str, str]
) -> pa.Table:
    """Every file of one partition of a registry table (file schema, without partitions);
    a file this container read before with the listed ETag comes from its cache."""
    etags = s3_objects.list_etags(s3, bucket=bucket, prefix=partition_prefix(table, partitions))
    keys = [key for key in etags if is_data_key(key)]
    schema = table.arrow_schema()
    tables = s3_objects.read_tables(s3, bucket=bucket, keys=keys, schema=schema, etags=etags)
    return pa.concat_tables(tables) if tables else schema.empty_table()


def read_days(s3: Any, *, bucket: str, table: schemas.Table, first: date, last: date) -> pa.Table:
    """Rows of a `dt`-partitioned table for the days first..last, `dt` as a column: one
    listing of the table, not one per day, that starts at `first` when `dt` is the first
    partition (keys sort by day then), so years of older days are never listed."""
    schema = table.arrow_schema(with_partitions=True)
    etags, keyed = _day_keys(s3, bucket=bucket, table=table, first=first, last=last)
    tables = s3_objects.read_tables(s3, bucket=bucket, keys=[key for key, _ in keyed], etags=etags)
    parts = [
        rows.append_column("dt", pa.array([dt] * rows.num_rows, pa.string()))
        .select(schema.names)
        .cast(schema)
        for (_, dt), rows in zip(keyed, tables, strict=True)
    ]
    return pa.concat_tables(parts) if parts else schema.empty_table()


def download_days(
    s3: Any, *, bucket: str, table: schemas.Table, first: date, last: date, directory: str
) -> list[str]:
    """The Parquet files of the days first..last (one listing, as `read_days`), downloaded
    to `directory/dt=<day>/`: local paths, in key order. The day is in the path (hive
    style), not in the files: a reader takes `dt` from there."""
    etags, keyed = _day_keys(s3, bucket=bucket, table=table, first=first, last=last)
    jobs = [
        (key, os.path.join(directory, f"dt={dt}", f"{number:06d}.parquet"))
        for number, (key, dt) in enumerate(keyed)
    ]
    for day in {os.path.dirname(path) for _, path in jobs}:
        os.makedirs(day, exist_ok=True)

    def fetch(job: tuple[str, str]) -> None:
        key, path = job
        s3_objects.download(s3, bucket=bucket, key=key, path=path, etag=etags[key])

    s3_objects.in_parallel(fetch, jobs)
    return [path for _, path in jobs]


def _day_keys(
    s3: Any, *, bucket: str, table: schemas.Table, first: date, last: date
) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """The etags of the table's listing from `first`, and its Parquet keys of the days
    first..last with their day, in key order."""
    low, high = first.isoformat(), last.isoformat()
    prefix = f"{table.prefix}/"
    start_after = f"{prefix}dt={low}" if table.partition_names[:1] == ["dt"] else None
    etags = s3_objects.list_etags(s3, bucket=bucket, prefix=prefix, start_after=start_after)
    keyed = [
        (key, dt)
        for key in etags
        if is_data_key(key) and (dt := dt_of(key)) is not None and low <= dt <= high
    ]
    return etags, keyed


def download_objects(
    s3: Any, *, bucket: str, etags: Mapping[str, str], directory: str
) -> list[str]:
    """The objects (`{key: ETag}`, from a listing), downloaded to `directory`; local paths, in
    key order.

    Each object is streamed to disk in chunks, so a day of any size costs disk (Lambda's
    ephemeral storage), not memory; the caller's engine then scans the files. A day is many
    small files (one per ingest batch and event date): one GetObject each, several at a time
    (`download_file` adds a HeadObject and a thread pool per file, 2x the requests), and a
    dirty day computed again finds all but its newest files in the warm container's cache.
    """
    jobs = [
        (key, os.path.join(directory, f"{number:06d}.parquet"))
        for number, key in enumerate(sorted(etags))
    ]

    def fetch(job: tuple[str, str]) -> None:
        key, path = job
        s3_objects.download(s3, bucket=bucket, key=key, path=path, etag=etags[key])

    s3_objects.in_parallel(fetch, jobs)
    return [path for _, path in jobs]


def newest_day(s3: Any, *, bucket: str, table: schemas.Table) -> date | None:
    """The newest `dt` partition holding a file of a dt-partitioned table."""
    days = {dt_of(k) for k in parquet_keys(s3, bucket=bucket, prefix=f"{table.prefix}/")}
    found = sorted(d for d in days if d)
    return date.fromisoformat(found[-1]) if found else None


# --- writing ---------------------------------------------------------------------------


def put_file(s3: Any, *, bucket: str, key: str, rows: pa.Table, table: schemas.Table) -> None:
    """`rows` as one file of `table` at `key` (the registry's file schema)."""
    s3_objects.put_object(
        s3, bucket=bucket, key=key, body=parquet_bytes(rows, table), kms=table.restricted
    )


def write_partitioned(
    s3: Any,
    *,
    bucket: str,
    table: schemas.Table,
    rows: pa.Table,
    name: str,
    kms: bool,
) -> list[str]:
    """One file per partition value combination of `rows`; returns their keys. The files
    are encoded first; those S3 already holds byte for byte are not put again (a rebuild
    recomputes every day of its span, a weekly experiments run ~180 files, most of them
    unchanged: `s3_objects.is_current`), the others s3_objects.FETCH_THREADS at a time, as
    each put waits on the network, not the CPU."""
    if rows.num_rows == 0:
        return []
    files: list[tuple[str, bytes]] = []
    combos = sorted(
        {
            tuple(r[k] for k in table.partition_names)
            for r in rows.select(table.partition_names).to_pylist()
        }
    )
    for combo in combos:
        mask = None
        for name_, value in zip(table.partition_names, combo, strict=True):
            clause = pc.equal(rows.column(name_), value)
            mask = clause if mask is None else pc.and_(mask, clause)
        part = rows.filter(mask)
        key = partition_key(table, dict(zip(table.partition_names, combo, strict=True)), name)
        files.append((key, parquet_bytes(part, table)))

    def put(file: tuple[str, bytes]) -> None:
        key, body = file
        etag = s3_objects.put_object(s3, bucket=bucket, key=key, body=body, kms=kms)
        s3_objects.remember_written(bucket=bucket, key=key, etag=etag, body=body)

    # Only the keys about to be written are listed, not the table: their common prefix,
    # character by character, as S3 prefixes are (one key is its own prefix).
    written_prefix = os.path.commonprefix([key for key, _ in files])  # noqa: RUF071
    held = s3_objects.list_etags(s3, bucket=bucket, prefix=written_prefix)
    changed = [
        (key, body)
        for key, body in files
        if not s3_objects.is_current(bucket=bucket, key=key, etag=held.get(key), body=body)
    ]
    s3_objects.in_parallel(put, changed)
    return [key for key, _ in files]


def write_per_day(
    s3: Any, *, bucket: str, table: schemas.Table, rows: pa.Table, name: str
) -> list[str]:
    """Rows with `dt` as one file `name` per day, each put whole (a writer that rewrites its
    day's file replaces it with the fuller version); keys written."""
    keys = []
    for dt, body in write_parquet(rows, table).items():
        key = partition_key(table, {"dt": dt}, name)
        s3_objects.put_object(s3, bucket=bucket, key=key, body=body)
        keys.append(key)
    return keys


def put_unless_newer(
    s3: Any,
    *,
    bucket: str,
    key: str,
    body: bytes,
    version: str,
    version_metadata: str,
    metadata: Mapping[str, str],
) -> bool:
    """Put `body` with `version` in the object's metadata `version_metadata`, unless the
    stored object carries a greater version; False when it does (nothing written).
    Versions are strings of one format whose order is their version order."""
    stored = (s3_objects.metadata(s3, bucket=bucket, key=key) or {}).get(version_metadata, "")
    if stored > version:
        return False
    s3_objects.put_object(
        s3, bucket=bucket, key=key, body=body, metadata={version_metadata: version, **metadata}
    )
    return True


def delete_stale(
    s3: Any,
    *,
    bucket: str,
    prefix: str,
    name: str,
    keep: Sequence[str],
    through_dt: str | None = None,
) -> list[str]:
    """Delete this writer's files (`<name>.parquet`) under `prefix` that the rebuild did not
    write (`keep`); with `through_dt`, only those of days up to it. Returns the keys."""
    kept = set(keep)
    stale = [
        k
        for k in parquet_keys(s3, bucket=bucket, prefix=prefix)
        if k.endswith(f"/{name}.parquet")
        and k not in kept
        and (through_dt is None or (dt_of(k) or "") <= through_dt)
    ]
    s3_objects.delete_keys(s3, bucket=bucket, keys=stale)
    return stale
