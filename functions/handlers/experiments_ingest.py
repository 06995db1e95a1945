"""Lambda entry point: ingest one landed Data Science file (functions/handlers/landing_ingest.py).

- `experiments/<file>.csv`: definitions; each accepted experiment replaces its stored
  definition, one object per experiment (`raw/raw_experiments/<experiment_id>.parquet`),
  unless a newer file defined it already: the object carries the landing time of the file
  it came from, so an older file delivered late never overwrites a newer definition.
- `assignments/YYYY/MM/DD/<file>.jsonl`: assignments, checked against the stored
  definitions and the assignment ids other files landed; accepted rows go to
  raw_assignments (one file per experiment partition, named after the landing file).

Rejected lines go to the quarantine bucket with their raw bytes and reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

import pyarrow as pa
import pyarrow.compute as pc
from aws_lambda_powertools import Logger

from functions.adapters import glue_catalog, s3_tables
from functions.adapters.metrics import Datapoint
from functions.core import codes, experiment_definitions, schemas
from functions.core.ingest import experiments_inputs
from functions.core.ingest.finance_inputs import file_token
from functions.core.landing import BucketRole, Classified, LandedFile, classify
from functions.core.parquet import parquet_bytes
from functions.handlers.clients import client
from functions.handlers.landing_ingest import Ingested, LandingInput, handler_for
from functions.handlers.settings import Settings

ACCEPTED_METRIC: Final = "ExperimentRowsAccepted"
QUARANTINED_METRIC: Final = "ExperimentRowsQuarantined"
SOURCES: Final = (codes.EXPERIMENTS_SOURCE, codes.ASSIGNMENTS_SOURCE)
LANDED_AT_METADATA: Final = "landed-at"
SOURCE_KEY_METADATA: Final = "source-key"

logger = Logger()


def _source_of(config: Settings, landed: LandedFile) -> str | None:
    role = BucketRole.LANDING if landed.bucket == config.landing_bucket else None
    classification = classify(role, landed.key)
    if isinstance(classification, Classified) and classification.source in SOURCES:
        return classification.source
    return None


def _ingest(config: Settings, source: str, landed: LandedFile, body: bytes) -> Ingested:
    if source == codes.EXPERIMENTS_SOURCE:
        outcome, written = _definitions(config, body, landed)
    else:
        outcome, written = _assignments(config, body, landed)
    written += s3_tables.write_partitioned(
        client("s3"),
        bucket=config.quarantine_bucket,
        table=schemas.QUARANTINE,
        rows=outcome.quarantine(received_at=landed.landed_at),
        name=f"{outcome.source}-{file_token(landed.key)}",
        kms=False,
    )
    result = {
        "source": outcome.source,
        "key": landed.key,
        "lines": outcome.lines,
        "accepted": outcome.accepted.num_rows,
        "exact_duplicates": outcome.duplicates,
        "quarantined": len(outcome.rejected),
        "reasons": outcome.reason_counts(),
        "written": written,
    }
    dimensions = {"Source": outcome.source}
    datapoints = [
        Datapoint(ACCEPTED_METRIC, outcome.accepted.num_rows, dimensions=dimensions),
        Datapoint(QUARANTINED_METRIC, len(outcome.rejected), dimensions=dimensions),
    ]
    return Ingested(result, datapoints)


def definition_key(experiment_id: str) -> str:
    """The one object of an experiment's definition (ids are path-safe: see ingest)."""
    return s3_tables.object_key(schemas.RAW_EXPERIMENTS, experiment_id)


def _definitions(
    config: Settings, data: bytes, landed: LandedFile
) -> tuple[experiments_inputs.Outcome, list[str]]:
    outcome = experiments_inputs.validate_definitions(data, source_key=landed.key)
    rows = outcome.accepted
    written: list[str] = []
    for experiment_id in sorted(set(rows.column("experiment_id").to_pylist())):
        mine = rows.filter(pc.equal(rows.column("experiment_id"), experiment_id))
        key = definition_key(experiment_id)
        # landed_at is ISO 8601 UTC of one format: string order is time order.
        if s3_tables.put_unless_newer(
            client("s3"),
            bucket=config.raw_bucket,
            key=key,
            body=parquet_bytes(mine, schemas.RAW_EXPERIMENTS),
            version=landed.landed_at_text,
            version_metadata=LANDED_AT_METADATA,
            metadata={SOURCE_KEY_METADATA: landed.key},
        ):
            written.append(key)
        else:
            logger.warning("older definition ignored", extra={"experiment_id": experiment_id})
    return outcome, written


def read_assignments(s3: Any, *, bucket: str, experiments: Iterable[str]) -> pa.Table:
    """RAW_ASSIGNMENTS rows (with the `experiment` partition) of the given experiments."""
    parts = [
        s3_tables.read_table(
            s3,
            bucket=bucket,
            table=schemas.RAW_ASSIGNMENTS,
            partition_filter={"experiment": experiment_id},
        )
        for experiment_id in sorted(set(experiments))
    ]
    schema = schemas.RAW_ASSIGNMENTS.arrow_schema(with_partitions=True)
    return pa.concat_tables(parts) if parts else schema.empty_table()


def _assignments(
    config: Settings, data: bytes, landed: LandedFile
) -> tuple[experiments_inputs.Outcome, list[str]]:
    s3 = client("s3")
    definitions = experiment_definitions.definitions_from_table(
        s3_tables.read_table(s3, bucket=config.raw_bucket, table=schemas.RAW_EXPERIMENTS)
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
    prior = read_assignments(s3, bucket=config.raw_bucket, experiments=touched)
    outcome = validate(experiments_inputs.landed_contents(prior, except_key=landed.key))
    keys = glue_catalog.write_and_register(
        s3,
        client("glue"),
        bucket=config.raw_bucket,
        database=config.raw_database,
        table=schemas.RAW_ASSIGNMENTS,
        rows=outcome.accepted,
        name=file_token(landed.key),
        kms=False,
    )
    return outcome, keys


EXPERIMENTS: Final = LandingInput(
    logged_as="experiment input ingested", source_of=_source_of, ingest=_ingest
)
handler = handler_for(EXPERIMENTS, logger)
