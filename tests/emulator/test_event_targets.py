"""EventBridge rules deliver S3 events to Lambda and Step Functions targets (real emulator).

The emulator runs in its own process (its extensions include
`pablo.local.event_targets.EventTargetDelivery`), its clock set far from wall time so a
wall-clock `time` cannot pass for the emulator's.
"""

from __future__ import annotations

import functools
import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pablo.local.context import local_client
from pablo.local.control import ControlClient
from pablo.local.state import PABLO_HOME_ENV
from tests.support import unique_name
from tests.support import wait_for as shared_wait_for

CLOCK_START = datetime(2026, 9, 2, 10, 0, tzinfo=UTC)
ROLE_ARN = "arn:aws:iam::123456789012:role/event-targets-test"
DELIVERY_TIMEOUT = 60.0
_LAUNCHER = """
import signal, sys, threading
from pablo.local.clock import Clock, parse_instant
from pablo.local.server import Emulator
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
emulator = Emulator(clock=Clock(parse_instant(sys.argv[1])))
print(emulator.start(0), flush=True)
stop.wait()
emulator.stop()
"""
RECORDER_CODE = """
import json, os, uuid
import boto3

def handler(event, context):
    boto3.client("s3").put_object(
        Bucket=os.environ["SINK_BUCKET"], Key=f"events/{uuid.uuid4()}.json", Body=json.dumps(event)
    )
    return {"ok": True}
"""
wait_for = functools.partial(shared_wait_for, timeout=DELIVERY_TIMEOUT, interval=0.2)


@dataclass
class TargetsEmulator:
    endpoint: str
    control: ControlClient
    _clients: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = local_client(service, self.endpoint)
        return self._clients[service]

    def now(self) -> datetime:
        return self.control.now()


@pytest.fixture(scope="module")
def targets_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TargetsEmulator]:
    """An emulator process with the event-target extension, clock at CLOCK_START."""
    home = tmp_path_factory.mktemp("pablo-home-targets")
    log_path = home / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", _LAUNCHER, CLOCK_START.isoformat()],
            env={**os.environ, PABLO_HOME_ENV: str(home)},
            stdout=subprocess.PIPE,
            stderr=log,
        )
    try:
        assert process.stdout is not None
        endpoint = process.stdout.readline().decode().strip()
        if not endpoint.startswith("http"):
            pytest.fail(f"emulator did not start:\n{log_path.read_text()}")
        control = ControlClient(endpoint)
        assert "event-targets" in control.health()["extensions"]
        yield TargetsEmulator(endpoint=endpoint, control=control)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def lambda_role(emulator: TargetsEmulator) -> str:
    iam = emulator.client("iam")
    role = iam.create_role(RoleName=unique_name("lambda-role"), AssumeRolePolicyDocument="{}")
    return str(role["Role"]["Arn"])


