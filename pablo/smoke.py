"""`pablo smoke-check`: is the deployed stack whole and alive? Read-only; run after a deploy.

    pablo smoke-check --region eu-west-1               # the stack in AWS (default credentials)
    pablo smoke-check --endpoint http://localhost:4566 # the emulator or LocalStack

It reads the stack's own template back from CloudFormation and checks, through each
service's API: the stack's status, every output of the template, every Kinesis stream
ACTIVE, every bucket reachable, every state machine and Lambda function active, every event
source mapping enabled, every Glue database and CloudWatch alarm present, and the on-call
topic's confirmed subscribers (none is a warning: alarms would reach nobody). It changes
nothing. Exit code 1 when a check fails (warnings do not fail it).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from pablo import stack
from pablo.query.output import JSON

STABLE_STACK_STATUSES: Final = frozenset({"CREATE_COMPLETE", "UPDATE_COMPLETE"})
ALARM_BATCH: Final = 100  # DescribeAlarms takes at most 100 names

ClientFor = Callable[[str], Any]


class Outcome(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "FAIL"


@dataclass(frozen=True)
class Check:
    outcome: Outcome
    what: str
    detail: str


@dataclass(frozen=True)
class Resource:
    logical_id: str
    resource_type: str
    physical_id: str
    properties: Mapping[str, Any]


def cmd_smoke_check(args: argparse.Namespace) -> int:
    target = stack.command_target(args)
    clients: dict[str, Any] = {}

    def client_for(service: str) -> Any:
        if service not in clients:
            clients[service] = target.client(service)
        return clients[service]

    checks = smoke_check(client_for, args.stack_name)
    if args.output_format == JSON:
        print(json.dumps([asdict(check) for check in checks], indent=1))
    else:
        print(render(checks))
    return 1 if any(check.outcome is Outcome.FAIL for check in checks) else 0


def render(checks: list[Check]) -> str:
    lines = [f"{check.outcome.value:<4}  {check.what}: {check.detail}" for check in checks]
    counts = {outcome: sum(c.outcome is outcome for c in checks) for outcome in Outcome}
    lines.append(
        f"{len(checks)} checks: {counts[Outcome.OK]} ok, {counts[Outcome.WARN]} warnings, "
        f"{counts[Outcome.FAIL]} failed"
    )
    return "\n".join(lines)


def smoke_check(client_for: ClientFor, stack_name: str) -> list[Check]:
    """Every check of the deployed stack `stack_name`, in order."""
    cloudformation = client_for("cloudformation")
    try:
        described = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    except (ClientError, BotoCoreError) as exc:
        return [Check(Outcome.FAIL, f"stack {stack_name}", f"not found: {exc}")]
    template = _template(cloudformation, stack_name)
    resources = list(_resources(cloudformation, stack_name, template))
    checks = [_stack_status(described), *_outputs(described, template)]
    for resource in resources:
        checker = RESOURCE_CHECKS.get(resource.resource_type)
        if checker is not None:
            checks.append(_guarded(checker, client_for, resource))
    checks.extend(_alarms(client_for, resources))
    return checks


# -- the stack ---------------------------------------------------------------------------------


def _template(cloudformation: Any, stack_name: str) -> dict[str, Any]:
    body = cloudformation.get_template(StackName=stack_name)["TemplateBody"]
    return json.loads(body) if isinstance(body, str) else dict(body)


def _resources(
    cloudformation: Any, stack_name: str, template: Mapping[str, Any]
) -> Iterator[Resource]:
    """The template's resources with their physical ids (ListStackResources pages past the
    100 resources DescribeStackResources stops at)."""
    physical: dict[str, str] = {}
    for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack_name):
        for summary in page["StackResourceSummaries"]:
            if "LogicalResourceId" in summary:
                physical[summary["LogicalResourceId"]] = summary.get("PhysicalResourceId") or ""
    for logical_id, resource in template.get("Resources", {}).items():
        yield Resource(
            logical_id=logical_id,
            resource_type=str(resource["Type"]),
            physical_id=physical.get(logical_id, ""),
            properties=resource.get("Properties") or {},
        )


def _stack_status(described: Mapping[str, Any]) -> Check:
    status = str(described["StackStatus"])
    outcome = Outcome.OK if status in STABLE_STACK_STATUSES else Outcome.FAIL
    return Check(outcome, f"stack {described['StackName']}", status)


def _outputs(described: Mapping[str, Any], template: Mapping[str, Any]) -> list[Check]:
    present = {o["OutputKey"]: o.get("OutputValue", "") for o in described.get("Outputs", [])}
    expected = sorted(template.get("Outputs", {}))
    missing = [key for key in expected if not present.get(key)]
    if missing:
        return [Check(Outcome.FAIL, "stack outputs", f"missing {', '.join(missing)}")]
    return [Check(Outcome.OK, "stack outputs", f"all {len(expected)} present")]


# -- per resource --------------------------------------------------------------------------------


def _guarded(
    checker: Callable[[ClientFor, Resource], Check], client_for: ClientFor, resource: Resource
) -> Check:
    try:
        return checker(client_for, resource)
    except (ClientError, BotoCoreError) as exc:
        what = f"{resource.resource_type} {resource.physical_id or resource.logical_id}"
        return Check(Outcome.FAIL, what, f"{type(exc).__name__}: {exc}")


def _stream(client_for: ClientFor, resource: Resource) -> Check:
    summary = client_for("kinesis").describe_stream_summary(StreamName=resource.physical_id)
    status = summary["StreamDescriptionSummary"]["StreamStatus"]
    outcome = Outcome.OK if status == "ACTIVE" else Outcome.FAIL
    return Check(outcome, f"Kinesis stream {resource.physical_id}", status)


def _bucket(client_for: ClientFor, resource: Resource) -> Check:
    client_for("s3").head_bucket(Bucket=resource.physical_id)
    return Check(Outcome.OK, f"S3 bucket {resource.physical_id}", "reachable")


def _state_machine(client_for: ClientFor, resource: Resource) -> Check:
    machine = client_for("stepfunctions").describe_state_machine(
        stateMachineArn=resource.physical_id
    )
    status = str(machine.get("status", "ACTIVE"))
    outcome = Outcome.OK if status == "ACTIVE" else Outcome.FAIL
    return Check(outcome, f"state machine {machine['name']}", status)


def _function(client_for: ClientFor, resource: Resource) -> Check:
    config = client_for("lambda").get_function_configuration(FunctionName=resource.physical_id)
    state = str(config.get("State", "Active"))
    update = str(config.get("LastUpdateStatus", "Successful"))
    outcome = Outcome.OK if (state, update) == ("Active", "Successful") else Outcome.FAIL
    return Check(outcome, f"Lambda function {resource.physical_id}", f"{state}, update {update}")


def _event_source_mapping(client_for: ClientFor, resource: Resource) -> Check:
    mapping = client_for("lambda").get_event_source_mapping(UUID=resource.physical_id)
    state = str(mapping["State"])
    function = str(mapping["FunctionArn"]).rsplit(":", 1)[-1]
    outcome = Outcome.OK if state == "Enabled" else Outcome.FAIL
    return Check(outcome, f"event source mapping to {function}", state)


def _glue_database(client_for: ClientFor, resource: Resource) -> Check:
    name = resource.properties.get("DatabaseInput", {}).get("Name")
    name = name if isinstance(name, str) else resource.physical_id
    client_for("glue").get_database(Name=name)
    return Check(Outcome.OK, f"Glue database {name}", "present")


def _topic(client_for: ClientFor, resource: Resource) -> Check:
    """Subscribers by their ARNs: a pending one (an unconfirmed e-mail) has none yet."""
    pages = client_for("sns").get_paginator("list_subscriptions_by_topic")
    arns = [
        subscription["SubscriptionArn"]
        for page in pages.paginate(TopicArn=resource.physical_id)
        for subscription in page["Subscriptions"]
    ]
    confirmed = sum(arn.startswith("arn:") for arn in arns)
    name = resource.physical_id.rsplit(":", 1)[-1]
    detail = f"{confirmed} confirmed subscriber(s), {len(arns) - confirmed} pending"
    if confirmed == 0:
        return Check(Outcome.WARN, f"SNS topic {name}", f"{detail}: its messages reach nobody")
    return Check(Outcome.OK, f"SNS topic {name}", detail)


RESOURCE_CHECKS: dict[str, Callable[[ClientFor, Resource], Check]] = {
    "AWS::Kinesis::Stream": _stream,
    "AWS::S3::Bucket": _bucket,
    "AWS::StepFunctions::StateMachine": _state_machine,
    "AWS::Lambda::Function": _function,
    "AWS::Lambda::EventSourceMapping": _event_source_mapping,
    "AWS::Glue::Database": _glue_database,
    "AWS::SNS::Topic": _topic,
}


def _alarms(client_for: ClientFor, resources: list[Resource]) -> list[Check]:
    """Every alarm of the template exists (by name); how many are in ALARM is reported:
    after a fresh deploy the freshness alarms fire until data flows, as designed."""
    names = [
        str(r.properties["AlarmName"])
        for r in resources
        if r.resource_type == "AWS::CloudWatch::Alarm"
        and isinstance(r.properties.get("AlarmName"), str)
    ]
    if not names:
        return []
    cloudwatch = client_for("cloudwatch")
    found: dict[str, str] = {}
    for start in range(0, len(names), ALARM_BATCH):
        batch = names[start : start + ALARM_BATCH]
        for alarm in cloudwatch.describe_alarms(AlarmNames=batch)["MetricAlarms"]:
            found[alarm["AlarmName"]] = alarm["StateValue"]
    missing = [name for name in names if name not in found]
    if missing:
        return [Check(Outcome.FAIL, "CloudWatch alarms", f"missing {', '.join(missing)}")]
    firing = sorted(name for name, state in found.items() if state == "ALARM")
    detail = f"all {len(names)} present; {len(firing)} in ALARM"
    return [
        Check(
            Outcome.OK, "CloudWatch alarms", detail + (f" ({', '.join(firing)})" if firing else "")
        )
    ]
