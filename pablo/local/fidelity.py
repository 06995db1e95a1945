"""The fidelity report of a local deploy: how far the emulator honours each resource.

Every resource of the deployed template gets exactly one status:

- `live`: moto's CloudFormation created it, and its service API confirmed it exists;
- `created`: moto skipped it, and `pablo local deploy` created it through the service API;
- `not honoured`: it does not exist locally, with the reason.

A live or created resource can still carry settings the emulator does not honour (Kinesis
stream encryption, KMS key policies, policy conditions such as SSL-only, X-Ray tracing,
reserved concurrency, log retention...): those are listed with it, so nothing is skipped
silently. Pure: this module classifies what the deploy step observed; it calls no API.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any


class Status(StrEnum):
    LIVE = "live"
    CREATED = "created"
    NOT_HONOURED = "not honoured"


@dataclass(frozen=True)
class ResourceFidelity:
    logical_id: str
    resource_type: str
    status: Status
    physical_id: str | None = None
    actions: tuple[str, ...] = ()
    not_honoured: tuple[str, ...] = ()


@dataclass
class Observation:
    """What the deploy step saw and did, keyed by logical id."""

    live: dict[str, str] = field(default_factory=dict)  # -> physical id
    created: dict[str, str] = field(default_factory=dict)  # -> physical id
    actions: dict[str, list[str]] = field(default_factory=dict)  # -> what was done
    failed: dict[str, str] = field(default_factory=dict)  # -> why it could not be created


# Types with no local counterpart at all, and why that is harmless or what is lost.
NO_LOCAL_COUNTERPART: dict[str, str] = {
    "AWS::CDK::Metadata": "CDK usage metadata: nothing to create",
}
CUSTOM_RESOURCE = (
    "custom resource: moto hands it to its provider Lambda and reports it created "
    "without waiting; its effect is not verified"
)
NO_CREATOR = "moto's CloudFormation skipped it and pablo has no creator for this type"
NOT_VERIFIED = "moto lists it, but its service API does not confirm it exists"

POLICY_CONDITIONS = (
    "policy Conditions are ignored by moto (e.g. aws:SecureTransport: SSL-only is not enforced)"
)
# What the pipelines' Athena paths rely on (the executive monthly join, engagement days):
# they write a new prefix and move the Glue partition to it.
ATHENA_PARTITIONS = (
    "Glue partitions are not read: a query reads every file under its table's location "
    "(hive directories), so a partition moved to a new prefix inside that location is "
    "seen, a version left beside it would be read too, and a partition outside it is not"
)
ATHENA_INTEGRATION = (
    "Step Functions' optimised Athena integration (arn:aws:states:::athena:...) is passed "
    "through as a plain request-response call; the .sync pattern is not run, and the "
    "timestamps of its answers stay Python datetimes: kept in the state, they fail "
    "DescribeExecution (AWS gives JSON), so select only the fields needed"
)

# Notes that hold for every resource of a type, whatever its properties.
TYPE_NOTES: dict[str, tuple[str, ...]] = {
    "AWS::CloudWatch::Alarm": (
        "moto never evaluates alarms nor fires their actions (the emulator must)",
    ),
    "AWS::Scheduler::Schedule": ("moto stores schedules but never fires them",),
    "AWS::Athena::WorkGroup": (
        "queries run on DuckDB (pablo/local/athena.py): SELECT, CTAS and INSERT INTO only; "
        "bytes scanned counts whole files; the .csv.metadata result file is JSON, not Athena's "
        "binary format; result encryption and engine versions are not applied",
        ATHENA_PARTITIONS,
        "Glue databases are matched to the registry's by their name's suffix (`*_curated`): "
        "two databases with the same suffix in one emulator answer for each other",
        "CREATE TABLE AS names its files `<query id>` with no extension, as Athena does, but "
        "writes one file per partition where Athena writes several",
        "query timeouts (30 minutes for DML by default), queueing and concurrency limits are "
        "not applied: a query runs at once, for as long as it takes",
        "a query reads and writes S3 and Glue as the emulator, not as its caller: under IAM "
        "enforcement the start is judged on the workgroup, what the query touches is not",
    ),
    "AWS::Lambda::Function": (
        "moto runs no function code without Docker (the emulator's Lambda runtime must)",
    ),
    "AWS::Lambda::Permission": ("function resource policies are not enforced",),
    "AWS::StepFunctions::StateMachine": (
        "executes only when moto's execute_state_machine config is on",
    ),
    "AWS::KMS::Key": ("no data is encrypted with the key; key policy is not enforced",),
}

# Property present -> what moto does not honour about it, per type.
PROPERTY_NOTES: dict[str, dict[str, str]] = {
    "AWS::Kinesis::Stream": {
        "StreamEncryption": "StreamEncryption: reported by the API, records are not encrypted",
    },
    "AWS::Lambda::Function": {
        "Layers": "Layers: attached, but moto puts no layer on the path (the runtime must)",
        "TracingConfig": "TracingConfig: X-Ray tracing is not emulated",
        "ReservedConcurrentExecutions": (
            "ReservedConcurrentExecutions: stored, concurrency is not limited"
        ),
        "DeadLetterConfig": "DeadLetterConfig: async failures are not delivered",
        "VpcConfig": "VpcConfig: no network isolation",
        "LoggingConfig": "LoggingConfig: logs are not shipped to CloudWatch Logs",
    },
    "AWS::Lambda::EventSourceMapping": {
        "BatchSize": "BatchSize: moto invokes once per record (the emulator's poller must batch)",
        "BisectBatchOnFunctionError": "BisectBatchOnFunctionError: not done by moto",
        "MaximumRetryAttempts": "MaximumRetryAttempts: not done by moto",
        "MaximumRecordAgeInSeconds": "MaximumRecordAgeInSeconds: not done by moto",
        "FunctionResponseTypes": "ReportBatchItemFailures: not done by moto",
        "DestinationConfig": "on-failure destination: not used by moto",
    },
    "AWS::S3::Bucket": {
        "BucketEncryption": "BucketEncryption: stored, objects are not encrypted at rest",
        "LifecycleConfiguration": "LifecycleConfiguration: objects never expire or transition",
        "LoggingConfiguration": "LoggingConfiguration: no access logs are written",
        "ObjectLockConfiguration": "ObjectLockConfiguration: retention is not enforced",
        "ReplicationConfiguration": "ReplicationConfiguration: nothing is replicated",
        "PublicAccessBlockConfiguration": "PublicAccessBlockConfiguration: stored only",
    },
    "AWS::SQS::Queue": {
        "KmsMasterKeyId": "KmsMasterKeyId: messages are not encrypted at rest",
    },
    "AWS::SNS::Topic": {
        "KmsMasterKeyId": "KmsMasterKeyId: messages are not encrypted at rest",
    },
    "AWS::Logs::LogGroup": {
        "RetentionInDays": "RetentionInDays: log events never expire",
        "KmsKeyId": "KmsKeyId: log events are not encrypted",
    },
    "AWS::KMS::Key": {
        "EnableKeyRotation": "EnableKeyRotation: keys are never rotated",
    },
    "AWS::StepFunctions::StateMachine": {
        "LoggingConfiguration": "LoggingConfiguration: execution logs are not delivered",
        "TracingConfiguration": "TracingConfiguration: X-Ray tracing is not emulated",
    },
    "AWS::DynamoDB::Table": {
        "SSESpecification": "SSESpecification: items are not encrypted at rest",
        "PointInTimeRecoverySpecification": "PointInTimeRecovery: no backups are taken",
        "TimeToLiveSpecification": "TimeToLiveSpecification: items never expire",
    },
    "AWS::Events::Rule": {
        "ScheduleExpression": "ScheduleExpression: moto stores the rule but never fires it",
    },
}

# AWS service metrics (namespace, name) the emulator publishes as AWS would
# (pablo.local.service_metrics); an alarm on any other AWS/ metric sees only missing data.
PRODUCED_SERVICE_METRICS: frozenset[tuple[str, str]] = frozenset(
    {
        ("AWS/Lambda", "Errors"),
        ("AWS/Kinesis", "GetRecords.IteratorAgeMilliseconds"),
        ("AWS/Kinesis", "IncomingRecords"),  # moto's own
        ("AWS/Kinesis", "IncomingBytes"),  # moto's own
        ("AWS/States", "ExecutionsFailed"),
        ("AWS/States", "ExecutionsTimedOut"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
    }
)
NOT_PRODUCED_WHY: dict[tuple[str, str], str] = {
    ("AWS/Lambda", "Throttles"): "the emulator runs every invocation and never throttles",
}


def alarm_metric_note(properties: Mapping[str, Any]) -> str | None:
    """Why an alarm on an AWS service metric the emulator never publishes can only see
    missing data locally; None for the stack's own metrics and the produced ones."""
    namespace, metric = properties.get("Namespace"), properties.get("MetricName")
    if not isinstance(namespace, str) or not namespace.startswith("AWS/"):
        return None
    if (namespace, metric) in PRODUCED_SERVICE_METRICS:
        return None
    why = NOT_PRODUCED_WHY.get((namespace, str(metric)), "neither moto nor the emulator does")
    treat = properties.get("TreatMissingData", "missing")
    return (
        f"{namespace} {metric} is never published locally ({why}): the alarm evaluates "
        f"missing data only (TreatMissingData {treat})"
    )


