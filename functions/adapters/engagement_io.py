"""Engagement I/O with injected boto3 clients: Parquet objects, day state, Glue partitions,
metrics. Throttling and server errors become TransientError (the caller retries); anything
else is a bug and propagates.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any, Final

import pyarrow as pa
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import BotoCoreError, ClientError

from functions.adapters import s3_objects
from functions.adapters.aws_errors import classified
from functions.core import schemas
from functions.core.engagement_state import (
    DAY_PK,
    FRESHNESS_PK,
    FRESHNESS_SK,
    DayState,
    day_state,
)
from functions.core.parquet import write_parquet
from functions.core.times import format_millis, parse_time

_SERIALIZER: Final = TypeSerializer()
_DESERIALIZER: Final = TypeDeserializer()
MAX_METRIC_DATA: Final = 1000  # PutMetricData's limit per call
# s3transfer's own multipart threshold: a file up to it goes up in one PutObject anyway.
SINGLE_PUT_MAX_BYTES: Final = 8 * 2**20


def _attrs(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _SERIALIZER.serialize(v) for k, v in item.items()}


def _plain(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _DESERIALIZER.deserialize(v) for k, v in item.items()}


# --- S3 ------------------------------------------------------------------------------


def put_object(s3: Any, *, bucket: str, key: str, body: bytes) -> None:
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    except (ClientError, BotoCoreError) as exc:
        raise classified(exc, f"put s3://{bucket}/{key}") from exc


def delete_object(s3: Any, *, bucket: str, key: str) -> None:
    """Delete one object (deleting a key that does not exist succeeds, as in S3)."""
    try:
        s3.delete_object(Bucket=bucket, Key=key)
    except (ClientError, BotoCoreError) as exc:
        raise classified(exc, f"delete s3://{bucket}/{key}") from exc


def read_parquet(s3: Any, *, bucket: str, keys: Sequence[str], schema: pa.Schema) -> pa.Table:
    """The objects at `keys` as one table of `schema`, in key order (empty when none)."""
    tables = s3_objects.read_tables(s3, bucket=bucket, keys=keys, schema=schema)
    return pa.concat_tables(tables) if tables else schema.empty_table()


def read_partition(
    s3: Any, *, bucket: str, table: schemas.Table, partitions: Mapping[str, str]
) -> pa.Table:
    """Every file of one partition of a registry table (file schema, without partitions)."""
    keys = s3_objects.list_keys(s3, bucket=bucket, prefix=partition_prefix(table, partitions))
    return read_parquet(
        s3,
        bucket=bucket,
        keys=[k for k in keys if k.endswith(".parquet")],
        schema=table.arrow_schema(),
    )


def download_partition(
    s3: Any,
    *,
    bucket: str,
    table: schemas.Table,
    partitions: Mapping[str, str],
    directory: str,
) -> list[str]:
    """Every Parquet file of one partition, downloaded to `directory`; local paths, in key order.

    Each object is streamed to disk in chunks, so a day of any size costs disk (Lambda's
    ephemeral storage), not memory; the caller's engine then scans the files. A day is many
    small files (one per ingest batch and event date): one GetObject each, several at a time
    (`download_file` adds a HeadObject and a thread pool per file, 2x the requests), and a
    dirty day computed again finds all but its newest files in the warm container's cache.
    """
    etags = s3_objects.list_etags(s3, bucket=bucket, prefix=partition_prefix(table, partitions))
    jobs = [
        (key, os.path.join(directory, f"{number:06d}.parquet"))
        for number, key in enumerate(k for k in etags if k.endswith(".parquet"))
    ]

    def fetch(job: tuple[str, str]) -> None:
        key, path = job
        s3_objects.download(s3, bucket=bucket, key=key, path=path, etag=etags[key])

    s3_objects.in_parallel(fetch, jobs)
    return [path for _, path in jobs]


def upload_file(s3: Any, *, bucket: str, key: str, path: str) -> None:
    """A local file to S3: a small one in one PutObject, a large one streamed (multipart)
    and never read into memory whole. (The transfer manager costs a thread pool per file,
    which a day of a few MiB, the usual one, does not need.)"""
    if os.path.getsize(path) <= SINGLE_PUT_MAX_BYTES:
        with open(path, "rb") as body:
            put_object(s3, bucket=bucket, key=key, body=body.read())
        return
    try:
        s3.upload_file(path, bucket, key)
    except (ClientError, BotoCoreError, S3UploadFailedError) as exc:
        raise classified(exc, f"upload s3://{bucket}/{key}") from exc


def partition_prefix(table: schemas.Table, partitions: Mapping[str, str]) -> str:
    path = "/".join(f"{k}={partitions[k]}" for k in table.partition_names)
    return f"{table.prefix}/{path}/"


# --- state table ---------------------------------------------------------------------


def mark_dirty(dynamodb: Any, *, table: str, day: str, arrived_at: datetime) -> bool:
    """Count a late arrival for `day` if the day was already aggregated; True if marked."""
    try:
        dynamodb.update_item(
            TableName=table,
            Key=_attrs({"pk": DAY_PK, "sk": day}),
            UpdateExpression="ADD marks :one SET last_late_arrival = :at",
            ConditionExpression="attribute_exists(aggregated_at)",
            ExpressionAttributeValues=_attrs({":one": 1, ":at": format_millis(arrived_at)}),
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False  # never aggregated: the day's first run will see the click anyway
        raise classified(exc, f"mark {day} dirty") from exc
    except BotoCoreError as exc:
        raise classified(exc, f"mark {day} dirty") from exc
    return True


def day_states(dynamodb: Any, *, table: str) -> list[DayState]:
    """Every engagement day the state table knows."""
    states: list[DayState] = []
    try:
        pages = dynamodb.get_paginator("query").paginate(
            TableName=table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues=_attrs({":pk": DAY_PK}),
            ConsistentRead=True,
        )
        for page in pages:
            states.extend(day_state(_plain(item)) for item in page.get("Items", []))
    except (ClientError, BotoCoreError) as exc:
        raise classified(exc, "query engagement days") from exc
    return states


def get_day_state(dynamodb: Any, *, table: str, day: date) -> DayState:
    try:
        found = dynamodb.get_item(
            TableName=table, Key=_attrs({"pk": DAY_PK, "sk": day.isoformat()}), ConsistentRead=True
        )
    except (ClientError, BotoCoreError) as exc:
        raise classified(exc, f"get engagement day {day}") from exc
    raw = found.get("Item")
    return day_state(_plain(raw) if raw else {"sk": day.isoformat()})


def record_aggregated(
    dynamodb: Any,
    *,
    table: str,
    day: date,
    at: datetime,
    seen_marks: int,
    run_id: str,
    landed: int,
    unknown_accounts: Sequence[str] = (),
) -> None:
    """The day is published as of `seen_marks` late arrivals (marks that come after stay dirty);
    `aggregated_at` keeps the first publication; `landed` = distinct clicks kept (0 for a day
    aggregated before any data: it covers nothing); `unknown_accounts`: the accounts whose
    clicks this run quarantined as unknown (the day is recomputed once one is created)."""
    try:
        dynamodb.update_item(
            TableName=table,
            Key=_attrs({"pk": DAY_PK, "sk": day.isoformat()}),
            UpdateExpression=(
                "SET aggregated_at = if_not_exists(aggregated_at, :at), clean_marks = :seen, "
                "last_run = :run, last_run_at = :at, landed = :landed, unknown_accounts = :unknown"
            ),
            ExpressionAttributeValues=_attrs(
                {
                    ":at": format_millis(at),
                    ":seen": seen_marks,
                    ":run": run_id,
                    ":landed": landed,
                    ":unknown": sorted(unknown_accounts),
                }
            ),
        )
    except (ClientError, BotoCoreError) as exc:
        raise classified(exc, f"record {day} aggregated") from exc


def advance_newest_event(dynamodb: Any, *, table: str, newest: datetime) -> bool:
    """Move the newest event time landed forward (never back); True if it moved."""
    text = format_millis(newest)
    try:
        dynamodb.update_item(
            TableName=table,
            Key=_attrs({"pk": FRESHNESS_PK, "sk": FRESHNESS_SK}),
            UpdateExpression="SET newest_event_time = :t",
            ConditionExpression="attribute_not_exists(newest_event_time) OR newest_event_time < :t",
            ExpressionAttributeValues=_attrs({":t": text}),
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise classified(exc, "advance newest event time") from exc
    except BotoCoreError as exc:
        raise classified(exc, "advance newest event time") from exc
    return True


def newest_event(dynamodb: Any, *, table: str) -> datetime | None:
    try:
        found = dynamodb.get_item(
            TableName=table,
            Key=_attrs({"pk": FRESHNESS_PK, "sk": FRESHNESS_SK}),
            ConsistentRead=True,
        )
    except (ClientError, BotoCoreError) as exc:
        raise classified(exc, "get newest event time") from exc
    item = found.get("Item")
    if not item:
        return None
    return parse_time(_plain(item)["newest_event_time"])


# --- metrics -------------------------------------------------------------------------


def put_metrics(
    cloudwatch: Any,
    *,
    namespace: str,
    at: datetime,
    values: Sequence[tuple[str, Mapping[str, str], float, str]],
) -> None:
    """PutMetricData of (metric, dimensions, value, unit) datapoints, timestamped `at`."""
    data = [
        {
            "MetricName": metric,
            "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
            "Timestamp": at,
            "Value": float(value),
            "Unit": unit,
        }
        for metric, dimensions, value, unit in values
    ]
    for start in range(0, len(data), MAX_METRIC_DATA):
        try:
            cloudwatch.put_metric_data(
                Namespace=namespace, MetricData=data[start : start + MAX_METRIC_DATA]
            )
        except (ClientError, BotoCoreError) as exc:
            raise classified(exc, "PutMetricData") from exc


def write_producer_counts(s3: Any, *, bucket: str, counts: pa.Table, producer_id: str) -> list[str]:
    """PRODUCER_COUNTS rows (with `dt`) as one file per day and producer:
    `raw/producer_counts/dt=<day>/<producer_id>.parquet`. A producer writes its cumulative
    counts, so rewriting a day's file replaces it with the fuller version; keys written."""
    keys = []
    for dt, body in write_parquet(counts, schemas.PRODUCER_COUNTS).items():
        key = partition_prefix(schemas.PRODUCER_COUNTS, {"dt": dt}) + f"{producer_id}.parquet"
        put_object(s3, bucket=bucket, key=key, body=body)
        keys.append(key)
    return keys
