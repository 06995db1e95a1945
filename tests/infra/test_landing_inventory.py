"""The landing inventory in the synthesized template: function, rules, least privilege."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Match

from infra.constructs.landing_inventory import HANDLER
from tests.infra.conftest import Synthesized


def _inventory_function(synthesized: Synthesized) -> tuple[str, dict[str, Any]]:
    functions = synthesized.resources("AWS::Lambda::Function")
    (found,) = [
        (logical_id, fn)
        for logical_id, fn in functions.items()
        if fn["Properties"].get("Handler") == HANDLER
    ]
    return found


def test_rules_send_object_created_of_landing_bucket_and_finance_landing_prefix(
    synthesized: Synthesized,
) -> None:
    # given the inventory function
    logical_id, _ = _inventory_function(synthesized)
    target = Match.array_with(
        [
            Match.object_like(
                {
                    "Arn": {"Fn::GetAtt": [logical_id, "Arn"]},
                    "RetryPolicy": Match.object_like({"MaximumRetryAttempts": 8}),
                }
            )
        ]
    )
    buckets = synthesized.resources("AWS::S3::Bucket")
    landing = next(k for k in buckets if k.startswith("PlatformBucketsLanding"))
    finance = next(k for k in buckets if k.startswith("PlatformBucketsFinance"))

    # then one rule matches every new object of the landing bucket
    synthesized.assertions.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.s3"],
                "detail-type": ["Object Created"],
                "detail": {"bucket": {"name": [{"Ref": landing}]}},
            },
            "Targets": target,
        },
    )
    # and one only the deliveries under landing/ in the finance bucket
    synthesized.assertions.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.s3"],
                "detail-type": ["Object Created"],
                "detail": {
                    "bucket": {"name": [{"Ref": finance}]},
                    "object": {"key": [{"prefix": "landing/"}]},
                },
            },
            "Targets": target,
        },
    )
    # and EventBridge may invoke the function
    synthesized.assertions.has_resource_properties(
        "AWS::Lambda::Permission",
        {
            "Action": "lambda:InvokeFunction",
            "FunctionName": {"Fn::GetAtt": [logical_id, "Arn"]},
            "Principal": "events.amazonaws.com",
        },
    )


def test_function_may_write_state_and_its_own_metrics_and_read_no_bucket(
    synthesized: Synthesized,
) -> None:
    # given the inventory function's role policy
    _, fn = _inventory_function(synthesized)
    role_id = fn["Properties"]["Role"]["Fn::GetAtt"][0]
    policies = [
        p
        for p in synthesized.resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
    ]
    statements = [s for p in policies for s in p["Properties"]["PolicyDocument"]["Statement"]]
    actions = {
        a
        for s in statements
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }

    # then it writes the state table and metrics of its namespace only, and touches no S3
    assert {"dynamodb:PutItem", "dynamodb:UpdateItem", "cloudwatch:PutMetricData"} <= actions
    assert not any(a.startswith("s3:") for a in actions)
    (metrics,) = [s for s in statements if s["Action"] == "cloudwatch:PutMetricData"]
    assert metrics["Condition"] == {
        "StringEquals": {"cloudwatch:namespace": synthesized.config.metrics_namespace}
    }
