"""On-call logic (pure): rotation, alarm status, acknowledgements, handover note, replay plans.

`pablo oncall` (pablo/oncall.py) reads AWS or the emulator and calls these; the unmute
function (functions/handlers/oncall_unmute.py) shares the acknowledgement records. Nothing
here does I/O, reads the environment or the clock: "now" and every record come in as
arguments.

State-table items (pk/sk strings):
- acknowledgement: pk `oncall#ack`, sk `<alarm name>#<acked_at>`; status open|closed.
- replay records: see functions/core/monitor/oncall_replay.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

from functions.core.backfills import AUTOMATIC, automatic_backfill_run, backfill_kind
from functions.core.errors import ConfigurationError, ValidationError
from functions.core.monitor.alarm_inventory import INVENTORY, AlarmSpec
from functions.core.monitor.alarm_inventory.spec import COVERAGE, Coverage
from functions.core.schemas import Pipeline
from functions.core.times import format_seconds, parse_time

ALARM: Final = "ALARM"
OK: Final = "OK"
INSUFFICIENT_DATA: Final = "INSUFFICIENT_DATA"
OPEN_STATES: Final = (ALARM, INSUFFICIENT_DATA)

ACK_PK: Final = "oncall#ack"
OPEN: Final = "open"
CLOSED: Final = "closed"
CLOSED_BY_OK: Final = "alarm returned to OK; actions enabled again"


# --- rotation ------------------------------------------------------------------------


@dataclass(frozen=True)
class PipelineRotation:
    pipeline: Pipeline
    team: str
    people: tuple[str, ...] = ()
    contact: str | None = None  # e.g. the SWE contact for the engagement owner's questions

    @property
    def coverage(self) -> Coverage:
        return COVERAGE[self.pipeline]


@dataclass(frozen=True)
class Rotation:
    anchor: date  # a Monday: week 0 of every list of people
    handover: str  # when the weekly 30-minute transfer happens
    pipelines: tuple[PipelineRotation, ...]


@dataclass(frozen=True)
class Duty:
    """Who watches one pipeline in one week."""

    pipeline: Pipeline
    week: date  # Monday
    coverage: Coverage
    team: str
    owner: str | None  # None: nobody on call this week (working hours, or not month end)
    contact: str | None

    def describe(self) -> str:
        if self.owner is None:
            return f"no on-call ({self.coverage.value}): {self.team}"
        contact = f"; contact {self.contact}" if self.contact else ""
        return f"{self.owner} ({self.team}, {self.coverage.value}){contact}"


def week_start(day: date) -> date:
    """The Monday of `day`'s week (weeks run Monday to Sunday, UTC)."""
    return day - timedelta(days=day.weekday())


def parse_rotation(document: Mapping[str, Any]) -> Rotation:
    """The rotation config (config/oncall_rotation.json); ConfigurationError names the
    first problem."""
    try:
        anchor = date.fromisoformat(str(document["anchor_week"]))
        entries = document["pipelines"]
    except (KeyError, ValueError) as exc:
        raise ConfigurationError(
            f"rotation: needs anchor_week (YYYY-MM-DD) and pipelines: {exc}"
        ) from exc
    if anchor.weekday() != 0:
        raise ConfigurationError(f"rotation: anchor_week {anchor} is not a Monday")
    if not isinstance(entries, Mapping):
        raise ConfigurationError("rotation: pipelines must be an object keyed by pipeline")
    pipelines = tuple(_pipeline_rotation(name, entry) for name, entry in sorted(entries.items()))
    return Rotation(anchor, str(document.get("handover", "")), pipelines)


def _pipeline_rotation(name: str, entry: Mapping[str, Any]) -> PipelineRotation:
    try:
        pipeline = Pipeline(name)
    except ValueError:
        known = ", ".join(p.value for p in Pipeline)
        raise ConfigurationError(f"rotation: unknown pipeline {name!r} (known: {known})") from None
    people = tuple(str(p) for p in entry.get("people", ()))
    team = str(entry.get("team") or "")
    if not team:
        raise ConfigurationError(f"rotation: {name} needs a team")
    if COVERAGE[pipeline] is not Coverage.WORKING_HOURS and not people:
        raise ConfigurationError(
            f"rotation: {name} is watched by a {COVERAGE[pipeline].value}: list its people"
        )
    contact = entry.get("contact")
    return PipelineRotation(pipeline, team, people, str(contact) if contact else None)


