"""The growth pipeline in the synthesized template: ingest rule, weekly workflow, alarms."""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.core.monitor.alarm_inventory import INVENTORY
from tests.infra.conftest import Synthesized

INGEST = "functions.handlers.account_events_ingest.handler"
WEEKLY = "functions.handlers.growth_weekly.handler"


def _function_id(synthesized: Synthesized, handler: str) -> str:
    functions = synthesized.resources("AWS::Lambda::Function")
    (found,) = [k for k, fn in functions.items() if fn["Properties"].get("Handler") == handler]
    return found


def _rules_targeting(synthesized: Synthesized, logical_id: str) -> list[dict[str, Any]]:
    rules = synthesized.resources("AWS::Events::Rule").values()
    return [
        r["Properties"]
        for r in rules
        if any(
            json.dumps(t.get("Arn")).find(logical_id) >= 0
            for t in r["Properties"].get("Targets", [])
        )
    ]


def test_account_event_files_trigger_the_ingest_function(synthesized: Synthesized) -> None:
    # given the ingest function / when its rules are read / then S3 Object Created under
    # account_events/ of the landing bucket reaches it
    (rule,) = _rules_targeting(synthesized, _function_id(synthesized, INGEST))
    pattern = rule["EventPattern"]
    assert pattern["source"] == ["aws.s3"]
    assert pattern["detail-type"] == ["Object Created"]
    assert pattern["detail"]["object"] == {"key": [{"prefix": "account_events/"}]}


def test_weekly_workflow_is_scheduled_sunday_evening_with_retries_and_catch(
    synthesized: Synthesized,
) -> None:
    machines = synthesized.resources("AWS::StepFunctions::StateMachine")
    (machine_id, machine) = next(
        (k, m) for k, m in machines.items() if k.startswith("GrowthWorkflow")
    )
    definition = json.dumps(machine["Properties"]["DefinitionString"])
    assert "Lambda.TooManyRequestsException" in definition
    assert "NotifyFailure" in definition
    schedules = [
        r["Properties"]["ScheduleExpression"]
        for r in synthesized.resources("AWS::Events::Rule").values()
        if machine_id in json.dumps(r["Properties"].get("Targets", []))
    ]
    assert schedules == ["cron(0 23 ? * SUN *)"]
    assert "GrowthWeeklyStateMachineArn" in synthesized.template["Outputs"]


def test_growth_alarms_are_tickets_owned_by_the_accounts_team() -> None:
    growth = [a for a in INVENTORY if a.pipeline.value == "growth"]
    assert {a.key for a in growth if a.watched is None} == {
        "growth-weekly-snapshot-missing",
        "growth-inferred-status-share",
    }
    for alarm in growth:
        assert alarm.severity.value == "ticket"
        assert alarm.owner.value == "Accounts Team"
        assert alarm.secondary_owner.value == "Data Engineering Team"


# Every run that applies the known-account rule quarantines what it rejects itself.
ACCOUNT_CHECKS = (
    WEEKLY,
    "functions.handlers.engagement_daily.handler",
    "functions.handlers.experiments_weekly.handler",
)


@pytest.mark.parametrize("handler", ACCOUNT_CHECKS)
def test_functions_checking_accounts_may_write_unknown_account_rows_to_the_quarantine(
    synthesized: Synthesized, handler: str
) -> None:
    # given the function's role / when its policies are read
    function = synthesized.resources("AWS::Lambda::Function")[_function_id(synthesized, handler)]
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = [
        s
        for p in synthesized.resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    quarantine = next(
        k
        for k in synthesized.resources("AWS::S3::Bucket")
        if k.startswith("PlatformBuckets") and "Quarantine" in k
    )
    # then one statement allows PutObject on the quarantine bucket's objects
    writes = [
        s
        for s in statements
        if "s3:PutObject" in json.dumps(s["Action"]) and quarantine in json.dumps(s["Resource"])
    ]
    assert writes


def test_the_ingest_role_may_batch_read_the_state_table(synthesized: Synthesized) -> None:
    # The ingest function checks event ids with BatchGetItem (functions/adapters/state_table);
    # found missing by running the demo under IAM enforcement (AccessDenied on every file).
    function = synthesized.resources("AWS::Lambda::Function")[_function_id(synthesized, INGEST)]
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    table_id = synthesized.stack.resolve(synthesized.stack.platform.state_table.table_arn)
    statements = [
        statement
        for policy in synthesized.resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    batch_reads = [
        s
        for s in statements
        if "dynamodb:BatchGetItem"
        in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    ]
    assert batch_reads and batch_reads[0]["Resource"] == table_id
