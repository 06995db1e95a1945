"""What moto's CloudFormation really created: each resource checked through its own API.

moto reports CREATE_COMPLETE for a stack even when it skipped resources, so "live" is never
taken on trust: a resource is live only when its service answers for it. The same table
gives each type's `Ref` value and `Fn::GetAtt` attributes from the physical id, which
`pablo.local.cfn_resolve` needs to resolve the properties of skipped resources.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

ClientFor = Callable[[str], Any]


@dataclass(frozen=True)
class Located:
    """A deployed resource: where it is and what its properties say."""

    logical_id: str
    resource_type: str
    physical_id: str
    properties: Mapping[str, Any]
    account: str
    region: str


Verifier = Callable[[ClientFor, Located], bool]
Attributes = Callable[[Located], dict[str, Any]]


def _answers(call: Callable[[], Any]) -> bool:
    """True when the API call succeeds; a not-found style ClientError means False."""
    try:
        call()
    except ClientError:
        return False
    return True


def _arn(service: str, where: Located, resource: str, *, regional: bool = True) -> str:
    region = where.region if regional else ""
    account = where.account if service != "s3" else ""
    return f"arn:aws:{service}:{region}:{account}:{resource}"


def _name_from_arn(arn: str) -> str:
    return arn.rsplit(":", 1)[-1]


# -- attributes ---------------------------------------------------------------------------


def _bucket_attributes(where: Located) -> dict[str, Any]:
    name = where.physical_id
    return {
        "Ref": name,
        "Arn": f"arn:aws:s3:::{name}",
        "DomainName": f"{name}.s3.amazonaws.com",
        "RegionalDomainName": f"{name}.s3.{where.region}.amazonaws.com",
        "WebsiteURL": f"http://{name}.s3-website-{where.region}.amazonaws.com",
    }


def _queue_attributes(where: Located) -> dict[str, Any]:
    name = where.physical_id.rsplit("/", 1)[-1]
    return {
        "Ref": where.physical_id,
        "QueueUrl": where.physical_id,
        "QueueName": name,
        "Arn": _arn("sqs", where, name),
    }


def _topic_attributes(where: Located) -> dict[str, Any]:
    return {
        "Ref": where.physical_id,
        "TopicArn": where.physical_id,
        "TopicName": _name_from_arn(where.physical_id),
    }


def _named(service: str, kind: str, separator: str = "/") -> Attributes:
    """Ref is the name; Arn is `arn:aws:<service>:<region>:<account>:<kind><sep><name>`."""

    def attributes(where: Located) -> dict[str, Any]:
        arn = _arn(service, where, f"{kind}{separator}{where.physical_id}")
        return {"Ref": where.physical_id, "Arn": arn, "Name": where.physical_id}

    return attributes


def _arn_ref(where: Located) -> dict[str, Any]:
    return {
        "Ref": where.physical_id,
        "Arn": where.physical_id,
        "Name": _name_from_arn(where.physical_id),
    }


def _role_attributes(where: Located) -> dict[str, Any]:
    path = str(where.properties.get("Path", "/"))
    arn = f"arn:aws:iam::{where.account}:role{path}{where.physical_id}"
    return {"Ref": where.physical_id, "Arn": arn, "RoleId": where.physical_id}


def _key_attributes(where: Located) -> dict[str, Any]:
    arn = _arn("kms", where, f"key/{where.physical_id}")
    return {"Ref": where.physical_id, "Arn": arn, "KeyId": where.physical_id}


def _log_group_attributes(where: Located) -> dict[str, Any]:
    arn = _arn("logs", where, f"log-group:{where.physical_id}:*")
    return {"Ref": where.physical_id, "Arn": arn}


def _ref_only(where: Located) -> dict[str, Any]:
    return {"Ref": where.physical_id}


# -- verifiers ----------------------------------------------------------------------------


def _verify_bucket(client_for: ClientFor, where: Located) -> bool:
    return _answers(lambda: client_for("s3").head_bucket(Bucket=where.physical_id))


def _verify_topic(client_for: ClientFor, where: Located) -> bool:
    return _answers(lambda: client_for("sns").get_topic_attributes(TopicArn=where.physical_id))


def _verify_queue(client_for: ClientFor, where: Located) -> bool:
    name = where.physical_id.rsplit("/", 1)[-1]
    return _answers(lambda: client_for("sqs").get_queue_url(QueueName=name))


def _verify_key(client_for: ClientFor, where: Located) -> bool:
    # Not DescribeKey: for a key made by moto's CloudFormation it fails with a 500 until
    # `pablo.local.skipped.patch_key` stores the key policy as JSON text.
    paginator = client_for("kms").get_paginator("list_keys")
    return any(
        key["KeyId"] == where.physical_id for page in paginator.paginate() for key in page["Keys"]
    )


def _verify_alias(client_for: ClientFor, where: Located) -> bool:
    aliases = client_for("kms").list_aliases()["Aliases"]
    return any(alias["AliasName"] == where.properties.get("AliasName") for alias in aliases)


def _verify_stream(client_for: ClientFor, where: Located) -> bool:
    kinesis = client_for("kinesis")
    return _answers(lambda: kinesis.describe_stream_summary(StreamName=where.physical_id))


def _verify_function(client_for: ClientFor, where: Located) -> bool:
    return _answers(lambda: client_for("lambda").get_function(FunctionName=where.physical_id))


def _verify_mapping(client_for: ClientFor, where: Located) -> bool:
    client = client_for("lambda")
    return _answers(lambda: client.get_event_source_mapping(UUID=where.physical_id))


def _verify_permission(client_for: ClientFor, where: Located) -> bool:
    """moto reports no physical id for a permission: look for its statement instead."""
    function = str(where.properties.get("FunctionName", ""))
    try:
        policy = json.loads(client_for("lambda").get_policy(FunctionName=function)["Policy"])
    except ClientError:
        return False
    principal = str(where.properties.get("Principal", ""))
    return any(principal in json.dumps(statement) for statement in policy.get("Statement", []))


def _verify_layer_version(client_for: ClientFor, where: Located) -> bool:
    # moto has no GetLayerVersionByArn: ask by layer name and version number.
    layer_arn, _, version = where.physical_id.rpartition(":")
    client = client_for("lambda")
    return _answers(
        lambda: client.get_layer_version(LayerName=layer_arn, VersionNumber=int(version))
    )


def _layer_attributes(where: Located) -> dict[str, Any]:
    return {"Ref": where.physical_id, "LayerVersionArn": where.physical_id}


def _verify_role(client_for: ClientFor, where: Located) -> bool:
    return _answers(lambda: client_for("iam").get_role(RoleName=where.physical_id))


def _verify_inline_policy(client_for: ClientFor, where: Located) -> bool:
    """An AWS::IAM::Policy is live when every role it names carries it."""
    iam = client_for("iam")
    name = str(where.properties.get("PolicyName", ""))
    roles = [str(role) for role in where.properties.get("Roles", [])]

    def carries(role: str) -> bool:
        return _answers(lambda: iam.get_role_policy(RoleName=role, PolicyName=name))

    attached_somewhere = bool(
        roles or where.properties.get("Users") or where.properties.get("Groups")
    )
    return attached_somewhere and all(carries(role) for role in roles)


def _verify_managed_policy(client_for: ClientFor, where: Located) -> bool:
    return _answers(lambda: client_for("iam").get_policy(PolicyArn=where.physical_id))


def _verify_state_machine(client_for: ClientFor, where: Located) -> bool:
    client = client_for("stepfunctions")
    return _answers(lambda: client.describe_state_machine(stateMachineArn=where.physical_id))


def _verify_rule(client_for: ClientFor, where: Located) -> bool:
    events = client_for("events")
    bus = str(where.properties.get("EventBusName", "default"))
    if not _answers(lambda: events.describe_rule(Name=where.physical_id, EventBusName=bus)):
        return False
    wanted = len(where.properties.get("Targets", []))
    targets = events.list_targets_by_rule(Rule=where.physical_id, EventBusName=bus)["Targets"]
    return len(targets) >= wanted


def _verify_event_bus(client_for: ClientFor, where: Located) -> bool:
    return _answers(lambda: client_for("events").describe_event_bus(Name=where.physical_id))


def _verify_log_group(client_for: ClientFor, where: Located) -> bool:
    groups = client_for("logs").describe_log_groups(logGroupNamePrefix=where.physical_id)
    return any(group["logGroupName"] == where.physical_id for group in groups["logGroups"])


def _verify_table(client_for: ClientFor, where: Located) -> bool:
    return _answers(lambda: client_for("dynamodb").describe_table(TableName=where.physical_id))


def _verify_parameter(client_for: ClientFor, where: Located) -> bool:
    return _answers(lambda: client_for("ssm").get_parameter(Name=where.physical_id))


def _verify_dashboard(client_for: ClientFor, where: Located) -> bool:
    cloudwatch = client_for("cloudwatch")
    return _answers(lambda: cloudwatch.get_dashboard(DashboardName=where.physical_id))


@dataclass(frozen=True)
class Kind:
    attributes: Attributes
    verify: Verifier | None = None


# Types moto's CloudFormation creates, with the API check that proves it did. A type absent
# here is never reported live: either `pablo.local.skipped` creates it, or the fidelity
# report says it is not honoured.
LIVE_KINDS: dict[str, Kind] = {
    "AWS::S3::Bucket": Kind(_bucket_attributes, _verify_bucket),
    "AWS::SNS::Topic": Kind(_topic_attributes, _verify_topic),
    "AWS::SQS::Queue": Kind(_queue_attributes, _verify_queue),
    "AWS::KMS::Key": Kind(_key_attributes, _verify_key),
    "AWS::KMS::Alias": Kind(_ref_only, _verify_alias),
    "AWS::Kinesis::Stream": Kind(_named("kinesis", "stream"), _verify_stream),
    "AWS::Lambda::Function": Kind(_named("lambda", "function", ":"), _verify_function),
    "AWS::Lambda::LayerVersion": Kind(_layer_attributes, _verify_layer_version),
    "AWS::Lambda::EventSourceMapping": Kind(_ref_only, _verify_mapping),
    "AWS::Lambda::Permission": Kind(_ref_only, _verify_permission),
    "AWS::IAM::Role": Kind(_role_attributes, _verify_role),
    "AWS::IAM::Policy": Kind(_ref_only, _verify_inline_policy),
    "AWS::IAM::ManagedPolicy": Kind(_ref_only, _verify_managed_policy),
    "AWS::StepFunctions::StateMachine": Kind(_arn_ref, _verify_state_machine),
    "AWS::Events::Rule": Kind(_named("events", "rule"), _verify_rule),
    "AWS::Events::EventBus": Kind(_named("events", "event-bus"), _verify_event_bus),
    "AWS::Logs::LogGroup": Kind(_log_group_attributes, _verify_log_group),
    "AWS::DynamoDB::Table": Kind(_named("dynamodb", "table"), _verify_table),
    "AWS::SSM::Parameter": Kind(_ref_only, _verify_parameter),
    "AWS::CloudWatch::Dashboard": Kind(_ref_only, _verify_dashboard),
}


def attributes_of(where: Located) -> dict[str, Any]:
    """`Ref` and `Fn::GetAtt` values of a deployed resource (Ref under key "Ref")."""
    kind = LIVE_KINDS.get(where.resource_type)
    return kind.attributes(where) if kind else _ref_only(where)


# Types moto creates but lists without a physical id; their check does without one.
NO_PHYSICAL_ID: frozenset[str] = frozenset({"AWS::Lambda::Permission"})


def is_live(client_for: ClientFor, where: Located) -> bool:
    kind = LIVE_KINDS.get(where.resource_type)
    if kind is None or kind.verify is None:
        return False
    if not where.physical_id and where.resource_type not in NO_PHYSICAL_ID:
        return False
    return kind.verify(client_for, where)


def find_layer_version_arn(client_for: ClientFor, *, layer_name_prefix: str) -> str | None:
    """moto creates a LayerVersion but reports no physical id: find it by its name."""
    client = client_for("lambda")
    for layer in client.list_layers()["Layers"]:
        if layer["LayerName"].startswith(layer_name_prefix):
            versions = client.list_layer_versions(LayerName=layer["LayerName"])
            latest = max(versions["LayerVersions"], key=lambda version: version["Version"])
            return str(latest["LayerVersionArn"])
    return None
