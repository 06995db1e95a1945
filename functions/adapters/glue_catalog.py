"""Glue partitions of the registry's tables: registered after their Parquet is written, so
Athena sees a partition as soon as it exists (tables using partition projection need none)."""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Sequence
from typing import Any, Final

import pyarrow as pa
from botocore.exceptions import BotoCoreError, ClientError

from functions.adapters import s3_tables
from functions.adapters.aws_errors import classified
from functions.core import schemas
from functions.core.errors import TransientError

_HIVE_PARQUET: Final = "org.apache.hadoop.hive.ql.io.parquet"
_BATCH: Final = 100  # BatchCreatePartition's limit


def partition_location(bucket: str, table: schemas.Table, values: Sequence[str]) -> str:
    keys = "/".join(f"{k}={v}" for k, v in zip(table.partition_names, values, strict=True))
    return f"s3://{bucket}/{table.prefix}/{keys}/"


# Partitions each Glue client has registered or found existing, so a warm Lambda that
# rewrites a partition (a restated day, a re-run) does not ask again. Nothing in the
# pipelines deletes a partition; one deleted by hand is registered again by the next cold
# start. Kept per client object, so a new client (a test's fresh emulator) starts empty.
_KNOWN: weakref.WeakKeyDictionary[Any, dict[tuple[str, str], set[tuple[str, ...]]]] = (
    weakref.WeakKeyDictionary()
)


def register_partitions(
    glue: Any,
    *,
    database: str,
    table: schemas.Table,
    bucket: str,
    values: Iterable[Sequence[str]],
) -> int:
    """Add the partitions (values in partition-key order) the table lacks; an existing one is
    left as it is. Returns how many were created."""
    known = _KNOWN.setdefault(glue, {}).setdefault((database, table.name), set())
    wanted = sorted({tuple(v) for v in values} - known)
    columns = [{"Name": c["name"], "Type": c["type"]} for c in table.glue_columns()]
    created = 0
    for start in range(0, len(wanted), _BATCH):
        chunk = wanted[start : start + _BATCH]
        inputs = [
            {
                "Values": list(v),
                "StorageDescriptor": {
                    "Columns": columns,
                    "Location": partition_location(bucket, table, v),
                    "InputFormat": f"{_HIVE_PARQUET}.MapredParquetInputFormat",
                    "OutputFormat": f"{_HIVE_PARQUET}.MapredParquetOutputFormat",
                    "SerdeInfo": {
                        "SerializationLibrary": f"{_HIVE_PARQUET}.serde.ParquetHiveSerDe"
                    },
                },
            }
            for v in chunk
        ]
        try:
            answer = glue.batch_create_partition(
                DatabaseName=database, TableName=table.name, PartitionInputList=inputs
            )
        except (ClientError, BotoCoreError) as exc:
            raise classified(exc, f"glue partitions of {database}.{table.name}") from exc
        errors = answer.get("Errors", [])
        unexpected = [e for e in errors if _code_of(e) != "AlreadyExistsException"]
        if unexpected:
            raise TransientError(f"glue partitions of {table.name}: {unexpected[:3]}")
        created += len(chunk) - len(errors)
        known.update(chunk)
    return created


def _code_of(error: dict[str, Any]) -> str:
    return str(error.get("ErrorDetail", {}).get("ErrorCode", ""))


def register_keys(
    glue: Any, *, database: str, table: schemas.Table, bucket: str, keys: Sequence[str]
) -> int:
    """Register the partitions the written `keys` live in; how many were created."""
    values = [
        tuple(s3_tables.partitions_of(k, table)[n] for n in table.partition_names) for k in keys
    ]
    return register_partitions(glue, database=database, table=table, bucket=bucket, values=values)


def write_and_register(
    s3: Any,
    glue: Any,
    *,
    bucket: str,
    database: str,
    table: schemas.Table,
    rows: pa.Table,
    name: str,
    kms: bool,
) -> list[str]:
    """One file `name` per partition of `rows` (s3_tables.write_partitioned), then its
    partitions registered in Glue, so Athena sees what was written; the keys."""
    keys = s3_tables.write_partitioned(
        s3, bucket=bucket, table=table, rows=rows, name=name, kms=kms
    )
    register_keys(glue, database=database, table=table, bucket=bucket, keys=keys)
    return keys
