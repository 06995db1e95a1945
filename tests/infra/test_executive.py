"""The executive pipeline in the synthesized template and its ASL files."""

from __future__ import annotations

import json
from collections.abc import Iterator
from itertools import pairwise
from typing import Any

import pytest

from functions.core import env
from functions.core.monitor.alarm_inventory import INVENTORY, Owner, Severity
from functions.core.schemas import Database, Pipeline
from infra.constructs.asl import render_asl
from infra.constructs.executive import ASL_TEMPLATE, MONTHLY, WEEKLY, ExecutiveGrain
from tests.infra.conftest import Synthesized

TRANSIENT = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "TransientError",
}


def _states(definition: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in definition["States"].items():
        yield name, state
        for branch in state.get("Branches", []):
            yield from _states(branch)


# The ARNs the template leaves to the synth, as plain strings.
ARNS = {
    "FreshnessFunctionArn": "arn:aws:lambda:eu-west-1:111111111111:function:freshness",
    "KpiFunctionArn": "arn:aws:lambda:eu-west-1:111111111111:function:kpi",
    "OnCallTopicArn": "arn:aws:sns:eu-west-1:111111111111:oncall",
}


def _rendered(grain: ExecutiveGrain) -> str:
    return render_asl(ASL_TEMPLATE, {**grain.asl_values(), **ARNS})


@pytest.mark.parametrize("grain", [MONTHLY, WEEKLY], ids=["monthly", "weekly"])
def test_every_task_has_a_timeout_and_every_lambda_task_retries_with_jitter(
    grain: ExecutiveGrain,
) -> None:
    definition = json.loads(_rendered(grain))
    tasks = [(n, s) for n, s in _states(definition) if s["Type"] == "Task"]
    assert len(tasks) >= 9
    for name, state in tasks:
        assert state["TimeoutSeconds"] > 0, name
        if state["Resource"] == "arn:aws:states:::lambda:invoke":
            (retry,) = state["Retry"]
            assert set(retry["ErrorEquals"]) == TRANSIENT, name
            assert retry["JitterStrategy"] == "FULL" and retry["BackoffRate"] > 1, name
    # every failure path alerts on-call once and ends FAILED
    catches = {c["Next"] for _, s in _states(definition) for c in s.get("Catch", [])}
    assert catches == {"NotifyFailure"}
    assert definition["States"]["NotifyFailure"]["Next"] == "Failed"
    assert definition["States"]["NotifyStale"]["Next"] == "UpstreamStale"
    assert definition["States"]["UpstreamStale"]["CausePath"] == "$.gate.cause"
    parallel = definition["States"]["Aggregates"]
    assert parallel["Type"] == "Parallel" and len(parallel["Branches"]) == 3


def test_the_two_workflows_differ_only_in_their_names() -> None:
    # Given the template rendered for each grain
    monthly, weekly = _rendered(MONTHLY), _rendered(WEEKLY)
    # Then the weekly one, with its names and upstreams read as monthly, is the monthly one
    normalised = weekly.replace("weekly", "monthly").replace("Weekly", "Monthly")
    assert normalised.replace("engagement and growth", "engagement, growth and profit") == monthly
    # And each names its own grain where the workflow says who it is
    assert json.loads(weekly)["States"]["Failed"]["Error"] == "ExecutiveWeeklyFailed"
    assert json.loads(monthly)["States"]["Failed"]["Error"] == "ExecutiveMonthlyFailed"


def _function(synthesized: Synthesized, suffix: str) -> dict[str, Any]:
    name = synthesized.config.resource_name(suffix)
    (props,) = [
        r["Properties"]
        for r in synthesized.resources("AWS::Lambda::Function").values()
        if r["Properties"].get("FunctionName") == name
    ]
    return props


def test_schedules_start_named_runs_through_the_starter(synthesized: Synthesized) -> None:
    starter = _function(synthesized, "executive-starter")
    variables = starter["Environment"]["Variables"]
    assert {env.EXECUTIVE_MONTHLY_WORKFLOW_ARN, env.EXECUTIVE_WEEKLY_WORKFLOW_ARN} <= set(variables)
    rules = [
        r["Properties"]
        for r in synthesized.resources("AWS::Events::Rule").values()
        if "ExecutiveStarter" in json.dumps(r["Properties"].get("Targets", []))
    ]
    by_schedule = {
        r["ScheduleExpression"]: json.loads(
            r["Targets"][0]["InputTransformer"]["InputTemplate"].replace("<time>", '"t"')
        )
        for r in rules
    }
    assert by_schedule == {
        "cron(0 7 5 * ? *)": {"action": "start", "grain": "month", "time": "t"},
        "cron(0 8 ? * MON *)": {"action": "start", "grain": "week", "time": "t"},
        "cron(0 9 * * ? *)": {"action": "check", "time": "t"},
    }
    outputs = synthesized.template["Outputs"]
    assert {"ExecutiveMonthlyStateMachineArn", "ExecutiveWeeklyStateMachineArn"} <= set(outputs)


def test_the_gate_may_start_only_the_upstream_workflows(synthesized: Synthesized) -> None:
    variables = _function(synthesized, "executive-freshness")["Environment"]["Variables"]
    for variable, name in (
        (env.ENGAGEMENT_WORKFLOW_ARN, "engagement-daily"),
        (env.GROWTH_WORKFLOW_ARN, "growth-weekly"),
        (env.PROFIT_WORKFLOW_ARN, "profit-monthly"),
    ):
        assert synthesized.config.resource_name(name) in json.dumps(variables[variable])
    for action in ("states:StartExecution", "states:ListExecutions"):
        statements = [
            statement
            for policy in synthesized.resources("AWS::IAM::Policy").values()
            if "ExecutiveFreshness" in json.dumps(policy["Properties"].get("Roles", []))
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]
            if action in _as_list(statement["Action"])
        ]
        (statement,) = statements
        assert len(statement["Resource"]) == 3 and "*" not in json.dumps(statement["Resource"])


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_executive_alarms_belong_to_business_analytics() -> None:
    specs = [s for s in INVENTORY if s.pipeline is Pipeline.EXECUTIVE]
    own_metrics = {s.key for s in specs if s.watched is None}
    assert own_metrics == {"executive-report-missing", "executive-month-preliminary"}
    # every alarm of the pipeline, its functions' and workflows' included, has its owners
    for spec in specs:
        assert spec.owner is Owner.BUSINESS_ANALYTICS
        assert spec.secondary_owner is Owner.DATA_ENGINEERING
    missing = next(s for s in specs if s.key == "executive-report-missing")
    assert missing.severity is Severity.PAGE


