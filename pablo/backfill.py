"""`pablo backfill engagement --from D --to D`: recompute a range of days with the deployed
daily workflow (state machine output `EngagementDailyStateMachineArn`).

The range is split into chunks of `--chunk-days` days, one execution each, run one after the
other with a progress bar. The workflow's outputs are written at deterministic keys, so a
backfill is idempotent: running it again gives byte-identical files (and a restatement row
only where a published number actually changes, with reason `backfill`).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, Final

from tqdm import tqdm

from functions.core.backfills import MANUAL_BACKFILL_PREFIX
from functions.core.codes import BACKFILL_REASON
from functions.core.engagement_state import date_range
from functions.core.errors import ConfigurationError, PabloError
from functions.core.times import format_millis
from pablo import stack

STATE_MACHINE_OUTPUT: Final = "EngagementDailyStateMachineArn"
MAX_DAYS: Final = 400


class BackfillError(PabloError):
    reason = "backfill_failed"


def run_engagement(args: argparse.Namespace) -> int:
    days = backfill_days(args.start, args.end)
    if args.chunk_days <= 0:
        raise ConfigurationError("--chunk-days must be positive")
    target = stack.command_target(args)
    sfn = target.client("stepfunctions")
    machine = stack.stack_output(
        target.client("cloudformation"), args.stack_name, STATE_MACHINE_OUTPUT
    )
    now = stack.now(target.endpoint)
    results = backfill(
        sfn,
        machine,
        days,
        now=now,
        chunk_days=args.chunk_days,
        timeout=args.timeout,
        progress=True,
    )
    restated = sum(r.get("restatements", 0) for r in results)
    print(f"backfilled {len(results)} days {days[0]}..{days[-1]}; {restated} values restated")
    return 0


def backfill_days(start: date, end: date) -> list[date]:
    if end < start:
        raise ConfigurationError(f"--to {end} is before --from {start}")
    days = date_range(start, end)
    if len(days) > MAX_DAYS:
        raise ConfigurationError(f"{len(days)} days: backfill at most {MAX_DAYS} at a time")
    return days


def backfill(
    sfn: Any,
    machine: str,
    days: list[date],
    *,
    now: datetime,
    chunk_days: int = 7,
    timeout: float = 1800.0,
    progress: bool = False,
    sleep: Callable[[float], None] = time.sleep,
) -> list[dict[str, Any]]:
    """Run the workflow over `days` in chunks; each chunk's per-day results, in order."""
    results: list[dict[str, Any]] = []
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    with tqdm(total=len(days), unit="day", disable=not progress, desc="engagement") as bar:
        for start in range(0, len(days), chunk_days):
            chunk = days[start : start + chunk_days]
            name = f"{MANUAL_BACKFILL_PREFIX}{chunk[0]:%Y%m%d}-{chunk[-1]:%Y%m%d}-{stamp}"
            run_input = {
                "time": format_millis(now),
                "days": [d.isoformat() for d in chunk],
                "reason": BACKFILL_REASON,
                "run_id": name,
            }
            output = _execute(sfn, machine, name, run_input, timeout=timeout, sleep=sleep)
            results.extend(output.get("days", []))
            bar.update(len(chunk))
    return results


def _execute(
    sfn: Any,
    machine: str,
    name: str,
    run_input: dict[str, Any],
    *,
    timeout: float,
    sleep: Callable[[float], None],
) -> dict[str, Any]:
    arn = sfn.start_execution(stateMachineArn=machine, name=name, input=json.dumps(run_input))[
        "executionArn"
    ]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        described = sfn.describe_execution(executionArn=arn)
        status = described["status"]
        if status == "SUCCEEDED":
            output: dict[str, Any] = json.loads(described.get("output") or "{}")
            return output
        if status != "RUNNING":
            raise BackfillError(f"execution {name} {status}: {described.get('cause', '')}")
        sleep(0.5)
    raise BackfillError(f"execution {name} still running after {timeout:.0f} s")
