"""The click ingest function on the emulator: a real Kinesis stream, a real event source
mapping with AWS's settings (the emulator's poller), the bad-input corpus, and what lands."""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from functions.core import schemas
from functions.core.engagement_state import DAY_PK, FRESHNESS_PK, FRESHNESS_SK
from functions.core.times import format_millis
from functions.handlers import click_ingest
from tests import click_corpus
from tests.conftest import EmulatorServer
from tests.functional.engagement_support import (
    EngagementRig,
    build_rig,
    create_function,
    metric_sum,
)
from tests.support import unique_name

HANDLER = "functions.handlers.click_ingest.handler"
SEQUENCE = "49000000000000000000000000000000000000000000000001"


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _click(event_id: str, at: datetime, **overrides: Any) -> dict[str, Any]:
    body = {
        "event_id": event_id,
        "account_id": "acct-1",
        "user_id": "user-1",
        "event_type": "click",
        "event_time": _ms(at),
        "page": "/reports",
    }
    body.update(overrides)
    return body


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def bad_records(now: datetime) -> list[tuple[bytes, str]]:
    """The corpus's bad records that Kinesis can carry, with their reason codes (invalid
    base64, empty and oversized records cannot travel: tests/unit/test_clicks.py has them)."""
    arrival_ms = _ms(now)
    return [
        (case.data, case.expected)
        for case in click_corpus.cases(arrival_ms)
        if case.travels
        and isinstance(case.data, bytes)
        and case.expected not in (click_corpus.ACCEPTED, click_corpus.DUPLICATE)
    ]


@pytest.fixture(scope="module")
def ingest_rig(emulator_server: EmulatorServer) -> Iterator[EngagementRig]:
    rig = build_rig(emulator_server)
    rig.ingest = create_function(rig, name="click-ingest", handler=HANDLER)
    yield rig


def _stream_with_mapping(rig: EngagementRig) -> tuple[str, str]:
    kinesis, sqs = rig.client("kinesis"), rig.client("sqs")
    stream = unique_name("clicks")
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    arn = kinesis.describe_stream(StreamName=stream)["StreamDescription"]["StreamARN"]
    queue_url = sqs.create_queue(QueueName=unique_name("ingest-failures"))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    rig.client("lambda").create_event_source_mapping(
        EventSourceArn=arn,
        FunctionName=rig.ingest,
        StartingPosition="TRIM_HORIZON",
        BatchSize=6000,
        BisectBatchOnFunctionError=True,
        MaximumRetryAttempts=3,
        MaximumRecordAgeInSeconds=3600,
        FunctionResponseTypes=["ReportBatchItemFailures"],
        DestinationConfig={"OnFailure": {"Destination": queue_arn["Attributes"]["QueueArn"]}},
    )
    return stream, queue_url