def missing_pipelines(rotation: Rotation, specs: Iterable[AlarmSpec] = INVENTORY) -> list[str]:
    """Pipelines that have alarms but no rotation entry."""
    covered = {p.pipeline for p in rotation.pipelines}
    return sorted({s.pipeline.value for s in specs} - {p.value for p in covered})


def duties(rotation: Rotation, week: date) -> list[Duty]:
    """Who watches each pipeline in the week of `week`."""
    monday = week_start(week)
    index = (monday - rotation.anchor).days // 7
    found = []
    for entry in rotation.pipelines:
        owner = None
        if entry.people and _watched(entry.coverage, monday):
            owner = entry.people[index % len(entry.people)]
        found.append(Duty(entry.pipeline, monday, entry.coverage, entry.team, owner, entry.contact))
    return found


def _watched(coverage: Coverage, monday: date) -> bool:
    if coverage is Coverage.WEEKLY_ROTATION:
        return True
    if coverage is Coverage.MONTH_END:
        return any(is_month_end(monday + timedelta(days=d)) for d in range(7))
    return False


def is_month_end(day: date) -> bool:
    """One of the last 7 days of its month (the run book's "last week of month")."""
    return (day + timedelta(days=7)).month != day.month


def rotation_lines(rotation: Rotation, week: date) -> list[str]:
    this_week, next_week = week_start(week), week_start(week) + timedelta(days=7)
    lines = []
    for label, monday in (("this week", this_week), ("next week", next_week)):
        lines.append(f"{label} ({monday.isoformat()} to {(monday + timedelta(days=6))}):")
        for duty in duties(rotation, monday):
            lines.append(f"  {duty.pipeline.value:<11} {duty.describe()}")
    if rotation.handover:
        lines.append(f"handover: {rotation.handover}")
    return lines


# --- alarms and acknowledgements -----------------------------------------------------


@dataclass(frozen=True)
class Ack:
    alarm: str
    by: str
    note: str
    acked_at: str
    state_at_ack: str
    status: str = OPEN
    closed_at: str | None = None
    closed_reason: str | None = None

    def key(self) -> dict[str, str]:
        return {"pk": ACK_PK, "sk": f"{self.alarm}#{self.acked_at}"}

    def item(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            **self.key(),
            "alarm": self.alarm,
            "by": self.by,
            "note": self.note,
            "acked_at": self.acked_at,
            "state_at_ack": self.state_at_ack,
            "status": self.status,
        }
        if self.closed_at is not None:
            item["closed_at"] = self.closed_at
            item["closed_reason"] = self.closed_reason or ""
        return item

    def describe(self) -> str:
        note = f": {self.note}" if self.note else ""
        text = f"acked by {self.by} at {self.acked_at}{note}"
        if self.status == CLOSED:
            text += f" (closed {self.closed_at})"
        return text


def ack_from_item(item: Mapping[str, Any]) -> Ack:
    return Ack(
        alarm=str(item["alarm"]),
        by=str(item["by"]),
        note=str(item.get("note") or ""),
        acked_at=str(item["acked_at"]),
        state_at_ack=str(item.get("state_at_ack") or ""),
        status=str(item.get("status") or OPEN),
        closed_at=item.get("closed_at"),
        closed_reason=item.get("closed_reason"),
    )


def new_ack(alarm: str, *, by: str, note: str, at: datetime, state: str) -> Ack:
    by = by.strip()
    if not by:
        raise ValidationError("--by needs a name: who acknowledges", reason="missing_name")
    return Ack(alarm, by, note.strip(), format_seconds(at), state)


