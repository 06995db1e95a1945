"""Intrinsic functions resolved against a deployed stack's facts (pure)."""

from __future__ import annotations

import pytest

from pablo.local.cfn_resolve import (
    StackFacts,
    UnresolvedReferenceError,
    evaluate_condition,
    references,
    resolve,
)


@pytest.fixture
def facts() -> StackFacts:
    return StackFacts(
        account="123456789012",
        region="us-east-1",
        stack_name="S",
        stack_id="arn:aws:cloudformation:us-east-1:123456789012:stack/S/1",
        parameters={"Env": "local"},
        refs={"Bucket": "s-bucket-1", "Topic": "arn:aws:sns:us-east-1:123456789012:t"},
        attributes={"Bucket": {"Arn": "arn:aws:s3:::s-bucket-1"}, "Role": {"Arn": "r-arn"}},
        conditions={"IsLocal": True},
    )


def test_ref_getatt_join_sub_select_split_resolve(facts: StackFacts) -> None:
    # Given properties written with intrinsic functions
    properties = {
        "Location": {"Fn::Join": ["", ["s3://", {"Ref": "Bucket"}, "/raw/"]]},
        "Arn": {"Fn::GetAtt": ["Bucket", "Arn"]},
        "Dotted": {"Fn::GetAtt": "Role.Arn"},
        "Sub": {"Fn::Sub": "${AWS::Region}:${Bucket}:${Role.Arn}:${!Literal}"},
        "SubVars": {"Fn::Sub": ["${A}-${Env}", {"A": {"Ref": "Topic"}}]},
        "Pick": {"Fn::Select": [1, {"Fn::Split": [",", "a,b,c"]}]},
        "Choice": {"Fn::If": ["IsLocal", "yes", "no"]},
        "Actions": [{"Ref": "Topic"}, {"Ref": "AWS::NoValue"}],
        "Gone": {"Ref": "AWS::NoValue"},
    }
    # When they are resolved
    resolved = resolve(properties, facts)
    # Then every function has its value, and AWS::NoValue removes the property
    assert resolved == {
        "Location": "s3://s-bucket-1/raw/",
        "Arn": "arn:aws:s3:::s-bucket-1",
        "Dotted": "r-arn",
        "Sub": "us-east-1:s-bucket-1:r-arn:${Literal}",
        "SubVars": "arn:aws:sns:us-east-1:123456789012:t-local",
        "Pick": "b",
        "Choice": "yes",
        "Actions": ["arn:aws:sns:us-east-1:123456789012:t"],
    }


def test_unknown_reference_is_a_clear_error(facts: StackFacts) -> None:
    # Given a reference to a resource the stack does not have
    # Then resolving it names what is missing
    with pytest.raises(UnresolvedReferenceError, match="Missing"):
        resolve({"Ref": "Missing"}, facts)
    with pytest.raises(UnresolvedReferenceError, match=r"Bucket\.Nope"):
        resolve({"Fn::GetAtt": ["Bucket", "Nope"]}, facts)


def test_conditions_evaluate(facts: StackFacts) -> None:
    # Given template conditions built from parameters and other conditions
    conditions = {
        "IsLocal": {"Fn::Equals": [{"Ref": "Env"}, "local"]},
        "NotLocal": {"Fn::Not": [{"Condition": "IsLocal"}]},
        "Either": {"Fn::Or": [{"Condition": "IsLocal"}, {"Condition": "NotLocal"}]},
    }
    # Then each evaluates as CloudFormation would
    results = {
        name: evaluate_condition(expr, conditions, facts) for name, expr in conditions.items()
    }
    assert results == {"IsLocal": True, "NotLocal": False, "Either": True}


def test_references_lists_resources_only() -> None:
    # Given properties that refer to resources and pseudo parameters
    properties = {
        "A": {"Ref": "Bucket"},
        "B": {"Fn::GetAtt": ["Role", "Arn"]},
        "C": {"Fn::Sub": "${Topic.TopicName}-${AWS::Region}"},
        "D": {"Ref": "AWS::AccountId"},
    }
    # Then only the resources are listed
    assert references(properties) == {"Bucket", "Role", "Topic"}