def test_every_record_is_accepted_duplicate_or_quarantined_with_its_reason(
    ingest_rig: EngagementRig,
) -> None:
    rig = ingest_rig
    now = rig.server.control.now()
    two_days_ago = (now - timedelta(days=2)).date().isoformat()
    # Given a day two days ago that the daily workflow already aggregated
    rig.client("dynamodb").put_item(
        TableName=rig.state_table,
        Item={
            "pk": {"S": DAY_PK},
            "sk": {"S": two_days_ago},
            "aggregated_at": {"S": format_millis(now - timedelta(days=1))},
        },
    )
    stream, queue_url = _stream_with_mapping(rig)
    good = [_click(f"good-{i}", now - timedelta(minutes=i)) for i in range(20)]
    late = _click("late-but-allowed", now - timedelta(days=2))
    bad = bad_records(now)
    payloads = [_json(c) for c in good] + [_json(good[0]), _json(good[1])] + [_json(late)]
    payloads += [raw for raw, _ in bad]
    # When the batch goes through the stream and the mapping
    rig.client("kinesis").put_records(
        StreamName=stream,
        Records=[{"Data": p, "PartitionKey": "acct-1"} for p in payloads],
    )
    assert rig.server.control.drain_streams(timeout=120)["drained"] is True

    # Then in = accepted + duplicate + quarantined, for the batch and in the metrics
    received = metric_sum(rig, click_ingest.RECEIVED_METRIC)
    accepted = metric_sum(rig, click_ingest.ACCEPTED_METRIC)
    duplicates = metric_sum(rig, click_ingest.DUPLICATE_METRIC)
    quarantined = metric_sum(rig, click_ingest.QUARANTINED_METRIC)
    assert received == len(payloads)
    assert (accepted, duplicates, quarantined) == (21, 2, len(bad))
    # and every bad record is in the quarantine bucket with its reason, bytes, shard, sequence
    rows = rig.read(rig.quarantine, f"{schemas.QUARANTINE.prefix}/pipeline=engagement/")
    assert Counter(rows.column("reason").to_pylist()) == Counter(reason for _, reason in bad)
    assert sorted(rows.column("raw").to_pylist()) == sorted(raw for raw, _ in bad)
    assert all(s.startswith("shardId-") for s in rows.column("shard_id").to_pylist())
    assert all(rows.column("sequence_number").to_pylist())
    for reason, count in Counter(reason for _, reason in bad).items():
        assert (
            metric_sum(rig, click_ingest.QUARANTINED_BY_REASON_METRIC, {"Reason": reason}) == count
        )
    # and accepted clicks land by event date with their arrival time, the 2 in-batch copies
    # too (in a file of their own), so the daily dedup counts them: 21 + 2 rows
    landed = rig.read(rig.raw, f"{schemas.RAW_CLICKS.prefix}/")
    assert landed.num_rows == 21 + 2
    assert len(set(landed.column("event_id").to_pylist())) == 21
    keys = rig.keys(rig.raw, f"{schemas.RAW_CLICKS.prefix}/")
    assert sum(k.endswith(f"{click_ingest.DUPLICATE_COPIES_SUFFIX}.parquet") for k in keys) == 1
    assert any(f"dt={two_days_ago}/" in k for k in keys)
    arrivals = landed.column("arrival_time").to_pylist()
    assert all(abs((a - now).total_seconds()) < 600 for a in arrivals)
    # and the late click marked its already-aggregated day dirty; freshness moved
    day = rig.client("dynamodb").get_item(
        TableName=rig.state_table, Key={"pk": {"S": DAY_PK}, "sk": {"S": two_days_ago}}
    )["Item"]
    assert day["marks"]["N"] == "1"
    fresh = rig.client("dynamodb").get_item(
        TableName=rig.state_table, Key={"pk": {"S": FRESHNESS_PK}, "sk": {"S": FRESHNESS_SK}}
    )["Item"]
    assert fresh["newest_event_time"]["S"] == format_millis(
        datetime.fromtimestamp(good[0]["event_time"] / 1000, UTC)
    )
    # and nothing went to the on-failure destination
    messages = rig.client("sqs").receive_message(QueueUrl=queue_url, WaitTimeSeconds=0)
    assert not messages.get("Messages")


def test_a_retried_batch_overwrites_its_own_file(ingest_rig: EngagementRig) -> None:
    rig = ingest_rig
    # Given one batch, as Lambda would deliver it again after a failure
    now = rig.server.control.now()
    event = {
        "Records": [
            {
                "kinesis": {
                    "data": base64.b64encode(_json(_click("t-1", now))).decode(),
                    "sequenceNumber": SEQUENCE,
                    "approximateArrivalTimestamp": now.timestamp(),
                    "partitionKey": "acct-1",
                },
                "eventID": f"shardId-000000000000:{SEQUENCE}",
                "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/x",
            }
        ]
    }
    # When it is invoked twice: the same batch writes the same key (idempotent retry)
    first = rig.invoke(rig.ingest, event)
    second = rig.invoke(rig.ingest, event)
    # Then no failure is reported and exactly one file holds the click
    assert first == second == {"batchItemFailures": []}
    keys = [k for k in rig.keys(rig.raw, f"{schemas.RAW_CLICKS.prefix}/") if SEQUENCE in k]
    assert len(keys) == 1