def open_ack(acks: Iterable[Ack], alarm: str) -> Ack | None:
    """The alarm's newest open acknowledgement."""
    found = [a for a in acks if a.alarm == alarm and a.status == OPEN]
    return max(found, key=lambda a: a.acked_at) if found else None


@dataclass(frozen=True)
class AlarmStatus:
    """One deployed alarm as the on-call engineer sees it."""

    name: str
    state: str
    since: str
    actions_enabled: bool
    spec: AlarmSpec | None  # None: deployed but not in the inventory
    ack: Ack | None = None

    def as_dict(self) -> dict[str, Any]:
        spec = self.spec
        return {
            "alarm": self.name,
            "key": spec.key if spec else None,
            "pipeline": spec.pipeline.value if spec else None,
            "state": self.state,
            "since": self.since,
            "severity": spec.severity.value if spec else None,
            "response": spec.response if spec else None,
            "owner": spec.owner.value if spec else None,
            "secondary_owner": spec.secondary_owner.value if spec else None,
            "runbook": spec.runbook if spec else None,
            "actions_enabled": self.actions_enabled,
            "acknowledgement": self.ack.item() if self.ack else None,
        }


def spec_for_alarm(name: str, prefix: str, specs: Iterable[AlarmSpec] = INVENTORY) -> AlarmSpec:
    """The inventory entry of a deployed alarm name (`<prefix>-<key>`) or of a bare key."""
    key = name[len(prefix) + 1 :] if name.startswith(f"{prefix}-") else name
    for item in specs:
        if item.key == key:
            return item
    known = ", ".join(s.key for s in specs)
    raise ValidationError(f"unknown alarm {name!r}; known: {known}", reason="unknown_alarm")


def open_alarms(statuses: Iterable[AlarmStatus]) -> list[AlarmStatus]:
    """ALARM first, then INSUFFICIENT_DATA, oldest first within each."""
    found = [s for s in statuses if s.state in OPEN_STATES]
    return sorted(found, key=lambda s: (OPEN_STATES.index(s.state), s.since, s.name))


def status_lines(statuses: Sequence[AlarmStatus]) -> list[str]:
    """The `pablo oncall status` text: one block per open alarm."""
    if not statuses:
        return ["no alarm in ALARM or INSUFFICIENT_DATA"]
    lines = []
    for status in statuses:
        spec = status.spec
        muted = "" if status.actions_enabled else " [muted]"
        lines.append(f"{status.state:<17} {status.name} since {status.since}{muted}")
        if spec is None:
            lines.append("  not in the alarm inventory: no owner or runbook known")
        else:
            lines.append(
                f"  pipeline {spec.pipeline.value}; {spec.severity.value}, {spec.response}"
            )
            lines.append(f"  owner {spec.owner.value}; secondary {spec.secondary_owner.value}")
            lines.append(f"  runbook {spec.runbook}")
        lines.append(f"  {status.ack.describe() if status.ack else 'not acknowledged'}")
    return lines


# --- the weekly handover note --------------------------------------------------------


def _backfill_line(row: Mapping[str, Any]) -> str:
    name = str(row["name"])
    kind = row.get("kind") or backfill_kind(name)
    if kind == AUTOMATIC:
        how = f"automatic, by the freshness gate of {automatic_backfill_run(name)}"
    else:
        how = "manual"
    return f"{name} ({row['state_machine']}; {how}): {row['status']}, started {row['start']}"


@dataclass(frozen=True)
class Handoff:
    week: date  # Monday of the week handed over
    this_week: list[Duty]
    next_week: list[Duty]
    alarms: list[AlarmStatus]
    acks: list[Ack]
    restatements: list[dict[str, Any]]
    backfills: list[dict[str, Any]]  # name, state_machine, status, start, kind
    replays: list[dict[str, Any]] = field(default_factory=list)


def in_week(moment: str | datetime, week: date) -> bool:
    """True when `moment` (UTC) falls in the Monday-to-Sunday week starting `week`."""
    at = parse_time(moment) if isinstance(moment, str) else moment.astimezone(UTC)
    start = datetime(week.year, week.month, week.day, tzinfo=UTC)
    return start <= at < start + timedelta(days=7)


