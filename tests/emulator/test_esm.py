"""Kinesis event source mappings polled by the emulator extension, invoking real handlers.

In-process: moto's threaded server, the emulator's Lambda runtime (handlers run in worker
subprocesses) and the poller, so the test can call `drain()` and read `invocations()`.
"""

from __future__ import annotations

import io
import json
import textwrap
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from pablo.local.clock import Clock
from pablo.local.context import EmulatorContext
from pablo.local.esm import KinesisEventSourcePoller
from pablo.local.lambda_runtime import LambdaRuntime
from tests.support import threaded_moto

POISON = "poison"
DRAIN_TIMEOUT = 120.0

# Reports the poison record as a batch item failure (or raises on it, when asked), and
# writes what it processed to S3, one object per invocation, as evidence from the handler.
HANDLER = textwrap.dedent(
    """
    import base64
    import json
    import os

    import boto3

    s3 = boto3.client("s3")


    def handler(event, context):
        failures, processed = [], []
        for record in event["Records"]:
            data = base64.b64decode(record["kinesis"]["data"]).decode()
            if data == "poison":
                if os.environ.get("RAISE_ON_POISON"):
                    raise ValueError("poison record")
                failures.append({"itemIdentifier": record["kinesis"]["sequenceNumber"]})
            else:
                processed.append(data)
        s3.put_object(
            Bucket=os.environ["EVIDENCE_BUCKET"],
            Key=context.aws_request_id,
            Body=json.dumps(processed).encode(),
        )
        return {"batchItemFailures": failures}
    """
)


@dataclass
class Rig:
    ctx: EmulatorContext
    poller: KinesisEventSourcePoller


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    with threaded_moto() as endpoint:
        ctx = EmulatorContext(endpoint, Clock())  # moto stamps arrivals with wall time here
        runtime = LambdaRuntime(cache_dir=tmp_path / "code")
        poller = KinesisEventSourcePoller(refresh_seconds=0.5, idle_seconds=0.2)
        runtime.start(ctx)
        poller.start(ctx)
        try:
            yield Rig(ctx, poller)
        finally:
            poller.stop()
            runtime.stop()


def _zip(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", source)
    return buffer.getvalue()


def _function(ctx: EmulatorContext, name: str, **env: str) -> str:
    role = ctx.client("iam").create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument="{}")
    bucket = f"{name}-evidence"
    ctx.client("s3").create_bucket(Bucket=bucket)
    created = ctx.client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role["Role"]["Arn"],
        Handler="app.handler",
        Code={"ZipFile": _zip(HANDLER)},
        Timeout=30,
        Environment={"Variables": {"EVIDENCE_BUCKET": bucket, **env}},
    )
    return str(created["FunctionArn"])


def _stream(ctx: EmulatorContext, name: str, values: list[str]) -> str:
    kinesis = ctx.client("kinesis")
    kinesis.create_stream(StreamName=name, ShardCount=1)
    arn = kinesis.describe_stream(StreamName=name)["StreamDescription"]["StreamARN"]
    _put(ctx, arn, values)
    return str(arn)


def _put(ctx: EmulatorContext, stream_arn: str, values: list[str]) -> None:
    for start in range(0, len(values), 500):
        chunk = values[start : start + 500]
        ctx.client("kinesis").put_records(
            StreamARN=stream_arn,
            Records=[{"Data": v.encode(), "PartitionKey": "one"} for v in chunk],
        )


def _dead_letters(ctx: EmulatorContext, name: str) -> tuple[str, str]:
    url = ctx.client("sqs").create_queue(QueueName=name)["QueueUrl"]
    arn = ctx.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return url, arn["Attributes"]["QueueArn"]


def _messages(ctx: EmulatorContext, url: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while True:
        batch = ctx.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10)
        if not batch.get("Messages"):
            return found
        for message in batch["Messages"]:
            found.append(json.loads(message["Body"]))
            ctx.client("sqs").delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def _processed_by_handler(ctx: EmulatorContext, bucket: str) -> Counter[str]:
    """How many times the handler processed each value, from its own S3 evidence."""
    seen: Counter[str] = Counter()
    listing = ctx.client("s3").list_objects_v2(Bucket=bucket)
    for item in listing.get("Contents", []):
        body = ctx.client("s3").get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        seen.update(json.loads(body))
    return seen


def _mapping(ctx: EmulatorContext, function_arn: str, stream_arn: str, **settings: Any) -> str:
    created = ctx.client("lambda").create_event_source_mapping(
        FunctionName=function_arn, EventSourceArn=stream_arn, **settings
    )
    return str(created["UUID"])


