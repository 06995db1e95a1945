"""CloudWatch alarms evaluated by the emulator extension, against a real moto server."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pablo.local.alarms import AlarmEvaluator, rule_from_alarm
from pablo.local.clock import Clock
from pablo.local.context import EmulatorContext
from tests.support import threaded_moto

START = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
NAMESPACE = "Pablo/Test"
DIMENSIONS = [{"Name": "Pipeline", "Value": "engagement"}]


@pytest.fixture
def emulator() -> Iterator[EmulatorContext]:
    with threaded_moto() as endpoint:
        yield EmulatorContext(endpoint, Clock(START))


@pytest.fixture
def evaluator(emulator: EmulatorContext) -> Iterator[AlarmEvaluator]:
    extension = AlarmEvaluator()
    extension.start(emulator)
    yield extension
    extension.stop()


def _topic_with_queue(ctx: EmulatorContext, name: str) -> tuple[str, str]:
    """An SNS topic and the URL of an SQS queue subscribed to it."""
    topic_arn = ctx.client("sns").create_topic(Name=name)["TopicArn"]
    queue_url = ctx.client("sqs").create_queue(QueueName=f"{name}-inbox")["QueueUrl"]
    queue_arn = ctx.client("sqs").get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    ctx.client("sns").subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    return topic_arn, queue_url


def _drain(ctx: EmulatorContext, queue_url: str) -> list[dict[str, Any]]:
    bodies: list[dict[str, Any]] = []
    while True:
        batch = ctx.client("sqs").receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
        messages = batch.get("Messages", [])
        if not messages:
            return bodies
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            ctx.client("sqs").delete_message(
                QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"]
            )


def _put(ctx: EmulatorContext, value: float, at: datetime, metric: str = "LagMinutes") -> None:
    ctx.client("cloudwatch").put_metric_data(
        Namespace=NAMESPACE,
        MetricData=[
            {"MetricName": metric, "Value": value, "Timestamp": at, "Dimensions": DIMENSIONS}
        ],
    )


def _advance(ctx: EmulatorContext, ext: AlarmEvaluator, to: datetime) -> list[dict[str, Any]]:
    old, new = ctx.clock.advance_to(to)
    return ext.on_clock_advance(old, new)


def _lag_alarm(ctx: EmulatorContext, topic_arn: str, **overrides: Any) -> None:
    params: dict[str, Any] = {
        "AlarmName": "engagement-lag",
        "AlarmDescription": "clicks are late",
        "Namespace": NAMESPACE,
        "MetricName": "LagMinutes",
        "Dimensions": DIMENSIONS,
        "Statistic": "Maximum",
        "Period": 60,
        "EvaluationPeriods": 1,
        "Threshold": 3.0,
        "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": "notBreaching",
        "AlarmActions": [topic_arn],
        "OKActions": [topic_arn],
    }
    params.update(overrides)
    params = {key: value for key, value in params.items() if value is not None}
    ctx.client("cloudwatch").put_metric_alarm(**params)


def test_alarm_goes_ok_alarm_ok_and_notifies_each_transition_once(
    emulator: EmulatorContext, evaluator: AlarmEvaluator
) -> None:
    # given an alarm on lag > 3 whose OK and ALARM actions feed an SQS queue through SNS
    topic_arn, queue_url = _topic_with_queue(emulator, "oncall")
    _lag_alarm(emulator, topic_arn)

    # when the metric is fine, then breaches, then recovers while the clock advances
    _put(emulator, 1.0, START + timedelta(seconds=10))
    first = _advance(emulator, evaluator, START + timedelta(minutes=1))
    _put(emulator, 5.0, START + timedelta(minutes=1, seconds=20))
    second = _advance(emulator, evaluator, START + timedelta(minutes=2))
    _put(emulator, 2.0, START + timedelta(minutes=2, seconds=5))
    third = _advance(emulator, evaluator, START + timedelta(minutes=10))

    # then the alarm went INSUFFICIENT_DATA (new) -> OK -> ALARM -> OK, one event each
    assert [(e["old_state"], e["new_state"]) for e in first + second + third] == [
        ("INSUFFICIENT_DATA", "OK"),
        ("OK", "ALARM"),
        ("ALARM", "OK"),
    ]
    notes = _drain(emulator, queue_url)
    assert [json.loads(n["Message"])["NewStateValue"] for n in notes] == ["OK", "ALARM", "OK"]
    alarm_note = notes[1]
    assert alarm_note["Subject"] == 'ALARM: "engagement-lag" in US East (N. Virginia)'
    message = json.loads(alarm_note["Message"])
    assert message["AlarmName"] == "engagement-lag"
    assert message["AlarmDescription"] == "clicks are late"
    assert message["AWSAccountId"] == "123456789012"
    assert message["OldStateValue"] == "OK"
    assert message["StateChangeTime"] == "2026-11-25T10:02:00.000+0000"
    assert message["Region"] == "US East (N. Virginia)"
    assert message["AlarmArn"].endswith(":alarm:engagement-lag")
    assert message["NewStateReason"] == (
        "Threshold Crossed: 1 out of the last 1 datapoints [5.0 (25/11/26 10:01:00)] was "
        "greater than the threshold (3.0) (minimum 1 datapoint for OK -> ALARM transition)."
    )
    assert message["Trigger"] == {
        "MetricName": "LagMinutes",
        "Namespace": NAMESPACE,
        "StatisticType": "Statistic",
        "Statistic": "MAXIMUM",
        "Unit": None,
        "Dimensions": [{"value": "engagement", "name": "Pipeline"}],
        "Period": 60,
        "EvaluationPeriods": 1,
        "DatapointsToAlarm": 1,
        "ComparisonOperator": "GreaterThanThreshold",
        "Threshold": 3.0,
        "TreatMissingData": "notBreaching",
        "EvaluateLowSampleCountPercentile": "",
    }
    # and CloudWatch itself reports the final state with the evaluator's reason
    alarm = emulator.client("cloudwatch").describe_alarms(AlarmNames=["engagement-lag"])
    assert alarm["MetricAlarms"][0]["StateValue"] == "OK"
    assert "was not greater than the threshold" in alarm["MetricAlarms"][0]["StateReason"]


def test_one_jump_evaluates_every_period_boundary_in_between(
    emulator: EmulatorContext, evaluator: AlarmEvaluator
) -> None:
    # given datapoints in the minutes starting 10:01, 10:05 (a breach) and 10:06, with gaps
    # treated as missing and an evaluation range of 2 one-minute periods
    topic_arn, queue_url = _topic_with_queue(emulator, "oncall")
    _lag_alarm(emulator, topic_arn, TreatMissingData="missing")
    _put(emulator, 1.0, START + timedelta(minutes=1))
    _put(emulator, 9.0, START + timedelta(minutes=5))
    _put(emulator, 1.0, START + timedelta(minutes=6))

    # when the clock jumps 20 minutes at once
    events = _advance(emulator, evaluator, START + timedelta(minutes=20))

    # then the transitions in between are all found, in time order, with their times
    assert [(e["new_state"], e["time"][11:16]) for e in events] == [
        ("OK", "10:02"),
        ("INSUFFICIENT_DATA", "10:04"),
        ("ALARM", "10:06"),
        ("OK", "10:07"),
        ("INSUFFICIENT_DATA", "10:09"),
    ]
    # and the INSUFFICIENT_DATA transitions have no action configured, so 3 notifications
    assert len(_drain(emulator, queue_url)) == 3


def test_disabled_actions_change_state_without_notifying(
    emulator: EmulatorContext, evaluator: AlarmEvaluator
) -> None:
    topic_arn, queue_url = _topic_with_queue(emulator, "oncall")
    _lag_alarm(emulator, topic_arn, ActionsEnabled=False)
    _put(emulator, 7.0, START + timedelta(seconds=30))

    events = _advance(emulator, evaluator, START + timedelta(minutes=1))

    assert [e["new_state"] for e in events] == ["ALARM"]
    assert events[0]["notified"] == []
    assert _drain(emulator, queue_url) == []


def test_metric_data_without_timestamp_lands_on_the_emulator_clock(
    emulator: EmulatorContext, evaluator: AlarmEvaluator
) -> None:
    # given a metric sent with no Timestamp (as a function would) at 10:00 simulated time
    topic_arn, _ = _topic_with_queue(emulator, "oncall")
    _lag_alarm(emulator, topic_arn)
    emulator.client("cloudwatch").put_metric_data(
        Namespace=NAMESPACE,
        MetricData=[{"MetricName": "LagMinutes", "Value": 8.0, "Dimensions": DIMENSIONS}],
    )

    # when the clock passes the next minute boundary, then the datapoint is seen
    events = _advance(emulator, evaluator, START + timedelta(minutes=1))
    assert [e["new_state"] for e in events] == ["ALARM"]


def test_unsupported_alarms_are_skipped_with_one_warning(
    emulator: EmulatorContext, evaluator: AlarmEvaluator, caplog: pytest.LogCaptureFixture
) -> None:
    # given a percentile alarm (moto computes no percentiles)
    topic_arn, _ = _topic_with_queue(emulator, "oncall")
    _lag_alarm(emulator, topic_arn, AlarmName="p99-lag", Statistic=None, ExtendedStatistic="p99")

    # when the clock advances twice
    with caplog.at_level(logging.WARNING, logger="pablo.local.alarms"):
        first = _advance(emulator, evaluator, START + timedelta(minutes=1))
        second = _advance(emulator, evaluator, START + timedelta(minutes=2))

    # then it is not evaluated, and the warning is logged once with the reason
    assert first == second == []
    warnings = [r.getMessage() for r in caplog.records if "p99-lag" in r.getMessage()]
    assert len(warnings) == 1
    assert "ExtendedStatistic" in warnings[0]


def test_disable_and_enable_alarm_actions_mute_then_unmute_notifications(
    emulator: EmulatorContext, evaluator: AlarmEvaluator
) -> None:
    # given an alarm whose actions were muted through the API (as `pablo oncall ack` does)
    topic_arn, queue_url = _topic_with_queue(emulator, "oncall")
    _lag_alarm(emulator, topic_arn)
    cloudwatch = emulator.client("cloudwatch")
    cloudwatch.disable_alarm_actions(AlarmNames=["engagement-lag"])

    # when it breaches while muted, then recovers after its actions are enabled again
    _put(emulator, 9.0, START + timedelta(seconds=30))
    muted = _advance(emulator, evaluator, START + timedelta(minutes=1))
    cloudwatch.enable_alarm_actions(AlarmNames=["engagement-lag"])
    _put(emulator, 1.0, START + timedelta(minutes=1, seconds=30))
    unmuted = _advance(emulator, evaluator, START + timedelta(minutes=2))

    # then the muted breach changed the state without a notification, the recovery notified
    assert [(e["new_state"], e["notified"]) for e in muted] == [("ALARM", [])]
    assert [(e["new_state"], e["notified"]) for e in unmuted] == [("OK", [topic_arn])]
    notes = _drain(emulator, queue_url)
    assert [json.loads(n["Message"])["NewStateValue"] for n in notes] == ["OK"]


def test_every_transition_is_an_eventbridge_state_change_event_even_when_muted(
    emulator: EmulatorContext, evaluator: AlarmEvaluator
) -> None:
    # given a muted alarm and an EventBridge rule for alarm state changes feeding a queue
    topic_arn, _ = _topic_with_queue(emulator, "oncall")
    _lag_alarm(emulator, topic_arn, ActionsEnabled=False)
    sqs, events = emulator.client("sqs"), emulator.client("events")
    queue_url = sqs.create_queue(QueueName="alarm-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    pattern = {"source": ["aws.cloudwatch"], "detail-type": ["CloudWatch Alarm State Change"]}
    events.put_rule(Name="alarm-changes", EventPattern=json.dumps(pattern))
    events.put_targets(Rule="alarm-changes", Targets=[{"Id": "queue", "Arn": queue_arn}])

    # when the alarm breaches and recovers
    _put(emulator, 9.0, START + timedelta(seconds=30))
    _put(emulator, 1.0, START + timedelta(minutes=1, seconds=30))
    _advance(emulator, evaluator, START + timedelta(minutes=2))

    # then each transition arrived as AWS's event, with the alarm, its states and its time
    received = _drain(emulator, queue_url)
    assert [e["detail-type"] for e in received] == ["CloudWatch Alarm State Change"] * 2
    details = [e["detail"] for e in received]
    assert [(d["previousState"]["value"], d["state"]["value"]) for d in details] == [
        ("INSUFFICIENT_DATA", "ALARM"),
        ("ALARM", "OK"),
    ]
    assert {d["alarmName"] for d in details} == {"engagement-lag"}
    assert details[1]["state"]["timestamp"] == "2026-11-25T10:02:00.000+0000"
    assert details[0]["configuration"]["description"] == "clicks are late"
    assert received[0]["source"] == "aws.cloudwatch"
    assert received[0]["resources"][0].endswith(":alarm:engagement-lag")


def test_alarm_history_lists_each_state_update_newest_first(
    emulator: EmulatorContext, evaluator: AlarmEvaluator
) -> None:
    # given an alarm that breached, then recovered
    topic_arn, _ = _topic_with_queue(emulator, "oncall")
    _lag_alarm(emulator, topic_arn)
    _put(emulator, 9.0, START + timedelta(seconds=30))
    _put(emulator, 1.0, START + timedelta(minutes=1, seconds=30))
    _advance(emulator, evaluator, START + timedelta(minutes=2))

    # when its history is asked for
    history = emulator.client("cloudwatch").describe_alarm_history(
        AlarmName="engagement-lag", HistoryItemType="StateUpdate"
    )["AlarmHistoryItems"]

    # then both updates are there, newest first, with old and new states
    assert [item["HistorySummary"] for item in history] == [
        "Alarm updated from ALARM to OK",
        "Alarm updated from INSUFFICIENT_DATA to ALARM",
    ]
    # dated at the period boundaries where the evaluator decided, not when the tick ran
    stamps = [item["Timestamp"].replace(tzinfo=UTC) for item in history]
    assert stamps == [START + timedelta(minutes=2), START + timedelta(minutes=1)]
    data = json.loads(history[1]["HistoryData"])
    assert data["newState"]["stateValue"] == "ALARM"
    assert data["oldState"]["stateValue"] == "INSUFFICIENT_DATA"


def test_the_in_process_reads_equal_what_the_cloudwatch_api_returns(
    emulator: EmulatorContext, evaluator: AlarmEvaluator
) -> None:
    # given an alarm with every member the evaluator reads, a bare one, and datapoints
    topic_arn, _ = _topic_with_queue(emulator, "oncall")
    _lag_alarm(emulator, topic_arn, DatapointsToAlarm=1, ActionsEnabled=False)
    _lag_alarm(
        emulator,
        topic_arn,
        AlarmName="bare",
        AlarmDescription=None,
        TreatMissingData=None,
        OKActions=None,
        Dimensions=None,
    )
    for minute, value in enumerate([2.0, 9.0, 4.0]):
        _put(emulator, value, START + timedelta(minutes=minute, seconds=10))

    # when the evaluator reads them from moto's backend, and the API is asked the same
    read = {alarm["AlarmName"]: alarm for alarm in evaluator._metric_alarms()}
    listed = emulator.client("cloudwatch").describe_alarms(AlarmTypes=["MetricAlarm"])
    rule = rule_from_alarm(read["engagement-lag"])
    series = evaluator._series(read["engagement-lag"], rule, START, START + timedelta(minutes=5))
    api = emulator.client("cloudwatch").get_metric_data(
        MetricDataQueries=[
            {
                "Id": "m",
                "MetricStat": {
                    "Metric": {
                        "Namespace": NAMESPACE,
                        "MetricName": "LagMinutes",
                        "Dimensions": DIMENSIONS,
                    },
                    "Period": 60,
                    "Stat": "Maximum",
                },
            }
        ],
        StartTime=START,
        EndTime=START + timedelta(minutes=5),
        ScanBy="TimestampAscending",
    )["MetricDataResults"][0]

    # then every member the API returns is read the same, and so are the datapoints
    assert len(read) == 2
    for alarm in listed["MetricAlarms"]:
        mine = read[alarm["AlarmName"]]
        for key, value in alarm.items():
            assert mine.get(key, [] if isinstance(value, list) else None) == value, key
        assert set(mine) - set(alarm) <= {"Metrics", "Dimensions"}
    assert series == {
        int(stamp.replace(tzinfo=UTC).timestamp()): value
        for stamp, value in zip(api["Timestamps"], api["Values"], strict=True)
    }
    assert list(series.values()) == [2.0, 9.0, 4.0]
