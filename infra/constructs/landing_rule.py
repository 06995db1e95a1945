"""EventBridge rules that hand landed S3 objects to a function, built one way.

A bucket with EventBridge notifications sends "Object Created" events; a rule per consumer
matches its bucket and key prefixes. The Lambda target retries a failed delivery
(throttling, service errors) this often and this long; function errors are retried by
Lambda's asynchronous invoke itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from constructs import Construct

from functions.core.landing import OBJECT_CREATED, S3_SOURCE

DELIVERY_RETRY_ATTEMPTS: Final = 8
DELIVERY_MAX_EVENT_AGE: Final = Duration.hours(6)


def lambda_target(function: lambda_.IFunction) -> targets.LambdaFunction:
    """The one delivery policy of every rule that invokes a pipeline function."""
    return targets.LambdaFunction(
        function, retry_attempts=DELIVERY_RETRY_ATTEMPTS, max_event_age=DELIVERY_MAX_EVENT_AGE
    )


def landing_files_rule(
    scope: Construct,
    construct_id: str,
    *,
    bucket: s3.IBucket,
    key_prefixes: Sequence[str] | None,
    function: lambda_.IFunction,
    description: str,
) -> events.Rule:
    """Objects created in `bucket` (under one of `key_prefixes`; anywhere when None) are
    delivered to `function`."""
    detail: dict[str, object] = {"bucket": {"name": [bucket.bucket_name]}}
    if key_prefixes is not None:
        detail["object"] = {"key": [{"prefix": prefix} for prefix in key_prefixes]}
    rule = events.Rule(
        scope,
        construct_id,
        description=description,
        event_pattern=events.EventPattern(
            source=[S3_SOURCE], detail_type=[OBJECT_CREATED], detail=detail
        ),
    )
    rule.add_target(lambda_target(function))
    return rule
