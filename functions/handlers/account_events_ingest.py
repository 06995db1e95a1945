"""Lambda entry point: ingest one account_events landing file (EventBridge S3 "Object Created").

Reads the file, validates every line (functions.core.ingest.account_events), resolves event ids
against the state table's ledger (the first copy landed wins), writes the accepted events
as RAW_ACCOUNT_EVENTS Parquet (one file per month of event_time, named after the landing
file, so a redelivered event overwrites) and the rejected lines with their raw bytes and
reason to the quarantine bucket, then publishes the counts. "Now" is the S3 event's time.
Bad data never raises; only I/O failures do (EventBridge/Lambda retry them).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from typing import Any

import pyarrow.compute as pc
from aws_lambda_powertools import Logger

from functions.adapters import glue_catalog, growth_io, s3_objects
from functions.core import env, schemas
from functions.core.errors import ValidationError
from functions.core.ingest import account_events
from functions.core.landing import parse_object_created
from functions.core.parquet import parquet_bytes
from functions.core.transform import growth_paths
from functions.handlers.clients import client as _client

ACCEPTED_METRIC = "AccountEventsAccepted"
DUPLICATE_METRIC = "AccountEventsDuplicates"
QUARANTINED_METRIC = "AccountEventsQuarantined"

logger = Logger()


@dataclass(frozen=True)
class Settings:
    landing_bucket: str
    raw_bucket: str
    quarantine_bucket: str
    state_table: str
    metrics_namespace: str
    raw_database: str


@cache
def _settings() -> Settings:
    return Settings(
        landing_bucket=os.environ[env.LANDING_BUCKET],
        raw_bucket=os.environ[env.RAW_BUCKET],
        quarantine_bucket=os.environ[env.QUARANTINE_BUCKET],
        state_table=os.environ[env.STATE_TABLE],
        metrics_namespace=os.environ[env.METRICS_NAMESPACE],
        raw_database=os.environ[env.GLUE_DATABASE_RAW],
    )


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    settings = _settings()
    try:
        landed = parse_object_created(event)
    except ValidationError as exc:
        logger.error("event rejected", extra={"reason": exc.reason, "error": str(exc)})
        return {"status": "rejected", "reason": exc.reason, "error": str(exc)}
    if not landed.key.startswith(growth_paths.ACCOUNT_EVENTS_PREFIX):
        return {"status": "ignored", "key": landed.key}
    s3 = _client("s3")
    body = s3_objects.read_object(s3, bucket=landed.bucket, key=landed.key)
    outcome = account_events.validate_file(body, source_key=landed.key, now=landed.landed_at)
    outcome = account_events.against_landed(outcome, _ledger(settings, outcome))
    months = _write_raw(settings, s3, outcome)
    if outcome.rejected:
        quarantine = account_events.quarantine_table(outcome, received_at=landed.landed_at)
        dt = landed.landed_at.strftime("%Y-%m-%d")
        growth_io.put_object(
            s3,
            bucket=settings.quarantine_bucket,
            key=growth_paths.quarantine_key(landed.key, dt),
            body=parquet_bytes(quarantine, schemas.QUARANTINE),
        )
    result = {
        "status": "ingested",
        "key": landed.key,
        "lines": outcome.lines,
        "accepted": len(outcome.accepted),
        "duplicates": outcome.duplicates,
        "quarantined": len(outcome.rejected),
        "reasons": outcome.reason_counts(),
        "months": months,
    }
    _publish(settings, outcome, landed.landed_at)
    logger.info("account events ingested", extra=result)
    return result


def _ledger(
    settings: Settings, outcome: account_events.FileOutcome
) -> dict[str, account_events.Landed]:
    """The ledger's entry for every accepted id, claiming the ids nobody landed yet."""
    dynamodb = _client("dynamodb")
    ids = [a.event.event_id for a in outcome.accepted]
    known = growth_io.landed_events(dynamodb, table=settings.state_table, event_ids=ids)
    for item in outcome.accepted:
        if item.event.event_id not in known:
            known[item.event.event_id] = growth_io.claim_event(
                dynamodb,
                table=settings.state_table,
                event_id=item.event.event_id,
                content_hash=item.content_hash,
                source_key=outcome.source_key,
            )
    return known


def _write_raw(settings: Settings, s3: Any, outcome: account_events.FileOutcome) -> list[str]:
    table = account_events.raw_table(outcome)
    months = sorted(set(table.column("month").to_pylist()))
    for month in months:
        part = table.filter(pc.equal(table.column("month"), month))
        growth_io.put_object(
            s3,
            bucket=settings.raw_bucket,
            key=growth_paths.raw_events_key(outcome.source_key, month),
            body=parquet_bytes(part, schemas.RAW_ACCOUNT_EVENTS),
        )
    glue_catalog.register_partitions(
        _client("glue"),
        database=settings.raw_database,
        table=schemas.RAW_ACCOUNT_EVENTS,
        bucket=settings.raw_bucket,
        values=[(m,) for m in months],
    )
    return months


def _publish(settings: Settings, outcome: account_events.FileOutcome, at: Any) -> None:
    cloudwatch = _client("cloudwatch")
    growth_io.put_values(
        cloudwatch,
        namespace=settings.metrics_namespace,
        values={
            ACCEPTED_METRIC: (len(outcome.accepted), "Count"),
            DUPLICATE_METRIC: (outcome.duplicates, "Count"),
            QUARANTINED_METRIC: (len(outcome.rejected), "Count"),
        },
        at=at,
    )
    for reason, count in outcome.reason_counts().items():
        growth_io.put_values(
            cloudwatch,
            namespace=settings.metrics_namespace,
            values={QUARANTINED_METRIC: (count, "Count")},
            at=at,
            dimensions={"Reason": reason},
        )
