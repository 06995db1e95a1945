"""S3 and Glue I/O of the experiment pipeline (boto3 clients passed in).

Tables are hive-partitioned Parquet written through the profit adapter's generic helpers
(`profit_io.write_partitioned`, `read_table`, `register_partitions`): one deterministic key
per partition, so a re-run overwrites byte for byte. What is specific here:

- raw_experiments has no partitions; each experiment's definition is ONE object
  (`raw/raw_experiments/<experiment_id>.parquet`), so a new experiments file replaces the
  definitions of exactly the experiments it lists. The object carries the landing time of
  the file it came from (`x-amz-meta-landed-at`): an older file delivered late (or an
  EventBridge retry of one) never overwrites a newer definition.
- engagement tables are read for a range of days only (`read_days`).
- curated partitions that a rebuild no longer produces are deleted (`delete_stale`), so a
  unit that became a multiple-variant unit disappears from the unit daily table.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any, Final

import pyarrow as pa
from botocore.exceptions import ClientError

from functions.adapters import profit_io, s3_objects
from functions.adapters.aws_errors import classified
from functions.core import schemas
from functions.core.parquet import parquet_bytes

LANDED_AT_METADATA: Final = "landed-at"
SOURCE_KEY_METADATA: Final = "source-key"
GLUE_BATCH: Final = 100  # BatchCreatePartition takes at most 100 partitions per call


def definition_key(experiment_id: str) -> str:
    """The one object of an experiment's definition (ids are path-safe: see ingest)."""
    return f"{schemas.RAW_EXPERIMENTS.prefix}/{experiment_id}.parquet"


def write_definition(
    s3: Any, *, bucket: str, rows: pa.Table, landed_at: str, source_key: str
) -> bool:
    """Store one experiment's RAW_EXPERIMENTS rows unless a newer file already defined it.

    `landed_at` is the landing event's time (ISO 8601 UTC, one format, so string order is
    time order). Returns False when the stored definition is newer (nothing written).
    """
    (experiment_id,) = set(rows.column("experiment_id").to_pylist())
    key = definition_key(experiment_id)
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
        stored = head.get("Metadata", {}).get(LANDED_AT_METADATA, "")
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
            raise classified(exc, f"head s3://{bucket}/{key}") from exc
        stored = ""
    if stored > landed_at:
        return False
    try:
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=parquet_bytes(rows, schemas.RAW_EXPERIMENTS),
            Metadata={LANDED_AT_METADATA: landed_at, SOURCE_KEY_METADATA: source_key},
        )
    except ClientError as exc:
        raise classified(exc, f"put s3://{bucket}/{key}") from exc
    return True


def read_definitions(s3: Any, *, bucket: str) -> pa.Table:
    """Every experiment's current RAW_EXPERIMENTS rows."""
    return profit_io.read_table(s3, bucket=bucket, table=schemas.RAW_EXPERIMENTS)


def read_assignments(s3: Any, *, bucket: str, experiments: Iterable[str]) -> pa.Table:
    """RAW_ASSIGNMENTS rows (with the `experiment` partition) of the given experiments."""
    parts = [
        profit_io.read_table(
            s3,
            bucket=bucket,
            table=schemas.RAW_ASSIGNMENTS,
            partition_filter={"experiment": experiment_id},
        )
        for experiment_id in sorted(set(experiments))
    ]
    schema = schemas.RAW_ASSIGNMENTS.arrow_schema(with_partitions=True)
    return pa.concat_tables(parts) if parts else schema.empty_table()


def _keys(s3: Any, *, bucket: str, prefix: str) -> list[str]:
    return [
        k for k in s3_objects.list_keys(s3, bucket=bucket, prefix=prefix) if k.endswith(".parquet")
    ]


def newest_day(s3: Any, *, bucket: str, table: schemas.Table) -> date | None:
    """The newest `dt` partition holding a file of a dt-partitioned table."""
    days = {s3_objects.dt_of(k) for k in _keys(s3, bucket=bucket, prefix=f"{table.prefix}/")}
    found = sorted(d for d in days if d)
    return date.fromisoformat(found[-1]) if found else None


def write_table(
    s3: Any,
    glue: Any,
    *,
    bucket: str,
    database: str,
    table: schemas.Table,
    rows: pa.Table,
    name: str,
) -> list[str]:
    """One file `name` per partition of `rows`, registered in Glue; returns the keys."""
    keys = profit_io.write_partitioned(
        s3, bucket=bucket, table=table, rows=rows, name=name, finance=False
    )
    for start in range(0, len(keys), GLUE_BATCH):
        profit_io.register_partitions(
            glue,
            database=database,
            table=table,
            bucket=bucket,
            keys=keys[start : start + GLUE_BATCH],
        )
    return keys


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
        for k in _keys(s3, bucket=bucket, prefix=prefix)
        if k.endswith(f"/{name}.parquet")
        and k not in kept
        and (through_dt is None or (s3_objects.dt_of(k) or "") <= through_dt)
    ]
    for key in stale:
        try:
            s3.delete_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            raise classified(exc, f"delete s3://{bucket}/{key}") from exc
    return stale