def week_acks(acks: Iterable[Ack], week: date) -> list[Ack]:
    """Acknowledgements made in the week, or made earlier and still open."""
    found = [a for a in acks if in_week(a.acked_at, week) or a.status == OPEN]
    return sorted(found, key=lambda a: a.acked_at)


def handoff_lines(note: Handoff) -> list[str]:
    end = note.week + timedelta(days=6)
    lines = [f"# On-call handover, week {note.week.isoformat()} to {end.isoformat()}", ""]
    lines.append("## Owners")
    for this, following in zip(note.this_week, note.next_week, strict=True):
        lines.append(f"- {this.pipeline.value}: {this.describe()} -> next: {following.describe()}")
    lines += ["", f"## Open alarms ({len(note.alarms)})"]
    lines += [f"- {line}" for line in _alarm_summaries(note.alarms)] or ["- none"]
    lines += ["", f"## Acknowledgements ({len(note.acks)})"]
    lines += [f"- {a.alarm}: {a.describe()}" for a in note.acks] or ["- none"]
    lines += ["", f"## Restatements ({len(note.restatements)})"]
    lines += [f"- {_restatement(r)}" for r in note.restatements] or ["- none"]
    lines += ["", f"## Backfills ({len(note.backfills)})"]
    lines += [f"- {_backfill_line(b)}" for b in note.backfills] or ["- none"]
    lines += ["", f"## Quarantine replays ({len(note.replays)})"]
    lines += [
        f"- {r['pipeline']} {r['reason']}: {r['records']} records by {r['by']} at "
        f"{r['replayed_at']}"
        for r in note.replays
    ] or ["- none"]
    return lines


def _alarm_summaries(statuses: Iterable[AlarmStatus]) -> list[str]:
    found = []
    for s in statuses:
        owner = s.spec.owner.value if s.spec else "owner unknown"
        ack = s.ack.describe() if s.ack else "not acknowledged"
        found.append(f"{s.name} {s.state} since {s.since} ({owner}); {ack}")
    return found


def _restatement(row: Mapping[str, Any]) -> str:
    return (
        f"{row.get('table_name')} {row.get('period')} {row.get('key')} {row.get('metric')}: "
        f"{row.get('old_value')} -> {row.get('new_value')} ({row.get('reason')}, "
        f"run {row.get('run_id')})"
    )


# --- the unmute function's event -----------------------------------------------------

STATE_CHANGE_SOURCE: Final = "aws.cloudwatch"
STATE_CHANGE_DETAIL_TYPE: Final = "CloudWatch Alarm State Change"


@dataclass(frozen=True)
class StateChange:
    alarm: str
    state: str
    previous: str | None
    at: datetime  # the event's time


def parse_state_change(event: Mapping[str, Any]) -> StateChange:
    """An EventBridge "CloudWatch Alarm State Change" event; ValidationError otherwise."""
    if (
        event.get("source") != STATE_CHANGE_SOURCE
        or event.get("detail-type") != STATE_CHANGE_DETAIL_TYPE
    ):
        raise ValidationError(
            f"not an alarm state change: source={event.get('source')!r} "
            f"detail-type={event.get('detail-type')!r}",
            reason="bad_event",
        )
    detail = event.get("detail")
    state = detail.get("state") if isinstance(detail, Mapping) else None
    if not isinstance(detail, Mapping) or not isinstance(state, Mapping):
        raise ValidationError("alarm state change without detail.state", reason="bad_event")
    alarm, value, time_text = detail.get("alarmName"), state.get("value"), event.get("time")
    if not isinstance(alarm, str) or not isinstance(value, str) or not isinstance(time_text, str):
        raise ValidationError(
            "alarm state change without alarmName, state value or time", reason="bad_event"
        )
    try:
        at = parse_time(time_text)
    except ValueError as exc:
        raise ValidationError(f"event time {time_text!r}: {exc}", reason="bad_event") from exc
    previous = detail.get("previousState")
    before = previous.get("value") if isinstance(previous, Mapping) else None
    return StateChange(alarm, value, str(before) if before else None, at)
