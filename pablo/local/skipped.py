"""Create, with boto3 against the emulator, what moto's CloudFormation silently skips.

moto answers CREATE_COMPLETE for a stack with Glue tables, Athena workgroups, CloudWatch
alarms, resource policies, Scheduler schedules and CDK's bucket-notification custom
resource, yet creates none of them. Each creator here takes a skipped resource with its
properties already resolved (`pablo.local.cfn_resolve`) and creates or updates it through
the service API. Every creator is idempotent: a redeploy updates, never duplicates.

A second group patches live resources whose properties moto ignored (Lambda layers and
reserved concurrency, Kinesis stream encryption).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from pablo.local.live import ClientFor

# What "not there" looks like per service (Athena: InvalidRequestException on AWS).
NOT_FOUND_CODES = frozenset(
    {"EntityNotFoundException", "ResourceNotFoundException", "InvalidRequestException"}
)


@dataclass(frozen=True)
class Skipped:
    """A resource moto skipped, with its properties resolved to plain values."""

    logical_id: str
    resource_type: str
    properties: Mapping[str, Any]
    stack_name: str
    account: str
    region: str

    def default_name(self) -> str:
        """A stable name when the template gives none (AWS would add a random suffix; a
        local redeploy must find the same resource again, so this one does not)."""
        return f"{self.stack_name}-{self.logical_id}"


@dataclass(frozen=True)
class Outcome:
    """What a creator did: the physical id, the `Ref`/`GetAtt` values, one line of what."""

    physical_id: str
    action: str
    attributes: dict[str, Any] = field(default_factory=dict)


Creator = Callable[[ClientFor, Skipped], Outcome]


def _exists(call: Callable[[], Any]) -> bool:
    try:
        call()
    except ClientError as exc:
        if exc.response["Error"]["Code"] in NOT_FOUND_CODES:
            return False
        raise
    return True


def _policy_json(document: Any) -> str:
    return document if isinstance(document, str) else json.dumps(document)


# -- Glue -----------------------------------------------------------------------------------


def create_glue_database(client_for: ClientFor, item: Skipped) -> Outcome:
    glue = client_for("glue")
    database_input = dict(item.properties["DatabaseInput"])
    name = str(database_input.setdefault("Name", item.logical_id.lower()))
    if _exists(lambda: glue.get_database(Name=name)):
        glue.update_database(Name=name, DatabaseInput=database_input)
        verb = "updated"
    else:
        glue.create_database(DatabaseInput=database_input)
        verb = "created"
    return Outcome(name, f"{verb} Glue database {name}", {"Ref": name})


def create_glue_table(client_for: ClientFor, item: Skipped) -> Outcome:
    glue = client_for("glue")
    database = str(item.properties["DatabaseName"])
    table_input = dict(item.properties["TableInput"])
    name = str(table_input.setdefault("Name", item.logical_id.lower()))
    if _exists(lambda: glue.get_table(DatabaseName=database, Name=name)):
        glue.update_table(DatabaseName=database, TableInput=table_input)
        verb = "updated"
    else:
        glue.create_table(DatabaseName=database, TableInput=table_input)
        verb = "created"
    return Outcome(name, f"{verb} Glue table {database}.{name}", {"Ref": name})


# -- Athena -------------------------------------------------------------------------------


def _current_workgroup(athena: Any, name: str) -> dict[str, Any] | None:
    """AWS raises InvalidRequestException for a missing workgroup; moto answers null."""
    try:
        found = athena.get_work_group(WorkGroup=name).get("WorkGroup")
    except ClientError as exc:
        if exc.response["Error"]["Code"] in NOT_FOUND_CODES:
            return None
        raise
    return dict(found) if found else None


def create_athena_workgroup(client_for: ClientFor, item: Skipped) -> Outcome:
    """moto has no UpdateWorkGroup: a changed workgroup is deleted and created again."""
    athena = client_for("athena")
    name = str(item.properties["Name"])
    wanted = {
        "Configuration": dict(item.properties.get("WorkGroupConfiguration", {})),
        "Description": str(item.properties.get("Description", "")),
    }
    current = _current_workgroup(athena, name)
    arn = f"arn:aws:athena:{item.region}:{item.account}:workgroup/{name}"
    attributes = {"Ref": name, "Arn": arn}
    if current is not None:
        same = (current.get("Configuration") or {}) == wanted["Configuration"] and (
            current.get("Description") or ""
        ) == wanted["Description"]
        if same:
            return Outcome(name, f"Athena workgroup {name} unchanged", attributes)
        athena.delete_work_group(WorkGroup=name, RecursiveDeleteOption=True)
    tags = list(item.properties.get("Tags", []))
    athena.create_work_group(Name=name, Tags=tags, **wanted)
    verb = "replaced" if current is not None else "created"
    return Outcome(name, f"{verb} Athena workgroup {name}", attributes)


def create_named_query(client_for: ClientFor, item: Skipped) -> Outcome:
    """A saved query, found again by name and text in its workgroup on a redeploy. moto can
    neither update nor delete a named query, so a changed one is created beside the old."""
    athena = client_for("athena")
    props = item.properties
    wanted = {
        "Name": str(props.get("Name", item.default_name())),
        "Database": str(props["Database"]),
        "QueryString": str(props["QueryString"]),
        "Description": str(props.get("Description", "")),
        "WorkGroup": str(props.get("WorkGroup", "primary")),
    }
    ids = athena.list_named_queries(WorkGroup=wanted["WorkGroup"]).get("NamedQueryIds", [])
    for query_id in ids:
        current = athena.get_named_query(NamedQueryId=query_id)["NamedQuery"]
        if all(current.get(k, "") == v for k, v in wanted.items()):
            attributes = {"Ref": query_id, "NamedQueryId": query_id}
            return Outcome(query_id, f"Athena named query {wanted['Name']} unchanged", attributes)
    query_id = athena.create_named_query(**wanted)["NamedQueryId"]
    attributes = {"Ref": query_id, "NamedQueryId": query_id}
    return Outcome(query_id, f"created Athena named query {wanted['Name']}", attributes)


# -- CloudWatch -----------------------------------------------------------------------------

_ALARM_INTEGERS = ("Period", "EvaluationPeriods", "DatapointsToAlarm")


def create_metric_alarm(client_for: ClientFor, item: Skipped) -> Outcome:
    """put_metric_alarm creates or replaces by name: idempotent by construction."""
    arguments = dict(item.properties)
    name = str(arguments.setdefault("AlarmName", item.default_name()))
    for key in _ALARM_INTEGERS:
        if key in arguments:
            arguments[key] = int(arguments[key])
    if "Threshold" in arguments:
        arguments["Threshold"] = float(arguments["Threshold"])
    if "ActionsEnabled" in arguments:
        arguments["ActionsEnabled"] = str(arguments["ActionsEnabled"]).lower() == "true"
    client_for("cloudwatch").put_metric_alarm(**arguments)
    arn = f"arn:aws:cloudwatch:{item.region}:{item.account}:alarm:{name}"
    actions = len(arguments.get("AlarmActions", []))
    return Outcome(name, f"put alarm {name} ({actions} alarm action(s))", {"Ref": name, "Arn": arn})


# -- resource policies ------------------------------------------------------------------------


def create_bucket_policy(client_for: ClientFor, item: Skipped) -> Outcome:
    bucket = str(item.properties["Bucket"])
    document = item.properties["PolicyDocument"]
    document = json.loads(document) if isinstance(document, str) else document
    # moto ignores Conditions, so a conditional Deny (SSL-only: aws:SecureTransport=false)
    # would deny every request to the plain-HTTP emulator; those statements are left out
    # (the fidelity report lists policy conditions as not honoured).
    kept = [
        s
        for s in document.get("Statement", [])
        if not (s.get("Effect") == "Deny" and "Condition" in s)
    ]
    s3 = client_for("s3")
    if kept:
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({**document, "Statement": kept}))
    # moto's CloudFormation drops the bucket's EventBridge setting: put it back here,
    # where every data bucket of the stack passes (harmless for buckets without it).
    _restore_eventbridge(s3, bucket)
    return Outcome(bucket, f"put bucket policy on {bucket}", {"Ref": bucket})


def _restore_eventbridge(s3: Any, bucket: str) -> None:
    current = s3.get_bucket_notification_configuration(Bucket=bucket)
    current.pop("ResponseMetadata", None)
    if "EventBridgeConfiguration" not in current:
        s3.put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration={**current, "EventBridgeConfiguration": {}}
        )


def create_topic_policy(client_for: ClientFor, item: Skipped) -> Outcome:
    sns = client_for("sns")
    policy = _policy_json(item.properties["PolicyDocument"])
    topics = [str(topic) for topic in item.properties["Topics"]]
    for topic in topics:
        sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy", AttributeValue=policy)
    return Outcome(
        item.default_name(), f"set policy on {len(topics)} topic(s)", {"Ref": item.default_name()}
    )


def create_queue_policy(client_for: ClientFor, item: Skipped) -> Outcome:
    sqs = client_for("sqs")
    policy = _policy_json(item.properties["PolicyDocument"])
    queues = [str(queue) for queue in item.properties["Queues"]]
    for queue in queues:
        sqs.set_queue_attributes(QueueUrl=queue, Attributes={"Policy": policy})
    return Outcome(
        item.default_name(), f"set policy on {len(queues)} queue(s)", {"Ref": item.default_name()}
    )


# -- EventBridge Scheduler --------------------------------------------------------------------

_SCHEDULE_KEYS = (
    "Description",
    "ScheduleExpressionTimezone",
    "State",
    "KmsKeyArn",
    "ActionAfterCompletion",
)


def create_schedule_group(client_for: ClientFor, item: Skipped) -> Outcome:
    scheduler = client_for("scheduler")
    name = str(item.properties.get("Name", item.default_name()))
    verb = "kept"
    if not _exists(lambda: scheduler.get_schedule_group(Name=name)):
        scheduler.create_schedule_group(Name=name)
        verb = "created"
    arn = f"arn:aws:scheduler:{item.region}:{item.account}:schedule-group/{name}"
    return Outcome(name, f"{verb} schedule group {name}", {"Ref": name, "Arn": arn})


def create_schedule(client_for: ClientFor, item: Skipped) -> Outcome:
    scheduler = client_for("scheduler")
    props = item.properties
    name = str(props.get("Name", item.default_name()))
    group = str(props.get("GroupName", "default"))
    arguments: dict[str, Any] = {
        "Name": name,
        "GroupName": group,
        "ScheduleExpression": props["ScheduleExpression"],
        "FlexibleTimeWindow": props["FlexibleTimeWindow"],
        "Target": props["Target"],
        **{key: props[key] for key in _SCHEDULE_KEYS if key in props},
    }
    for key in ("StartDate", "EndDate"):
        if key in props:
            arguments[key] = datetime.fromisoformat(str(props[key]).replace("Z", "+00:00"))
    if _exists(lambda: scheduler.get_schedule(Name=name, GroupName=group)):
        scheduler.update_schedule(**arguments)
        verb = "updated"
    else:
        scheduler.create_schedule(**arguments)
        verb = "created"
    arn = f"arn:aws:scheduler:{item.region}:{item.account}:schedule/{group}/{name}"
    return Outcome(
        name,
        f"{verb} schedule {group}/{name} ({props['ScheduleExpression']})",
        {"Ref": name, "Arn": arn},
    )


# -- CDK custom resources ------------------------------------------------------------------


def create_bucket_notifications(client_for: ClientFor, item: Skipped) -> Outcome:
    """CDK's Custom::S3BucketNotifications, done directly: moto's custom resource would
    need the handler Lambda to run and call back, which the deploy does not rely on."""
    bucket = str(item.properties["BucketName"])
    configuration = dict(item.properties.get("NotificationConfiguration", {}))
    client_for("s3").put_bucket_notification_configuration(
        Bucket=bucket, NotificationConfiguration=configuration
    )
    count = sum(len(value) for value in configuration.values() if isinstance(value, list))
    return Outcome(bucket, f"put {count} notification(s) on bucket {bucket}", {"Ref": bucket})


# Types moto's CloudFormation skips, and how each is created.
CREATORS: dict[str, Creator] = {
    "AWS::Glue::Database": create_glue_database,
    "AWS::Glue::Table": create_glue_table,
    "AWS::Athena::WorkGroup": create_athena_workgroup,
    "AWS::Athena::NamedQuery": create_named_query,
    "AWS::CloudWatch::Alarm": create_metric_alarm,
    "AWS::S3::BucketPolicy": create_bucket_policy,
    "AWS::SNS::TopicPolicy": create_topic_policy,
    "AWS::SQS::QueuePolicy": create_queue_policy,
    "AWS::Scheduler::ScheduleGroup": create_schedule_group,
    "AWS::Scheduler::Schedule": create_schedule,
    "Custom::S3BucketNotifications": create_bucket_notifications,
}


# -- patches: properties of live resources that moto ignored -----------------------------------


@dataclass(frozen=True)
class Live:
    """A live resource with resolved properties and its physical id."""

    logical_id: str
    resource_type: str
    physical_id: str
    properties: Mapping[str, Any]


Patch = Callable[[ClientFor, Live], list[str]]


def _code_sha256(client_for: ClientFor, *, bucket: str, key: str) -> str:
    body = client_for("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    return base64.b64encode(hashlib.sha256(body).digest()).decode()


def sync_function_code(client_for: ClientFor, item: Live) -> list[str]:
    """moto's stack update fails to update a function that has layers (it passes the layer
    object where an ARN belongs), so a changed handler would keep its old code: compare the
    deployed code with the template's asset and update it when they differ."""
    code = item.properties.get("Code") or {}
    if not ("S3Bucket" in code and "S3Key" in code):
        return []
    client = client_for("lambda")
    bucket, key = str(code["S3Bucket"]), str(code["S3Key"])
    deployed = client.get_function_configuration(FunctionName=item.physical_id)["CodeSha256"]
    if deployed == _code_sha256(client_for, bucket=bucket, key=key):
        return []
    client.update_function_code(FunctionName=item.physical_id, S3Bucket=bucket, S3Key=key)
    return [f"updated code from s3://{bucket}/{key}"]


