"""EventBridge schedules that really fire, in the emulator, on the emulator clock.

moto stores EventBridge rules with a ScheduleExpression and EventBridge Scheduler schedules
but never fires them. The emulator asks this extension for the next firing (`next_due`) and
stops its clock there; on every clock step this extension reads the rules of the default
bus with their targets, and the names of the enabled Scheduler schedules, from moto's
backends in this process (as ListRules / ListTargetsByRule return them: over the API the
listing cost ~11 ms of the GIL-bound emulator at every clock step), gets each enabled
schedule through the API (`get_schedule`), computes every firing in (old, new]
(`pablo.local.schedule_expressions`), and delivers the firings in time order to their
targets through the API:

- Step Functions: start_execution with a name unique to (rule, target, time);
- Lambda: an asynchronous invoke;
- SNS: publish; SQS: send_message.

A rule's target gets its Input, its InputPath of the scheduled event, its InputTransformer
applied to the scheduled event, or else the scheduled event itself, whose `time` is the
simulated firing time. A Scheduler target gets its Input (context attributes such as
<aws.scheduler.scheduled-time> filled in) or `{}`. Not emulated: target retry policies,
dead-letter queues, FlexibleTimeWindow (every schedule fires on time), rules on event
buses other than the default one, and target types other than the four above (logged).
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from moto.events.models import events_backends
from moto.scheduler.models import scheduler_backends

from pablo.local import iam
from pablo.local.context import EmulatorContext, emulator_account
from pablo.local.schedule_expressions import ScheduleExpressionError, parse_schedule

log = logging.getLogger(__name__)

EXECUTION_NAME_LIMIT: Final = 80
_NOT_NAME_CHARS: Final = re.compile(r"[^A-Za-z0-9_-]")
_TEMPLATE_VARIABLE: Final = re.compile(r"<([A-Za-z0-9_.\-]+)>")
_PATH_STEP: Final = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


@dataclass(frozen=True)
class Target:
    """Where a firing goes, and what it sends (already resolved to a string payload)."""

    target_id: str
    arn: str
    spec: dict[str, Any]


@dataclass(frozen=True)
class Firing:
    at: datetime
    source: str  # "events" (an EventBridge rule) or "scheduler"
    name: str
    arn: str
    targets: tuple[Target, ...]
    delete_after: bool = False
    group: str = "default"
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Listing:
    """Every EventBridge rule (the enabled ones fire) and every enabled Scheduler schedule."""

    rules: list[dict[str, Any]]
    schedules: list[dict[str, Any]]


class ScheduleRunner:
    """The emulator extension; loaded as `pablo.local.schedules:ScheduleRunner`."""

    name = "schedules"

    def __init__(self) -> None:
        self._ctx: EmulatorContext | None = None
        self._fired_until: datetime | None = None
        self._reported: set[str] = set()
        # What next_due listed, kept for the on_clock_advance of the same step (the emulator
        # calls them back to back): one listing per step instead of two.
        self._listed: Listing | None = None

    def start(self, ctx: EmulatorContext) -> None:
        self._ctx = ctx
        self._fired_until = ctx.clock.now()

    def stop(self) -> None:
        self._ctx = None

    def on_clock_advance(self, old: datetime, new: datetime) -> list[dict[str, Any]]:
        """Fire every enabled schedule due in (old, new], in time order."""
        # The listing next_due kept is for this step only, whatever happens below.
        listing, self._listed = self._listed, None
        if self._ctx is None:
            return []
        if self._fired_until is not None:
            old = max(old, self._fired_until)
        if new <= old:
            return []
        listing = listing or self._listing()
        firings = [
            *self._rule_firings(listing, old, new),
            *self._scheduler_firings(listing, old, new),
        ]
        firings.sort(key=lambda f: (f.at, f.source, f.name))
        events: list[dict[str, Any]] = []
        for firing in firings:
            events.extend(self._deliver(firing))
        self._fired_until = new
        return events

    # -- what is due ----------------------------------------------------------------------

    def _client(self, service: str) -> Any:
        assert self._ctx is not None
        return self._ctx.client(service)

    def next_due(self, after: datetime, until: datetime) -> datetime | None:
        """The first instant in (after, until] at which a schedule fires, if any. The emulator
        stops its clock there, so each target runs with the clock at its firing time and the
        hours in which nothing is due pass in one step."""
        if self._ctx is None:
            return None
        if self._fired_until is not None:
            after = max(after, self._fired_until)
        if until <= after:
            return None
        self._listed = listing = self._listing()
        firsts = [times[0] for _, times in self._due_rules(listing, after, until)]
        firsts += [firing.at for firing in self._scheduler_firings(listing, after, until)]
        return min(firsts, default=None)

    def _listing(self) -> Listing:
        if self._listed is not None:
            return self._listed
        schedules = []
        for group, name in self._enabled_schedules():
            schedule = self._client("scheduler").get_schedule(Name=name, GroupName=group)
            schedules.append({**schedule, "GroupName": group})
        return Listing(rules=self._rules(), schedules=schedules)

    def _rules(self) -> list[dict[str, Any]]:
        """Every rule of the default event bus as ListRules returns it, with its `Targets`
        as ListTargetsByRule returns them."""
        assert self._ctx is not None
        bus = events_backends[emulator_account()][self._ctx.region].event_buses.get("default")
        rules = list(bus.rules.values()) if bus is not None else []  # one atomic copy
        return [{**rule.describe(), "Targets": [dict(t) for t in rule.targets]} for rule in rules]

    def _enabled_schedules(self) -> list[tuple[str, str]]:
        """(group, name) of every enabled Scheduler schedule."""
        assert self._ctx is not None
        backend = scheduler_backends[emulator_account()][self._ctx.region]
        return [
            (group.name, schedule.name)
            for group in list(backend.schedule_groups.values())
            for schedule in list(group.schedules.values())
            if (schedule.state or "ENABLED") == "ENABLED"
        ]

    def _due_rules(
        self, listing: Listing, old: datetime, new: datetime
    ) -> Iterator[tuple[dict[str, Any], list[datetime]]]:
        for rule in listing.rules:
            expression = rule.get("ScheduleExpression")
            if not expression or rule.get("State", "ENABLED") != "ENABLED":
                continue
            times = self._firing_times(rule["Arn"], expression, timezone="UTC", between=(old, new))
            if times:
                yield rule, times

    def _rule_firings(self, listing: Listing, old: datetime, new: datetime) -> Iterator[Firing]:
        for rule, times in self._due_rules(listing, old, new):
            targets = tuple(Target(t["Id"], t["Arn"], t) for t in rule["Targets"])
            for at in times:
                yield Firing(at, "events", rule["Name"], rule["Arn"], targets)

    def _scheduler_firings(
        self, listing: Listing, old: datetime, new: datetime
    ) -> Iterator[Firing]:
        for schedule in listing.schedules:
            group = schedule["GroupName"]
            start = _as_utc(schedule.get("StartDate"))
            end = _as_utc(schedule.get("EndDate"))
            times = self._firing_times(
                schedule["Arn"],
                schedule["ScheduleExpression"],
                timezone=schedule.get("ScheduleExpressionTimezone") or "UTC",
                between=(old, new),
                rate_anchor=start,
            )
            times = [
                t for t in times if (start is None or t >= start) and (end is None or t <= end)
            ]
            target = schedule["Target"]
            delete = schedule.get("ActionAfterCompletion") == "DELETE"
            for at in times:
                yield Firing(
                    at,
                    "scheduler",
                    schedule["Name"],
                    schedule["Arn"],
                    (Target(schedule["Name"], target["Arn"], target),),
                    delete_after=delete,
                    group=group,
                )

    def _firing_times(
        self,
        arn: str,
        expression: str,
        *,
        timezone: str,
        between: tuple[datetime, datetime],
        rate_anchor: datetime | None = None,
    ) -> list[datetime]:
        try:
            anchor = {"rate_anchor": rate_anchor} if rate_anchor else {}
            schedule = parse_schedule(expression, timezone=timezone, **anchor)
        except ScheduleExpressionError as exc:
            self._report_once(arn, f"{arn}: schedule not fired: {exc}")
            return []
        return schedule.firings(*between)

    def _report_once(self, key: str, message: str) -> None:
        if key not in self._reported:
            self._reported.add(key)
            log.warning("%s", message)

    # -- delivery -------------------------------------------------------------------------

    def _deliver(self, firing: Firing) -> list[dict[str, Any]]:
        assert self._ctx is not None
        event = scheduled_event(firing, region=self._ctx.region)
        results = []
        for target in firing.targets:
            outcome: dict[str, Any] = {
                "type": "schedule",
                "source": firing.source,
                "rule": firing.name,
                "time": firing.at.isoformat(),
                "target": target.arn,
                "target_id": target.target_id,
            }
            try:
                payload = (
                    rule_target_input(target.spec, event, firing)
                    if firing.source == "events"
                    else scheduler_target_input(target.spec, firing, event["id"])
                )
                outcome["result"] = self._send(firing, target, payload)
            except Exception as exc:  # one bad target must not stop the others or the clock
                log.exception("schedule %s -> %s failed", firing.name, target.arn)
                outcome["error"] = f"{type(exc).__name__}: {exc}"
            results.append(outcome)
        if firing.delete_after:
            self._client("scheduler").delete_schedule(Name=firing.name, GroupName=firing.group)
        return results

    def _send(self, firing: Firing, target: Target, payload: str) -> str:
        service = target.arn.split(":")[2]
        if service == "states":
            name = execution_name(firing.name, target.target_id, firing.at)
            started = self._target_client(firing, target, "stepfunctions").start_execution(
                stateMachineArn=target.arn, name=name, input=payload
            )
            return str(started["executionArn"])
        if service == "lambda":
            lambda_client = self._target_client(firing, target, "lambda")
            if firing.source == "events":  # a rule invokes under the function's own policy
                iam.check_invoke(
                    lambda_client, target.arn, principal=iam.EVENTS_PRINCIPAL, source_arn=firing.arn
                )
            lambda_client.invoke(
                FunctionName=target.arn, InvocationType="Event", Payload=payload.encode()
            )
            return "invoked"
        if service == "sns":
            published = self._target_client(firing, target, "sns").publish(
                TopicArn=target.arn, Message=payload
            )
            return str(published["MessageId"])
        if service == "sqs":
            return self._send_to_queue(firing, target, payload)
        raise NotImplementedError(f"the emulator does not deliver schedules to {service} targets")

    def _target_client(self, firing: Firing, target: Target, service: str) -> Any:
        """Who delivers, under IAM enforcement: a Scheduler schedule always as its target's
        role; an EventBridge rule as the target's role, except to Lambda, which it invokes
        under the function's resource-based policy (and to SNS and SQS, under the topic's
        and queue's policies, which the emulator does not check). Without enforcement, the
        emulator's own client."""
        role = target.spec.get("RoleArn")
        needs_role = firing.source == "scheduler" or service == "stepfunctions"
        if not iam.enforcing() or not needs_role:
            return self._client(service)
        if not role:
            raise iam.AccessDeniedError(
                f"target {target.arn} of {firing.name} has no role to act as"
            )
        assert self._ctx is not None
        principal = (
            iam.SCHEDULER_PRINCIPAL if firing.source == "scheduler" else iam.EVENTS_PRINCIPAL
        )
        return iam.role_client(
            service,
            self._ctx.region,
            role,
            principal=principal,
            endpoint=self._ctx.client_endpoint,
        )

    def _send_to_queue(self, firing: Firing, target: Target, payload: str) -> str:
        _, _, _, _, account, queue_name = target.arn.split(":", 5)
        sqs = self._target_client(firing, target, "sqs")
        queue_url = sqs.get_queue_url(QueueName=queue_name, QueueOwnerAWSAccountId=account)[
            "QueueUrl"
        ]
        kwargs: dict[str, Any] = {"QueueUrl": queue_url, "MessageBody": payload}
        group = (target.spec.get("SqsParameters") or {}).get("MessageGroupId")
        if group:
            kwargs["MessageGroupId"] = group
        return str(sqs.send_message(**kwargs)["MessageId"])


