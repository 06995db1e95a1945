"""How the emulator judges a service acting for the stack under IAM enforcement: a function's
resource-based policy (EventBridge and S3 invoking it), a role's trust of a service, and the
grants a run never used. Pure policy documents; the emulator end to end is in
tests/emulator/test_iam_enforcement.py."""

from __future__ import annotations

from typing import Any

from pablo.local.iam import EVENTS_PRINCIPAL, S3_PRINCIPAL, resource_policy_allows

FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:review"
RULE = "arn:aws:events:us-east-1:123456789012:rule/weekly-review"


def _permission(**condition: Any) -> dict[str, Any]:
    """A statement as lambda:AddPermission (CDK's targets.LambdaFunction) writes it."""
    statement: dict[str, Any] = {
        "Sid": "AllowEvents",
        "Effect": "Allow",
        "Principal": {"Service": EVENTS_PRINCIPAL},
        "Action": "lambda:InvokeFunction",
        "Resource": FUNCTION,
    }
    if condition:
        statement["Condition"] = condition
    return {"Version": "2012-10-17", "Statement": [statement]}


def _context(source_arn: str = RULE) -> dict[str, str]:
    return {"aws:sourcearn": source_arn, "aws:sourceaccount": "123456789012"}


def test_the_rule_named_in_the_permission_may_invoke() -> None:
    policy = _permission(ArnLike={"AWS:SourceArn": RULE})
    assert resource_policy_allows(
        policy, "lambda:InvokeFunction", FUNCTION, EVENTS_PRINCIPAL, _context()
    )


def test_another_rule_another_service_or_no_statement_may_not() -> None:
    policy = _permission(ArnLike={"AWS:SourceArn": RULE})
    other_rule = RULE.replace("weekly-review", "daily")
    assert not resource_policy_allows(
        policy, "lambda:InvokeFunction", FUNCTION, EVENTS_PRINCIPAL, _context(other_rule)
    )
    assert not resource_policy_allows(
        policy, "lambda:InvokeFunction", FUNCTION, S3_PRINCIPAL, _context()
    )
    assert not resource_policy_allows(
        {"Statement": []}, "lambda:InvokeFunction", FUNCTION, EVENTS_PRINCIPAL, _context()
    )


def test_a_wildcard_source_and_the_account_condition_are_matched() -> None:
    policy = _permission(
        ArnLike={"AWS:SourceArn": "arn:aws:events:us-east-1:123456789012:rule/*"},
        StringEquals={"AWS:SourceAccount": "123456789012"},
    )
    assert resource_policy_allows(
        policy, "lambda:InvokeFunction", FUNCTION, EVENTS_PRINCIPAL, _context()
    )
    foreign = _permission(StringEquals={"AWS:SourceAccount": "999999999999"})
    assert not resource_policy_allows(
        foreign, "lambda:InvokeFunction", FUNCTION, EVENTS_PRINCIPAL, _context()
    )


def test_a_matching_deny_wins_over_an_allow() -> None:
    policy = _permission()
    policy["Statement"].append({**policy["Statement"][0], "Sid": "No", "Effect": "Deny"})
    assert not resource_policy_allows(
        policy, "lambda:InvokeFunction", FUNCTION, EVENTS_PRINCIPAL, _context()
    )
