"""Lambda entry point: ingest one landed Data Science file (EventBridge S3 "Object Created").

- `experiments/<file>.csv`: definitions; each accepted experiment replaces its stored
  definition (unless a newer file defined it already).
- `assignments/YYYY/MM/DD/<file>.jsonl`: assignments, checked against the stored
  definitions and the assignment ids other files landed; accepted rows go to
  raw_assignments (one file per experiment partition, named after the landing file, so a
  redelivered event overwrites).

Rejected lines go to the quarantine bucket with their raw bytes and reason. "Now" is the S3
event's time. Bad data never raises; only I/O failures do (EventBridge/Lambda retry them).
"""

from __future__ import annotations

from typing import Any, Final

import pyarrow.compute as pc
from aws_lambda_powertools import Logger

from functions.adapters import experiments_io, metrics, profit_io, s3_objects
from functions.core import codes, experiment_definitions, schemas
from functions.core.errors import ValidationError
from functions.core.ingest import experiments_inputs
from functions.core.ingest.finance_inputs import file_token
from functions.core.landing import (
    BucketRole,
    Classified,
    LandedFile,
    classify,
    parse_object_created,
)
from functions.handlers.clients import client
from functions.handlers.experiments_common import Settings, settings

ACCEPTED_METRIC: Final = "ExperimentRowsAccepted"
QUARANTINED_METRIC: Final = "ExperimentRowsQuarantined"
SOURCES: Final = (codes.EXPERIMENTS_SOURCE, codes.ASSIGNMENTS_SOURCE)

logger = Logger()


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    config = settings()
    try:
        landed = parse_object_created(event)
    except ValidationError as exc:
        logger.error("event rejected", extra={"reason": exc.reason, "error": str(exc)})
        return {"status": "rejected", "reason": exc.reason, "error": str(exc)}
    role = BucketRole.LANDING if landed.bucket == config.landing_bucket else None
    classification = classify(role, landed.key)
    if not isinstance(classification, Classified) or classification.source not in SOURCES:
        return {"status": "ignored", "key": landed.key}
    s3 = client("s3")
    data = s3_objects.read_object(s3, bucket=landed.bucket, key=landed.key)
    if classification.source == codes.EXPERIMENTS_SOURCE:
        outcome, written = _definitions(config, s3, data, landed)
    else:
        outcome, written = _assignments(config, s3, data, landed)
    written += profit_io.write_partitioned(
        s3,
        bucket=config.quarantine_bucket,
        table=schemas.QUARANTINE,
        rows=outcome.quarantine(received_at=landed.landed_at),
        name=f"{outcome.source}-{file_token(landed.key)}",
        finance=False,
    )
    _publish(config, outcome, landed)
    result = {
        "status": "ingested",
        "source": outcome.source,
        "key": landed.key,
        "lines": outcome.lines,
        "accepted": outcome.accepted.num_rows,
        "exact_duplicates": outcome.duplicates,
        "quarantined": len(outcome.rejected),
        "reasons": outcome.reason_counts(),
        "written": written,
    }
    logger.info("experiment input ingested", extra=result)
    return result


def _definitions(
    config: Settings, s3: Any, data: bytes, landed: LandedFile
) -> tuple[experiments_inputs.Outcome, list[str]]:
    outcome = experiments_inputs.validate_definitions(data, source_key=landed.key)
    rows = outcome.accepted
    written: list[str] = []
    for experiment_id in sorted(set(rows.column("experiment_id").to_pylist())):
        mine = rows.filter(pc.equal(rows.column("experiment_id"), experiment_id))
        if experiments_io.write_definition(
            s3,
            bucket=config.raw_bucket,
            rows=mine,
            landed_at=landed.landed_at_text,
            source_key=landed.key,
        ):
            written.append(experiments_io.definition_key(experiment_id))
        else:
            logger.warning("older definition ignored", extra={"experiment_id": experiment_id})
    return outcome, written


def _assignments(
    config: Settings, s3: Any, data: bytes, landed: LandedFile
) -> tuple[experiments_inputs.Outcome, list[str]]:
    definitions = experiment_definitions.definitions_from_table(
        experiments_io.read_definitions(s3, bucket=config.raw_bucket)
    )

    def validate(landed_ids: dict[str, experiments_inputs.Content]) -> experiments_inputs.Outcome:
        return experiments_inputs.validate_assignments(
            data,
            source_key=landed.key,
            now=landed.landed_at,
            definitions=definitions,
            landed=landed_ids,
        )

    # First pass: which experiments the file touches; then only their partitions are read
    # to resolve assignment ids other files already landed.
    touched = set(validate({}).accepted.column("experiment_id").to_pylist())
    prior = experiments_io.read_assignments(s3, bucket=config.raw_bucket, experiments=touched)
    outcome = validate(experiments_inputs.landed_contents(prior, except_key=landed.key))
    keys = experiments_io.write_table(
        s3,
        client("glue"),
        bucket=config.raw_bucket,
        database=config.raw_database,
        table=schemas.RAW_ASSIGNMENTS,
        rows=outcome.accepted,
        name=file_token(landed.key),
    )
    return outcome, keys


def _publish(config: Settings, outcome: experiments_inputs.Outcome, landed: LandedFile) -> None:
    cloudwatch = client("cloudwatch")
    for metric, count in (
        (ACCEPTED_METRIC, outcome.accepted.num_rows),
        (QUARANTINED_METRIC, len(outcome.rejected)),
    ):
        metrics.put_count(
            cloudwatch,
            namespace=config.metrics_namespace,
            metric=metric,
            dimensions={"Source": outcome.source},
            at=landed.landed_at,
            count=count,
        )
