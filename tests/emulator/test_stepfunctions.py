"""Step Functions execute for real in the emulator: Lambda tasks, Retry, Catch, SNS."""

from __future__ import annotations

import io
import json
import textwrap
import time
import zipfile
from collections import Counter
from typing import Any

import pytest
from moto.stepfunctions.parser.asl.antlr.runtime.ASLParser import ASLParser
from moto.stepfunctions.parser.asl.parse.asl_parser import (
    AmazonStateLanguageParser,
    ASLParserException,
)

from pablo.local.moto_patches import registry, stepfunctions
from tests.conftest import EmulatorServer
from tests.support import unique_name

# Fails with TransientUpstreamError until it has been called `fail_times` times, counting
# attempts in S3 (each retry is a separate invocation, possibly in another environment).
FLAKY_HANDLER = textwrap.dedent(
    """
    import os

    import boto3


    class TransientUpstreamError(Exception):
        pass


    def handler(event, context):
        s3 = boto3.client("s3")
        bucket, key = os.environ["COUNTER_BUCKET"], event["counter"]
        try:
            attempts = int(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        except s3.exceptions.NoSuchKey:
            attempts = 0
        attempts += 1
        s3.put_object(Bucket=bucket, Key=key, Body=str(attempts).encode())
        if attempts <= event["fail_times"]:
            raise TransientUpstreamError(f"attempt {attempts} failed")
        return {"attempts": attempts}
    """
)
RETRY = [
    {
        "ErrorEquals": ["TransientUpstreamError"],
        "IntervalSeconds": 1,
        "MaxAttempts": 2,
        "BackoffRate": 1.0,
    }
]


def _zip(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", source)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def flaky(emulator_server: EmulatorServer) -> dict[str, str]:
    bucket = unique_name("counters")
    emulator_server.client("s3").create_bucket(Bucket=bucket)
    role = emulator_server.client("iam").create_role(
        RoleName=unique_name("sfn-role"), AssumeRolePolicyDocument="{}"
    )["Role"]["Arn"]
    arn = emulator_server.client("lambda").create_function(
        FunctionName=unique_name("flaky"),
        Runtime="python3.12",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": _zip(FLAKY_HANDLER)},
        Timeout=10,
        Environment={"Variables": {"COUNTER_BUCKET": bucket}},
    )["FunctionArn"]
    return {"arn": arn, "bucket": bucket, "role": role}


def _task(resource_style: str, function_arn: str) -> dict[str, Any]:
    if resource_style == "function-arn":
        return {"Type": "Task", "Resource": function_arn}
    return {  # the optimized integration; its output wraps the function's payload
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": function_arn, "Payload.$": "$"},
        "OutputPath": "$.Payload",
    }


def _run(emulator: EmulatorServer, definition: dict[str, Any], role: str, event: Any) -> Any:
    sfn = emulator.client("stepfunctions")
    machine = sfn.create_state_machine(
        name=unique_name("machine"), definition=json.dumps(definition), roleArn=role
    )["stateMachineArn"]
    return _wait(emulator, sfn.start_execution(stateMachineArn=machine, input=json.dumps(event)))


def _wait(emulator: EmulatorServer, started: dict[str, Any], timeout: float = 60) -> Any:
    sfn = emulator.client("stepfunctions")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        execution = sfn.describe_execution(executionArn=started["executionArn"])
        if execution["status"] != "RUNNING":
            return execution
        time.sleep(0.2)
    raise AssertionError(f"execution still running after {timeout}s")


@pytest.mark.parametrize("resource_style", ["function-arn", "lambda-invoke-integration"])
def test_task_failing_twice_then_succeeding_ends_succeeded_after_three_attempts(
    emulator_server: EmulatorServer, flaky: dict[str, str], resource_style: str
) -> None:
    # given a Lambda task that fails twice with a transient error, retried twice
    definition = {
        "StartAt": "Load",
        "States": {"Load": {**_task(resource_style, flaky["arn"]), "Retry": RETRY, "End": True}},
    }
    counter = unique_name("attempts")

    # when the state machine runs
    execution = _run(
        emulator_server, definition, flaky["role"], {"counter": counter, "fail_times": 2}
    )

    # then the third attempt succeeded
    assert execution["status"] == "SUCCEEDED"
    assert json.loads(execution["output"]) == {"attempts": 3}
    stored = emulator_server.client("s3").get_object(Bucket=flaky["bucket"], Key=counter)
    assert stored["Body"].read() == b"3"


def test_task_that_always_fails_runs_its_catch_and_publishes_once(
    emulator_server: EmulatorServer, flaky: dict[str, str]
) -> None:
    # given an on-call topic with a queue subscribed, and a task that never succeeds
    sns, sqs = emulator_server.client("sns"), emulator_server.client("sqs")
    topic = sns.create_topic(Name=unique_name("oncall"))["TopicArn"]
    queue_url = sqs.create_queue(QueueName=unique_name("oncall-inbox"))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    definition = {
        "StartAt": "Load",
        "States": {
            "Load": {
                **_task("function-arn", flaky["arn"]),
                "Retry": RETRY,
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Page"}],
                "End": True,
            },
            "Page": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sns:publish",
                "Parameters": {"TopicArn": topic, "Message.$": "$.error.Error"},
                "Next": "Failed",
            },
            "Failed": {"Type": "Fail", "Error": "LoadFailed", "Cause": "retries exhausted"},
        },
    }
    counter = unique_name("attempts")

    # when the state machine runs
    execution = _run(
        emulator_server, definition, flaky["role"], {"counter": counter, "fail_times": 99}
    )

    # then it retried, paged once with the error type, and failed
    assert execution["status"] == "FAILED"
    assert execution["error"] == "LoadFailed"
    attempts = emulator_server.client("s3").get_object(Bucket=flaky["bucket"], Key=counter)
    assert attempts["Body"].read() == b"3"
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
    bodies = [json.loads(m["Body"])["Message"] for m in messages.get("Messages", [])]
    assert bodies == ["TransientUpstreamError"]


