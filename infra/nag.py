"""cdk-nag (AwsSolutions) as a validation plugin, and acknowledgements with their reasons.

cdk-nag 3.x runs during synth as a CDK validation plugin: an unacknowledged finding fails
synth. A finding is acknowledged one id at a time, on the construct it concerns (or an
ancestor), always with a written reason. IAM5 findings carry a bracket suffix naming the
wildcard, e.g. `AwsSolutions-IAM5[Resource::<RawBucketABC.Arn>/*]`; `grant` below computes
those ids from the statement it adds, the same way cdk-nag flattens CloudFormation
references, so each wildcard is acknowledged next to the reason it exists.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import Acknowledgment, App, Stack, Validations
from aws_cdk import aws_iam as iam
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

PACK = "AwsSolutions"


def add_nag_checks(app: App) -> None:
    """Run the AwsSolutions pack on every synth of `app`."""
    Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))


def acknowledge(scope: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge one finding id (e.g. `S1` or `IAM5[Action::s3:*]`) on `scope` and below."""
    if len(reason.strip()) < 20:
        raise ValueError(f"acknowledgement of {rule} needs a real reason, got {reason!r}")
    rule_id = rule if rule.startswith(f"{PACK}-") else f"{PACK}-{rule}"
    Validations.of(scope).acknowledge(Acknowledgment(id=rule_id, reason=reason))


def flatten_reference(node: Any) -> str:
    """A resolved CloudFormation value as cdk-nag prints it in an IAM5 finding id."""
    if node is None:
        return ""
    if isinstance(node, str):
        return node.replace("${", "<").replace("}", ">")
    if isinstance(node, dict):
        if "Fn::Join" in node:
            delimiter, items = node["Fn::Join"]
            return str(delimiter).join(flatten_reference(item) for item in items)
        if "Fn::Sub" in node:
            return flatten_reference(node["Fn::Sub"])
        if "Fn::GetAtt" in node:
            resource, attribute = node["Fn::GetAtt"]
            return f"<{flatten_reference(resource)}.{flatten_reference(attribute)}>"
        if "Fn::ImportValue" in node:
            return flatten_reference(node["Fn::ImportValue"])
        if "Ref" in node:
            return f"<{flatten_reference(node['Ref'])}>"
    raise ValueError(f"cannot flatten {node!r} the way cdk-nag does")


def wildcard_findings(scope: IConstruct, statement: iam.PolicyStatement) -> list[str]:
    """The IAM5 finding ids an Allow statement raises (one per wildcard action/resource)."""
    resolved = Stack.of(scope).resolve(statement.to_statement_json())
    if resolved.get("Effect") != "Allow":
        return []
    findings: list[str] = []
    for action in _as_list(resolved.get("Action")):
        if "*" in action:
            findings.append(f"IAM5[Action::{action}]")
    for resource in _as_list(resolved.get("Resource")):
        flat = flatten_reference(resource)
        if "*" in flat:
            findings.append(f"IAM5[Resource::{flat}]")
    return findings


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def grant(
    grantee: iam.Role,
    *,
    actions: Sequence[str],
    resources: Sequence[str],
    wildcard_reason: str | None = None,
    conditions: dict[str, Any] | None = None,
) -> iam.PolicyStatement:
    """Allow `actions` on `resources` to `grantee`; acknowledge its wildcards with the reason.

    A wildcard without a reason is an error here rather than a nag finding later, so the
    justification is written where the permission is granted.
    """
    statement = iam.PolicyStatement(
        effect=iam.Effect.ALLOW,
        actions=list(actions),
        resources=list(resources),
        conditions=conditions,
    )
    grantee.add_to_principal_policy(statement)
    findings = wildcard_findings(grantee, statement)
    if findings and not wildcard_reason:
        raise ValueError(f"{grantee.node.path}: wildcard grant {findings} needs a reason")
    for finding in findings:
        acknowledge(grantee, finding, wildcard_reason or "")
    return statement


def deny(
    grantee: iam.Role, *, actions: Sequence[str], resources: Sequence[str]
) -> iam.PolicyStatement:
    """An explicit Deny (wins over any Allow, including one added later by mistake)."""
    statement = iam.PolicyStatement(
        effect=iam.Effect.DENY, actions=list(actions), resources=list(resources)
    )
    grantee.add_to_principal_policy(statement)
    return statement
