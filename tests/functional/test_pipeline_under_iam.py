"""Pipelines end to end on the real stack, deployed into an emulator that enforces IAM.
Engagement: clicks through Kinesis, the mapping and the ingest function (as its own role)
into raw and quarantine, then the daily Step Functions workflow and its function (as its own
role) into the curated tables. Growth: an account-events file landed in S3, through
EventBridge to its ingest function (as its own role) into raw. Any permission the CDK grants
lack fails a step here with an AccessDenied naming the role and the action."""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.conftest import EmulatorServer
from tests.functional.conftest import unique_name, wait_for

CLOCK_START = "2026-09-01T00:00:00+00:00"
ENFORCE_IAM = True  # read by the deployed_stack fixture (tests/conftest.py)
EXECUTION_TIMEOUT = 300.0


@pytest.fixture(scope="module")
def enforced_stack(deployed_stack: EmulatorServer) -> EmulatorServer:
    """The real stack, deployed into an emulator started with IAM enforcement on."""
    assert deployed_stack.control.health()["iam_enforced"] is True
    return deployed_stack


def _click(at: datetime, **overrides: Any) -> bytes:
    body = {
        "event_id": str(uuid.uuid4()),
        "account_id": "acct-0001",
        "user_id": "user-0001",
        "event_type": "click",
        "event_time": int(at.timestamp() * 1000),
        "page": "/reports",
    }
    body.update(overrides)
    return json.dumps(body).encode()


def _keys(server: EmulatorServer, output: str, prefix: str) -> list[str]:
    listed = server.client("s3").list_objects_v2(Bucket=server.outputs[output], Prefix=prefix)
    return [o["Key"] for o in listed.get("Contents", [])]


def _denials(server: EmulatorServer) -> list[str]:
    """AccessDenied lines in the stack's function logs."""
    logs, found = server.client("logs"), []
    prefix = f"/aws/lambda/{server.outputs['NamePrefix']}-"
    for group in logs.describe_log_groups(logGroupNamePrefix=prefix)["logGroups"]:
        name = group["logGroupName"]
        for stream in logs.describe_log_streams(logGroupName=name).get("logStreams", []):
            events = logs.get_log_events(logGroupName=name, logStreamName=stream["logStreamName"])
            found += [
                e["message"][:300] for e in events["events"] if "AccessDenied" in e["message"]
            ]
    return found


def test_clicks_land_in_raw_and_quarantine_and_the_daily_workflow_runs_under_iam(
    enforced_stack: EmulatorServer,
) -> None:
    server = enforced_stack
    # Given clicks of the emulator's day, one of them of an unknown type
    now = server.control.now()
    kinesis, stream = server.client("kinesis"), server.outputs["ClickStreamName"]
    for payload in (_click(now), _click(now, user_id="user-0002"), _click(now, event_type="hover")):
        kinesis.put_record(StreamName=stream, Data=payload, PartitionKey="p")
    # When the mapping delivers them (the emulator's poller, its administrator)
    assert server.control.drain_streams(timeout=180)["drained"] is True
    # Then the ingest function, as its own role, landed the good ones and quarantined the bad
    assert _keys(server, "RawBucketName", "raw/raw_clicks/dt=2026-09-01/")
    assert wait_for(
        lambda: _keys(server, "QuarantineBucketName", "ops/quarantine/pipeline=engagement/"),
        "the unknown event type quarantined",
    )

    # When the next day's scheduled run of the daily workflow happens
    server.control.advance(to=now + timedelta(days=1, hours=2))
    sfn = server.client("stepfunctions")
    run_time = (now + timedelta(days=1, hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    execution = sfn.start_execution(
        stateMachineArn=server.outputs["EngagementDailyStateMachineArn"],
        name=unique_name("iam-run"),
        input=json.dumps({"time": run_time}),
    )["executionArn"]
    deadline = time.monotonic() + EXECUTION_TIMEOUT
    described = sfn.describe_execution(executionArn=execution)
    while described["status"] == "RUNNING" and time.monotonic() < deadline:
        time.sleep(1)
        described = sfn.describe_execution(executionArn=execution)
    # Then it succeeded, the daily function (as its own role) wrote the curated day
    assert described["status"] == "SUCCEEDED", (described.get("cause"), _denials(server))
    assert _keys(server, "CuratedBucketName", "curated/engagement_daily/")
    # And no function was refused anything along the way
    assert _denials(server) == []


ACCOUNT_EVENT = {
    "event_id": "29ff6f0b-5a9c-4317-86bb-16c83dbe92b0",
    "account_id": "acct-0003",
    "event_type": "subscribed",
    "event_time": "2026-08-30T10:18:00Z",
    "plan": "team",
    "seats": 53,
    "mrr_cents": 185500,
    "currency": "USD",
    "recorded_by": "ae:jkim",
}


def test_an_account_events_file_lands_in_raw_under_iam(enforced_stack: EmulatorServer) -> None:
    # Given an account-events file delivered to the landing bucket (its ingest function
    # checks event ids in the state table with BatchGetItem)
    server = enforced_stack
    key = "account_events/2026/08/31/iam-check.jsonl"
    server.client("s3").put_object(
        Bucket=server.outputs["LandingBucketName"],
        Key=key,
        Body=json.dumps(ACCOUNT_EVENT).encode() + b"\n",
    )
    # Then the ingest function, as its own role, lands it in raw, refused nothing
    landed = wait_for(
        lambda: _keys(server, "RawBucketName", "raw/raw_account_events/"),
        "the account event in raw",
    )
    assert landed
    assert _denials(server) == []
