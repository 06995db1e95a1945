"""EventBridge rules and Scheduler schedules fired by the emulator extension (real moto)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pablo.local.clock import Clock
from pablo.local.context import EmulatorContext
from pablo.local.schedules import ScheduleRunner
from tests.support import threaded_moto

START = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
ROLE_ARN = "arn:aws:iam::123456789012:role/scheduler"
PASS_MACHINE = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})


@pytest.fixture
def emulator() -> Iterator[EmulatorContext]:
    with threaded_moto() as endpoint:
        yield EmulatorContext(endpoint, Clock(START))


@pytest.fixture
def runner(emulator: EmulatorContext) -> Iterator[ScheduleRunner]:
    extension = ScheduleRunner()
    extension.start(emulator)
    yield extension
    extension.stop()


def _queue(ctx: EmulatorContext, name: str) -> tuple[str, str]:
    url = ctx.client("sqs").create_queue(QueueName=name)["QueueUrl"]
    arn = ctx.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return url, arn["Attributes"]["QueueArn"]


def _receive_all(ctx: EmulatorContext, url: str) -> list[str]:
    bodies: list[str] = []
    while True:
        batch = ctx.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10)
        if not batch.get("Messages"):
            return bodies
        for message in batch["Messages"]:
            bodies.append(message["Body"])
            ctx.client("sqs").delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def _rule(ctx: EmulatorContext, name: str, expression: str, target: dict[str, Any]) -> str:
    arn = ctx.client("events").put_rule(Name=name, ScheduleExpression=expression)["RuleArn"]
    ctx.client("events").put_targets(Rule=name, Targets=[target])
    return str(arn)


def _advance(ctx: EmulatorContext, ext: ScheduleRunner, to: datetime) -> list[dict[str, Any]]:
    old, new = ctx.clock.advance_to(to)
    return ext.on_clock_advance(old, new)


def test_daily_and_hourly_rules_fire_exactly_as_often_as_due_over_two_days(
    emulator: EmulatorContext, runner: ScheduleRunner
) -> None:
    # given a daily 02:00 rule starting a state machine and an hourly rule feeding a queue
    machine_arn = emulator.client("stepfunctions").create_state_machine(
        name="engagement-daily", definition=PASS_MACHINE, roleArn=ROLE_ARN
    )["stateMachineArn"]
    daily_arn = _rule(
        emulator, "daily", "cron(0 2 * * ? *)", {"Id": "workflow", "Arn": machine_arn}
    )
    queue_url, queue_arn = _queue(emulator, "hourly-inbox")
    _rule(emulator, "hourly", "rate(1 hour)", {"Id": "inbox", "Arn": queue_arn})

    # when the clock advances two days (in two jumps)
    events = _advance(emulator, runner, START + timedelta(days=1))
    events += _advance(emulator, runner, START + timedelta(days=2))

    # then the daily rule ran the workflow twice, at 02:00 on the 26th and the 27th
    executions = emulator.client("stepfunctions").list_executions(stateMachineArn=machine_arn)
    names = sorted(e["name"] for e in executions["executions"])
    assert names == ["daily-workflow-20261126T020000Z", "daily-workflow-20261127T020000Z"]
    execution = emulator.client("stepfunctions").describe_execution(
        executionArn=next(e for e in executions["executions"] if "1126" in e["name"])[
            "executionArn"
        ]
    )
    scheduled = json.loads(execution["input"])
    assert scheduled["detail-type"] == "Scheduled Event"
    assert scheduled["source"] == "aws.events"
    assert scheduled["time"] == "2026-11-26T02:00:00Z"
    assert scheduled["resources"] == [daily_arn]
    assert scheduled["account"] == "123456789012"
    assert scheduled["region"] == "us-east-1"
    assert scheduled["detail"] == {}

    # and the hourly rule delivered 48 scheduled events, one per hour, with those times
    times = sorted(json.loads(body)["time"] for body in _receive_all(emulator, queue_url))
    expected = [(START + timedelta(hours=h)).strftime("%Y-%m-%dT%H:%M:%SZ") for h in range(1, 49)]
    assert times == expected

    # and the runner reported every firing in time order, without errors
    assert len(events) == 50
    assert [e["time"] for e in events] == sorted(e["time"] for e in events)
    assert not [e for e in events if "error" in e]


def test_next_due_is_the_first_firing_of_any_enabled_schedule(
    emulator: EmulatorContext, runner: ScheduleRunner
) -> None:
    # given a daily 02:00 rule, a disabled 01:00 rule and a one-time schedule at 03:30
    _, queue_arn = _queue(emulator, "due-inbox")
    _rule(emulator, "daily", "cron(0 2 * * ? *)", {"Id": "inbox", "Arn": queue_arn})
    _rule(emulator, "early", "cron(0 1 * * ? *)", {"Id": "inbox", "Arn": queue_arn})
    emulator.client("events").disable_rule(Name="early")
    emulator.client("scheduler").create_schedule(
        Name="once",
        ScheduleExpression="at(2026-11-26T03:30:00)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": queue_arn, "RoleArn": ROLE_ARN},
    )
    midnight = datetime(2026, 11, 26, tzinfo=UTC)

    # when the emulator asks when the runner is next due, from several instants
    # then it is each next enabled firing in the window, and None when there is none
    assert runner.next_due(midnight, midnight + timedelta(hours=6)) == midnight + timedelta(hours=2)
    at_two = midnight + timedelta(hours=2)
    assert runner.next_due(at_two, midnight + timedelta(hours=6)) == midnight + timedelta(hours=3.5)
    assert runner.next_due(midnight, midnight + timedelta(hours=1)) is None


def test_disabled_rules_and_past_times_do_not_fire(
    emulator: EmulatorContext, runner: ScheduleRunner
) -> None:
    queue_url, queue_arn = _queue(emulator, "inbox")
    _rule(emulator, "hourly", "rate(1 hour)", {"Id": "inbox", "Arn": queue_arn})
    emulator.client("events").disable_rule(Name="hourly")

    assert _advance(emulator, runner, START + timedelta(hours=3)) == []

    emulator.client("events").enable_rule(Name="hourly")
    # a second call for the same span fires nothing again
    assert runner.on_clock_advance(START, START + timedelta(hours=3)) == []
    assert len(_advance(emulator, runner, START + timedelta(hours=4))) == 1
    assert len(_receive_all(emulator, queue_url)) == 1


def test_input_and_input_transformer_shape_what_targets_receive(
    emulator: EmulatorContext, runner: ScheduleRunner
) -> None:
    # given one rule with a constant Input and one with an InputTransformer
    fixed_url, fixed_arn = _queue(emulator, "fixed")
    shaped_url, shaped_arn = _queue(emulator, "shaped")
    _rule(
        emulator,
        "fixed",
        "cron(0 12 * * ? *)",
        {"Id": "q", "Arn": fixed_arn, "Input": json.dumps({"pipeline": "growth"})},
    )
    _rule(
        emulator,
        "shaped",
        "cron(0 12 * * ? *)",
        {
            "Id": "q",
            "Arn": shaped_arn,
            "InputTransformer": {
                "InputPathsMap": {"when": "$.time"},
                "InputTemplate": (
                    '{"run_at": <when>, "label": "run <when>", "rule": <aws.events.rule-name>}'
                ),
            },
        },
    )

    _advance(emulator, runner, START + timedelta(hours=3))

    assert [json.loads(b) for b in _receive_all(emulator, fixed_url)] == [{"pipeline": "growth"}]
    assert [json.loads(b) for b in _receive_all(emulator, shaped_url)] == [
        {"run_at": "2026-11-25T12:00:00Z", "label": "run 2026-11-25T12:00:00Z", "rule": "shaped"}
    ]


def test_scheduler_schedules_fire_with_context_attributes(
    emulator: EmulatorContext, runner: ScheduleRunner
) -> None:
    # given an EventBridge Scheduler schedule at 08:00 New York time every day
    queue_url, queue_arn = _queue(emulator, "scheduled")
    emulator.client("scheduler").create_schedule(
        Name="weekly-report",
        ScheduleExpression="cron(0 8 * * ? *)",
        ScheduleExpressionTimezone="America/New_York",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={
            "Arn": queue_arn,
            "RoleArn": ROLE_ARN,
            "Input": '{"at": "<aws.scheduler.scheduled-time>"}',
        },
    )

    # when a day passes
    events = _advance(emulator, runner, START + timedelta(days=1))

    # then it fired once, at 13:00 UTC (08:00 EST), with the time filled in
    assert [(e["source"], e["time"]) for e in events] == [
        ("scheduler", "2026-11-25T13:00:00+00:00")
    ]
    assert [json.loads(b) for b in _receive_all(emulator, queue_url)] == [
        {"at": "2026-11-25T13:00:00Z"}
    ]


def test_a_failing_target_is_reported_and_does_not_stop_the_others(
    emulator: EmulatorContext, runner: ScheduleRunner
) -> None:
    # given a rule whose first target is a state machine that does not exist
    queue_url, queue_arn = _queue(emulator, "inbox")
    missing = "arn:aws:states:us-east-1:123456789012:stateMachine:gone"
    emulator.client("events").put_rule(Name="r", ScheduleExpression="rate(1 hour)")
    emulator.client("events").put_targets(
        Rule="r", Targets=[{"Id": "a", "Arn": missing}, {"Id": "b", "Arn": queue_arn}]
    )

    events = _advance(emulator, runner, START + timedelta(hours=1))

    assert [("error" in e, e["target_id"]) for e in events] == [(True, "a"), (False, "b")]
    assert len(_receive_all(emulator, queue_url)) == 1


def test_one_time_schedule_fires_once_and_deletes_itself_when_asked(
    emulator: EmulatorContext, runner: ScheduleRunner
) -> None:
    # given a one-time at() schedule that asks to be deleted after completion
    queue_url, queue_arn = _queue(emulator, "once")
    emulator.client("scheduler").create_schedule(
        Name="backfill-once",
        ScheduleExpression="at(2026-11-25T11:30:00)",
        FlexibleTimeWindow={"Mode": "OFF"},
        ActionAfterCompletion="DELETE",
        Target={"Arn": queue_arn, "RoleArn": ROLE_ARN, "Input": '{"backfill": true}'},
    )

    # when the clock passes its time, twice over
    first = _advance(emulator, runner, START + timedelta(hours=2))
    second = _advance(emulator, runner, START + timedelta(hours=4))

    # then it fired once and no longer exists
    assert [e["time"] for e in first] == ["2026-11-25T11:30:00+00:00"]
    assert second == []
    assert _receive_all(emulator, queue_url) == ['{"backfill": true}']
    assert emulator.client("scheduler").list_schedules()["Schedules"] == []


def test_the_in_process_listing_equals_what_the_eventbridge_api_returns(
    emulator: EmulatorContext, runner: ScheduleRunner
) -> None:
    # given rules with targets (one disabled, one event-pattern rule) and Scheduler
    # schedules, one of them disabled
    _, queue_arn = _queue(emulator, "listed")
    _rule(emulator, "daily", "cron(0 12 * * ? *)", {"Id": "q", "Arn": queue_arn, "Input": "{}"})
    _rule(emulator, "hourly", "rate(1 hour)", {"Id": "q", "Arn": queue_arn})
    emulator.client("events").disable_rule(Name="hourly")
    emulator.client("events").put_rule(Name="files", EventPattern='{"source": ["aws.s3"]}')
    for name, state in (("on", "ENABLED"), ("off", "DISABLED")):
        emulator.client("scheduler").create_schedule(
            Name=name,
            State=state,
            ScheduleExpression="rate(1 day)",
            FlexibleTimeWindow={"Mode": "OFF"},
            Target={"Arn": queue_arn, "RoleArn": ROLE_ARN},
        )

    # when the runner lists them from moto's backends, and the API is asked the same
    listing = runner._listing()
    api_rules = emulator.client("events").list_rules()["Rules"]

    # then the rules and their targets are those of ListRules and ListTargetsByRule
    listed = {rule["Name"]: rule for rule in listing.rules}
    assert sorted(listed) == sorted(rule["Name"] for rule in api_rules)
    for api_rule in api_rules:
        mine = listed[api_rule["Name"]]
        assert {k: mine[k] for k in api_rule} == api_rule
        assert set(mine) - set(api_rule) <= {"Targets", "CreatedBy"}  # no member ListRules has
    for rule in listing.rules:
        targets = emulator.client("events").list_targets_by_rule(Rule=rule["Name"])["Targets"]
        assert rule["Targets"] == targets
    # and only the enabled schedule is listed, as GetSchedule returns it
    assert [s["Name"] for s in listing.schedules] == ["on"]
    assert listing.schedules[0]["Target"]["Arn"] == queue_arn
