"""Lambda entry point: one Kinesis batch of clicks (event source mapping).

decode_batch (functions.core.ingest.clicks) sorts every record into accepted / duplicate /
quarantined; accepted clicks go to raw_clicks by event date, rejected ones to the quarantine
bucket with their raw bytes; days already aggregated are marked dirty; counts are metrics.

Bad data never raises (that would block the shard). Only a transient downstream failure
(S3, DynamoDB) is reported, as a batch item failure at the batch's first sequence number:
Lambda retries the whole batch, whose files have deterministic keys and are overwritten.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Final

from aws_lambda_powertools import Logger

from functions.adapters import metrics, s3_objects, state_table
from functions.adapters.metrics import Datapoint
from functions.core import metric_names, schemas
from functions.core.errors import TransientError
from functions.core.ingest.clicks import (
    RAW_CLICKS_COMPRESSION_LEVEL,
    RAW_CLICKS_DICTIONARY_COLUMNS,
    BatchOutcome,
    IngestSettings,
    decode_batch,
    object_key,
)
from functions.core.parquet import write_parquet
from functions.handlers.clients import client as _client
from functions.handlers.settings import Settings, settings

RECEIVED_METRIC: Final = metric_names.CLICKS_RECEIVED
ACCEPTED_METRIC: Final = "ClicksAccepted"
DUPLICATE_METRIC: Final = "ClicksDuplicate"
QUARANTINED_METRIC: Final = "ClicksQuarantined"
# A separate name for the per-reason series: the total stays one undimensioned series.
QUARANTINED_BY_REASON_METRIC: Final = "ClicksQuarantinedByReason"
DIRTY_DAYS_METRIC: Final = "ClickDaysMarkedDirty"
REASON_DIMENSION: Final = "Reason"

# The name of a batch's file of in-batch duplicate copies: `<batch_id>-duplicates.parquet`.
DUPLICATE_COPIES_SUFFIX: Final = "-duplicates"

logger = Logger()


def ingest_settings(config: Settings) -> IngestSettings:
    return IngestSettings(allowed_lateness=timedelta(days=config.allowed_lateness_days))


def batch_time(records: list[dict[str, Any]]) -> datetime:
    """The batch's "now": its newest Kinesis arrival time (the stream's clock, not the wall)."""
    arrivals = [
        r.get("kinesis", {}).get("approximateArrivalTimestamp")
        for r in records
        if isinstance(r.get("kinesis", {}).get("approximateArrivalTimestamp"), int | float)
    ]
    if not arrivals:
        return datetime.now(UTC)  # an empty batch: nothing is timestamped with it
    return datetime.fromtimestamp(max(arrivals), UTC)


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    records: list[dict[str, Any]] = event.get("Records", [])
    if not records:
        return {"batchItemFailures": []}
    config = settings()
    now = batch_time(records)
    outcome = decode_batch(records, now=now, settings=ingest_settings(config))
    try:
        write_outcome(outcome, config)
        dirty = mark_late_days(outcome, config, now)
    except TransientError as exc:
        first = records[0]["kinesis"]["sequenceNumber"]
        logger.warning("transient failure: batch will be retried", extra={"error": str(exc)})
        return {"batchItemFailures": [{"itemIdentifier": first}]}
    publish_counts(outcome, config, now, dirty_days=len(dirty))
    logger.info(
        "batch ingested",
        extra={
            "batch_id": outcome.batch_id,
            "received": outcome.received,
            "accepted": outcome.accepted.num_rows,
            "duplicates": outcome.duplicates,
            "quarantined": outcome.quarantined.num_rows,
            "reasons": outcome.reason_counts(),
            "dirty_days": dirty,
        },
    )
    return {"batchItemFailures": []}


def write_outcome(outcome: BatchOutcome, config: Settings) -> None:
    """Quarantine first: a retried batch rewrites both at the same keys."""
    s3 = _client("s3")
    if outcome.quarantined.num_rows:
        pipeline = schemas.Pipeline.ENGAGEMENT.value
        for dt, body in write_parquet(outcome.quarantined, schemas.QUARANTINE).items():
            key = object_key(schemas.QUARANTINE, {"pipeline": pipeline, "dt": dt}, outcome.batch_id)
            s3_objects.put_object(s3, bucket=config.quarantine_bucket, key=key, body=body)
    # The batch's later copies of an event_id go to raw_clicks too, in a file of their own:
    # the daily dedup then counts every duplicate, in-batch ones included (dedup_daily).
    for rows, name in (
        (outcome.accepted, outcome.batch_id),
        (outcome.duplicate_copies, f"{outcome.batch_id}{DUPLICATE_COPIES_SUFFIX}"),
    ):
        if rows.num_rows == 0:
            continue
        files = write_parquet(
            rows,
            schemas.RAW_CLICKS,
            dictionary_columns=RAW_CLICKS_DICTIONARY_COLUMNS,
            compression_level=RAW_CLICKS_COMPRESSION_LEVEL,
        )
        for dt, body in files.items():
            key = object_key(schemas.RAW_CLICKS, {"dt": dt}, name)
            s3_objects.put_object(s3, bucket=config.raw_bucket, key=key, body=body)


def mark_late_days(outcome: BatchOutcome, config: Settings, now: datetime) -> list[str]:
    """Mark the batch's event days that were already aggregated; advance freshness."""
    if outcome.accepted.num_rows == 0:
        return []
    dynamodb = _client("dynamodb")
    dirty = [
        dt
        for dt in outcome.event_dates
        if state_table.mark_dirty(dynamodb, table=config.state_table, day=dt, arrived_at=now)
    ]
    newest = max(outcome.accepted.column("event_time").to_pylist())
    state_table.advance_newest_event(dynamodb, table=config.state_table, newest=newest)
    return dirty


def publish_counts(
    outcome: BatchOutcome, config: Settings, now: datetime, *, dirty_days: int
) -> None:
    """Counts per outcome and per reason. Best effort: the data is already safe, and failing
    the batch for a metric would write it again and count it twice."""
    datapoints = [
        Datapoint(RECEIVED_METRIC, outcome.received),
        Datapoint(ACCEPTED_METRIC, outcome.accepted.num_rows),
        Datapoint(DUPLICATE_METRIC, outcome.duplicates),
        Datapoint(QUARANTINED_METRIC, outcome.quarantined.num_rows),
        Datapoint(DIRTY_DAYS_METRIC, dirty_days),
    ]
    datapoints += [
        Datapoint(QUARANTINED_BY_REASON_METRIC, count, dimensions={REASON_DIMENSION: reason})
        for reason, count in sorted(outcome.reason_counts().items())
    ]
    try:
        metrics.put_metrics(
            _client("cloudwatch"),
            namespace=config.metrics_namespace,
            at=now,
            datapoints=datapoints,
        )
    except TransientError as exc:
        logger.error("metrics not published", extra={"error": str(exc)})
