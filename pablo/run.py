"""`pablo run monthly --month YYYY-MM` / `pablo run weekly --week YYYY-MM-DD`: start an
executive KPI workflow by hand, under the same name the schedule uses.

    pablo run monthly --month 2026-09            # refused if monthly-2026-09 ever started
    pablo run monthly --month 2026-09 --rerun    # a failed month, with its original input
    pablo run monthly --month 2026-09 --restate  # a published month recomputed (late data)

The execution name (`monthly-2026-09`) is the lock: Step Functions refuses a second start
of the same name, so the schedule and a person can never both run a month. A failed month
is re-run as `monthly-2026-09-rerun-<n>` with the failed execution's input (same "now"),
so the tables and the report come out byte-identical to what a clean run would have made;
a re-run is refused while the month is running or once it succeeded. A published month is
recomputed after late data with `--restate` (`monthly-2026-09-restate-<n>`, "now" = the
clock): every KPI that changes is recorded in the restatements table with old, new and why.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

from botocore.exceptions import ClientError

from functions.core.errors import PabloError, ValidationError
from functions.core.report import executive_layout
from functions.core.report.executive_period import (
    MONTH,
    WEEK,
    Period,
    month_period,
    period_of_execution,
    rerun_name,
    restate_name,
    week_period,
)
from functions.core.times import format_seconds
from pablo import stack

MACHINE_OUTPUTS: Final = {
    MONTH: "ExecutiveMonthlyStateMachineArn",
    WEEK: "ExecutiveWeeklyStateMachineArn",
}
ALREADY_EXISTS: Final = "ExecutionAlreadyExists"
ACTIVE: Final = frozenset({"RUNNING", "SUCCEEDED", "PENDING_REDRIVE"})


class RunRefusedError(PabloError):
    reason = "run_refused"


@dataclass(frozen=True)
class Started:
    name: str
    arn: str
    input: dict[str, Any]


def cmd_run(args: argparse.Namespace) -> int:
    period = month_period(args.month) if args.grain == MONTH else _week(args.week)
    target = stack.command_target(args)
    sfn = target.client("stepfunctions")
    machine = stack.stack_output(
        target.client("cloudformation"), args.stack_name, MACHINE_OUTPUTS[period.grain]
    )
    freshness = {
        key: value
        for key, value in (
            ("wait_seconds", args.freshness_wait),
            ("max_checks", args.freshness_checks),
        )
        if value is not None
    }
    started = start(
        sfn,
        machine,
        period,
        now=stack.now(target.endpoint),
        rerun=args.rerun,
        restate=args.restate,
        freshness=freshness or None,
    )
    print(f"started {started.name} ({started.arn})")
    if not args.wait:
        return 0
    status, described = wait(sfn, started.arn, timeout=args.timeout)
    print(f"{started.name}: {status}")
    if status != "SUCCEEDED":
        print(f"  {described.get('error', '')}: {described.get('cause', '')}")
        return 1
    print(json.dumps(json.loads(described.get("output") or "{}").get("published", {}), indent=2))
    return 0


def start(
    sfn: Any,
    machine: str,
    period: Period,
    *,
    now: datetime,
    rerun: bool = False,
    restate: bool = False,
    freshness: dict[str, int] | None = None,
) -> Started:
    """Start the period's execution (or its re-run); RunRefusedError says why not.
    `freshness` ({"wait_seconds", "max_checks"}) may shorten the gate's wait for stale
    inputs, never lengthen it (the deployment's bound wins)."""
    if rerun:
        return _rerun(sfn, machine, period)
    name = _restate_name(sfn, machine, period) if restate else period.execution_name
    payload: dict[str, Any] = {
        "time": format_seconds(now),
        "grain": period.grain,
        "period": period.name,
        "run_id": name,
    }
    if freshness:
        payload["freshness"] = freshness
    return _start(sfn, machine, name, payload)


def _restate_name(sfn: Any, machine: str, period: Period) -> str:
    """The next restatement run's name: only for a period published and not running."""
    runs = period_executions(sfn, machine, period)
    if not any(r["status"] == "SUCCEEDED" for r in runs):
        raise RunRefusedError(f"{period.execution_name} was never published: nothing to restate")
    running = [r["name"] for r in runs if r["status"] == "RUNNING"]
    if running:
        raise RunRefusedError(f"{running[-1]} is RUNNING: restate once it has finished")
    return restate_name(period, max(period_of_execution(r["name"])[2] for r in runs) + 1)  # type: ignore[index]


def _start(sfn: Any, machine: str, name: str, payload: dict[str, Any]) -> Started:
    # StartExecution is idempotent for the same name and input while that execution
    # runs (it answers the running one): look first, so a person is always told.
    if any(e["name"] == name for e in _executions(sfn, machine)):
        raise RunRefusedError(_already_started(name))
    try:
        answer = sfn.start_execution(stateMachineArn=machine, name=name, input=json.dumps(payload))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == ALREADY_EXISTS:
            raise RunRefusedError(_already_started(name)) from exc
        raise
    return Started(name, str(answer["executionArn"]), payload)


def _rerun(sfn: Any, machine: str, period: Period) -> Started:
    runs = period_executions(sfn, machine, period)
    if not runs:
        raise RunRefusedError(f"{period.execution_name} never ran: start it without --rerun")
    active = [r for r in runs if r["status"] in ACTIVE]
    if active:
        latest = active[-1]
        raise RunRefusedError(
            f"{latest['name']} is {latest['status']}: a re-run is only for a failed period"
        )
    original = sfn.describe_execution(executionArn=runs[0]["executionArn"])
    payload = json.loads(original.get("input") or "{}")
    number = max(period_of_execution(r["name"])[2] for r in runs) + 1  # type: ignore[index]
    name = rerun_name(period, number)
    return _start(sfn, machine, name, {**payload, "run_id": name})


def _already_started(name: str) -> str:
    return (
        f"{name} was already started (executions are named for their period, so a second "
        f"start is refused); re-run a failed period with --rerun"
    )


def _executions(sfn: Any, machine: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=machine):
        found.extend(page.get("executions", []))
    return found


def period_executions(sfn: Any, machine: str, period: Period) -> list[dict[str, Any]]:
    """The period's executions (first run and re-runs), oldest first."""
    return executive_layout.period_executions(_executions(sfn, machine), period)


def wait(
    sfn: Any,
    arn: str,
    *,
    timeout: float,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[str, dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        described: dict[str, Any] = sfn.describe_execution(executionArn=arn)
        status = str(described["status"])
        if status != "RUNNING" or time.monotonic() > deadline:
            return status, described
        sleep(1.0)


def _week(text: str) -> Period:
    try:
        return week_period(date.fromisoformat(text))
    except ValueError as exc:
        raise ValidationError(f"--week {text!r} is not a date YYYY-MM-DD") from exc
