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

from functions.core import env
from tests.conftest import EmulatorServer
from tests.functional.executive_month import (
    HAND_TOTALS,
    MONTH,
    Lake,
    land_september,
    published_totals,
    run_input,
)
from tests.support import function_environment, unique_name, wait_for

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


def _finished(sfn: Any, execution: str) -> dict[str, Any]:
    """The execution's description once it stops running (or EXECUTION_TIMEOUT passes)."""
    deadline = time.monotonic() + EXECUTION_TIMEOUT
    described: dict[str, Any] = sfn.describe_execution(executionArn=execution)
    while described["status"] == "RUNNING" and time.monotonic() < deadline:
        time.sleep(1)
        described = sfn.describe_execution(executionArn=execution)
    return described


def _states_entered(sfn: Any, execution: str) -> set[str]:
    return {
        e["stateEnteredEventDetails"]["name"]
        for e in sfn.get_execution_history(executionArn=execution)["events"]
        if "stateEnteredEventDetails" in e
    }


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
    described = _finished(sfn, execution)
    # Then it succeeded, the daily function (as its own role) wrote the curated day
    assert described["status"] == "SUCCEEDED", (described.get("cause"), _denials(server))
    assert _keys(server, "CuratedBucketName", "curated/engagement_daily/")
    # And no function was refused anything along the way
    assert _denials(server) == []


