"""`pablo smoke-check` against a stack in the embedded emulator.

A small stack is created through CloudFormation: a Kinesis stream, a bucket, an SNS topic,
an output, and an alarm. moto's CloudFormation silently skips the alarm, so the check must
report it missing (a failed check); once the alarm exists, every check passes.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from pablo.cli import main
from pablo.smoke import Outcome, smoke_check
from tests.conftest import EmulatorServer
from tests.support import unique_name, wait_for


def _template(prefix: str) -> dict[str, Any]:
    return {
        "Resources": {
            "Clicks": {
                "Type": "AWS::Kinesis::Stream",
                "Properties": {"Name": f"{prefix}-clicks", "ShardCount": 1},
            },
            "Lake": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": f"{prefix}-lake"}},
            "OnCall": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": f"{prefix}-oncall"}},
            "Silent": {
                "Type": "AWS::CloudWatch::Alarm",
                "Properties": {
                    "AlarmName": f"{prefix}-silent",
                    "MetricName": "IncomingRecords",
                    "Namespace": "AWS/Kinesis",
                    "Statistic": "Sum",
                    "Period": 300,
                    "EvaluationPeriods": 1,
                    "Threshold": 1,
                    "ComparisonOperator": "LessThanThreshold",
                },
            },
        },
        "Outputs": {"ClickStreamName": {"Value": {"Ref": "Clicks"}}},
    }


@pytest.fixture(scope="module")
def small_stack(emulator_server: EmulatorServer) -> str:
    name = unique_name("smoke")
    cloudformation = emulator_server.client("cloudformation")
    cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(_template(name)))

    def complete() -> bool:
        status = cloudformation.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
        return status == "CREATE_COMPLETE"

    wait_for(complete, f"stack {name} created", timeout=60)
    return name


def _by_what(checks: list[Any]) -> dict[str, Any]:
    return {check.what: check for check in checks}


def test_an_alarm_the_target_lacks_fails_the_check(
    emulator_server: EmulatorServer, small_stack: str
) -> None:
    # Given the stack as moto's CloudFormation left it (the alarm skipped)
    checks = _by_what(smoke_check(emulator_server.client, small_stack))
    # Then the stream, bucket and outputs pass, and the missing alarm fails
    assert checks[f"stack {small_stack}"].outcome is Outcome.OK
    assert checks["stack outputs"].detail == "all 1 present"
    assert checks[f"Kinesis stream {small_stack}-clicks"].detail == "ACTIVE"
    assert checks[f"S3 bucket {small_stack}-lake"].outcome is Outcome.OK
    alarms = checks["CloudWatch alarms"]
    assert (alarms.outcome, alarms.detail) == (Outcome.FAIL, f"missing {small_stack}-silent")
    # And a topic with no subscriber is a warning, not a failure
    topic = checks[f"SNS topic {small_stack}-oncall"]
    assert topic.outcome is Outcome.WARN and "reach nobody" in topic.detail


def test_the_command_passes_once_the_alarm_exists(
    emulator_server: EmulatorServer, small_stack: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the missing alarm created, and a confirmed (SQS) subscriber on the topic
    emulator_server.client("cloudwatch").put_metric_alarm(
        **_template(small_stack)["Resources"]["Silent"]["Properties"]
    )
    sqs = emulator_server.client("sqs")
    queue_url = sqs.create_queue(QueueName=f"{small_stack}-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    topic_arn = next(
        t["TopicArn"]
        for t in emulator_server.client("sns").list_topics()["Topics"]
        if t["TopicArn"].endswith(f":{small_stack}-oncall")
    )
    emulator_server.client("sns").subscribe(
        TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn["Attributes"]["QueueArn"]
    )
    # When `pablo smoke-check` runs against the emulator
    code = main(
        ["smoke-check", "--endpoint", emulator_server.endpoint, "--stack-name", small_stack]
    )
    # Then every check passes: 6 checks (stack, outputs, stream, bucket, topic, alarms)
    output = capsys.readouterr().out
    assert code == 0, output
    assert output.splitlines()[-1] == "6 checks: 6 ok, 0 warnings, 0 failed"


def test_a_stack_that_is_not_there_fails(emulator_server: EmulatorServer) -> None:
    checks = smoke_check(emulator_server.client, "no-such-stack")
    assert [c.outcome for c in checks] == [Outcome.FAIL]
