"""On-call tooling in the synthesized template: the unmute function, its rule, its grants."""

from __future__ import annotations

import json
from typing import Any

from infra.constructs.oncall import HANDLER
from tests.infra.conftest import Synthesized


def _unmute_function(synthesized: Synthesized) -> tuple[str, dict[str, Any]]:
    functions = synthesized.resources("AWS::Lambda::Function")
    (found,) = [
        (logical_id, fn)
        for logical_id, fn in functions.items()
        if fn["Properties"].get("Handler") == HANDLER
    ]
    return found


def test_alarm_changes_to_ok_of_this_environment_reach_the_unmute_function(
    synthesized: Synthesized,
) -> None:
    # given the unmute function
    logical_id, _ = _unmute_function(synthesized)
    # when looking for the rules that target it
    rules = [
        rule["Properties"]
        for rule in synthesized.resources("AWS::Events::Rule").values()
        if any(
            t["Arn"] == {"Fn::GetAtt": [logical_id, "Arn"]}
            for t in rule["Properties"].get("Targets", [])
        )
    ]
    # then exactly one: alarm state changes to OK of alarms with the environment prefix
    assert len(rules) == 1
    assert rules[0]["EventPattern"] == {
        "source": ["aws.cloudwatch"],
        "detail-type": ["CloudWatch Alarm State Change"],
        "detail": {
            "alarmName": [{"prefix": f"{synthesized.config.name_prefix}-"}],
            "state": {"value": ["OK"]},
        },
    }
    assert rules[0]["Targets"][0]["RetryPolicy"]["MaximumRetryAttempts"] == 8


def test_unmute_may_enable_only_this_environments_alarms_and_use_the_state_table(
    synthesized: Synthesized,
) -> None:
    # given the unmute function's role policy
    _, function = _unmute_function(synthesized)
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    policies = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in synthesized.resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
    ]
    statements = [s for group in policies for s in group]
    by_action = {a: s for s in statements for a in _list(s["Action"])}
    # then it may enable actions of alarms named with the prefix, nothing wider
    enable = by_action["cloudwatch:EnableAlarmActions"]
    resource = json.dumps(enable["Resource"])
    assert f":alarm:{synthesized.config.name_prefix}-*" in resource
    assert "cloudwatch:DisableAlarmActions" not in by_action
    # and read and update the acknowledgements in the state table
    assert "dynamodb:UpdateItem" in by_action and "dynamodb:Query" in by_action


def test_the_unmute_function_name_is_a_stack_output(synthesized: Synthesized) -> None:
    assert "OnCallUnmuteFunctionName" in synthesized.template["Outputs"]


def _list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value