def test_state_machine_created_by_cloudformation_executes_and_names_are_optional(
    emulator_server: EmulatorServer,
) -> None:
    # given a state machine deployed by CloudFormation (Pass states only)
    definition = {
        "StartAt": "Shape",
        "States": {"Shape": {"Type": "Pass", "Parameters": {"ran.$": "$.day"}, "End": True}},
    }
    template = {
        "Resources": {
            "Machine": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {
                    "DefinitionString": json.dumps(definition),
                    "RoleArn": "arn:aws:iam::123456789012:role/sfn",
                },
            }
        },
        "Outputs": {"MachineArn": {"Value": {"Ref": "Machine"}}},
    }
    cloudformation = emulator_server.client("cloudformation")
    stack = unique_name("sfn-stack")
    cloudformation.create_stack(StackName=stack, TemplateBody=json.dumps(template))
    outputs = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]["Outputs"]
    machine = outputs[0]["OutputValue"]
    sfn = emulator_server.client("stepfunctions")

    # when it is started twice without execution names
    first = sfn.start_execution(stateMachineArn=machine, input=json.dumps({"day": "d1"}))
    second = sfn.start_execution(stateMachineArn=machine, input=json.dumps({"day": "d2"}))

    # then both run to completion, as two distinct executions
    assert first["executionArn"] != second["executionArn"]
    assert json.loads(_wait(emulator_server, first)["output"]) == {"ran": "d1"}
    assert json.loads(_wait(emulator_server, second)["output"]) == {"ran": "d2"}


def test_a_task_calls_lambda_inside_the_emulator_not_over_http(
    emulator_server: EmulatorServer, flaky: dict[str, str]
) -> None:
    # given a Map of ten Lambda tasks whose function makes no AWS call, and every HTTP
    # request this test makes counted on its own client
    echo = emulator_server.client("lambda").create_function(
        FunctionName=unique_name("echo"),
        Runtime="python3.12",
        Role=flaky["role"],
        Handler="app.handler",
        Code={"ZipFile": _zip("def handler(event, context):\n    return event\n")},
    )["FunctionArn"]
    definition = {
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "Iterator": {
                    "StartAt": "Task",
                    "States": {"Task": {**_task("lambda-invoke-integration", echo), "End": True}},
                },
                "End": True,
            }
        },
    }
    sfn = emulator_server.client("stepfunctions")
    machine = sfn.create_state_machine(
        name=unique_name("machine"), definition=json.dumps(definition), roleArn=flaky["role"]
    )["stateMachineArn"]
    own: list[str] = []
    sfn.meta.events.register(
        "before-send", lambda **kw: own.append(f"states {kw['event_name'].rsplit('.', 1)[-1]}")
    )
    before = _http_requests(emulator_server)
    # when it runs to the end
    started = sfn.start_execution(stateMachineArn=machine, input=json.dumps({"items": [1] * 10}))
    done = _wait(emulator_server, started)
    # then it succeeded, and the only HTTP requests the emulator served were this test's,
    # each profiled under its operation: the ten invokes (and moto's client per task)
    # stayed in the emulator's process
    assert done["status"] == "SUCCEEDED"
    assert json.loads(done["output"]) == [1] * 10
    after = _http_requests(emulator_server)
    served = {op: after[op] - before.get(op, 0) for op in after if after[op] != before.get(op)}
    assert served == Counter(own)