def zip_files(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def eventbridge_bucket(emulator: TargetsEmulator, prefix: str) -> str:
    """A bucket that sends its events to EventBridge."""
    s3 = emulator.client("s3")
    name = unique_name(prefix)
    s3.create_bucket(Bucket=name)
    s3.put_bucket_notification_configuration(
        Bucket=name, NotificationConfiguration={"EventBridgeConfiguration": {}}
    )
    return name


def object_created_rule(
    emulator: TargetsEmulator, bucket: str, targets: list[dict[str, Any]]
) -> str:
    events = emulator.client("events")
    name = unique_name("rule")
    pattern = {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": [bucket]}},
    }
    events.put_rule(Name=name, EventPattern=json.dumps(pattern))
    events.put_targets(Rule=name, Targets=targets)
    return name


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def assert_emulator_time(text: str, before: datetime, after: datetime) -> None:
    """`text` is AWS's format (seconds, Z) and lies in the emulator-clock window."""
    assert text.endswith("Z") and len(text) == len("2026-09-02T10:00:00Z")
    moment = parse_time(text)
    assert before.replace(microsecond=0) <= moment <= after
    assert abs(moment - datetime.now(UTC)) > timedelta(days=1)  # not the wall clock


def test_s3_object_created_reaches_lambda_step_functions_and_sqs_targets(
    targets_emulator: TargetsEmulator,
) -> None:
    emulator = targets_emulator
    s3 = emulator.client("s3")
    # given a bucket with EventBridge notifications, a sink bucket without them
    bucket = eventbridge_bucket(emulator, "source")
    sink = unique_name("sink")
    s3.create_bucket(Bucket=sink)
    # and a Lambda function that records what it receives into the sink
    function_arn = emulator.client("lambda").create_function(
        FunctionName=unique_name("recorder"),
        Runtime="python3.12",
        Role=lambda_role(emulator),
        Handler="recorder.handler",
        Code={"ZipFile": zip_files({"recorder.py": RECORDER_CODE})},
        Environment={"Variables": {"SINK_BUCKET": sink}},
        Timeout=30,
    )["FunctionArn"]
    # and a state machine, and a queue (a target moto delivers to on its own)
    machine_arn = emulator.client("stepfunctions").create_state_machine(
        name=unique_name("machine"),
        definition=json.dumps(
            {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
        ),
        roleArn=ROLE_ARN,
    )["stateMachineArn"]
    sqs = emulator.client("sqs")
    queue_url = sqs.create_queue(QueueName=unique_name("queue"))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    # and one rule with a plain Lambda target, one with a transformed Step Functions target
    object_created_rule(emulator, bucket, [{"Id": "fn", "Arn": function_arn}])
    transformer = {
        "InputPathsMap": {"key": "$.detail.object.key", "at": "$.time"},
        "InputTemplate": '{"file": <key>, "at": <at>, "note": "landed <key>"}',
    }
    object_created_rule(
        emulator,
        bucket,
        [
            {"Id": "sfn", "Arn": machine_arn, "RoleArn": ROLE_ARN, "InputTransformer": transformer},
            {"Id": "queue", "Arn": queue_arn},
        ],
    )

    # when an object is put
    before = emulator.now()
    s3.put_object(Bucket=bucket, Key="account_events/2026/09/02/x.jsonl", Body=b"{}\n")
    after = emulator.now()

    # then the function ran on the S3 event, stamped with the emulator clock
    def recorded() -> list[dict[str, Any]]:
        listed = s3.list_objects_v2(Bucket=sink).get("Contents", [])
        return [json.loads(s3.get_object(Bucket=sink, Key=o["Key"])["Body"].read()) for o in listed]

    (event,) = wait_for(recorded, "the Lambda target")
    assert event["source"] == "aws.s3" and event["detail-type"] == "Object Created"
    assert event["detail"]["bucket"]["name"] == bucket
    assert event["detail"]["object"]["key"] == "account_events/2026/09/02/x.jsonl"
    assert_emulator_time(event["time"], before, after)

    # and the state machine started with the transformed input
    sfn = emulator.client("stepfunctions")
    (execution,) = wait_for(
        lambda: sfn.list_executions(stateMachineArn=machine_arn)["executions"], "the execution"
    )
    started = json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"])
    assert started["file"] == "account_events/2026/09/02/x.jsonl"
    assert started["note"] == "landed account_events/2026/09/02/x.jsonl"
    assert started["at"] == event["time"]

    # and moto still delivered to the queue next to it, with the same clock time
    messages = wait_for(
        lambda: sqs.receive_message(QueueUrl=queue_url).get("Messages"), "the SQS target"
    )
    assert json.loads(messages[0]["Body"])["time"] == event["time"]


def test_disabled_rule_and_non_matching_bucket_deliver_nothing(
    targets_emulator: TargetsEmulator,
) -> None:
    emulator = targets_emulator
    # given a state machine behind a disabled rule on one bucket and a rule on another
    watched = eventbridge_bucket(emulator, "watched")
    other = eventbridge_bucket(emulator, "other")
    machine_arn = emulator.client("stepfunctions").create_state_machine(
        name=unique_name("machine"),
        definition=json.dumps(
            {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
        ),
        roleArn=ROLE_ARN,
    )["stateMachineArn"]
    target = [{"Id": "sfn", "Arn": machine_arn, "RoleArn": ROLE_ARN}]
    disabled = object_created_rule(emulator, watched, target)
    emulator.client("events").disable_rule(Name=disabled)
    object_created_rule(emulator, other, target)

    # when an object lands in the watched bucket, then the other bucket gets one
    emulator.client("s3").put_object(Bucket=watched, Key="a.csv", Body=b"x")
    emulator.client("s3").put_object(Bucket=other, Key="b.csv", Body=b"x")

    # then exactly one execution started: the enabled rule's, for the other bucket
    sfn = emulator.client("stepfunctions")
    executions = wait_for(
        lambda: sfn.list_executions(stateMachineArn=machine_arn)["executions"], "the execution"
    )
    time.sleep(1.0)  # a wrongly delivered event for the watched bucket would show by now
    executions = sfn.list_executions(stateMachineArn=machine_arn)["executions"]
    assert len(executions) == 1
    started = json.loads(
        sfn.describe_execution(executionArn=executions[0]["executionArn"])["input"]
    )
    assert started["detail"]["bucket"]["name"] == other


def test_key_prefix_pattern_next_to_a_bucket_wide_rule_with_retry_policy(
    targets_emulator: TargetsEmulator,
) -> None:
    """The shape the growth and profit ingest rules deploy: `{"prefix": ...}` filters in a
    list under detail.object.key, beside a bucket-wide rule on the same bucket (the landing
    inventory's), with a target RetryPolicy (retries and maximum event age)."""
    emulator = targets_emulator
    # given a bucket with two rules: one for account_events/ and invoices/ keys, one for all
    bucket = eventbridge_bucket(emulator, "landing")
    sfn = emulator.client("stepfunctions")

    def machine() -> str:
        definition = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
        arn = sfn.create_state_machine(
            name=unique_name("machine"), definition=json.dumps(definition), roleArn=ROLE_ARN
        )["stateMachineArn"]
        return str(arn)

    prefixed, everything = machine(), machine()
    retry = {"MaximumRetryAttempts": 8, "MaximumEventAgeInSeconds": 21600}
    events = emulator.client("events")
    prefix_rule = unique_name("rule")
    pattern = {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {
            "bucket": {"name": [bucket]},
            "object": {"key": [{"prefix": "account_events/"}, {"prefix": "invoices/"}]},
        },
    }
    events.put_rule(Name=prefix_rule, EventPattern=json.dumps(pattern))
    events.put_targets(
        Rule=prefix_rule,
        Targets=[{"Id": "t", "Arn": prefixed, "RoleArn": ROLE_ARN, "RetryPolicy": retry}],
    )
    object_created_rule(
        emulator,
        bucket,
        [{"Id": "t", "Arn": everything, "RoleArn": ROLE_ARN, "RetryPolicy": retry}],
    )

    # when files land under both prefixes, under another one, and at a look-alike key
    s3 = emulator.client("s3")
    landed = ["account_events/2026/09/12/2026-09-12.jsonl", "invoices/2026/09/a.csv"]
    for key in [*landed, "clicks/2026/09/12/x.jsonl", "old/account_events/y.jsonl"]:
        s3.put_object(Bucket=bucket, Key=key, Body=b"{}\n")

    # then the bucket-wide rule starts one execution per file
    def keys_started(machine_arn: str, count: int) -> list[str] | None:
        executions = sfn.list_executions(stateMachineArn=machine_arn)["executions"]
        if len(executions) < count:
            return None
        inputs = [
            json.loads(sfn.describe_execution(executionArn=e["executionArn"])["input"])
            for e in executions
        ]
        return sorted(i["detail"]["object"]["key"] for i in inputs)

    assert len(wait_for(lambda: keys_started(everything, 4), "the bucket-wide rule")) == 4
    # and the prefix rule started exactly for the keys under its prefixes
    assert wait_for(lambda: keys_started(prefixed, 2), "the prefix rule") == sorted(landed)
    time.sleep(1.0)  # a wrongly matched key would have started by now
    assert keys_started(prefixed, 0) == sorted(landed)
