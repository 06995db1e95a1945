"""Pure rules of a Kinesis event source mapping: events, responses, retries, failure records.

`pablo.local.esm` reads the shards and invokes the function; this module decides, with
AWS's semantics (Lambda developer guide, "Using Lambda with Kinesis"):

- what the function receives (the Kinesis event) and what lands in an on-failure
  destination (the invocation record with KinesisBatchInfo);
- which record a response says failed: with ReportBatchItemFailures, the lowest
  `itemIdentifier` is the checkpoint and everything from it is retried; an empty, null or
  unknown identifier means the whole batch failed; a function error fails the whole batch;
  without ReportBatchItemFailures the response body is ignored;
- what happens next (`plan_after_failure`). With BisectBatchOnFunctionError a failing batch
  is split: at the reported record if one was reported after the first, else in two
  halves; splitting does not use up retries, and each part starts afresh. A batch that
  cannot be split any more (bisect off, or one record) is retried up to
  MaximumRetryAttempts times (-1 or absent: until it expires) and then discarded to the
  on-failure destination;
- which records are too old (`split_expired`, MaximumRecordAgeInSeconds on the emulator
  clock against each record's arrival time).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final

RETRY_EXHAUSTED: Final = "RetryAttemptsExhausted"
RECORD_AGE_EXCEEDED: Final = "RecordAgeExceeded"
REPORT_BATCH_ITEM_FAILURES: Final = "ReportBatchItemFailures"


@dataclass(frozen=True)
class StreamRecord:
    """One Kinesis record as the poller read it."""

    sequence_number: str
    partition_key: str
    data: bytes
    arrival: datetime


@dataclass(frozen=True)
class Batch:
    """Records handed to one invocation; `attempts` counts failed tries of this batch."""

    records: tuple[StreamRecord, ...]
    attempts: int = 0
    invocations: int = 0  # every invocation that carried these records, for the DLQ record


@dataclass(frozen=True)
class RetryPolicy:
    bisect: bool = False
    max_retries: int | None = None  # None: retry until the records expire
    max_age: timedelta | None = None  # None: records never expire
    report_item_failures: bool = False

    @classmethod
    def from_mapping(cls, mapping: dict[str, Any]) -> RetryPolicy:
        """The policy of a `list_event_source_mappings` entry (AWS's defaults when absent)."""
        retries = mapping.get("MaximumRetryAttempts")
        age = mapping.get("MaximumRecordAgeInSeconds")
        return cls(
            bisect=bool(mapping.get("BisectBatchOnFunctionError")),
            max_retries=None if retries is None or int(retries) < 0 else int(retries),
            max_age=None if age is None or int(age) < 0 else timedelta(seconds=int(age)),
            report_item_failures=REPORT_BATCH_ITEM_FAILURES
            in (mapping.get("FunctionResponseTypes") or []),
        )


@dataclass(frozen=True)
class Plan:
    """After a failed invocation: records done, batches to run next (in order), discards."""

    done: tuple[StreamRecord, ...]
    retry: tuple[Batch, ...]
    discard: Batch | None


def first_failed_index(
    records: Sequence[StreamRecord],
    *,
    function_error: bool,
    payload: bytes | None,
    report_item_failures: bool,
) -> int | None:
    """Index of the first record to retry, or None when the whole batch succeeded."""
    if function_error:
        return 0
    if not report_item_failures:
        return None
    failures = _batch_item_failures(payload)
    if failures is None:
        return None
    if not failures:
        return None
    positions = {record.sequence_number: index for index, record in enumerate(records)}
    indexes = []
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not isinstance(identifier, str) or identifier not in positions:
            return 0  # empty, null or unknown identifier: AWS fails the whole batch
        indexes.append(positions[identifier])
    return min(indexes)


def _batch_item_failures(payload: bytes | None) -> list[Any] | None:
    """The `batchItemFailures` list of a response; None if the response has none."""
    if not payload:
        return None
    try:
        body = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    failures = body.get("batchItemFailures")
    if failures is None:
        return None
    if not isinstance(failures, list):
        return [None]  # malformed: treated as a whole-batch failure
    return failures


def plan_after_failure(batch: Batch, failed_index: int, policy: RetryPolicy) -> Plan:
    """What to do with `batch` after its records from `failed_index` on failed."""
    done = batch.records[:failed_index]
    rest = batch.records[failed_index:]
    if policy.bisect and failed_index > 0:
        return Plan(done, (Batch(rest, invocations=batch.invocations),), None)
    if policy.bisect and len(rest) > 1:
        middle = len(rest) // 2
        halves = (rest[:middle], rest[middle:])
        return Plan(done, tuple(Batch(h, invocations=batch.invocations) for h in halves), None)
    failed = replace(batch, records=rest, attempts=batch.attempts + 1)
    if policy.max_retries is not None and failed.attempts > policy.max_retries:
        return Plan(done, (), failed)
    return Plan(done, (failed,), None)


def split_expired(
    records: Sequence[StreamRecord], *, now: datetime, max_age: timedelta | None
) -> tuple[tuple[StreamRecord, ...], tuple[StreamRecord, ...]]:
    """(expired, fresh): records older than `max_age` on the emulator clock are expired."""
    if max_age is None:
        return (), tuple(records)
    expired = tuple(r for r in records if now - r.arrival > max_age)
    fresh = tuple(r for r in records if now - r.arrival <= max_age)
    return expired, fresh


def kinesis_event(
    records: Sequence[StreamRecord],
    *,
    shard_id: str,
    stream_arn: str,
    region: str,
    invoke_identity_arn: str,
) -> dict[str, Any]:
    """The event Lambda gives a function for a batch of Kinesis records."""
    return {
        "Records": [
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": record.partition_key,
                    "sequenceNumber": record.sequence_number,
                    "data": base64.b64encode(record.data).decode("ascii"),
                    "approximateArrivalTimestamp": round(record.arrival.timestamp(), 3),
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"{shard_id}:{record.sequence_number}",
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": invoke_identity_arn,
                "awsRegion": region,
                "eventSourceARN": stream_arn,
            }
            for record in records
        ]
    }


@dataclass(frozen=True)
class FailureContext:
    request_id: str
    function_arn: str
    condition: str
    function_error: str | None
    status_code: int = 200


def failure_record(
    batch: Batch, context: FailureContext, *, shard_id: str, stream_arn: str, now: datetime
) -> dict[str, Any]:
    """The invocation record Lambda sends to an on-failure destination for a Kinesis batch."""
    response: dict[str, Any] = {"statusCode": context.status_code, "executedVersion": "$LATEST"}
    if context.function_error:
        response["functionError"] = context.function_error
    first, last = batch.records[0], batch.records[-1]
    return {
        "requestContext": {
            "requestId": context.request_id,
            "functionArn": context.function_arn,
            "condition": context.condition,
            "approximateInvokeCount": batch.invocations,
        },
        "responseContext": response,
        "version": "1.0",
        "timestamp": iso_millis(now),
        "KinesisBatchInfo": {
            "shardId": shard_id,
            "startSequenceNumber": first.sequence_number,
            "endSequenceNumber": last.sequence_number,
            "approximateArrivalOfFirstRecord": iso_millis(first.arrival),
            "approximateArrivalOfLastRecord": iso_millis(last.arrival),
            "batchSize": len(batch.records),
            "streamArn": stream_arn,
        },
    }


def iso_millis(moment: datetime) -> str:
    """2026-11-25T10:00:00.123Z, as Lambda writes times in invocation records."""
    moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"
