"""Writing a curated table from a handler: the deployed buckets, database and clients."""

from __future__ import annotations

from typing import Any

from functions.adapters import glue_catalog
from functions.core import schemas
from functions.handlers.clients import client
from functions.handlers.settings import settings


def write_curated(table: schemas.Table, rows: Any, *, name: str) -> list[str]:
    """One file `name` per partition of `rows` at its deterministic key (a re-run
    overwrites), registered in Glue; the keys."""
    config = settings()
    return glue_catalog.write_and_register(
        client("s3"),
        client("glue"),
        bucket=config.curated_bucket,
        database=config.curated_database,
        table=table,
        rows=rows,
        name=name,
        kms=False,
    )
