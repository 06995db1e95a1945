"""`pablo oncall`: what is firing, who owns it, acknowledging, the weekly handover, replays.

    pablo oncall status [--format text|csv|json]
    pablo oncall ack ALARM --by NAME [--note TEXT]
    pablo oncall rotation [--week YYYY-MM-DD] [--config PATH]
    pablo oncall handoff [--week YYYY-MM-DD] [--config PATH]
    pablo oncall replay-quarantine --pipeline P --reason R [--dry-run] [--by NAME]

The target is found as every command finds it (`pablo.stack.resolve_target`: `--endpoint`,
$PABLO_ENDPOINT, the running embedded emulator, AWS). Resource names come from the stack's
CloudFormation outputs; alarm owners, runbooks and severities from the alarm inventory;
"now" is the emulator's clock locally, the wall clock on AWS. The logic is in
functions/core/monitor/oncall.py.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import pyarrow.parquet as pq
from botocore.exceptions import ClientError

from functions.adapters import metrics, state_table
from functions.core import backfills, schemas
from functions.core.errors import ConfigurationError, PabloError, ValidationError
from functions.core.landing import BucketRole
from functions.core.monitor import oncall, oncall_replay
from functions.core.monitor.oncall import AlarmStatus
from functions.core.monitor.oncall_replay import Quarantined
from functions.core.times import format_seconds, parse_time
from infra.config import STACK_NAME, resource_name
from pablo import stack
from pablo.local.context import LOCAL_REGION
from pablo.producer.cli import CLICK_STREAM_OUTPUT
from pablo.producer.click_producer import ClickProducer
from pablo.query.output import CSV, JSON, rows_to_csv, rows_to_json

# moto creates alarms in OK with this reason; AWS creates them in INSUFFICIENT_DATA.
MOTO_INITIAL_REASON: Final = "Unchecked: Initial alarm creation"
BUCKET_OUTPUTS: Final = {
    BucketRole.LANDING: "LandingBucketName",
    BucketRole.FINANCE: "FinanceBucketName",
}


class OnCallError(PabloError):
    reason = "oncall"


def _target_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--endpoint", help="endpoint URL (default: the running emulator, or AWS)")
    parser.add_argument("--region", default=LOCAL_REGION)
    parser.add_argument("--stack-name", default=STACK_NAME)


# --- where: AWS or the emulator ------------------------------------------------------


class Target:
    """Clients, stack outputs and "now" of AWS or of an emulator endpoint."""

    def __init__(
        self, endpoint: str | None, *, region: str = LOCAL_REGION, stack: str = STACK_NAME
    ):
        self.endpoint = endpoint
        self.region = region
        self.stack = stack
        self._clients: dict[str, Any] = {}
        self._outputs: dict[str, str] | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Target:
        where = stack.command_target(args)
        return cls(where.endpoint, region=args.region, stack=args.stack_name)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = stack.client(service, self.endpoint, self.region)
        return self._clients[service]

    def outputs(self) -> dict[str, str]:
        if self._outputs is None:
            try:
                self._outputs = stack.stack_outputs(self.client("cloudformation"), self.stack)
            except ConfigurationError as exc:
                raise OnCallError(f"{exc} (on {self.endpoint or 'AWS'})") from exc
        return self._outputs

    def output(self, key: str) -> str:
        try:
            return self.outputs()[key]
        except KeyError:
            raise OnCallError(f"stack {self.stack} has no output {key}") from None

    def now(self) -> datetime:
        if self.endpoint is None:
            return datetime.now(UTC)
        from pablo.local.control import ControlClient  # noqa: PLC0415

        return ControlClient(self.endpoint).now()

    def utc(self, stamp: datetime) -> datetime:
        """A CloudWatch timestamp in UTC: moto sends naive UTC digits, which boto3 reads
        as local time; AWS sends an offset."""
        if self.endpoint is not None:
            return stamp.replace(tzinfo=UTC)
        return stamp.astimezone(UTC)


# --- status --------------------------------------------------------------------------


def alarm_statuses(target: Target) -> list[AlarmStatus]:
    """Every deployed alarm of the stack's environment, with its open acknowledgement."""
    prefix = target.output("NamePrefix")
    acks = state_table.acks(target.client("dynamodb"), table=target.output("StateTableName"))
    paginator = target.client("cloudwatch").get_paginator("describe_alarms")
    statuses = []
    for page in paginator.paginate(AlarmNamePrefix=f"{prefix}-", AlarmTypes=["MetricAlarm"]):
        for alarm in page.get("MetricAlarms", []):
            statuses.append(_status(target, alarm, prefix, acks))
    return statuses


