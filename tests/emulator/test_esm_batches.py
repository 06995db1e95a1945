"""The pure rules of the emulator's Kinesis event source mapping (pablo.local.esm_batches)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from pablo.local.esm_batches import (
    Batch,
    FailureContext,
    RetryPolicy,
    StreamRecord,
    failure_record,
    first_failed_index,
    kinesis_event,
    plan_after_failure,
    split_expired,
)

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
STREAM = "arn:aws:kinesis:us-east-1:123456789012:stream/clicks"


def records(count: int, start: int = 1) -> tuple[StreamRecord, ...]:
    return tuple(
        StreamRecord(str(n), f"pk{n}", f"r{n}".encode(), T0 + timedelta(seconds=n))
        for n in range(start, start + count)
    )


def failed(payload: object, *, error: bool = False, report: bool = True) -> int | None:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return first_failed_index(
        records(5), function_error=error, payload=body, report_item_failures=report
    )


def test_success_responses_fail_nothing() -> None:
    assert failed(None) is None
    assert failed({"batchItemFailures": []}) is None
    assert failed({"status": "fine"}) is None
    assert failed(b"") is None


def test_lowest_reported_sequence_number_is_the_checkpoint() -> None:
    # given failures reported for records 4 and 2, then retrying starts at record 2 (index 1)
    assert failed({"batchItemFailures": [{"itemIdentifier": "4"}, {"itemIdentifier": "2"}]}) == 1


@pytest.mark.parametrize(
    "response",
    [
        {"batchItemFailures": [{"itemIdentifier": ""}]},
        {"batchItemFailures": [{"itemIdentifier": None}]},
        {"batchItemFailures": [{"itemIdentifier": "999"}]},
        {"batchItemFailures": [{}]},
        {"batchItemFailures": "3"},
    ],
)
def test_empty_null_or_unknown_identifiers_fail_the_whole_batch(response: object) -> None:
    assert failed(response) == 0


def test_function_error_fails_the_whole_batch_and_the_body_is_ignored_without_the_setting() -> None:
    assert failed({"batchItemFailures": [{"itemIdentifier": "3"}]}, error=True) == 0
    assert failed({"batchItemFailures": [{"itemIdentifier": "3"}]}, report=False) is None


def test_without_bisect_the_rest_is_retried_then_discarded_after_max_retries() -> None:
    policy = RetryPolicy(max_retries=2)
    batch = Batch(records(5), invocations=1)
    # given the record at index 2 fails: records before it are done, the rest retried
    plan = plan_after_failure(batch, 2, policy)
    assert [r.sequence_number for r in plan.done] == ["1", "2"]
    assert [[r.sequence_number for r in b.records] for b in plan.retry] == [["3", "4", "5"]]
    assert plan.retry[0].attempts == 1
    # when it keeps failing, then after 2 retries the batch is discarded
    second = plan_after_failure(plan.retry[0], 0, policy)
    third = plan_after_failure(second.retry[0], 0, policy)
    assert second.retry[0].attempts == 2
    assert third.retry == ()
    assert third.discard is not None
    assert third.discard.attempts == 3


def test_infinite_retries_never_discard() -> None:
    batch = Batch(records(1), attempts=1000)
    assert plan_after_failure(batch, 0, RetryPolicy(max_retries=None)).discard is None


def test_bisect_splits_a_whole_batch_failure_into_fresh_halves() -> None:
    policy = RetryPolicy(bisect=True, max_retries=1)
    plan = plan_after_failure(Batch(records(5), attempts=1, invocations=3), 0, policy)
    assert plan.done == ()
    assert [[r.sequence_number for r in b.records] for b in plan.retry] == [
        ["1", "2"],
        ["3", "4", "5"],
    ]
    assert all(b.attempts == 0 and b.invocations == 3 for b in plan.retry)


def test_bisect_splits_at_a_reported_record_and_retries_only_the_rest() -> None:
    plan = plan_after_failure(Batch(records(5)), 3, RetryPolicy(bisect=True, max_retries=0))
    assert [r.sequence_number for r in plan.done] == ["1", "2", "3"]
    assert [[r.sequence_number for r in b.records] for b in plan.retry] == [["4", "5"]]


def test_bisect_ends_with_a_single_record_that_uses_its_retries() -> None:
    policy = RetryPolicy(bisect=True, max_retries=1)
    single = Batch(records(1, start=7))
    retried = plan_after_failure(single, 0, policy)
    assert retried.retry[0].attempts == 1
    discarded = plan_after_failure(retried.retry[0], 0, policy)
    assert discarded.discard is not None
    assert [r.sequence_number for r in discarded.discard.records] == ["7"]


def test_policy_reads_aws_defaults_and_settings() -> None:
    assert RetryPolicy.from_mapping({}) == RetryPolicy()
    assert RetryPolicy.from_mapping(
        {"MaximumRetryAttempts": -1, "MaximumRecordAgeInSeconds": -1}
    ) == RetryPolicy(max_retries=None, max_age=None)
    policy = RetryPolicy.from_mapping(
        {
            "BisectBatchOnFunctionError": True,
            "MaximumRetryAttempts": 3,
            "MaximumRecordAgeInSeconds": 3600,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
        }
    )
    assert policy == RetryPolicy(
        bisect=True, max_retries=3, max_age=timedelta(hours=1), report_item_failures=True
    )


def test_records_older_than_max_age_on_the_clock_expire() -> None:
    expired, fresh = split_expired(
        records(4), now=T0 + timedelta(seconds=62), max_age=timedelta(seconds=60)
    )
    assert [r.sequence_number for r in expired] == ["1"]
    assert [r.sequence_number for r in fresh] == ["2", "3", "4"]
    assert split_expired(records(2), now=T0 + timedelta(days=9), max_age=None)[0] == ()


def test_kinesis_event_has_the_aws_shape() -> None:
    event = kinesis_event(
        records(2),
        shard_id="shardId-000000000000",
        stream_arn=STREAM,
        region="us-east-1",
        invoke_identity_arn="arn:aws:iam::123456789012:role/ingest",
    )
    first = event["Records"][0]
    assert first == {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": "pk1",
            "sequenceNumber": "1",
            "data": base64.b64encode(b"r1").decode(),
            "approximateArrivalTimestamp": (T0 + timedelta(seconds=1)).timestamp(),
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": "shardId-000000000000:1",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": "arn:aws:iam::123456789012:role/ingest",
        "awsRegion": "us-east-1",
        "eventSourceARN": STREAM,
    }
    assert len(event["Records"]) == 2


def test_failure_record_describes_the_batch() -> None:
    batch = Batch(records(3, start=10), attempts=3, invocations=4)
    context = FailureContext("req-1", "arn:aws:lambda:us-east-1:123456789012:function:f",
                             "RetryAttemptsExhausted", "Unhandled")  # fmt: skip
    record = failure_record(
        batch, context, shard_id="shardId-000000000001", stream_arn=STREAM, now=T0
    )
    assert record == {
        "requestContext": {
            "requestId": "req-1",
            "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:f",
            "condition": "RetryAttemptsExhausted",
            "approximateInvokeCount": 4,
        },
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled",
        },
        "version": "1.0",
        "timestamp": "2026-11-25T10:00:00.000Z",
        "KinesisBatchInfo": {
            "shardId": "shardId-000000000001",
            "startSequenceNumber": "10",
            "endSequenceNumber": "12",
            "approximateArrivalOfFirstRecord": "2026-11-25T10:00:10.000Z",
            "approximateArrivalOfLastRecord": "2026-11-25T10:00:12.000Z",
            "batchSize": 3,
            "streamArn": STREAM,
        },
    }