POLICY_PROPERTIES: dict[str, tuple[str, ...]] = {
    "AWS::S3::BucketPolicy": ("PolicyDocument",),
    "AWS::SNS::TopicPolicy": ("PolicyDocument",),
    "AWS::SQS::QueuePolicy": ("PolicyDocument",),
    "AWS::IAM::Policy": ("PolicyDocument",),
    "AWS::IAM::ManagedPolicy": ("PolicyDocument",),
    "AWS::IAM::Role": ("AssumeRolePolicyDocument", "Policies"),
    "AWS::KMS::Key": ("KeyPolicy",),
}


def _has_condition(document: Any) -> bool:
    if isinstance(document, list):
        return any(_has_condition(item) for item in document)
    if isinstance(document, dict):
        return "Condition" in document or any(_has_condition(v) for v in document.values())
    return False


def _uses_athena(properties: Mapping[str, Any]) -> bool:
    """Whether a state machine's definition (a string, or CDK's Fn::Join of parts) calls
    Athena through the optimised integration."""
    definition = properties.get("DefinitionString", properties.get("Definition"))
    return "arn:aws:states:::athena:" in json.dumps(definition)


def not_honoured(resource_type: str, properties: Mapping[str, Any]) -> tuple[str, ...]:
    """What the emulator does not honour about one resource, from its template entry."""
    notes = list(TYPE_NOTES.get(resource_type, ()))
    for name, note in PROPERTY_NOTES.get(resource_type, {}).items():
        if properties.get(name) not in (None, [], {}):
            notes.append(note)
    if resource_type == "AWS::StepFunctions::StateMachine" and _uses_athena(properties):
        notes.append(ATHENA_INTEGRATION)
    policies = [properties.get(name) for name in POLICY_PROPERTIES.get(resource_type, ())]
    if _has_condition(policies):
        notes.append(POLICY_CONDITIONS)
    if resource_type == "AWS::CloudWatch::Alarm":
        metric_note = alarm_metric_note(properties)
        if metric_note is not None:
            notes.append(metric_note)
    return tuple(notes)


