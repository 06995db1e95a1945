"""The profit pipeline in the synthesized template: functions, rules, workflow, grants."""

from __future__ import annotations

import json
from typing import Any

from functions.core import env
from infra.constructs.profit import ASL_PATH


def _function(synthesized: Any, suffix: str) -> dict[str, Any]:
    name = synthesized.config.resource_name(suffix)
    (props,) = [
        r["Properties"]
        for r in synthesized.resources("AWS::Lambda::Function").values()
        if r["Properties"].get("FunctionName") == name
    ]
    return props


def _policy_statements(synthesized: Any, role_fragment: str) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = []
    for policy in synthesized.resources("AWS::IAM::Policy").values():
        roles = json.dumps(policy["Properties"].get("Roles", []))
        if role_fragment in roles:
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def test_three_profit_functions_with_their_settings(synthesized: Any) -> None:
    monthly = _function(synthesized, "profit-monthly")
    variables = monthly["Environment"]["Variables"]
    assert variables[env.RECONCILIATION_TOLERANCE_CENTS] == str(
        synthesized.config.reconciliation_tolerance_cents
    )
    review = _function(synthesized, "profit-review")
    assert int(review["Environment"]["Variables"][env.PROFIT_REVIEW_DAYS]) > 0
    ingest = _function(synthesized, "finance-ingest")
    assert ingest["Handler"] == "functions.handlers.finance_ingest.handler"


def test_finance_files_trigger_ingest_from_both_buckets(synthesized: Any) -> None:
    # given the EventBridge rules with S3 patterns that target the finance ingest function
    patterns = [
        r["Properties"]["EventPattern"]
        for r in synthesized.resources("AWS::Events::Rule").values()
        if "EventPattern" in r["Properties"]
        and any(
            "FinanceIngest" in json.dumps(t) or "ProfitIngest" in json.dumps(t)
            for t in r["Properties"].get("Targets", [])
        )
    ]
    prefixes = {p["prefix"] for pattern in patterns for p in pattern["detail"]["object"]["key"]}
    # then exactly the four finance landing prefixes are covered
    assert prefixes == {"invoices/", "expenses/", "landing/salaries/", "landing/ledger/"}


def test_both_landing_buckets_send_events_to_eventbridge(synthesized: Any) -> None:
    names = {
        synthesized.config.bucket_name("landing"),
        synthesized.config.bucket_name("finance"),
    }
    enabled = {
        r["Properties"]["BucketName"]
        for r in synthesized.resources("AWS::S3::Bucket").values()
        if r["Properties"]
        .get("NotificationConfiguration", {})
        .get("EventBridgeConfiguration", {})
        .get("EventBridgeEnabled")
    }
    assert names <= enabled


def test_monthly_workflow_runs_on_day_4_after_the_ledger(synthesized: Any) -> None:
    schedules = {
        r["Properties"].get("ScheduleExpression")
        for r in synthesized.resources("AWS::Events::Rule").values()
    }
    assert "cron(0 6 4 * ? *)" in schedules
    machines = synthesized.resources("AWS::StepFunctions::StateMachine")
    names = [m["Properties"].get("StateMachineName") for m in machines.values()]
    assert synthesized.config.resource_name("profit-monthly") in names
    assert "ProfitMonthlyStateMachineArn" in synthesized.template["Outputs"]


def test_every_task_has_a_timeout_and_lambda_tasks_retry() -> None:
    definition = json.loads(ASL_PATH.read_text())
    for name, state in definition["States"].items():
        if state["Type"] != "Task":
            continue
        assert "TimeoutSeconds" in state, name
        if state["Resource"].endswith("lambda:invoke"):
            errors = {e for retry in state["Retry"] for e in retry["ErrorEquals"]}
            assert {"Lambda.ServiceException", "Lambda.TooManyRequestsException"} <= errors
            assert state["Catch"][0]["Next"] == "NotifyFailure"


def test_the_analyst_role_is_denied_every_s3_action_on_the_finance_bucket(
    synthesized: Any,
) -> None:
    denies = [
        s
        for s in _policy_statements(synthesized, "Analyst")
        if s["Effect"] == "Deny" and s["Action"] == "s3:*"
    ]
    (deny,) = denies
    finance_id = synthesized.stack.get_logical_id(
        synthesized.stack.platform.buckets.finance.node.default_child
    )
    assert finance_id in json.dumps(deny["Resource"])
