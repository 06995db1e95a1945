"""Lambda entry point: ingest one landed finance file (functions/handlers/landing_ingest.py).

Invoices and expenses (landing bucket) go to the raw bucket; salaries and the ledger
(finance bucket `landing/`) go to the finance bucket only, and so do their quarantined
lines (restricted bytes never leave the finance bucket). Every line is accepted, counted
as an exact duplicate or quarantined with its reason (functions.core.ingest.finance_inputs).
"""

from __future__ import annotations

from typing import Final

from aws_lambda_powertools import Logger

from functions.adapters import glue_catalog, s3_tables
from functions.adapters.metrics import Datapoint
from functions.core import schemas
from functions.core.ingest import finance_inputs
from functions.core.landing import Classified, LandedFile, classify
from functions.handlers.clients import client
from functions.handlers.landing_ingest import Ingested, LandingInput, handler_for
from functions.handlers.settings import Settings

ACCEPTED_METRIC: Final = "FinanceRowsAccepted"
QUARANTINED_METRIC: Final = "FinanceRowsQuarantined"

logger = Logger()


def _source_of(config: Settings, landed: LandedFile) -> str | None:
    classification = classify(config.bucket_roles.get(landed.bucket), landed.key)
    if isinstance(classification, Classified) and classification.source in finance_inputs.SPECS:
        return classification.source
    return None


def _ingest(config: Settings, source: str, landed: LandedFile, body: bytes) -> Ingested:
    spec = finance_inputs.spec_for(source)
    outcome = finance_inputs.validate_file(
        spec, body, source_key=landed.key, received_at=landed.landed_at
    )
    restricted = spec.table.restricted
    name = finance_inputs.file_token(landed.key)
    target = config.buckets.for_table(spec.table)
    s3 = client("s3")
    written = glue_catalog.write_and_register(
        s3,
        client("glue"),
        bucket=target,
        database=config.database(spec.table),
        table=spec.table,
        rows=outcome.accepted,
        name=name,
        kms=restricted,
    )
    written += s3_tables.write_partitioned(
        s3,
        bucket=config.buckets.finance if restricted else config.buckets.quarantine,
        table=schemas.QUARANTINE,
        rows=outcome.quarantined,
        name=f"{source}-{name}",
        kms=restricted,
    )
    result = {
        "source": source,
        "key": landed.key,
        "lines": outcome.lines,
        "accepted": outcome.accepted.num_rows,
        "exact_duplicates": outcome.exact_duplicates,
        "quarantined": outcome.quarantined.num_rows,
        "reasons": outcome.reasons,
        "written": written,
    }
    dimensions = {"Source": source}
    datapoints = [
        Datapoint(ACCEPTED_METRIC, outcome.accepted.num_rows, dimensions=dimensions),
        Datapoint(QUARANTINED_METRIC, outcome.quarantined.num_rows, dimensions=dimensions),
    ]
    return Ingested(result, datapoints)


FINANCE: Final = LandingInput(
    logged_as="finance file ingested", source_of=_source_of, ingest=_ingest
)
handler = handler_for(FINANCE, logger)