def _http_requests(emulator: EmulatorServer) -> dict[str, int]:
    """Requests the emulator served over HTTP so far, by operation."""
    from pablo.local.control import ControlClient  # noqa: PLC0415

    profile = ControlClient(emulator.endpoint).health()["http_profile"]
    return {operation: int(cost["requests"]) for operation, cost in profile.items()}


def _parallel_definition(marker: str) -> str:
    """Two branches that each shape the input: a program with state of its own per run."""

    def branch(name: str) -> dict[str, Any]:
        return {
            "StartAt": name,
            "States": {
                name: {"Type": "Pass", "Parameters": {"day.$": "$.day", "by": name}, "End": True}
            },
        }

    return json.dumps(
        {
            "Comment": marker,
            "StartAt": "Both",
            "States": {
                "Both": {"Type": "Parallel", "Branches": [branch("A"), branch("B")], "End": True}
            },
        }
    )


def test_a_definition_is_parsed_once_and_each_parse_gets_programs_of_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the patch installed and every grammar parse counted
    grammar_parses = Counter[str]()
    state_machine = ASLParser.state_machine

    def counted(parser: Any) -> Any:
        grammar_parses["tree"] += 1
        return state_machine(parser)

    monkeypatch.setattr(ASLParser, "state_machine", counted)
    installed = stepfunctions.DEFINITION_PARSED_ONCE.name in registry.applied()
    registry.apply(stepfunctions.DEFINITION_PARSED_ONCE)
    try:
        definition = _parallel_definition(unique_name("parsed-once"))
        # When the definition is parsed three times, and a broken one twice
        parsed = [AmazonStateLanguageParser.parse(definition) for _ in range(3)]
        broken = definition.replace('"End": true', '"End": "yes"', 1)
        errors = []
        for _ in range(2):
            with pytest.raises(ASLParserException) as raised:
                AmazonStateLanguageParser.parse(broken)
            errors.append(str(raised.value))
    finally:
        if not installed:
            registry.restore(stepfunctions.DEFINITION_PARSED_ONCE)
    # Then the good text went through the grammar once, and each parse has its own program
    # objects from the one tree; the broken text was refused both times, the same way
    assert grammar_parses["tree"] == 1 + 2
    programs = {id(program) for program, _ in parsed}
    assert len(programs) == 3
    assert len({id(tree) for _, tree in parsed}) == 1
    assert errors[0] == errors[1]


def test_executions_of_one_definition_run_side_by_side_with_their_own_results(
    emulator_server: EmulatorServer, flaky: dict[str, str]
) -> None:
    # given a state machine with a Parallel state, on the emulator (whose parse is patched)
    health = emulator_server.control.health()
    assert "sfn-definition-parsed-once" in health["patches"]
    sfn = emulator_server.client("stepfunctions")
    machine = sfn.create_state_machine(
        name=unique_name("machine"),
        definition=_parallel_definition(unique_name("side-by-side")),
        roleArn=flaky["role"],
    )["stateMachineArn"]
    # when five executions start at once
    days = [f"2026-10-0{n}" for n in range(1, 6)]
    started = [
        sfn.start_execution(stateMachineArn=machine, input=json.dumps({"day": day})) for day in days
    ]
    # then each ends with its own input in both branches
    for day, execution in zip(days, started, strict=True):
        done = _wait(emulator_server, execution)
        assert done["status"] == "SUCCEEDED"
        assert json.loads(done["output"]) == [{"day": day, "by": "A"}, {"day": day, "by": "B"}]
