"""S3 reads every pipeline shares: listing a prefix, getting an object, and fetching many
small Parquet files at once. Errors are classified by the one shared rule (aws_errors)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any, Final

import pyarrow as pa
import pyarrow.parquet as pq
from botocore.exceptions import BotoCoreError, ClientError

from functions.adapters.aws_errors import classified
from functions.core import schemas

# Each GET waits on S3 far longer than its bytes take to parse, and a pipeline's inputs are
# many small files (a day of a table each): they are fetched this many at a time.
FETCH_THREADS: Final = 8


def list_keys(s3: Any, *, bucket: str, prefix: str) -> list[str]:
    """Every key under `prefix`, sorted (so reading them gives the same table every time)."""
    keys: list[str] = []
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys.extend(obj["Key"] for obj in page.get("Contents", []))
    except (ClientError, BotoCoreError) as exc:
        raise classified(exc, f"list s3://{bucket}/{prefix}") from exc
    return sorted(keys)


def read_object(s3: Any, *, bucket: str, key: str) -> bytes:
    try:
        body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except (ClientError, BotoCoreError) as exc:
        raise classified(exc, f"get s3://{bucket}/{key}") from exc
    return body


def read_tables(
    s3: Any, *, bucket: str, keys: Sequence[str], schema: pa.Schema | None = None
) -> list[pa.Table]:
    """One table per Parquet object at `keys`, in key order (read as `schema` if given)."""

    def read(key: str) -> pa.Table:
        return pq.read_table(io.BytesIO(read_object(s3, bucket=bucket, key=key)), schema=schema)

    if len(keys) <= 1:
        return [read(key) for key in keys]
    with ThreadPoolExecutor(max_workers=min(FETCH_THREADS, len(keys))) as pool:
        return list(pool.map(read, keys))


def read_days(s3: Any, *, bucket: str, table: schemas.Table, first: date, last: date) -> pa.Table:
    """Rows of a `dt`-partitioned table for the days first..last, `dt` as a column: one
    listing of the table, not one per day."""
    schema = table.arrow_schema(with_partitions=True)
    low, high = first.isoformat(), last.isoformat()
    keyed = [
        (key, dt)
        for key in list_keys(s3, bucket=bucket, prefix=f"{table.prefix}/")
        if key.endswith(".parquet") and (dt := dt_of(key)) is not None and low <= dt <= high
    ]
    tables = read_tables(s3, bucket=bucket, keys=[key for key, _ in keyed])
    parts = [
        rows.append_column("dt", pa.array([dt] * rows.num_rows, pa.string()))
        .select(schema.names)
        .cast(schema)
        for (_, dt), rows in zip(keyed, tables, strict=True)
    ]
    return pa.concat_tables(parts) if parts else schema.empty_table()


def dt_of(key: str) -> str | None:
    """The `dt` partition value in a key, if any."""
    for segment in key.split("/"):
        name, _, value = segment.partition("=")
        if name == "dt":
            return value
    return None
