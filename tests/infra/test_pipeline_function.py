"""`PipelineFunction`, exercised by the probe stack of the session synth."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk import App, Duration, Stack

from functions.core import env
from infra.constructs.pipeline_function import PipelineFunction
from infra.constructs.platform import Platform


def _function(synthesized) -> tuple[str, dict[str, Any]]:
    functions = synthesized.resources("AWS::Lambda::Function", synthesized.probe_template)
    ((logical_id, function),) = functions.items()
    return logical_id, function["Properties"]


def _logical_id(synthesized, construct) -> str:
    return synthesized.probe.get_logical_id(construct.node.default_child)


def test_function_runs_python312_with_the_shared_layer_and_xray(synthesized):
    _, props = _function(synthesized)
    assert props["Runtime"] == "python3.12"
    assert props["Architectures"] == ["x86_64"]
    assert props["Handler"] == "functions.handlers.probe.handler"
    assert props["TracingConfig"] == {"Mode": "Active"}
    layer_id = _logical_id(synthesized, synthesized.probe.platform.runtime_layer)
    assert props["Layers"] == [{"Ref": layer_id}]


def test_function_sizes_and_concurrency_come_from_the_arguments(synthesized):
    _, props = _function(synthesized)
    assert props["Timeout"] == 300
    assert props["MemorySize"] == 2048
    assert props["EphemeralStorage"] == {"Size": 4096}
    assert props["ReservedConcurrentExecutions"] == 2
    assert props["FunctionName"] == synthesized.config.resource_name("probe")


def test_function_gets_the_platform_environment_by_the_shared_names(synthesized):
    _, props = _function(synthesized)
    variables = props["Environment"]["Variables"]
    expected_names = set(synthesized.probe.platform.function_environment())
    # every name is one of functions/core/env.py, plus the function's own settings
    declared = {v for k, v in vars(env).items() if k.isupper() and isinstance(v, str)}
    assert expected_names <= declared
    assert expected_names | {env.POWERTOOLS_SERVICE_NAME, "PROBE_SETTING"} == set(variables)
    raw_bucket = _logical_id(synthesized, synthesized.probe.platform.buckets.raw)
    assert variables[env.RAW_BUCKET] == {"Ref": raw_bucket}
    assert variables[env.POWERTOOLS_SERVICE_NAME] == "probe"
    assert variables[env.SESSION_GAP_MINUTES] == str(synthesized.config.session_gap_minutes)


def test_function_logs_to_its_own_group_with_the_configured_retention(synthesized):
    _, props = _function(synthesized)
    groups = synthesized.resources("AWS::Logs::LogGroup", synthesized.probe_template)
    ((group_id, group),) = groups.items()
    assert group["Properties"]["RetentionInDays"] == synthesized.config.log_retention_days
    assert group["Properties"]["LogGroupName"] == "/aws/lambda/" + props["FunctionName"]
    assert props["LoggingConfig"]["LogGroup"] == {"Ref": group_id}


def test_function_role_has_no_managed_policy_and_only_the_grants_asked_for(synthesized):
    probe = synthesized.probe.probe
    roles = synthesized.resources("AWS::IAM::Role", synthesized.probe_template)
    role = roles[_logical_id(synthesized, probe.role)]
    assert "ManagedPolicyArns" not in role["Properties"]
    role_ref = {"Ref": _logical_id(synthesized, probe.role)}
    statements = [
        s
        for p in synthesized.resources("AWS::IAM::Policy", synthesized.probe_template).values()
        if role_ref in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    text = json.dumps(statements)
    buckets = synthesized.probe.platform.buckets
    # reads raw, writes curated and quarantine, never touches finance
    assert _logical_id(synthesized, buckets.raw) in text
    assert _logical_id(synthesized, buckets.curated) in text
    assert _logical_id(synthesized, buckets.finance) not in text
    puts = [s for s in statements if "s3:PutObject" in s["Action"]]
    assert _logical_id(synthesized, buckets.raw) not in json.dumps(puts)
    actions = {
        a
        for s in statements
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert {"sns:Publish", "dynamodb:PutItem", "glue:BatchCreatePartition"} <= actions
    assert "xray:PutTraceSegments" in actions
    assert not [a for a in actions if a.endswith(":*")]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"handler": "functions.handlers.missing.handler"}, "no .*missing.py"),
        ({"handler": "app.handler"}, "must be functions.handlers"),
        ({"name": "Bad_Name"}, "function name"),
        ({"timeout": Duration.minutes(16)}, "15 minutes"),
    ],
)
def test_function_arguments_are_checked_at_synth(synthesized, overrides, message):
    # given a fresh stack that shares the probe's platform settings
    stack = Stack(App(), "Scratch")
    platform = Platform(
        stack,
        "Platform",
        config=synthesized.config,
        lambda_assets=synthesized.probe.platform.lambda_assets,
    )
    arguments = {
        "platform": platform,
        "name": "scratch",
        "handler": "functions.handlers.probe.handler",
        "description": "scratch",
        "timeout": Duration.seconds(30),
        **overrides,
    }
    # when a function is defined with one wrong argument, then it is refused
    with pytest.raises(Exception, match=message):
        PipelineFunction(stack, "Fn", **arguments)