def _status(
    target: Target, alarm: dict[str, Any], prefix: str, acks: list[oncall.Ack]
) -> AlarmStatus:
    name = alarm["AlarmName"]
    try:
        spec = oncall.spec_for_alarm(name, prefix)
    except ValidationError:
        spec = None
    since = alarm.get("StateUpdatedTimestamp")
    return AlarmStatus(
        name=name,
        state=effective_state(alarm),
        since=format_seconds(target.utc(since)) if since else "unknown",
        actions_enabled=bool(alarm.get("ActionsEnabled", True)),
        spec=spec,
        ack=oncall.open_ack(acks, name),
    )


def effective_state(alarm: dict[str, Any]) -> str:
    if alarm.get("StateReason") == MOTO_INITIAL_REASON:
        return oncall.INSUFFICIENT_DATA
    return str(alarm.get("StateValue") or oncall.INSUFFICIENT_DATA)


def cmd_status(args: argparse.Namespace) -> int:
    statuses = oncall.open_alarms(alarm_statuses(Target.from_args(args)))
    rows = [s.as_dict() for s in statuses]
    if args.output_format == JSON:
        sys.stdout.write(rows_to_json(rows))
    elif args.output_format == CSV:
        sys.stdout.write(rows_to_csv(status_columns(), rows))
    else:
        print("\n".join(oncall.status_lines(statuses)))
    return 0


def status_columns() -> list[str]:
    """The columns of `oncall status --format csv`: AlarmStatus.as_dict's keys (a blank
    status has them all), so that no alarm open still gives the header."""
    blank = AlarmStatus(name="", state="", since="", actions_enabled=True, spec=None)
    return list(blank.as_dict())


# --- ack -----------------------------------------------------------------------------


def acknowledge(target: Target, alarm: str, *, by: str, note: str) -> oncall.Ack:
    """Record the acknowledgement, then mute the alarm's actions (in that order: a failed
    mute leaves a paging alarm with a record, never a silent alarm without one)."""
    prefix = target.output("NamePrefix")
    spec = oncall.spec_for_alarm(alarm, prefix)
    name = resource_name(prefix, spec.key)
    cloudwatch, dynamodb = target.client("cloudwatch"), target.client("dynamodb")
    table = target.output("StateTableName")
    found = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"]
    if not found:
        raise OnCallError(f"alarm {name} is in the inventory but not deployed")
    state = effective_state(found[0])
    if state == oncall.OK:
        raise OnCallError(f"alarm {name} is OK: nothing to acknowledge")
    existing = oncall.open_ack(state_table.acks(dynamodb, table=table, alarm=name), name)
    if existing is not None:
        raise OnCallError(f"alarm {name} is already {existing.describe()}")
    ack = oncall.new_ack(name, by=by, note=note, at=target.now(), state=state)
    state_table.record_ack(dynamodb, table=table, ack=ack)
    metrics.set_alarm_actions(cloudwatch, alarm=name, enabled=False)
    # It may have gone back to OK in between: its OK event found no open ack to close.
    again = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"]
    if again and effective_state(again[0]) == oncall.OK:
        metrics.set_alarm_actions(cloudwatch, alarm=name, enabled=True)
        state_table.close_ack(
            dynamodb, table=table, ack=ack, at=ack.acked_at, reason=oncall.CLOSED_BY_OK
        )
    return ack


def cmd_ack(args: argparse.Namespace) -> int:
    ack = acknowledge(Target.from_args(args), args.alarm, by=args.by, note=args.note)
    print(
        f"acknowledged {ack.alarm} ({ack.state_at_ack}) by {ack.by} at {ack.acked_at}: "
        "its actions are muted until it returns to OK"
    )
    return 0


# --- rotation and handoff ------------------------------------------------------------