_LAYER_KEYS = ("CompatibleRuntimes", "CompatibleArchitectures", "Description", "LicenseInfo")


def sync_layer_content(client_for: ClientFor, item: Live) -> list[str]:
    """moto's stack update never republishes a layer whose content changed: publish a new
    version when the template's asset differs from the latest one (functions then get it)."""
    content = item.properties.get("Content") or {}
    if not ("S3Bucket" in content and "S3Key" in content):
        return []
    client = client_for("lambda")
    layer_arn, _, version = item.physical_id.rpartition(":")
    current = client.get_layer_version(LayerName=layer_arn, VersionNumber=int(version))
    bucket, key = str(content["S3Bucket"]), str(content["S3Key"])
    if current["Content"]["CodeSha256"] == _code_sha256(client_for, bucket=bucket, key=key):
        return []
    published = client.publish_layer_version(
        LayerName=layer_arn.rsplit(":", 1)[-1],
        Content={"S3Bucket": bucket, "S3Key": key},
        **{name: item.properties[name] for name in _LAYER_KEYS if name in item.properties},
    )
    return [f"published layer version {published['Version']} from s3://{bucket}/{key}"]


def patch_function(client_for: ClientFor, item: Live) -> list[str]:
    client = client_for("lambda")
    done = sync_function_code(client_for, item)
    layers = [str(layer) for layer in item.properties.get("Layers", [])]
    if layers:
        attached = client.get_function_configuration(FunctionName=item.physical_id)
        current = [layer["Arn"] for layer in attached.get("Layers", [])]
        if current != layers:
            client.update_function_configuration(FunctionName=item.physical_id, Layers=layers)
            done.append(f"attached {len(layers)} layer(s)")
    concurrency = item.properties.get("ReservedConcurrentExecutions")
    if concurrency is not None:
        client.put_function_concurrency(
            FunctionName=item.physical_id, ReservedConcurrentExecutions=int(concurrency)
        )
        done.append(f"set reserved concurrency {int(concurrency)}")
    return done


