"""Lambda entry point: record every file that lands (EventBridge S3 "Object Created").

Target of the landing inventory rule (infra/constructs/landing_inventory.py). Parses the
event and classifies the key (functions.core.landing), writes the landing record and
advances the source's freshness (functions.adapters.state_table), counts the file
(functions.adapters.metrics). A file that matches no contract is recorded as unclassified
with its reason; an event that is not an S3 Object Created event is logged and rejected
(retrying it could never help).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from functions.adapters import metrics, state_table
from functions.core.errors import ValidationError
from functions.core.landing import (
    Classified,
    classify,
    landing_record,
    parse_object_created,
)
from functions.handlers.clients import client as _client
from functions.handlers.s3_events import rejected_event
from functions.handlers.settings import settings

LANDED_METRIC = "LandedFiles"
UNCLASSIFIED_METRIC = "UnclassifiedFiles"

logger = Logger()


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    config = settings()
    try:
        landed = parse_object_created(event)
    except ValidationError as exc:
        return rejected_event(exc, logger)
    classification = classify(config.bucket_roles.get(landed.bucket), landed.key)
    record = landing_record(landed, classification)
    dynamodb = _client("dynamodb")
    state_table.put_record(dynamodb, table=config.state_table, item=record)
    result: dict[str, Any] = {"status": "recorded", "pk": record["pk"], "sk": record["sk"]}
    if isinstance(classification, Classified):
        result["freshness_advanced"] = state_table.advance_freshness(
            dynamodb,
            table=config.state_table,
            source=classification.source,
            landed_at=landed.landed_at_text,
            key=landed.key,
        )
        metric, dimensions = LANDED_METRIC, {"Source": classification.source}
    else:
        result["reason"] = classification.reason.value
        metric, dimensions = UNCLASSIFIED_METRIC, {}
    metrics.put_count(
        _client("cloudwatch"),
        namespace=config.metrics_namespace,
        metric=metric,
        dimensions=dimensions,
        at=landed.landed_at,
    )
    logger.info("file landed", extra={**result, "bucket": landed.bucket, "key": landed.key})
    return result
