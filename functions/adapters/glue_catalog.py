"""Glue partitions of the registry's tables: registered after their Parquet is written, so
Athena sees a partition as soon as it exists (tables using partition projection need none);
published (moved to a new location in one call) by the writers that write each version of a
partition under a prefix of its own; and the working tables of the pipelines' Athena
queries dropped."""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Sequence
from typing import Any, Final

import pyarrow as pa
from botocore.exceptions import BotoCoreError, ClientError

from functions.adapters import s3_tables
from functions.adapters.aws_errors import classified, error_code
from functions.core import schemas
from functions.core.errors import TransientError

_HIVE_PARQUET: Final = "org.apache.hadoop.hive.ql.io.parquet"
_BATCH: Final = 100  # BatchCreatePartition's limit


def partition_location(bucket: str, table: schemas.Table, values: Sequence[str]) -> str:
    keys = "/".join(f"{k}={v}" for k, v in zip(table.partition_names, values, strict=True))
    return f"s3://{bucket}/{table.prefix}/{keys}/"


def _partition_input(table: schemas.Table, values: Sequence[str], location: str) -> dict[str, Any]:
    return {
        "Values": list(values),
        "StorageDescriptor": {
            "Columns": [{"Name": c["name"], "Type": c["type"]} for c in table.glue_columns()],
            "Location": location,
            "InputFormat": f"{_HIVE_PARQUET}.MapredParquetInputFormat",
            "OutputFormat": f"{_HIVE_PARQUET}.MapredParquetOutputFormat",
            "SerdeInfo": {"SerializationLibrary": f"{_HIVE_PARQUET}.serde.ParquetHiveSerDe"},
        },
    }


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
    created = 0
    for start in range(0, len(wanted), _BATCH):
        chunk = wanted[start : start + _BATCH]
        inputs = [_partition_input(table, v, partition_location(bucket, table, v)) for v in chunk]
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


def partition_location_of(
    glue: Any, *, database: str, table: schemas.Table, values: Sequence[str]
) -> str | None:
    """Where the partition is published (its Location), None if Glue has no such partition."""
    try:
        answer = glue.get_partition(
            DatabaseName=database, TableName=table.name, PartitionValues=list(values)
        )
    except ClientError as exc:
        if error_code(exc) == "EntityNotFoundException":
            return None
        raise classified(exc, f"glue partition {values} of {database}.{table.name}") from exc
    except BotoCoreError as exc:
        raise classified(exc, f"glue partition {values} of {database}.{table.name}") from exc
    return str(answer["Partition"]["StorageDescriptor"]["Location"])


def publish_partition(
    glue: Any, *, database: str, table: schemas.Table, values: Sequence[str], location: str
) -> None:
    """Point the partition at `location` (`s3://bucket/prefix/`, where a new version of it
    was written): one UpdatePartition, so Athena reads the old version or the new one, never
    a mix. The update is asked first (a day is published again far more often than for the
    first time); a partition Glue lacks is created, and one created meanwhile by another
    run is updated after all."""
    wanted = _partition_input(table, values, location)
    what = f"publish {values} of {database}.{table.name}"
    names = {"DatabaseName": database, "TableName": table.name}
    update = {**names, "PartitionValueList": list(values), "PartitionInput": wanted}
    updated = _glue_call(glue.update_partition, what, "EntityNotFoundException", **update)
    published = updated or _glue_call(
        glue.create_partition, what, "AlreadyExistsException", **names, PartitionInput=wanted
    )
    if not published:  # created by another run since the update was refused
        _glue_call(glue.update_partition, what, None, **update)
    _KNOWN.setdefault(glue, {}).setdefault((database, table.name), set()).add(tuple(values))


def _glue_call(call: Any, what: str, tolerated: str | None, **request: Any) -> bool:
    """Make the Glue call; False if it failed with the `tolerated` error code, the typed
    error for any other failure."""
    try:
        call(**request)
    except ClientError as exc:
        if tolerated is not None and error_code(exc) == tolerated:
            return False
        raise classified(exc, what) from exc
    except BotoCoreError as exc:
        raise classified(exc, what) from exc
    return True


def drop_table(glue: Any, *, database: str, name: str) -> bool:
    """Delete a table's Glue entry (its files stay: an external table's data is not Glue's);
    False if there was none."""
    try:
        glue.delete_table(DatabaseName=database, Name=name)
    except ClientError as exc:
        if error_code(exc) == "EntityNotFoundException":
            return False
        raise classified(exc, f"drop {database}.{name}") from exc
    except BotoCoreError as exc:
        raise classified(exc, f"drop {database}.{name}") from exc
    return True


def table_location(glue: Any, *, database: str, name: str) -> str:
    """Where a table's files are (its StorageDescriptor's Location)."""
    try:
        answer = glue.get_table(DatabaseName=database, Name=name)
    except (ClientError, BotoCoreError) as exc:
        raise classified(exc, f"glue table {database}.{name}") from exc
    return str(answer["Table"]["StorageDescriptor"]["Location"])