def _statements(synthesized: Synthesized, role_part: str, action: str) -> list[dict[str, Any]]:
    return [
        statement
        for policy in synthesized.resources("AWS::IAM::Policy").values()
        if role_part in json.dumps(policy["Properties"].get("Roles", []))
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if action in _as_list(statement["Action"])
    ]


def test_the_kpi_function_gets_its_engine_settings_and_only_the_pipelines_workgroup(
    synthesized: Synthesized,
) -> None:
    # Given the synthesized KPI function
    config = synthesized.config
    variables = _function(synthesized, "executive-kpi")["Environment"]["Variables"]
    # Then its engine settings are the configuration's, and its workgroup the pipelines'
    assert variables[env.EXECUTIVE_ATHENA_MIN_INPUT_BYTES] == str(
        config.executive_athena_min_input_bytes
    )
    assert variables[env.ATHENA_POLL_SECONDS] == str(config.athena_poll_seconds)
    workgroup = config.workgroup_name("pipelines")
    assert variables[env.ATHENA_WORKGROUP] == workgroup
    # And it may start queries in that workgroup alone, and the monthly workflow poll them
    (start,) = _statements(synthesized, "ExecutiveKpi", "athena:StartQueryExecution")
    assert f"workgroup/{workgroup}" in json.dumps(start["Resource"])
    assert "*" not in json.dumps(start["Resource"])
    polls = _statements(synthesized, "ExecutiveMonthly", "athena:GetQueryExecution")
    assert len(polls) == 1 and f"workgroup/{workgroup}" in json.dumps(polls[0]["Resource"])
    assert _statements(synthesized, "ExecutiveWeekly", "athena:GetQueryExecution") == []
    # And its working tables are made and dropped in the curated database only
    (tables,) = _statements(synthesized, "ExecutiveKpi", "glue:DeleteTable")
    curated = config.glue_database_name(Database.CURATED)
    assert all("catalog" in json.dumps(r) or curated in json.dumps(r) for r in tables["Resource"])


def test_the_athena_join_is_waited_for_by_the_workflow_and_fails_to_on_call() -> None:
    # Given the monthly definition
    states = json.loads(_rendered(MONTHLY))["States"]
    # Then the engine is chosen before the aggregates, and the join goes one way or the other
    assert states["InputsFresh"]["Choices"][0]["Next"] == "ChooseEngine"
    assert states["ChooseEngine"]["Next"] == "Aggregates"
    assert states["JoinEngine"]["Default"] == "Join"
    assert states["JoinEngine"]["Choices"][0]["Next"] == "StartAthenaJoin"
    # And the wait is a loop of the workflow's own states, no Lambda polling
    loop = ["StartAthenaJoin", "WaitForAthenaJoin", "AthenaJoinState", "AthenaJoinDone"]
    for here, there in pairwise(loop):
        assert states[here]["Next"] == there
    assert states["WaitForAthenaJoin"]["Type"] == "Wait"
    assert states["AthenaJoinState"]["Resource"] == "arn:aws:states:::athena:getQueryExecution"
    assert states["AthenaJoinDone"]["Default"] == "WaitForAthenaJoin"
    ends = {c["StringEquals"]: c["Next"] for c in states["AthenaJoinDone"]["Choices"]}
    assert ends == {
        "SUCCEEDED": "FinishAthenaJoin",
        "FAILED": "AthenaJoinFailed",
        "CANCELLED": "AthenaJoinCancelled",
    }
    # And a failed or cancelled query reaches on-call, a finished one the reconciliation gate
    assert states["AthenaJoinFailed"]["Next"] == "NotifyFailure"
    assert states["AthenaJoinCancelled"]["Next"] == "NotifyFailure"
    assert states["FinishAthenaJoin"]["Next"] == "ReconciliationGate"
    assert states["Join"]["Next"] == "ReconciliationGate"