def test_poison_record_is_retried_alone_then_sent_to_the_on_failure_queue(rig: Rig) -> None:
    # given 100 records with a poison one at position 43, and a handler reporting it
    ctx = rig.ctx
    values = [f"click-{n}" for n in range(1, 101)]
    values[42] = POISON
    stream_arn = _stream(ctx, "clicks", values)
    function_arn = _function(ctx, "ingest")
    dlq_url, dlq_arn = _dead_letters(ctx, "ingest-failures")
    mapping_id = _mapping(
        ctx,
        function_arn,
        stream_arn,
        BatchSize=10,
        StartingPosition="TRIM_HORIZON",
        FunctionResponseTypes=["ReportBatchItemFailures"],
        BisectBatchOnFunctionError=True,
        MaximumRetryAttempts=2,
        DestinationConfig={"OnFailure": {"Destination": dlq_arn}},
    )

    # when the poller has processed the stream
    assert rig.poller.drain(DRAIN_TIMEOUT)

    # then no invocation carried more than BatchSize records
    invocations = rig.poller.invocations(mapping_id)
    assert max(len(i["sequence_numbers"]) for i in invocations) == 10
    poison_seq = "43"
    # and the poison record was retried alone: once, then MaximumRetryAttempts more times
    alone = [i for i in invocations if i["sequence_numbers"] == [poison_seq]]
    assert [i["attempt"] for i in alone] == [0, 1, 2]
    assert all(i["outcome"] == "partial" for i in alone)
    # and its batch info went to the on-failure queue, exactly once
    failures = _messages(ctx, dlq_url)
    assert len(failures) == 1
    info = failures[0]["KinesisBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"]) == (poison_seq, poison_seq)
    assert info["batchSize"] == 1
    assert info["streamArn"] == stream_arn
    assert info["shardId"] == "shardId-000000000000"
    assert failures[0]["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert failures[0]["requestContext"]["functionArn"] == function_arn
    carried_poison = [i for i in invocations if poison_seq in i["sequence_numbers"]]
    assert failures[0]["requestContext"]["approximateInvokeCount"] == len(carried_poison)
    assert failures[0]["version"] == "1.0"
    # and every record before the poison was delivered, and processed, exactly once
    delivered = Counter(s for i in invocations for s in i["sequence_numbers"])
    assert all(delivered[str(n)] == 1 for n in range(1, 43))
    processed = _processed_by_handler(ctx, "ingest-evidence")
    assert all(processed[f"click-{n}"] == 1 for n in range(1, 43))
    # and every other record was processed at least once (those retried with it, again)
    assert set(processed) == set(values) - {POISON}
    stats = rig.poller.stats()[mapping_id]
    assert stats["records_succeeded"] == 99
    assert stats["records_discarded"] == 1
    assert stats["invocations"] == len(invocations)


def test_function_error_bisects_down_to_the_poison_record(rig: Rig) -> None:
    # given a handler that raises on the poison record, bisect on and no retries
    ctx = rig.ctx
    values = [f"v{n}" for n in range(1, 9)]
    values[5] = POISON
    stream_arn = _stream(ctx, "raising", values)
    function_arn = _function(ctx, "raiser", RAISE_ON_POISON="1")
    dlq_url, dlq_arn = _dead_letters(ctx, "raiser-failures")
    mapping_id = _mapping(
        ctx,
        function_arn,
        stream_arn,
        BatchSize=8,
        StartingPosition="TRIM_HORIZON",
        BisectBatchOnFunctionError=True,
        MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": dlq_arn}},
    )

    assert rig.poller.drain(DRAIN_TIMEOUT)

    # then the batch was halved until the poison stood alone, and only it was discarded
    sizes = [len(i["sequence_numbers"]) for i in rig.poller.invocations(mapping_id)]
    assert sizes[:4] == [8, 4, 4, 2]  # 1-8 fails; 1-4 ok; 5-8 fails; 5-6 fails
    failures = _messages(ctx, dlq_url)
    assert [f["KinesisBatchInfo"]["startSequenceNumber"] for f in failures] == ["6"]
    assert failures[0]["responseContext"]["functionError"] in {"Handled", "Unhandled"}
    assert set(_processed_by_handler(ctx, "raiser-evidence")) == set(values) - {POISON}


def test_records_older_than_max_age_are_discarded_unprocessed(rig: Rig) -> None:
    # given records already in the stream when a disabled mapping with a 60 s limit exists
    ctx = rig.ctx
    stream_arn = _stream(ctx, "stale", ["a", "b", "c"])
    function_arn = _function(ctx, "late")
    dlq_url, dlq_arn = _dead_letters(ctx, "late-failures")
    mapping_id = _mapping(
        ctx,
        function_arn,
        stream_arn,
        StartingPosition="TRIM_HORIZON",
        MaximumRecordAgeInSeconds=60,
        Enabled=False,
        DestinationConfig={"OnFailure": {"Destination": dlq_arn}},
    )

    # when the emulator clock moves two minutes on and the mapping is enabled
    ctx.clock.advance_to(ctx.clock.now() + timedelta(minutes=2))
    ctx.client("lambda").update_event_source_mapping(UUID=mapping_id, Enabled=True)
    assert rig.poller.drain(DRAIN_TIMEOUT)

    # then the function never ran and the records went to the destination as expired
    assert rig.poller.invocations(mapping_id) == []
    failures = _messages(ctx, dlq_url)
    assert [f["requestContext"]["condition"] for f in failures] == ["RecordAgeExceeded"]
    assert failures[0]["KinesisBatchInfo"]["batchSize"] == 3


def test_latest_skips_what_was_there_and_moto_no_longer_delivers_per_record(rig: Rig) -> None:
    # given records put before a LATEST mapping, and more put after the poller saw it
    ctx = rig.ctx
    stream_arn = _stream(ctx, "live", ["old-1", "old-2"])
    function_arn = _function(ctx, "live-reader")
    mapping_id = _mapping(ctx, function_arn, stream_arn, StartingPosition="LATEST", BatchSize=100)
    assert rig.poller.drain(DRAIN_TIMEOUT)
    _put(ctx, stream_arn, ["new-1", "new-2", "new-3"])

    assert rig.poller.drain(DRAIN_TIMEOUT)

    # then only the new records were delivered, together, in one invocation
    invocations = rig.poller.invocations(mapping_id)
    assert [i["sequence_numbers"] for i in invocations] == [["3", "4", "5"]]
    assert _processed_by_handler(ctx, "live-reader-evidence") == Counter(
        {"new-1": 1, "new-2": 1, "new-3": 1}
    )