def load_rotation(path: Path) -> oncall.Rotation:
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigurationError(f"rotation config {path} not found") from None
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"rotation config {path}: {exc}") from exc
    return oncall.parse_rotation(document)


def _week(args: argparse.Namespace, target: Target | None) -> date:
    if args.week is not None:
        return oncall.week_start(args.week)
    now = target.now() if target is not None else datetime.now(UTC)
    return oncall.week_start(now.date())


def cmd_rotation(args: argparse.Namespace) -> int:
    rotation = load_rotation(args.config)
    target = _clock_target(args) if args.week is None else None
    lines = oncall.rotation_lines(rotation, _week(args, target))
    missing = oncall.missing_pipelines(rotation)
    if missing:
        lines.append(f"no rotation configured for: {', '.join(missing)} ({args.config})")
    print("\n".join(lines))
    return 0


def _clock_target(args: argparse.Namespace) -> Target | None:
    """The rotation needs only "now": the clock of an endpoint if one is found, else the
    wall clock (no AWS call, so no credentials needed)."""
    try:
        where = stack.command_target(args, allow_aws=False)
    except stack.NoTargetError:
        return None
    return Target(where.endpoint, region=args.region, stack=args.stack_name)


def build_handoff(target: Target, rotation: oncall.Rotation, week: date) -> oncall.Handoff:
    table = target.output("StateTableName")
    dynamodb = target.client("dynamodb")
    statuses = alarm_statuses(target)
    return oncall.Handoff(
        week=week,
        this_week=oncall.duties(rotation, week),
        next_week=oncall.duties(rotation, week + timedelta(days=7)),
        alarms=oncall.open_alarms(statuses),
        acks=oncall.week_acks(state_table.acks(dynamodb, table=table), week),
        restatements=week_restatements(target, week),
        backfills=week_backfills(target, week),
        replays=[
            run
            for run in state_table.replay_runs(dynamodb, table=table)
            if oncall.in_week(str(run["replayed_at"]), week)
        ],
    )


def cmd_handoff(args: argparse.Namespace) -> int:
    rotation = load_rotation(args.config)
    target = Target.from_args(args)
    note = build_handoff(target, rotation, _week(args, target))
    print("\n".join(oncall.handoff_lines(note)))
    return 0


def week_restatements(target: Target, week: date) -> list[dict[str, Any]]:
    """Rows of the curated restatements table made during the week."""
    s3, bucket = target.client("s3"), target.output("CuratedBucketName")
    months = sorted({(week + timedelta(days=d)).strftime("%Y-%m") for d in range(7)})
    rows: list[dict[str, Any]] = []
    for month in months:
        prefix = f"{schemas.RESTATEMENTS.prefix}/month={month}/"
        for key in _keys(s3, bucket, prefix):
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            for row in pq.read_table(io.BytesIO(body)).to_pylist():
                if row.get("restated_at") and oncall.in_week(row["restated_at"], week):
                    rows.append(row)
    return sorted(rows, key=lambda r: (r["restated_at"], str(r.get("table_name"))))


def week_backfills(target: Target, week: date) -> list[dict[str, Any]]:
    """Every backfill execution of the stack's workflows started in the week: manual ones
    (`pablo backfill`, named `backfill-...-<stamp>`) and automatic ones (started by the
    executive freshness gate, named `<run>-<upstream>-backfill-<version>`). Dated on the
    pipeline clock: the manual name's stamp, the automatic input's `time`; the execution's
    start date (wall clock in the emulator) only when neither is there."""
    sfn = target.client("stepfunctions")
    found = []
    for key, arn in sorted(target.outputs().items()):
        if not key.endswith("StateMachineArn"):
            continue
        paginator = sfn.get_paginator("list_executions")
        for page in paginator.paginate(stateMachineArn=arn):
            for execution in page.get("executions", []):
                name = execution["name"]
                kind = backfills.backfill_kind(name)
                if kind is None:
                    continue
                started = (
                    _stamp_of(name) if kind == backfills.MANUAL else _input_time(sfn, execution)
                )
                started = started or target.utc(execution["startDate"])
                if oncall.in_week(started, week):
                    found.append(
                        {
                            "name": name,
                            "state_machine": arn.rsplit(":", 1)[-1],
                            "status": execution["status"],
                            "start": format_seconds(started),
                            "kind": kind,
                        }
                    )
    return sorted(found, key=lambda b: (b["start"], b["name"]))


