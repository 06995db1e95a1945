"""The one shape of every landing-file ingest (EventBridge S3 "Object Created"): parse the
event, keep only the files of this input, read the file, validate and write it (the
input's own step), publish the counts, answer what happened.

An event that is not an Object Created event is logged and rejected (retrying it could
never help); a file of another input is ignored. Bad lines never raise: they are
quarantined with their reason and counted. Only I/O failures raise, and EventBridge/Lambda
retry them. "Now" is the S3 event's time. Output keys derive from the landed key, so a
redelivered event overwrites.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger

from functions.adapters import metrics, s3_objects
from functions.core.errors import ValidationError
from functions.core.landing import LandedFile, parse_object_created
from functions.handlers.clients import client
from functions.handlers.s3_events import rejected_event
from functions.handlers.settings import Settings, settings


@dataclass(frozen=True)
class Ingested:
    """What one input's step did: the answer's fields and the datapoints to publish."""

    result: dict[str, Any]
    datapoints: Sequence[metrics.Datapoint]


@dataclass(frozen=True)
class LandingInput:
    """One kind of landing file: `source_of` names the file's source, or None when the
    file is not this input's; `ingest` validates and writes it."""

    logged_as: str
    source_of: Callable[[Settings, LandedFile], str | None]
    ingest: Callable[[Settings, str, LandedFile, bytes], Ingested]


def handler_for(kind: LandingInput, logger: Logger) -> Callable[[dict[str, Any], Any], Any]:
    """The Lambda entry point of one input."""

    @logger.inject_lambda_context(log_event=False)
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return ingest(kind, event, logger)

    return handler


def ingest(kind: LandingInput, event: dict[str, Any], logger: Logger) -> dict[str, Any]:
    config = settings()
    try:
        landed = parse_object_created(event)
    except ValidationError as exc:
        return rejected_event(exc, logger)
    source = kind.source_of(config, landed)
    if source is None:
        return {"status": "ignored", "key": landed.key}
    body = s3_objects.read_object(client("s3"), bucket=landed.bucket, key=landed.key)
    done = kind.ingest(config, source, landed, body)
    metrics.put_metrics(
        client("cloudwatch"),
        namespace=config.metrics_namespace,
        at=landed.landed_at,
        datapoints=done.datapoints,
    )
    result = {"status": "ingested", **done.result}
    logger.info(kind.logged_as, extra=result)
    return result
