"""Lambda entry point: ingest one landed finance file (EventBridge S3 "Object Created").

Invoices and expenses (landing bucket) go to the raw bucket; salaries and the ledger
(finance bucket `landing/`) go to the finance bucket only, and so do their quarantined
lines (restricted bytes never leave the finance bucket). Every line is accepted, counted
as an exact duplicate or quarantined with its reason (functions.core.ingest.finance_inputs).
Output file names derive from the landed key, so a redelivered event overwrites.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from functions.adapters import metrics, profit_io, s3_objects
from functions.core import schemas
from functions.core.errors import ValidationError
from functions.core.ingest import finance_inputs
from functions.core.landing import Classified, classify, parse_object_created
from functions.handlers.clients import client
from functions.handlers.profit_common import settings

ACCEPTED_METRIC = "FinanceRowsAccepted"
QUARANTINED_METRIC = "FinanceRowsQuarantined"

logger = Logger()


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    config = settings()
    try:
        landed = parse_object_created(event)
    except ValidationError as exc:
        logger.error("event rejected", extra={"reason": exc.reason, "error": str(exc)})
        return {"status": "rejected", "reason": exc.reason, "error": str(exc)}
    classification = classify(config.bucket_roles.get(landed.bucket), landed.key)
    if not isinstance(classification, Classified) or (
        classification.source not in finance_inputs.SPECS
    ):
        return {"status": "ignored", "key": landed.key}
    source = classification.source
    spec = finance_inputs.spec_for(source)
    s3 = client("s3")
    data = s3_objects.read_object(s3, bucket=landed.bucket, key=landed.key)
    outcome = finance_inputs.validate_file(
        spec, data, source_key=landed.key, received_at=landed.landed_at
    )
    restricted = spec.table.restricted
    name = finance_inputs.file_token(landed.key)
    target = config.buckets.for_table(spec.table)
    written = profit_io.write_partitioned(
        s3, bucket=target, table=spec.table, rows=outcome.accepted, name=name, finance=restricted
    )
    profit_io.register_partitions(
        client("glue"),
        database=config.database(spec.table),
        table=spec.table,
        bucket=target,
        keys=written,
    )
    written += profit_io.write_partitioned(
        s3,
        bucket=config.buckets.finance if restricted else config.buckets.quarantine,
        table=schemas.QUARANTINE,
        rows=outcome.quarantined,
        name=f"{source}-{name}",
        finance=restricted,
    )
    cloudwatch = client("cloudwatch")
    for metric, count in (
        (ACCEPTED_METRIC, outcome.accepted.num_rows),
        (QUARANTINED_METRIC, outcome.quarantined.num_rows),
    ):
        metrics.put_count(
            cloudwatch,
            namespace=config.metrics_namespace,
            metric=metric,
            dimensions={"Source": source},
            at=landed.landed_at,
            count=count,
        )
    result = {
        "status": "ingested",
        "source": source,
        "key": landed.key,
        "lines": outcome.lines,
        "accepted": outcome.accepted.num_rows,
        "exact_duplicates": outcome.exact_duplicates,
        "quarantined": outcome.quarantined.num_rows,
        "reasons": outcome.reasons,
        "written": written,
    }
    logger.info("finance file ingested", extra=result)
    return result