def patch_stream(client_for: ClientFor, item: Live) -> list[str]:
    encryption = item.properties.get("StreamEncryption")
    if not encryption:
        return []
    kinesis = client_for("kinesis")
    summary = kinesis.describe_stream_summary(StreamName=item.physical_id)
    if summary["StreamDescriptionSummary"].get("EncryptionType", "NONE") == "NONE":
        kinesis.start_stream_encryption(
            StreamName=item.physical_id,
            EncryptionType=str(encryption["EncryptionType"]),
            KeyId=str(encryption["KeyId"]),
        )
    return [f"set stream encryption {encryption['EncryptionType']}"]


def patch_key(client_for: ClientFor, item: Live) -> list[str]:
    """moto's CloudFormation stores a key policy as an object, not JSON text, and then
    DescribeKey, Encrypt and GenerateDataKey fail with a 500: store it as text."""
    policy = item.properties.get("KeyPolicy")
    if not policy:
        return []
    client_for("kms").put_key_policy(
        KeyId=item.physical_id, PolicyName="default", Policy=_policy_json(policy)
    )
    return ["stored the key policy as JSON text (repairs DescribeKey/Encrypt in moto)"]


PATCHES: dict[str, Patch] = {
    "AWS::KMS::Key": patch_key,
    "AWS::Lambda::LayerVersion": sync_layer_content,
    "AWS::Lambda::Function": patch_function,
    "AWS::Kinesis::Stream": patch_stream,
}