def _as_utc(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return None


def scheduled_event(firing: Firing, *, region: str) -> dict[str, Any]:
    """AWS's "Scheduled Event"; its id is stable for a (rule, time) so reruns match."""
    account = firing.arn.split(":")[4] or emulator_account()
    return {
        "version": "0",
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{firing.arn}@{firing.at.isoformat()}")),
        "detail-type": "Scheduled Event",
        "source": "aws.events" if firing.source == "events" else "aws.scheduler",
        "account": account,
        "time": aws_event_time(firing.at),
        "region": region,
        "resources": [firing.arn],
        "detail": {},
    }


def aws_event_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def execution_name(rule: str, target_id: str, at: datetime) -> str:
    """A Step Functions execution name unique to (rule, target, firing time), <= 80 chars."""
    stamp = at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    rule_part = _NOT_NAME_CHARS.sub("-", rule)[:40]
    target_part = _NOT_NAME_CHARS.sub("-", target_id)[:20]
    return f"{rule_part}-{target_part}-{stamp}"[:EXECUTION_NAME_LIMIT]


def rule_target_input(spec: dict[str, Any], event: dict[str, Any], firing: Firing) -> str:
    """What an EventBridge rule target receives: Input, InputPath, InputTransformer or the event."""
    if spec.get("Input") is not None:
        return str(spec["Input"])
    if spec.get("InputPath"):
        return json.dumps(json_path(event, spec["InputPath"]))
    transformer = spec.get("InputTransformer")
    if transformer:
        values = {
            key: json_path(event, path)
            for key, path in transformer.get("InputPathsMap", {}).items()
        }
        values.update(
            {
                "aws.events.rule-arn": firing.arn,
                "aws.events.rule-name": firing.name,
                "aws.events.event.ingestion-time": event["time"],
                "aws.events.event.json": event,
            }
        )
        return fill_template(transformer["InputTemplate"], values)
    return json.dumps(event)


def scheduler_target_input(spec: dict[str, Any], firing: Firing, execution_id: str) -> str:
    """What an EventBridge Scheduler target receives: its Input with context attributes."""
    template = spec.get("Input")
    if template is None:
        return "{}"
    values: dict[str, Any] = {
        "aws.scheduler.schedule-arn": firing.arn,
        "aws.scheduler.scheduled-time": aws_event_time(firing.at),
        "aws.scheduler.execution-id": execution_id,
        "aws.scheduler.attempt-number": "1",
    }
    return fill_template(str(template), values, only_known=True)


def json_path(document: Any, path: str) -> Any:
    """The value at a simple JSONPath (`$`, `$.a.b`, `$.a[0]`); None if absent."""
    if not path.startswith("$"):
        raise ValueError(f"unsupported JSONPath {path!r}")
    value = document
    for name, index in _PATH_STEP.findall(path[1:]):
        if name:
            value = value.get(name) if isinstance(value, dict) else None
        else:
            value = (
                value[int(index)] if isinstance(value, list) and int(index) < len(value) else None
            )
        if value is None:
            return None
    return value


def fill_template(template: str, values: dict[str, Any], *, only_known: bool = False) -> str:
    """Replace <name> as EventBridge does: raw inside a JSON string, as JSON outside one.

    A template that is not JSON (plain text) gets every value as text.
    """
    if not template.lstrip().startswith(("{", "[", '"')):
        return _fill_plain(template, values, only_known)
    pieces: list[str] = []
    position = 0
    for match in _TEMPLATE_VARIABLE.finditer(template):
        key = match.group(1)
        if key not in values:
            if only_known:
                continue
            raise ValueError(f"InputTemplate uses <{key}>, which is not in InputPathsMap")
        pieces.append(template[position : match.start()])
        value = values[key]
        inside_string = _inside_json_string("".join(pieces))
        if isinstance(value, str):
            pieces.append(json.dumps(value)[1:-1] if inside_string else json.dumps(value))
        else:
            pieces.append(json.dumps(value))
        position = match.end()
    pieces.append(template[position:])
    return "".join(pieces)


def _inside_json_string(prefix: str) -> bool:
    """Whether the text so far leaves a JSON string literal open."""
    inside = False
    escaped = False
    for char in prefix:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            inside = not inside
    return inside


def _fill_plain(template: str, values: dict[str, Any], only_known: bool) -> str:
    def replace(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            if only_known:
                return match.group(0)
            raise ValueError(f"InputTemplate uses <{key}>, which is not in InputPathsMap")
        value = values[key]
        return value if isinstance(value, str) else json.dumps(value)

    return _TEMPLATE_VARIABLE.sub(replace, template)
