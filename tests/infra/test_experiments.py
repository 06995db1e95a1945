"""The experiment pipeline in the synthesized template: ingest rule, weekly workflow and its
ASL, settings, the SRM alarm."""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.core import env
from functions.core.errors import ConfigurationError
from functions.core.monitor.alarm_inventory import INVENTORY
from infra.constructs.experiments import ASL_PATH, PRE_PERIOD_CONTEXT, _settings
from tests.infra.conftest import Synthesized

INGEST = "functions.handlers.experiments_ingest.handler"
WEEKLY = "functions.handlers.experiments_weekly.handler"
LAMBDA_ERRORS = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "TransientError",
}


def _function(synthesized: Synthesized, handler: str) -> tuple[str, dict[str, Any]]:
    functions = synthesized.resources("AWS::Lambda::Function")
    ((logical_id, props),) = [
        (k, fn["Properties"])
        for k, fn in functions.items()
        if fn["Properties"]["Handler"] == handler
    ]
    return logical_id, props


def _rules_targeting(synthesized: Synthesized, logical_id: str) -> list[dict[str, Any]]:
    return [
        r["Properties"]
        for r in synthesized.resources("AWS::Events::Rule").values()
        if logical_id in json.dumps(r["Properties"].get("Targets", []))
    ]


def test_experiment_and_assignment_files_trigger_the_ingest_function(
    synthesized: Synthesized,
) -> None:
    # given the ingest function / when the rules targeting it are read
    logical_id, _ = _function(synthesized, INGEST)
    (rule,) = _rules_targeting(synthesized, logical_id)
    # then S3 Object Created under both Data Science prefixes of the landing bucket reach it
    pattern = rule["EventPattern"]
    assert pattern["source"] == ["aws.s3"] and pattern["detail-type"] == ["Object Created"]
    prefixes = {p["prefix"] for p in pattern["detail"]["object"]["key"]}
    assert prefixes == {"experiments/", "assignments/"}


def test_weekly_function_gets_threshold_and_pre_period(synthesized: Synthesized) -> None:
    _, props = _function(synthesized, WEEKLY)
    variables = props["Environment"]["Variables"]
    assert float(variables[env.EXPERIMENT_SRM_P_THRESHOLD]) == 0.001
    assert int(variables[env.EXPERIMENT_PRE_PERIOD_DAYS]) == 14


def test_the_workflow_rebuilds_the_latest_week_every_morning(synthesized: Synthesized) -> None:
    machines = synthesized.resources("AWS::StepFunctions::StateMachine")
    ((machine_id, machine),) = [
        (k, m) for k, m in machines.items() if k.startswith("ExperimentsWorkflow")
    ]
    definition = json.dumps(machine["Properties"]["DefinitionString"])
    assert "NotifyDataScience" in definition and "NotifyFailure" in definition
    schedules = [
        r["Properties"]["ScheduleExpression"]
        for r in synthesized.resources("AWS::Events::Rule").values()
        if machine_id in json.dumps(r["Properties"].get("Targets", []))
    ]
    assert schedules == ["cron(0 6 * * ? *)"]
    assert "ExperimentsWeeklyStateMachineArn" in synthesized.template["Outputs"]


def test_every_task_has_a_timeout_and_lambda_tasks_retry_and_catch() -> None:
    states = json.loads(ASL_PATH.read_text())["States"]
    tasks = {name: s for name, s in states.items() if s["Type"] == "Task"}
    assert all(s["TimeoutSeconds"] > 0 for s in tasks.values())
    lambda_tasks = [s for s in tasks.values() if s["Resource"].endswith(":lambda:invoke")]
    assert len(lambda_tasks) == 2
    for task in lambda_tasks:
        (retry,) = task["Retry"]
        assert set(retry["ErrorEquals"]) == LAMBDA_ERRORS and retry["JitterStrategy"] == "FULL"
        assert task["Catch"][0]["Next"] == "NotifyFailure"
    assert states["Failed"]["Type"] == "Fail"


def test_the_srm_alarm_goes_to_the_data_science_team(synthesized: Synthesized) -> None:
    (alarm,) = [a for a in INVENTORY if a.pipeline.value == "experiment" and a.watched is None]
    assert alarm.key == "experiment-sample-ratio-mismatch"
    assert alarm.owner.value == "Data Science Team"
    assert alarm.secondary_owner.value == "Data Engineering Team"
    names = {
        a["Properties"]["AlarmName"]: a["Properties"]
        for a in synthesized.resources("AWS::CloudWatch::Alarm").values()
    }
    props = names[synthesized.config.resource_name(alarm.key)]
    assert props["MetricName"] == "ExperimentsFailingSrm"
    assert props["TreatMissingData"] == "ignore"


def test_a_pre_period_below_one_day_is_refused() -> None:
    from aws_cdk import App  # noqa: PLC0415

    app = App(context={PRE_PERIOD_CONTEXT: "0"})
    with pytest.raises(ConfigurationError, match="at least 1"):
        _settings(app)