def test_a_day_computed_on_athena_runs_under_iam(enforced_stack: EmulatorServer) -> None:
    server = enforced_stack
    # Given the daily function told that every day is big enough for Athena
    name = f"{server.outputs['NamePrefix']}-engagement-daily"
    with function_environment(server, name, {env.ATHENA_MIN_RAW_BYTES: "1"}):
        # When the workflow recomputes the day the run above computed
        sfn = server.client("stepfunctions")
        run_time = (server.control.now() + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        execution = sfn.start_execution(
            stateMachineArn=server.outputs["EngagementDailyStateMachineArn"],
            name=unique_name("iam-athena-run"),
            input=json.dumps({"time": run_time, "days": ["2026-09-01"]}),
        )["executionArn"]
        described = _finished(sfn, execution)
    # Then it ran on Athena in the pipelines workgroup, as the function's role, and succeeded
    assert described["status"] == "SUCCEEDED", (described.get("cause"), _denials(server))
    entered = _states_entered(sfn, execution)
    assert {"AthenaStart", "AthenaAdvance"} <= entered and "AggregateDay" not in entered
    queries = server.client("athena").list_query_executions(
        WorkGroup=server.outputs["PipelinesWorkgroupName"]
    )["QueryExecutionIds"]
    assert len(queries) == 7  # kept; clicks, dedup, users, unknown, hours; engagement_daily
    # and the day's partition moved to the Athena run's version, the only one left
    location = server.client("glue").get_partition(
        DatabaseName=server.outputs["CuratedDatabaseName"],
        TableName="engagement_daily",
        PartitionValues=["2026-09-01"],
    )["Partition"]["StorageDescriptor"]["Location"]
    day_prefix = "curated/engagement_daily/dt=2026-09-01/"
    keys = _keys(server, "CuratedBucketName", day_prefix)
    assert keys and all(location.endswith(k.rsplit("/", 1)[0] + "/") for k in keys)
    assert _denials(server) == []


def test_a_month_joined_on_athena_runs_under_iam(enforced_stack: EmulatorServer) -> None:
    server = enforced_stack
    # Given September's curated inputs (figures worked out by hand) in the deployed lake,
    # the KPI function told that every month is big enough for Athena, and the deployed
    # monthly workflow from its engine choice on, acting as the deployed workflow's role
    lake = Lake(server, server.outputs["CuratedBucketName"], server.outputs["CuratedDatabaseName"])
    land_september(lake)
    name = f"{server.outputs['NamePrefix']}-executive-kpi"
    sfn = server.client("stepfunctions")
    deployed = sfn.describe_state_machine(
        stateMachineArn=server.outputs["ExecutiveMonthlyStateMachineArn"]
    )
    definition = {**json.loads(deployed["definition"]), "StartAt": "ChooseEngine"}
    machine = sfn.create_state_machine(
        name=unique_name("executive-monthly-engine"),
        definition=json.dumps(definition),
        roleArn=deployed["roleArn"],
    )["stateMachineArn"]
    with function_environment(server, name, {env.EXECUTIVE_ATHENA_MIN_INPUT_BYTES: "0"}):
        # When the month runs
        execution = sfn.start_execution(
            stateMachineArn=machine, name=MONTH.execution_name, input=json.dumps(run_input())
        )["executionArn"]
        described = _finished(sfn, execution)
    # Then it joined on Athena, waited in the workflow, and published, refused nothing
    assert described["status"] == "SUCCEEDED", (described.get("cause"), _denials(server))
    entered = _states_entered(sfn, execution)
    assert {"StartAthenaJoin", "AthenaJoinState", "FinishAthenaJoin"} <= entered
    assert "Join" not in entered
    location, totals = published_totals(lake)
    assert totals == HAND_TOTALS
    assert "/exec_join_totals/grain=month/period=2026-09/version=" in location
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


# Grants a run in the emulator cannot use, whatever the pipeline does: S3 and SNS call KMS
# for the caller in AWS and not in moto; the Lambda service writes a function's logs and
# X-Ray segments with its role, the emulator's runtime writes logs itself and has no X-Ray;
# Step Functions' log delivery is configured by CloudFormation, not by the role.
NOT_EXERCISABLE_HERE = ("kms:", "xray:", "logs:")
STATE_TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/pablo-local-state"
# The engagement run's roles, and what their grants allow that the run above did not use,
# each with why it is granted (PipelineFunction's state_table_access grants every item
# action on the state table to any function that touches it).
EXPECTED_UNUSED = {
    "EngagementIngestRole": {
        # the state table grant is shared; ingest only marks days dirty (UpdateItem)
        *(
            f"dynamodb:{action} {STATE_TABLE}"
            for action in (
                "BatchGetItem",
                "ConditionCheckItem",
                "DeleteItem",
                "GetItem",
                "PutItem",
                "Query",
            )
        ),
        # CDK's stream read grant: enhanced fan-out and stream-level calls the standard
        # event source mapping (which reads as this role) does not make
        *(
            f"kinesis:{action} arn:aws:kinesis:us-east-1:123456789012:stream/pablo-local-clicks"
            for action in (
                "DescribeStream",
                "DescribeStreamConsumer",
                "DescribeStreamSummary",
                "ListStreams",
                "SubscribeToShard",
            )
        ),
        # the on-failure destination, sent to only when a batch exhausts its retries
        *(
            f"sqs:{action} arn:aws:sqs:us-east-1:123456789012:pablo-local-click-ingest-failures"
            for action in ("GetQueueAttributes", "GetQueueUrl", "SendMessage")
        ),
        # the bucket grants of PipelineFunction: reads and deletes a re-run would need
        "s3:AbortMultipartUpload arn:aws:s3:::pablo-local-quarantine-123456789012-us-east-1/*"
        " arn:aws:s3:::pablo-local-raw-123456789012-us-east-1/*",
        "s3:DeleteObject arn:aws:s3:::pablo-local-quarantine-123456789012-us-east-1/*"
        " arn:aws:s3:::pablo-local-raw-123456789012-us-east-1/*",
        "s3:GetBucketLocation arn:aws:s3:::pablo-local-quarantine-123456789012-us-east-1"
        " arn:aws:s3:::pablo-local-raw-123456789012-us-east-1",
        "s3:GetObject arn:aws:s3:::pablo-local-quarantine-123456789012-us-east-1/*"
        " arn:aws:s3:::pablo-local-raw-123456789012-us-east-1/*",
        "s3:ListBucket arn:aws:s3:::pablo-local-quarantine-123456789012-us-east-1"
        " arn:aws:s3:::pablo-local-raw-123456789012-us-east-1",
    },
    # the workflow publishes to on-call only when a step fails
    "EngagementWorkflowStateMachineRole": {
        "sns:Publish arn:aws:sns:us-east-1:123456789012:pablo-local-oncall"
    },
    "EngagementWorkflowStateMachineEventsRole": set(),
}


def _role_usage(usage: dict[str, Any], logical: str) -> dict[str, Any]:
    (entry,) = [e for name, e in usage.items() if f"-{logical}" in name and "unused" in e]
    return entry


def test_the_engagement_roles_were_refused_nothing_and_their_unused_grants_are_known(
    enforced_stack: EmulatorServer,
) -> None:
    # Given the runs above (ingest, the daily workflow, a landed file), under enforcement
    usage = enforced_stack.control.iam_usage()
    # Then no role and no function's resource-based policy refused anything
    assert {name: e["denied"] for name, e in usage.items() if e["denied"]} == {}
    # And each engagement role used something, and left unused exactly the grants known
    # to serve paths this run does not take
    for logical, expected in EXPECTED_UNUSED.items():
        entry = _role_usage(usage, logical)
        assert entry["used"], f"{logical} acted but used nothing"
        unused = {u for u in entry["unused"] if not u.startswith(NOT_EXERCISABLE_HERE)}
        assert unused == expected, f"{logical}: {sorted(unused ^ expected)}"
    # And the mapping read the stream as the ingest function's role, the daily workflow
    # invoked its function as the state machine's role, and the landing rule reached its
    # function through the function's permission
    ingest = _role_usage(usage, "EngagementIngestRole")
    assert (
        "kinesis:GetRecords arn:aws:kinesis:us-east-1:123456789012:stream/pablo-local-clicks"
        in (ingest["used"])
    )
    workflow = _role_usage(usage, "EngagementWorkflowStateMachineRole")
    assert workflow["used"] == [
        "lambda:InvokeFunction arn:aws:lambda:us-east-1:123456789012:function:"
        "pablo-local-engagement-daily"
    ]
    landing = usage[
        "arn:aws:lambda:us-east-1:123456789012:function:pablo-local-account-events-ingest"
    ]
    assert [u.split(" ")[0] for u in landing["used"]] == ["lambda:InvokeFunction"]
