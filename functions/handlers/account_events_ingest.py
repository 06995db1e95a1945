"""Lambda entry point: ingest one account_events landing file (handlers/landing_ingest.py).

Validates every line (functions.core.ingest.account_events), resolves event ids against
the state table's ledger (the first copy landed wins), writes the accepted events as
RAW_ACCOUNT_EVENTS Parquet (one file per month of event_time, named after the landing
file) and the rejected lines with their raw bytes and reason to the quarantine bucket.
"""

from __future__ import annotations

from typing import Final

import pyarrow.compute as pc
from aws_lambda_powertools import Logger

from functions.adapters import glue_catalog, s3_tables, state_table
from functions.adapters.metrics import Datapoint
from functions.core import schemas
from functions.core.ingest import account_events
from functions.core.landing import LandedFile
from functions.core.transform import growth_paths
from functions.handlers.clients import client
from functions.handlers.landing_ingest import Ingested, LandingInput, handler_for
from functions.handlers.settings import Settings

ACCEPTED_METRIC: Final = "AccountEventsAccepted"
DUPLICATE_METRIC: Final = "AccountEventsDuplicates"
QUARANTINED_METRIC: Final = "AccountEventsQuarantined"
SOURCE: Final = "account_events"

logger = Logger()


def _source_of(config: Settings, landed: LandedFile) -> str | None:
    return SOURCE if landed.key.startswith(growth_paths.ACCOUNT_EVENTS_PREFIX) else None


def _ingest(config: Settings, source: str, landed: LandedFile, body: bytes) -> Ingested:
    outcome = account_events.validate_file(body, source_key=landed.key, now=landed.landed_at)
    outcome = account_events.against_landed(outcome, _ledger(config, outcome))
    months = _write_raw(config, outcome)
    if outcome.rejected:
        s3_tables.put_file(
            client("s3"),
            bucket=config.quarantine_bucket,
            key=growth_paths.quarantine_key(landed.key, landed.landed_at.strftime("%Y-%m-%d")),
            rows=account_events.quarantine_table(outcome, received_at=landed.landed_at),
            table=schemas.QUARANTINE,
        )
    result = {
        "key": landed.key,
        "lines": outcome.lines,
        "accepted": len(outcome.accepted),
        "duplicates": outcome.duplicates,
        "quarantined": len(outcome.rejected),
        "reasons": outcome.reason_counts(),
        "months": months,
    }
    datapoints = [
        Datapoint(ACCEPTED_METRIC, len(outcome.accepted)),
        Datapoint(DUPLICATE_METRIC, outcome.duplicates),
        Datapoint(QUARANTINED_METRIC, len(outcome.rejected)),
    ] + [
        Datapoint(QUARANTINED_METRIC, count, dimensions={"Reason": reason})
        for reason, count in outcome.reason_counts().items()
    ]
    return Ingested(result, datapoints)


def _ledger(
    config: Settings, outcome: account_events.FileOutcome
) -> dict[str, account_events.Landed]:
    """The ledger's entry for every accepted id, claiming the ids nobody landed yet."""
    dynamodb = client("dynamodb")
    ids = [a.event.event_id for a in outcome.accepted]
    known = state_table.landed_events(dynamodb, table=config.state_table, event_ids=ids)
    for item in outcome.accepted:
        if item.event.event_id not in known:
            known[item.event.event_id] = state_table.claim_event(
                dynamodb,
                table=config.state_table,
                event_id=item.event.event_id,
                content_hash=item.content_hash,
                source_key=outcome.source_key,
            )
    return known


def _write_raw(config: Settings, outcome: account_events.FileOutcome) -> list[str]:
    table = account_events.raw_table(outcome)
    months = sorted(set(table.column("month").to_pylist()))
    for month in months:
        s3_tables.put_file(
            client("s3"),
            bucket=config.raw_bucket,
            key=growth_paths.raw_events_key(outcome.source_key, month),
            rows=table.filter(pc.equal(table.column("month"), month)),
            table=schemas.RAW_ACCOUNT_EVENTS,
        )
    glue_catalog.register_partitions(
        client("glue"),
        database=config.raw_database,
        table=schemas.RAW_ACCOUNT_EVENTS,
        bucket=config.raw_bucket,
        values=[(m,) for m in months],
    )
    return months


ACCOUNT_EVENTS: Final = LandingInput(
    logged_as="account events ingested", source_of=_source_of, ingest=_ingest
)
handler = handler_for(ACCOUNT_EVENTS, logger)
