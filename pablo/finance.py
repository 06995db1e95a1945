"""`pablo finance signoff`: an accountant signs off a month's profit numbers.

    pablo finance signoff --month 2026-09 --by "Dana Ortiz" --note "ledger accrual, verified"

Records who, when and why in the pipeline state table, then republishes the month through
the monthly profit workflow (`{"time": now, "month": M}`): the month becomes `signed_off`
and the mismatch metric drops to 0, which clears the Finance alarm. The target is found as
every command finds it (`pablo.stack.resolve_target`); "now" is the emulator's clock there,
the wall clock against AWS.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from typing import Any

from functions.adapters import state_table
from functions.core.errors import PabloError, ValidationError
from functions.core.times import format_seconds
from functions.core.transform.profit import check_month
from infra.config import STACK_NAME
from pablo import stack

STATE_TABLE_OUTPUT = "StateTableName"
WORKFLOW_OUTPUT = "ProfitMonthlyStateMachineArn"
WAIT_SECONDS = 300.0


class SignoffError(PabloError):
    reason = "signoff"


def cmd_signoff(args: argparse.Namespace) -> int:
    month = check_month(args.month)
    if not args.by.strip() or not args.note.strip():
        raise SignoffError("--by and --note must not be empty")
    target = stack.command_target(args)
    result = signoff(
        month=month,
        by=args.by.strip(),
        note=args.note.strip(),
        clients=target,
        now=stack.now(target.endpoint),
        stack_name=args.stack_name,
        wait=not args.no_wait,
    )
    print(json.dumps(result, indent=2, default=str))
    return 0


def signoff(
    *,
    month: str,
    by: str,
    note: str,
    clients: Any,
    now: datetime,
    stack_name: str = STACK_NAME,
    wait: bool = True,
) -> dict[str, Any]:
    """Record the sign-off and republish the month; returns what was recorded and the
    month's new status (when `wait`)."""
    outputs = _outputs(clients.client("cloudformation"), stack_name)
    table = outputs[STATE_TABLE_OUTPUT]
    dynamodb = clients.client("dynamodb")
    record = state_table.month_record(dynamodb, table=table, month=month)
    if record is None:
        raise SignoffError(
            f"{month} has not been computed by the profit workflow yet: nothing to sign off"
        )
    try:
        # The figures signed are the month's reconciliation as it stands now.
        recorded = state_table.record_signoff(
            dynamodb,
            table=table,
            month=month,
            by=by,
            note=note,
            at=now,
            figures=str(record.get("reconciliation")),
        )
    except ValidationError as exc:
        raise SignoffError(str(exc)) from exc
    sfn = clients.client("stepfunctions")
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    execution = sfn.start_execution(
        stateMachineArn=outputs[WORKFLOW_OUTPUT],
        name=f"signoff-{month}-{stamp}",
        input=json.dumps({"time": format_seconds(now), "month": month}),
    )
    result: dict[str, Any] = {"signoff": recorded, "execution": execution["executionArn"]}
    if wait:
        result["republished"] = _wait(sfn, execution["executionArn"])
        record = state_table.month_record(dynamodb, table=table, month=month) or {}
        result["publication_status"] = record.get("publication_status")
    return result


def _wait(sfn: Any, arn: str) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        described = sfn.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING":
            if described["status"] != "SUCCEEDED":
                raise SignoffError(
                    f"the republish {arn} ended {described['status']}: "
                    f"{described.get('cause') or described.get('error') or ''}"
                )
            output: dict[str, Any] = json.loads(described.get("output") or "{}")
            return output
        time.sleep(0.5)
    raise SignoffError(f"the republish {arn} did not finish in {WAIT_SECONDS:.0f} s")


def _outputs(cloudformation: Any, stack_name: str) -> dict[str, str]:
    outputs = stack.stack_outputs(cloudformation, stack_name)
    missing = {STATE_TABLE_OUTPUT, WORKFLOW_OUTPUT} - set(outputs)
    if missing:
        raise SignoffError(f"stack {stack_name} lacks outputs {sorted(missing)}")
    return outputs
