"""What the executive handlers share: the run, chaos drills, and the executive workflow's
I/O composed from the adapters (work files between the steps, the inputs' versions)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa

from functions.adapters import s3_objects, s3_tables
from functions.core import schemas
from functions.core.errors import TerminalError, TransientError, ValidationError
from functions.core.report import executive_inputs, executive_layout
from functions.core.report.executive_period import Period, parse_period
from functions.core.times import parse_event_time
from functions.handlers.settings import settings


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
    spec = settings().fault_injection
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


# --- the workflow's I/O ----------------------------------------------------------------


def read_kpi_rows(s3: Any, *, bucket: str, period: Period) -> pa.Table:
    """The exec_kpi row published for `period` (none if not published)."""
    return s3_tables.read_table(
        s3,
        bucket=bucket,
        table=schemas.EXEC_KPI,
        partition_filter={"grain": period.grain, "period": period.name},
    )


def put_work(s3: Any, *, bucket: str, period: Period, name: str, table: pa.Table) -> str:
    key = executive_layout.work_key(period, name)
    s3_objects.put_parquet(s3, bucket=bucket, key=key, table=table)
    return key


def get_work(s3: Any, *, bucket: str, period: Period, name: str) -> pa.Table:
    return s3_objects.read_parquet(s3, bucket=bucket, key=executive_layout.work_key(period, name))


def put_work_json(s3: Any, *, bucket: str, period: Period, name: str, value: Any) -> None:
    key = executive_layout.work_json_key(period, name)
    s3_objects.put_json(s3, bucket=bucket, key=key, value=value)


def get_work_json(s3: Any, *, bucket: str, period: Period, name: str) -> Any:
    key = executive_layout.work_json_key(period, name)
    return s3_objects.read_json(s3, bucket=bucket, key=key)


def input_versions(
    s3: Any,
    *,
    bucket: str,
    period: Period,
    profit_record: dict[str, Any] | None,
    upstreams: Iterable[str] | None = None,
) -> dict[str, str]:
    """Per upstream (all, or `upstreams`), the version of the inputs the period's row reads
    now (executive_layout.input_version of their files' ETags)."""
    versions: dict[str, str] = {}
    wanted = None if upstreams is None else set(upstreams)
    for upstream, prefixes in executive_inputs.input_prefixes(period).items():
        if wanted is not None and upstream not in wanted:
            continue
        objects = s3_objects.objects_under(s3, bucket=bucket, prefixes=prefixes)
        etags = {key: str(obj["ETag"]) for key, obj in objects.items()}
        versions[upstream] = executive_layout.input_version(upstream, etags, profit_record)
    return versions
