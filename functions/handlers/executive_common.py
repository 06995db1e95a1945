"""What the executive handlers share: settings from the environment, clients, the run."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from functions.adapters.executive_io import Locations
from functions.core import env
from functions.core.errors import TerminalError, TransientError, ValidationError
from functions.core.report.executive_period import Period, parse_period
from functions.core.times import parse_event_time


@dataclass(frozen=True)
class Settings:
    where: Locations
    topic_arn: str
    metrics_namespace: str


@cache
def settings() -> Settings:
    return Settings(
        where=Locations(
            curated=os.environ[env.CURATED_BUCKET],
            reports=os.environ[env.REPORTS_BUCKET],
            state_table=os.environ[env.STATE_TABLE],
            curated_database=os.environ[env.GLUE_DATABASE_CURATED],
        ),
        topic_arn=os.environ[env.ONCALL_TOPIC_ARN],
        metrics_namespace=os.environ[env.METRICS_NAMESPACE],
    )


@dataclass(frozen=True)
class Run:
    """One execution's request: `time` is its "now" (the schedule's time, or the original
    execution's time on a re-run, so a re-run rebuilds byte-identical output)."""

    now: datetime
    period: Period
    run_id: str

    def as_json(self) -> dict[str, str]:
        return {
            "time": self.now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "grain": self.period.grain,
            "period": self.period.name,
            "run_id": self.run_id,
        }


def run_request(event: dict[str, Any]) -> Run:
    period = parse_period(str(event.get("grain", "")), str(event.get("period", "")))
    run_id = event.get("run_id") or period.execution_name
    if not isinstance(run_id, str):
        raise ValidationError("run_id must be a string", reason="bad_event")
    return Run(parse_event_time(event.get("time")), period, run_id)


class InjectedFaultError(TerminalError):
    """A chaos drill's permanent failure."""

    reason = "injected_failure"


def injected_fault(step: str, *, retry_count: int) -> None:
    """Chaos drills (docs/runbooks/executive.md): `PABLO_FAULT_INJECTION` =
    `{"<step>": {"error": "transient" | "terminal", "times": N}}` fails the step's first
    N attempts of an execution (N = 0: every attempt). Unset in normal operation."""
    spec = os.environ.get(env.FAULT_INJECTION)
    if not spec:
        return
    fault = json.loads(spec).get(step)
    if not fault:
        return
    times = int(fault.get("times", 0))
    if times and retry_count >= times:
        return
    message = f"injected fault in {step} (attempt {retry_count + 1})"
    if fault.get("error") == "transient":
        # TransientError's name is what the workflow's Retry matches.
        raise TransientError(message)
    raise InjectedFaultError(message)