def _absence_reason(logical_id: str, resource_type: str, observed: Observation) -> str:
    if logical_id in observed.failed:
        return f"not created: {observed.failed[logical_id]}"
    if resource_type in NO_LOCAL_COUNTERPART:
        return NO_LOCAL_COUNTERPART[resource_type]
    if (
        resource_type.startswith("Custom::")
        or resource_type == "AWS::CloudFormation::CustomResource"
    ):
        return CUSTOM_RESOURCE
    return NO_CREATOR


def classify(
    resources: Mapping[str, Mapping[str, Any]], observed: Observation
) -> list[ResourceFidelity]:
    """One entry per template resource, in template order."""
    entries = []
    for logical_id, resource in resources.items():
        resource_type = str(resource["Type"])
        properties = resource.get("Properties") or {}
        actions = tuple(observed.actions.get(logical_id, ()))
        if logical_id in observed.created:
            status, physical = Status.CREATED, observed.created[logical_id]
            notes = not_honoured(resource_type, properties)
        elif logical_id in observed.live:
            status, physical = Status.LIVE, observed.live[logical_id]
            notes = not_honoured(resource_type, properties)
        else:
            status, physical = Status.NOT_HONOURED, None
            notes = (_absence_reason(logical_id, resource_type, observed),)
        entries.append(
            ResourceFidelity(logical_id, resource_type, status, physical, actions, notes)
        )
    return entries


def summary(entries: Iterable[ResourceFidelity]) -> dict[str, int]:
    counts = Counter(entry.status.value for entry in entries)
    return {status.value: counts.get(status.value, 0) for status in Status}


def by_type(entries: Iterable[ResourceFidelity]) -> dict[str, dict[str, int]]:
    """Resource type -> status -> count: every type of the template appears."""
    table: dict[str, Counter[str]] = {}
    for entry in entries:
        table.setdefault(entry.resource_type, Counter())[entry.status.value] += 1
    return {kind: dict(sorted(counts.items())) for kind, counts in sorted(table.items())}


def to_document(
    entries: list[ResourceFidelity], *, stack_name: str, endpoint: str
) -> dict[str, Any]:
    return {
        "stack": stack_name,
        "endpoint": endpoint,
        "statuses": {
            Status.LIVE.value: "created by moto's CloudFormation, confirmed through its API",
            Status.CREATED.value: "skipped by moto, created by pablo local deploy",
            Status.NOT_HONOURED.value: "absent locally; see not_honoured for why",
        },
        "summary": summary(entries),
        "types": by_type(entries),
        "resources": [{**asdict(entry), "status": entry.status.value} for entry in entries],
    }


def save(document: Mapping[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return path


def _table(headers: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]

    def line(cells: tuple[str, ...]) -> str:
        padded = (str(cell).ljust(width) for cell, width in zip(cells, widths, strict=True))
        return "  ".join(padded).rstrip()

    return [line(headers), line(tuple("-" * width for width in widths)), *map(line, rows)]


def render(entries: list[ResourceFidelity]) -> str:
    """The report as text: one row per resource, then one row per type."""
    rows = []
    for entry in entries:
        details = [*entry.actions, *(f"not honoured: {note}" for note in entry.not_honoured)]
        first, *rest = details or ["-"]
        rows.append((entry.status.value, entry.resource_type, entry.logical_id, first))
        rows.extend(("", "", "", detail) for detail in rest)
    lines = _table(("STATUS", "TYPE", "LOGICAL ID", "WHAT"), rows)
    type_rows = [
        (kind, ", ".join(f"{count} {status}" for status, count in counts.items()))
        for kind, counts in by_type(entries).items()
    ]
    totals = ", ".join(f"{count} {status}" for status, count in summary(entries).items())
    return "\n".join([*lines, "", *_table(("TYPE", "STATUS"), type_rows), "", totals])
