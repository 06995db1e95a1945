"""How a day of the daily engagement tables is published, by either engine (docs/scaling.md,
"Publishing a day").

A run writes each table's files for the day under a prefix of its own inside the day's
partition, `<table>/dt=<day>/version=<v>/`, then points the table's Glue partition at it
(one UpdatePartition: Athena reads the old version or the new one, never a mix), then deletes
the day's other files. So:

- a reader through Glue (Athena, the analysts) always reads exactly the published version;
- a reader of the day's prefix (s3_tables.read_partition and read_days, the lake snapshot,
  the executive's input versions) reads the one version left once a publish has finished;
- a run that fails before publishing leaves the partition where it was, and the workflow
  deletes what it wrote (`discard`): the previous version stays the only one.

The DuckDB path names a version by its bytes (a digest), so a re-run that computes the same
bytes writes the same keys and publishes nothing new; the Athena path names it by the run
(Athena refuses to write into a non-empty prefix, and its files' bytes are its own).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any, Final

import pyarrow as pa

from functions.adapters import glue_catalog, s3_objects, s3_tables
from functions.core import schemas
from functions.handlers.settings import Settings

# The tables a day's run writes; each is published as one version.
DAY_TABLES: Final = (
    schemas.CLICKS,
    schemas.DEDUP_DAILY,
    schemas.ENGAGEMENT_USER_DAILY,
    schemas.STREAM_COMPLETENESS,
    schemas.ENGAGEMENT_DAILY,
)
VERSION_KEY: Final = "version"
DATA_FILE: Final = "data.parquet"


def day_prefix(table: schemas.Table, day: date) -> str:
    return s3_tables.partition_prefix(table, {"dt": day.isoformat()})


def version_prefix(table: schemas.Table, day: date, version: str) -> str:
    return f"{day_prefix(table, day)}{VERSION_KEY}={version}/"


def location(bucket: str, prefix: str) -> str:
    return f"s3://{bucket}/{prefix}"


def _prefix_of(url: str) -> tuple[str, str]:
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    return bucket, prefix


def published_location(glue: Any, config: Settings, table: schemas.Table, day: date) -> str | None:
    return glue_catalog.partition_location_of(
        glue, database=config.curated_database, table=table, values=[day.isoformat()]
    )


def data_etags(s3: Any, url: str) -> dict[str, str]:
    """The data files at a location (`s3_tables.is_data_key`) with their ETags, in key order.
    At a day's own prefix (where the DuckDB path wrote before versions), the version folders
    are not part of it."""
    bucket, prefix = _prefix_of(url)
    return {
        key: etag
        for key, etag in s3_objects.list_etags(s3, bucket=bucket, prefix=prefix).items()
        if s3_tables.is_data_key(key) and not key[len(prefix) :].startswith(f"{VERSION_KEY}=")
    }


def read_location(s3: Any, url: str, table: schemas.Table) -> pa.Table:
    """The rows of the data files at `url`, as the table's file schema (a file this
    container read before with the listed ETag from its cache)."""
    bucket, _ = _prefix_of(url)
    schema = table.arrow_schema()
    etags = data_etags(s3, url)
    tables = s3_objects.read_tables(s3, bucket=bucket, keys=list(etags), schema=schema, etags=etags)
    return pa.concat_tables(tables) if tables else schema.empty_table()


def read_published(
    s3: Any, glue: Any, config: Settings, table: schemas.Table, day: date
) -> pa.Table | None:
    """The day's published rows of `table` (where Glue points), None if never published."""
    url = published_location(glue, config, table, day)
    return None if url is None else read_location(s3, url, table)


def publish(
    s3: Any, glue: Any, config: Settings, day: date, versions: Mapping[schemas.Table, str]
) -> None:
    """Point each table's partition of `day` at its version, then delete the day's other
    files of that table (older versions, a failed run's leftovers). The tables are
    independent of one another: they are published side by side."""
    bucket = config.curated_bucket

    def publish_table(item: tuple[schemas.Table, str]) -> None:
        table, version = item
        prefix = version_prefix(table, day, version)
        glue_catalog.publish_partition(
            glue,
            database=config.curated_database,
            table=table,
            values=[day.isoformat()],
            location=location(bucket, prefix),
        )
        stale = [
            k
            for k in s3_objects.list_keys(s3, bucket=bucket, prefix=day_prefix(table, day))
            if not k.startswith(prefix)
        ]
        s3_objects.delete_keys(s3, bucket=bucket, keys=stale)

    s3_objects.in_parallel(publish_table, list(versions.items()))


def discard(
    s3: Any, glue: Any, config: Settings, day: date, versions: Mapping[schemas.Table, str]
) -> list[str]:
    """Delete the files of each version that is not the published one (a failed run's);
    the keys deleted."""
    bucket = config.curated_bucket
    deleted: list[str] = []
    for table, version in versions.items():
        prefix = version_prefix(table, day, version)
        if published_location(glue, config, table, day) == location(bucket, prefix):
            continue
        keys = s3_objects.list_keys(s3, bucket=bucket, prefix=prefix)
        s3_objects.delete_keys(s3, bucket=bucket, keys=keys)
        deleted.extend(keys)
    return deleted
