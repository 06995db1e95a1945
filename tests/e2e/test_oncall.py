"""`pablo oncall` against the real stack deployed into the emulator.

The deployed alarms are the inventory's, one to one; an acknowledged alarm stops notifying
the on-call topic and, once the emulator's evaluator takes it back to OK, the deployed
unmute function (EventBridge "CloudWatch Alarm State Change") re-enables its actions and
closes the acknowledgement; quarantined clicks and account-event lines are replayed once.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pyarrow.parquet as pq
import pytest

from functions.adapters import state_table
from functions.core import backfills, schemas
from functions.core.errors import ValidationError
from functions.core.monitor import oncall as core
from functions.core.monitor.alarm_inventory import INVENTORY
from functions.core.times import format_seconds
from pablo import oncall
from pablo.commands.oncall import ROTATION_PATH
from pablo.demo_parts.oncall import OnCallDemo
from tests.conftest import EmulatorServer
from tests.support import wait_for as shared_wait_for

CLOCK_START = "2026-09-01T00:00:00+00:00"
ALARM_KEY = "profit-reconciliation-mismatch"  # 5-minute periods: quick to drive
METRIC = "ProfitMonthUnreconciled"
ROTATION = ROTATION_PATH
WAIT_SECONDS = 90.0
wait_for = functools.partial(shared_wait_for, timeout=WAIT_SECONDS)


@pytest.fixture(scope="module")
def target(deployed_stack: EmulatorServer) -> oncall.Target:
    return oncall.Target(deployed_stack.endpoint)


@pytest.fixture(scope="module")
def topic_inbox(deployed_stack: EmulatorServer) -> str:
    """An SQS queue subscribed to the on-call topic: what would page."""
    sqs = deployed_stack.client("sqs")
    url = sqs.create_queue(QueueName="oncall-inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    deployed_stack.client("sns").subscribe(
        TopicArn=deployed_stack.outputs["OnCallTopicArn"], Protocol="sqs", Endpoint=arn
    )
    return str(url)


def _pages(stack: EmulatorServer, url: str, alarm: str) -> list[str]:
    """New states the on-call topic announced for `alarm` since the last call."""
    sqs, states = stack.client("sqs"), list[str]()
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return states
        for message in messages:
            body = json.loads(json.loads(message["Body"])["Message"])
            if body.get("AlarmName") == alarm:
                states.append(body["NewStateValue"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def _publish(stack: EmulatorServer, value: float) -> None:
    now = stack.control.now()
    stack.client("cloudwatch").put_metric_data(
        Namespace=stack.outputs["MetricsNamespace"],
        MetricData=[{"MetricName": METRIC, "Value": value, "Timestamp": now}],
    )


def _next_period(stack: EmulatorServer) -> None:
    """Past the next 5-minute boundary, where the evaluator looks at the alarm."""
    now = stack.control.now()
    boundary = now.replace(second=0, microsecond=0) - timedelta(minutes=now.minute % 5)
    stack.control.advance(to=boundary + timedelta(minutes=5, seconds=1))


def _alarm(stack: EmulatorServer, name: str) -> dict[str, Any]:
    found: dict[str, Any] = stack.client("cloudwatch").describe_alarms(AlarmNames=[name])[
        "MetricAlarms"
    ][0]
    return found


def test_deployed_alarms_are_the_inventory_one_to_one(
    deployed_stack: EmulatorServer, target: oncall.Target
) -> None:
    # given the stack deployed into the emulator
    prefix = deployed_stack.outputs["NamePrefix"]
    # when its alarms are listed
    statuses = oncall.alarm_statuses(target)
    # then each inventory entry is deployed once, with its owner and runbook, actions on
    assert sorted(s.name for s in statuses) == sorted(f"{prefix}-{s.key}" for s in INVENTORY)
    for status in statuses:
        assert status.spec is not None
        assert status.actions_enabled
        alarm = _alarm(deployed_stack, status.name)
        assert status.spec.owner.value in alarm["AlarmDescription"]
        assert status.spec.runbook in alarm["AlarmDescription"]
        assert alarm["AlarmActions"] == [deployed_stack.outputs["OnCallTopicArn"]]


@pytest.fixture(scope="module")
def acked(
    deployed_stack: EmulatorServer, target: oncall.Target, topic_inbox: str
) -> Iterator[tuple[str, core.Ack]]:
    """The reconciliation alarm driven to ALARM, then acknowledged."""
    name = f"{deployed_stack.outputs['NamePrefix']}-{ALARM_KEY}"
    _publish(deployed_stack, 1.0)
    _next_period(deployed_stack)
    assert _alarm(deployed_stack, name)["StateValue"] == "ALARM"
    ack = oncall.acknowledge(target, ALARM_KEY, by="Alex Kim", note="ledger checked")
    yield name, ack


def test_ack_records_who_and_mutes_then_ok_unmutes_and_closes(
    deployed_stack: EmulatorServer,
    target: oncall.Target,
    topic_inbox: str,
    acked: tuple[str, core.Ack],
) -> None:
    name, ack = acked
    # given the acknowledged alarm: it paged once, is muted, and status shows who acked
    assert _pages(deployed_stack, topic_inbox, name) == ["ALARM"]
    assert _alarm(deployed_stack, name)["ActionsEnabled"] is False
    (listed,) = [s for s in oncall.alarm_statuses(target) if s.name == name]
    assert listed.state == "ALARM" and listed.ack is not None
    assert (listed.ack.by, listed.ack.note) == ("Alex Kim", "ledger checked")
    assert listed.ack.acked_at == ack.acked_at

    # when the metric recovers and the evaluator takes the alarm back to OK
    _publish(deployed_stack, 0.0)
    _next_period(deployed_stack)

    # then the OK did not page (muted), the unmute function re-enabled actions and closed
    assert _alarm(deployed_stack, name)["StateValue"] == "OK"
    wait_for(lambda: _alarm(deployed_stack, name)["ActionsEnabled"], "actions re-enabled")
    acks = state_table.acks(
        deployed_stack.client("dynamodb"), table=deployed_stack.outputs["StateTableName"]
    )
    (closed,) = [a for a in acks if a.alarm == name]
    assert closed.status == "closed"
    assert closed.closed_reason == core.CLOSED_BY_OK
    assert _pages(deployed_stack, topic_inbox, name) == []

    # and a new breach pages again
    _publish(deployed_stack, 1.0)
    _next_period(deployed_stack)
    assert _pages(deployed_stack, topic_inbox, name) == ["ALARM"]


def test_ack_of_an_unknown_or_ok_alarm_is_a_clear_error(
    deployed_stack: EmulatorServer, target: oncall.Target
) -> None:
    with pytest.raises(ValidationError, match="unknown alarm 'no-such-alarm'"):
        oncall.acknowledge(target, "no-such-alarm", by="Alex Kim", note="")
    # an alarm back to OK (the reconciliation alarm's metric recovers)
    name = f"{deployed_stack.outputs['NamePrefix']}-{ALARM_KEY}"
    _publish(deployed_stack, 0.0)
    _next_period(deployed_stack)
    assert _alarm(deployed_stack, name)["StateValue"] == "OK"
    with pytest.raises(oncall.OnCallError, match="is OK: nothing to acknowledge"):
        oncall.acknowledge(target, name, by="Alex Kim", note="")


def test_handoff_and_demo_summary_show_the_fired_alarm_and_its_ack(
    deployed_stack: EmulatorServer,
    target: oncall.Target,
    acked: tuple[str, core.Ack],
) -> None:
    name, _ = acked
    # when the handover note of the week is built and the demo summarises the alarms
    rotation = oncall.load_rotation(ROTATION)
    week = core.week_start(deployed_stack.control.now().date())
    note = core.handoff_lines(oncall.build_handoff(target, rotation, week))
    demo = OnCallDemo()
    demo.start(type("Run", (), {"endpoint": deployed_stack.endpoint})())
    summary = demo.lines(demo.finish())
    # then the week's acknowledgement is in the note, and the demo names owner and runbook
    assert any(name in line and "acked by Alex Kim" in line for line in note)
    fired = [line for line in summary if line.startswith(f"{name}: fired")]
    assert fired and "Finance Team / Risk Team" in fired[0]
    assert any(f"docs/runbooks/profit.md#{ALARM_KEY}" in line for line in summary)


def test_the_handoff_lists_manual_and_automatic_backfills_of_the_week(
    deployed_stack: EmulatorServer, target: oncall.Target
) -> None:
    # given a manual backfill (`pablo backfill`'s naming) and one the executive freshness
    # gate started (its naming), both this week on the pipeline clock
    sfn = deployed_stack.client("stepfunctions")
    arn = deployed_stack.outputs["GrowthWeeklyStateMachineArn"]
    now = deployed_stack.control.now()
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    manual = f"{backfills.MANUAL_BACKFILL_PREFIX}20260801-20260807-{stamp}"
    automatic = "monthly-2026-08-growth-backfill"
    for name in (manual, automatic):
        sfn.start_execution(
            stateMachineArn=arn, name=name, input=json.dumps({"time": format_seconds(now)})
        )
    # when the week's handover note is built
    rotation = oncall.load_rotation(ROTATION)
    note = core.handoff_lines(oncall.build_handoff(target, rotation, core.week_start(now.date())))
    # then both are listed, each saying who started it
    assert any(line.startswith(f"- {manual} (") and "; manual)" in line for line in note)
    assert any(
        line.startswith(f"- {automatic} (")
        and "automatic, by the freshness gate of monthly-2026-08" in line
        for line in note
    )


# --- alarms on AWS's own metrics (published by the emulator as AWS would) -------------


def _aws_datapoints(stack: EmulatorServer, namespace: str, metric: str, dimension: dict) -> float:
    now = stack.control.now()
    stats = stack.client("cloudwatch").get_metric_statistics(
        Namespace=namespace,
        MetricName=metric,
        Dimensions=[dimension],
        StartTime=now - timedelta(hours=1),
        EndTime=now + timedelta(minutes=10),
        Period=300,
        Statistics=["Sum"],
    )
    return float(sum(p["Sum"] for p in stats["Datapoints"]))


def test_a_function_that_raises_fires_its_errors_alarm_and_pages(
    deployed_stack: EmulatorServer, topic_inbox: str
) -> None:
    # given the executive KPI function invoked with an event it cannot read
    prefix = deployed_stack.outputs["NamePrefix"]
    function = f"{prefix}-executive-kpi"
    response = deployed_stack.client("lambda").invoke(
        FunctionName=function, Payload=json.dumps({"grain": "fortnight"}).encode()
    )
    assert response.get("FunctionError"), response["Payload"].read()
    # then Lambda's Errors metric counts it, on the function's own dimension
    dimension = {"Name": "FunctionName", "Value": function}
    assert _aws_datapoints(deployed_stack, "AWS/Lambda", "Errors", dimension) == 1.0
    # and at the next period boundary its alarm fires and pages the on-call topic
    name = f"{prefix}-executive-kpi-errors"
    _next_period(deployed_stack)
    assert _alarm(deployed_stack, name)["StateValue"] == "ALARM"
    assert _pages(deployed_stack, topic_inbox, name) == ["ALARM"]
    # and once the error is out of the evaluation range (2 periods for 1, as AWS looks back
    # past missing datapoints), periods without invocations (not breaching) give OK
    _next_period(deployed_stack)
    _next_period(deployed_stack)
    assert _alarm(deployed_stack, name)["StateValue"] == "OK"


def test_a_batch_in_the_ingest_failure_queue_pages_until_the_queue_is_empty(
    deployed_stack: EmulatorServer, topic_inbox: str
) -> None:
    # given a failed batch's descriptor in the click mapping's on-failure queue
    sqs, url = deployed_stack.client("sqs"), deployed_stack.outputs["ClickIngestFailureQueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"KinesisBatchInfo": {"batchSize": 3}}))
    name = f"{deployed_stack.outputs['NamePrefix']}-click-ingest-failure-queue"
    # when the clock passes the next period boundary
    _next_period(deployed_stack)
    # then the queue-depth alarm fires and pages
    assert _alarm(deployed_stack, name)["StateValue"] == "ALARM"
    assert _pages(deployed_stack, topic_inbox, name) == ["ALARM"]
    # and once the batch is replayed and its message deleted, it returns to OK
    for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    _next_period(deployed_stack)
    _next_period(deployed_stack)
    assert _alarm(deployed_stack, name)["StateValue"] == "OK"


def test_a_failed_workflow_execution_fires_its_failed_alarm(
    deployed_stack: EmulatorServer, topic_inbox: str
) -> None:
    # given a growth run whose input its first task rejects (Catch, notify, Fail)
    sfn = deployed_stack.client("stepfunctions")
    arn = deployed_stack.outputs["GrowthWeeklyStateMachineArn"]
    started = sfn.start_execution(
        stateMachineArn=arn, name=f"bad-input-{uuid.uuid4().hex[:8]}", input='{"time": "never"}'
    )

    def ended() -> str | None:
        status = sfn.describe_execution(executionArn=started["executionArn"])["status"]
        return None if status == "RUNNING" else str(status)

    assert wait_for(ended, "the bad growth run to end") == "FAILED"
    name = f"{deployed_stack.outputs['NamePrefix']}-growth-weekly-failed"
    # when the clock passes the next period boundary
    _next_period(deployed_stack)
    # then ExecutionsFailed counted it on the state machine's ARN, and its alarm fired
    dimension = {"Name": "StateMachineArn", "Value": arn}
    assert _aws_datapoints(deployed_stack, "AWS/States", "ExecutionsFailed", dimension) == 1.0
    assert _alarm(deployed_stack, name)["StateValue"] == "ALARM"
    assert _pages(deployed_stack, topic_inbox, name) == ["ALARM"]


# --- replay ----------------------------------------------------------------------------


def _quarantine_rows(stack: EmulatorServer, pipeline: str) -> list[dict[str, Any]]:
    s3, bucket = stack.client("s3"), stack.outputs["QuarantineBucketName"]
    prefix = f"{schemas.QUARANTINE.prefix}/pipeline={pipeline}/"
    rows: list[dict[str, Any]] = []
    for obj in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
        body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
        rows += pq.read_table(io.BytesIO(body)).to_pylist()
    return rows


def test_quarantined_clicks_are_replayed_into_kinesis_once(
    deployed_stack: EmulatorServer, target: oncall.Target
) -> None:
    # given a click of an unknown event type, quarantined by the deployed ingest function
    now_ms = int(deployed_stack.control.now().timestamp() * 1000)
    click = {
        "event_id": str(uuid.uuid4()),
        "account_id": "acct-0001",
        "user_id": "user-0001",
        "event_type": "hover",
        "event_time": now_ms,
        "page": "/home",
    }
    raw = json.dumps(click).encode()
    deployed_stack.client("kinesis").put_record(
        StreamName=deployed_stack.outputs["ClickStreamName"], Data=raw, PartitionKey="a"
    )
    assert deployed_stack.control.drain_streams(timeout=120)["drained"] is True
    wait_for(lambda: _quarantine_rows(deployed_stack, "engagement"), "the click quarantined")

    # when it is replayed (after a fix), then replayed again
    dry = oncall.replay_quarantine(
        target, pipeline="engagement", reason="unknown_event_type", by="t", dry_run=True
    )
    first = oncall.replay_quarantine(
        target, pipeline="engagement", reason="unknown_event_type", by="t", dry_run=False
    )
    assert deployed_stack.control.drain_streams(timeout=120)["drained"] is True
    second = oncall.replay_quarantine(
        target, pipeline="engagement", reason="unknown_event_type", by="t", dry_run=False
    )

    # then the dry run and the first replay re-send the original bytes once, the second none
    assert [r.raw for r in dry.clicks] == [r.raw for r in first.clicks] == [raw]
    assert second.records == 0 and second.already_replayed >= 1

    # and the stream carried it a second time: the ingest quarantined the same bytes again
    def copies() -> list[dict[str, Any]] | None:
        found = [r for r in _quarantine_rows(deployed_stack, "engagement") if r["raw"] == raw]
        return found if len(found) == 2 else None

    assert wait_for(copies, "the replayed click ingested and quarantined again")


def test_quarantined_account_event_lines_are_relanded_once(
    deployed_stack: EmulatorServer, target: oncall.Target
) -> None:
    # given an account-events file with a line of an unknown plan, quarantined on landing
    landing, s3 = deployed_stack.outputs["LandingBucketName"], deployed_stack.client("s3")
    line = {
        "event_id": str(uuid.uuid4()),
        "account_id": "acct-0003",
        "event_type": "subscribed",
        "event_time": "2026-08-30T10:38:00Z",
        "plan": "platinum",
        "seats": 5,
        "mrr_cents": 5000,
        "currency": "USD",
        "recorded_by": "ae:tnguyen",
    }
    raw = json.dumps(line).encode()
    key = "account_events/2026/08/31/account_events-2026-08-31.jsonl"
    s3.put_object(Bucket=landing, Key=key, Body=raw + b"\n")
    wait_for(lambda: _quarantine_rows(deployed_stack, "growth"), "the line quarantined")

    # when it is replayed twice
    first = oncall.replay_quarantine(
        target, pipeline="growth", reason="unknown_plan", by="t", dry_run=False
    )
    second = oncall.replay_quarantine(
        target, pipeline="growth", reason="unknown_plan", by="t", dry_run=False
    )

    # then one new landing file next to the original holds the line; the second is a no-op
    (replayed,) = first.files
    assert replayed.key.startswith("account_events/2026/08/31/replay-unknown_plan-")
    body = s3.get_object(Bucket=landing, Key=replayed.key)["Body"].read()
    assert body == raw + b"\n"
    assert second.records == 0 and second.files == ()
    runs = state_table.replay_runs(
        deployed_stack.client("dynamodb"), table=deployed_stack.outputs["StateTableName"]
    )
    assert [(r["pipeline"], r["records"]) for r in runs if r["reason"] == "unknown_plan"] == [
        ("growth", 1)
    ]


def test_the_cli_prints_status_json_handoff_and_one_line_errors(
    deployed_stack: EmulatorServer,
    acked: tuple[str, core.Ack],
    capsys: pytest.CaptureFixture[str],
) -> None:
    from pablo.cli import main  # noqa: PLC0415

    endpoint = ["--endpoint", deployed_stack.endpoint]
    name, _ = acked
    # when status --json, handoff and an ack of an unknown alarm run through `pablo`
    assert main(["oncall", "status", "--json", *endpoint]) == 0
    status = json.loads(capsys.readouterr().out)
    assert main(["oncall", "status", "--format", "csv", *endpoint]) == 0
    status_csv = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert main(["oncall", "handoff", *endpoint]) == 0
    handoff = capsys.readouterr().out
    assert main(["oncall", "ack", "nope", "--by", "Alex Kim", *endpoint]) == 2
    error = capsys.readouterr().err
    # then every listed alarm is open, with its inventory fields, in JSON and in CSV
    assert status and {row["state"] for row in status} <= {"ALARM", "INSUFFICIENT_DATA"}
    assert [(r["alarm"], r["owner"]) for r in status_csv] == [
        (r["alarm"], r["owner"]) for r in status
    ]
    assert all(row["owner"] and row["runbook"] for row in status)
    # and the note has its sections, and the error is one line
    assert "## Acknowledgements" in handoff and name in handoff
    target, failure = error.splitlines()
    assert target == f"pablo: target: {deployed_stack.endpoint} (--endpoint)"
    assert failure.startswith("pablo: unknown alarm 'nope'")
