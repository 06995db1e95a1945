"""`pablo run` and the starter against Step Functions (moto, in process): the execution
name is the lock; a failed period re-runs with its original input."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from functions.core import env
from functions.core.report import executive_layout
from functions.core.report.executive_period import month_period, week_period
from functions.handlers import clients, executive_common, executive_starter
from pablo import run

NOW = datetime(2026, 10, 5, 7, tzinfo=UTC)
DEFINITION = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})


@pytest.fixture
def sfn() -> Iterator[tuple[Any, str]]:
    with mock_aws():
        client = boto3.client("stepfunctions", region_name="us-east-1")
        machine = client.create_state_machine(
            name="executive-monthly",
            definition=DEFINITION,
            roleArn="arn:aws:iam::123456789012:role/sfn",
        )["stateMachineArn"]
        yield client, machine


def test_a_month_is_started_under_its_name_and_a_second_start_is_refused(
    sfn: tuple[Any, str],
) -> None:
    client, machine = sfn
    started = run.start(
        client, machine, month_period("2026-09"), now=NOW, freshness={"max_checks": 2}
    )
    assert started.name == "monthly-2026-09"
    assert started.input == {
        "time": "2026-10-05T07:00:00Z",
        "grain": "month",
        "period": "2026-09",
        "run_id": "monthly-2026-09",
        "freshness": {"max_checks": 2},
    }
    with pytest.raises(run.RunRefusedError, match="already started"):
        run.start(client, machine, month_period("2026-09"), now=NOW)


def test_a_rerun_is_only_for_a_failed_period_and_reuses_its_input(sfn: tuple[Any, str]) -> None:
    client, machine = sfn
    period = month_period("2026-09")
    with pytest.raises(run.RunRefusedError, match="never ran"):
        run.start(client, machine, period, now=NOW, rerun=True)
    first = run.start(client, machine, period, now=NOW)
    with pytest.raises(run.RunRefusedError, match="RUNNING"):
        run.start(client, machine, period, now=NOW, rerun=True)
    client.stop_execution(executionArn=first.arn, error="Test", cause="failed")
    # when the failed month is re-run at a later clock time
    later = datetime(2026, 10, 20, tzinfo=UTC)
    rerun = run.start(client, machine, period, now=later, rerun=True)
    # then it is the first re-run, with the original "now" (so its output is identical)
    assert rerun.name == "monthly-2026-09-rerun-1"
    assert rerun.input["time"] == "2026-10-05T07:00:00Z" and rerun.input["run_id"] == rerun.name
    client.stop_execution(executionArn=rerun.arn)
    assert run.start(client, machine, period, now=later, rerun=True).name.endswith("-rerun-2")
    assert [e["name"] for e in run.period_executions(client, machine, period)] == [
        "monthly-2026-09",
        "monthly-2026-09-rerun-1",
        "monthly-2026-09-rerun-2",
    ]


def test_the_starter_treats_an_existing_execution_as_already_started(
    sfn: tuple[Any, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, machine = sfn
    monkeypatch.setenv(env.EXECUTIVE_MONTHLY_WORKFLOW_ARN, machine)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    clients.client.cache_clear()
    try:
        first = executive_starter.start("month", NOW)
        # a redelivered schedule while the month runs: StartExecution is idempotent
        again = executive_starter.start("month", NOW)
        assert len(client.list_executions(stateMachineArn=machine)["executions"]) == 1
        (execution,) = client.list_executions(stateMachineArn=machine)["executions"]
        client.stop_execution(executionArn=execution["executionArn"])
        # once the month has ended, the same name is refused: already done
        after = executive_starter.start("month", NOW)
    finally:
        clients.client.cache_clear()
    assert first == {"execution": "monthly-2026-09", "started": True, "already_started": False}
    assert again["execution"] == first["execution"]
    assert after["already_started"] is True


def test_due_periods_allow_for_the_schedule_and_its_bounded_wait() -> None:
    assert [p.name for p in executive_layout.due_periods(datetime(2026, 10, 5, 9, tzinfo=UTC))] == [
        "2026-08",
        "2026-09-27",
    ]
    assert [p.name for p in executive_layout.due_periods(datetime(2026, 10, 6, 9, tzinfo=UTC))] == [
        "2026-09",
        "2026-10-04",
    ]
    assert week_period("2026-10-04").execution_name == "weekly-2026-10-04"


def test_injected_faults_fail_the_first_attempts_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        env.FAULT_INJECTION, json.dumps({"join": {"error": "transient", "times": 2}})
    )
    for attempt in (0, 1):
        with pytest.raises(executive_common.TransientError, match="injected fault in join"):
            executive_common.injected_fault("join", retry_count=attempt)
    executive_common.injected_fault("join", retry_count=2)
    executive_common.injected_fault("report", retry_count=0)
    monkeypatch.setenv(env.FAULT_INJECTION, json.dumps({"publish": {"error": "terminal"}}))
    with pytest.raises(executive_common.InjectedFaultError):
        executive_common.injected_fault("publish", retry_count=7)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "monthly", "--month", "2026-13"], "not YYYY-MM"),
        (["run", "weekly", "--week", "2026-09-26"], "not a Sunday"),
        (["run", "weekly", "--week", "soon"], "not a date"),
    ],
)
def test_a_bad_period_on_the_command_line_is_one_clear_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from pablo.cli import main  # noqa: PLC0415

    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("pablo: ") and message in err and "Traceback" not in err


def test_a_restatement_run_is_only_for_a_published_period(sfn: tuple[Any, str]) -> None:
    client, machine = sfn
    period = month_period("2026-09")
    first = run.start(client, machine, period, now=NOW)
    with pytest.raises(run.RunRefusedError, match="never published"):
        run.start(client, machine, period, now=NOW, restate=True)
    _succeed(client, first.arn)
    later = datetime(2026, 10, 20, tzinfo=UTC)
    restated = run.start(client, machine, period, now=later, restate=True)
    assert restated.name == "monthly-2026-09-restate-1"
    assert restated.input["time"] == "2026-10-20T00:00:00Z"
    with pytest.raises(run.RunRefusedError, match="RUNNING"):
        run.start(client, machine, period, now=later, restate=True)


def _succeed(client: Any, arn: str) -> None:
    """moto's in-process executions never finish on their own: mark this one SUCCEEDED."""
    from moto.backends import get_backend  # noqa: PLC0415

    backend = get_backend("stepfunctions")["123456789012"]["us-east-1"]
    backend.describe_execution(arn).status = "SUCCEEDED"
