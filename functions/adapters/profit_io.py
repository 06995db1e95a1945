"""S3 and state-table I/O of the profit pipeline (boto3 clients passed in).

Tables are hive-partitioned Parquet under `<table.prefix>/<k>=<v>/<name>.parquet`; a
name is deterministic so a re-run overwrites its own file. Writes to the finance bucket
ask for SSE-KMS explicitly (the bucket's default key is the finance key), so restricted
objects are never stored under another key even if a default changed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import pyarrow as pa
import pyarrow.compute as pc
from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from functions.adapters import glue_catalog, s3_objects, state_store
from functions.adapters.aws_errors import classified
from functions.core import definitions, schemas
from functions.core.errors import ValidationError
from functions.core.parquet import parquet_bytes

MONTH_PK: Final = "profit#month"
SIGNOFF_PK: Final = "profit#signoff"
_DESERIALIZER = TypeDeserializer()


@dataclass(frozen=True)
class Buckets:
    """Physical bucket names of the registry buckets the pipeline touches."""

    raw: str
    curated: str
    finance: str
    quarantine: str

    def for_table(self, table: schemas.Table) -> str:
        return {
            schemas.Bucket.RAW: self.raw,
            schemas.Bucket.CURATED: self.curated,
            schemas.Bucket.FINANCE: self.finance,
            schemas.Bucket.QUARANTINE: self.quarantine,
        }[table.bucket]


def put_bytes(s3: Any, *, bucket: str, key: str, body: bytes, finance: bool) -> str | None:
    """Put the object; the ETag S3 answered with (None if it gave none)."""
    extra: dict[str, str] = {"ServerSideEncryption": "aws:kms"} if finance else {}
    try:
        answer = s3.put_object(Bucket=bucket, Key=key, Body=body, **extra)
    except ClientError as exc:
        raise classified(exc, f"put s3://{bucket}/{key}") from exc
    etag = answer.get("ETag")
    return str(etag) if etag else None


def partition_key(table: schemas.Table, partitions: Mapping[str, str], name: str) -> str:
    path = "/".join(f"{k}={partitions[k]}" for k in table.partition_names)
    return f"{table.prefix}/{path}/{name}.parquet"


def write_partitioned(
    s3: Any,
    *,
    bucket: str,
    table: schemas.Table,
    rows: pa.Table,
    name: str,
    finance: bool,
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
        {tuple(r[k] for k in table.partition_names) for r in _partition_rows(rows, table)}
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
        etag = put_bytes(s3, bucket=bucket, key=key, body=body, finance=finance)
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


def register_partitions(
    glue: Any, *, database: str, table: schemas.Table, bucket: str, keys: list[str]
) -> int:
    """Register the Glue partitions the written `keys` live in (Athena sees them); an
    existing partition is left as it is. Returns how many were created."""
    values = [tuple(_partitions_of(k, table)[n] for n in table.partition_names) for k in keys]
    return glue_catalog.register_partitions(
        glue, database=database, table=table, bucket=bucket, values=values
    )


def _partition_rows(rows: pa.Table, table: schemas.Table) -> list[dict[str, Any]]:
    return rows.select(table.partition_names).to_pylist()


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
        values = _partitions_of(key, table)
        wanted = all(values.get(k) == v for k, v in (partition_filter or {}).items())
        if key.endswith(".parquet") and wanted:
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


def _partitions_of(key: str, table: schemas.Table) -> dict[str, str]:
    values: dict[str, str] = {}
    for segment in key.split("/"):
        name, sep, value = segment.partition("=")
        if sep and name in table.partition_names:
            values[name] = value
    return values


def known_accounts(s3: Any, *, bucket: str) -> frozenset[str] | None:
    """Accounts a creating event created (`definitions.known_accounts` over
    raw_account_events), or None if no account event landed at all."""
    events = read_table(s3, bucket=bucket, table=schemas.RAW_ACCOUNT_EVENTS)
    if events.num_rows == 0:
        return None
    return definitions.known_accounts(events)


# --- the state table -----------------------------------------------------------------


def record_month(dynamodb: Any, *, table: str, month: str, item: Mapping[str, Any]) -> None:
    state_store.put_record(dynamodb, table=table, item={"pk": MONTH_PK, "sk": month, **item})


def month_record(dynamodb: Any, *, table: str, month: str) -> dict[str, Any] | None:
    return state_store.get_item(dynamodb, table=table, pk=MONTH_PK, sk=month)


def month_records(dynamodb: Any, *, table: str) -> list[dict[str, Any]]:
    """Every computed month's record (a few a year: one query, no pagination concerns
    until decades of months)."""
    return _query(
        dynamodb,
        table=table,
        condition="pk = :pk",
        values={":pk": {"S": MONTH_PK}},
        what="query profit months",
    )


def signoffs(dynamodb: Any, *, table: str, month: str) -> list[dict[str, Any]]:
    """Every sign-off of `month`, oldest first (an append-only trail: one item each)."""
    items = _query(
        dynamodb,
        table=table,
        condition="pk = :pk AND begins_with(sk, :month)",
        values={":pk": {"S": SIGNOFF_PK}, ":month": {"S": f"{month}#"}},
        what=f"query the sign-offs of {month}",
    )
    return sorted(items, key=lambda item: str(item["sk"]))


def _query(
    dynamodb: Any, *, table: str, condition: str, values: Mapping[str, Any], what: str
) -> list[dict[str, Any]]:
    """Every item a consistent Query finds, deserialised, over all its pages."""
    items: list[dict[str, Any]] = []
    pages = dynamodb.get_paginator("query").paginate(
        TableName=table,
        KeyConditionExpression=condition,
        ExpressionAttributeValues=dict(values),
        ConsistentRead=True,
    )
    try:
        for page in pages:
            items.extend(
                {name: _DESERIALIZER.deserialize(value) for name, value in raw.items()}
                for raw in page.get("Items", [])
            )
    except ClientError as exc:
        raise classified(exc, what) from exc
    return items


def signoff(dynamodb: Any, *, table: str, month: str) -> dict[str, Any] | None:
    """The latest sign-off of `month`, or None."""
    trail = signoffs(dynamodb, table=table, month=month)
    return trail[-1] if trail else None


def record_signoff(
    dynamodb: Any, *, table: str, month: str, by: str, note: str, at: datetime, figures: str
) -> dict[str, Any]:
    """Append a sign-off of `figures` (the month's reconciliation as the accountant saw it).
    The same figures signed off again are refused; figures that changed since the latest
    sign-off get an entry of their own, the earlier ones kept."""
    latest = signoff(dynamodb, table=table, month=month)
    if latest is not None and latest.get("figures") == figures:
        raise ValidationError(
            f"{month} was signed off with these figures by {latest['by']} at {latest['at']}",
            reason="already_signed_off",
        )
    stamp = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    item = {
        "pk": SIGNOFF_PK,
        "sk": f"{month}#{stamp}",
        "month": month,
        "by": by,
        "note": note,
        "at": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "figures": figures,
    }
    state_store.put_record(dynamodb, table=table, item=item)
    return item


def signed_off_figures(signed: dict[str, Any] | None, figures: str) -> bool:
    """Whether the latest sign-off covers `figures` (the month's reconciliation now)."""
    return signed is not None and signed.get("figures") == figures


def as_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)