def _input_time(sfn: Any, execution: dict[str, Any]) -> datetime | None:
    described = sfn.describe_execution(executionArn=execution["executionArn"])
    try:
        moment = json.loads(described.get("input") or "{}").get("time")
        return parse_time(moment) if isinstance(moment, str) else None
    except (ValueError, AttributeError):
        return None


def _stamp_of(name: str) -> datetime | None:
    try:
        return datetime.strptime(name.rsplit("-", 1)[-1], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def _keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    paginator = s3.get_paginator("list_objects_v2")
    return [
        obj["Key"]
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix)
        for obj in page.get("Contents", [])
    ]


# --- replay-quarantine ---------------------------------------------------------------


def quarantined_rows(target: Target, pipeline: str) -> list[Quarantined]:
    """Every quarantine row of the pipeline: the quarantine bucket, and the finance bucket
    where restricted inputs keep theirs (skipped if this role may not read it)."""
    prefix = f"{schemas.QUARANTINE.prefix}/pipeline={pipeline}/"
    rows: list[Quarantined] = []
    s3 = target.client("s3")
    for output in ("QuarantineBucketName", "FinanceBucketName"):
        bucket = target.outputs().get(output)
        if bucket is None:
            continue
        try:
            keys = _keys(s3, bucket, prefix)
        except ClientError:
            continue  # no access to the finance bucket: its restricted rows stay there
        for key in keys:
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            rows.extend(_quarantined(pq.read_table(io.BytesIO(body)).to_pylist()))
    return rows


def _quarantined(rows: Iterable[dict[str, Any]]) -> list[Quarantined]:
    return [
        Quarantined(
            record_id=str(row["record_id"]),
            source=str(row["source"]),
            reason=str(row["reason"]),
            raw=bytes(row["raw"] or b""),
            source_key=row.get("source_key"),
            line_number=row.get("line_number"),
        )
        for row in rows
    ]


def _headers(target: Target, rows: Iterable[Quarantined]) -> dict[str, bytes | None]:
    """The header line of each original CSV landing file the rows came from."""
    s3, headers = target.client("s3"), {}
    for row in rows:
        key = row.source_key
        role = oncall_replay.landing_role(row)
        if key is None or role is None or not key.endswith(".csv") or key in headers:
            continue
        try:
            body = s3.get_object(Bucket=target.output(BUCKET_OUTPUTS[role]), Key=key)["Body"]
            headers[key] = body.read().split(b"\n", 1)[0].rstrip(b"\r") + b"\n"
        except ClientError:
            headers[key] = None
    return headers


def replay_quarantine(
    target: Target, *, pipeline: str, reason: str, by: str, dry_run: bool
) -> oncall_replay.ReplayPlan:
    rows = quarantined_rows(target, pipeline)
    matching = [r for r in rows if r.reason == reason]
    if not matching:
        reasons = ", ".join(sorted({r.reason for r in rows})) or "none"
        raise OnCallError(
            f"no quarantined {pipeline} record has reason {reason!r} (reasons found: {reasons})"
        )
    table, dynamodb = target.output("StateTableName"), target.client("dynamodb")
    replayed = state_table.replayed_digests(dynamodb, table=table, pipeline=pipeline, reason=reason)
    plan = oncall_replay.plan_replay(
        matching, reason=reason, replayed=replayed, headers=_headers(target, matching)
    )
    if dry_run or plan.records == 0:
        return plan
    now = target.now()
    targets = []
    if plan.clicks:
        stream = target.output(CLICK_STREAM_OUTPUT)
        _send_clicks(target.client("kinesis"), stream, plan.clicks)
        targets.append(f"kinesis:{stream}")
    s3 = target.client("s3")
    for replay in plan.files:
        bucket = target.output(BUCKET_OUTPUTS[replay.bucket_role])
        if not _exists(s3, bucket, replay.key):  # landed by a run that stopped before marking
            s3.put_object(Bucket=bucket, Key=replay.key, Body=replay.body)
        targets.append(f"s3://{bucket}/{replay.key}")
    # Marked after sending: a crash in between re-sends (the pipelines dedup by event id),
    # never loses a record.
    at = format_seconds(now)
    state_table.mark_replayed(
        dynamodb, table=table, pipeline=pipeline, reason=reason, digests=plan.digests(), at=at
    )
    item = oncall_replay.replay_run_item(
        pipeline=pipeline, reason=reason, at=now, by=by, plan=plan, targets=targets
    )
    state_table.put_record(dynamodb, table=table, item=item)
    return plan


def _send_clicks(kinesis: Any, stream: str, records: Iterable[Quarantined]) -> None:
    """The original bytes through the producer (only a response's failed records are
    re-sent, with backoff, within its deadline). Its spill is a scratch file: a click the
    stream never accepted stays in quarantine, unmarked, and the next replay sends it."""
    with tempfile.TemporaryDirectory(prefix="pablo-replay-") as scratch:
        producer = ClickProducer(
            client=kinesis,
            stream_name=stream,
            spill_path=Path(scratch) / "replay.spill",
            producer_id="oncall-replay",
        )
        result = producer.send(r.raw for r in records)
    if result.spilled or result.rejected:
        raise OnCallError(
            f"{result.spilled + result.rejected} clicks were not accepted by {stream} "
            f"({result.spill_reason or 'over the record size limit'}); nothing marked: "
            "replay again once the stream answers"
        )


def _exists(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return False
        raise
    return True


def cmd_replay(args: argparse.Namespace) -> int:
    plan = replay_quarantine(
        Target.from_args(args),
        pipeline=args.pipeline,
        reason=args.reason,
        by=args.by,
        dry_run=args.dry_run,
    )
    print("\n".join(oncall_replay.replay_lines(plan, dry_run=args.dry_run)))
    return 0


# --- the demo's summary --------------------------------------------------------------


def alarm_summary_lines(endpoint: str, *, stack_name: str = STACK_NAME) -> list[str]:
    """The alarms that fired (went to ALARM) on the emulator, with owners and runbooks, and
    what is still open. Reads each alarm's history, so it works after the run."""
    target = Target(endpoint, stack=stack_name)
    prefix = target.output("NamePrefix")
    cloudwatch = target.client("cloudwatch")
    statuses = {s.name: s for s in alarm_statuses(target)}
    lines = []
    for name in sorted(statuses):
        fired = _times_fired(target, cloudwatch, name)
        if not fired:
            continue
        status = statuses[name]
        spec = status.spec
        owner = f"{spec.owner.value} (secondary {spec.secondary_owner.value})" if spec else "?"
        lines.append(
            f"{name}: fired {len(fired)}x, first {fired[0]}; now {status.state}; owner {owner}"
        )
        if spec is not None:
            lines.append(f"  runbook {spec.runbook}; {spec.severity.value}, {spec.response}")
    if not lines:
        lines.append(f"no alarm of {prefix} fired ({len(statuses)} deployed)")
    open_now = oncall.open_alarms(statuses.values())
    firing = [s.name for s in open_now if s.state == oncall.ALARM]
    lines.append(
        f"still in ALARM: {', '.join(firing) or 'none'}; see `pablo oncall status`, "
        "acknowledge with `pablo oncall ack ALARM --by NAME`"
    )
    return lines


def _times_fired(target: Target, cloudwatch: Any, name: str) -> list[str]:
    """When the alarm went to ALARM, oldest first (from its state-update history)."""
    paginator = cloudwatch.get_paginator("describe_alarm_history")
    times = []
    for page in paginator.paginate(AlarmName=name, HistoryItemType="StateUpdate"):
        for item in page.get("AlarmHistoryItems", []):
            data = json.loads(item.get("HistoryData") or "{}")
            if data.get("newState", {}).get("stateValue") == oncall.ALARM:
                times.append(format_seconds(target.utc(item["Timestamp"])))
    return sorted(times)


__all__ = [
    "OnCallError",
    "Target",
    "acknowledge",
    "alarm_statuses",
    "alarm_summary_lines",
    "build_handoff",
    "replay_quarantine",
]
