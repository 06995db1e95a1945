"""Growth pipeline I/O: S3 objects, the event-id ledger in the state table, Glue partitions,
CloudWatch values. Clients are passed in; nothing here reads the environment.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from botocore.exceptions import ClientError

from functions.adapters.aws_errors import classified, error_code
from functions.core.ingest.account_events import Landed

EVENT_PK_PREFIX: Final = "account_event#"
EVENT_SK: Final = "first_landed"
_BATCH_GET_LIMIT: Final = 100


# --- S3 ----------------------------------------------------------------------------------


def put_object(s3: Any, *, bucket: str, key: str, body: bytes) -> None:
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    except ClientError as exc:
        raise classified(exc, f"put s3://{bucket}/{key}") from exc


def delete_keys(s3: Any, *, bucket: str, keys: Sequence[str]) -> None:
    for start in range(0, len(keys), 1000):
        chunk = keys[start : start + 1000]
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in chunk]})


# --- the event-id ledger (first copy landed wins) ----------------------------------------


def _event_key(event_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"{EVENT_PK_PREFIX}{event_id}"}, "sk": {"S": EVENT_SK}}


def _landed(item: Mapping[str, Any]) -> Landed:
    return Landed(content_hash=item["content_hash"]["S"], source_key=item["source_key"]["S"])


def landed_events(dynamodb: Any, *, table: str, event_ids: Iterable[str]) -> dict[str, Landed]:
    """What the ledger holds for these ids (BatchGetItem, 100 at a time)."""
    ids = sorted(set(event_ids))
    found: dict[str, Landed] = {}
    for start in range(0, len(ids), _BATCH_GET_LIMIT):
        request: dict[str, Any] = {
            table: {
                "Keys": [_event_key(i) for i in ids[start : start + _BATCH_GET_LIMIT]],
                "ConsistentRead": True,
            }
        }
        while request:
            try:
                answer = dynamodb.batch_get_item(RequestItems=request)
            except ClientError as exc:
                raise classified(exc, "state table batch get") from exc
            for item in answer.get("Responses", {}).get(table, []):
                found[item["pk"]["S"][len(EVENT_PK_PREFIX) :]] = _landed(item)
            request = answer.get("UnprocessedKeys") or {}
    return found


def claim_event(
    dynamodb: Any, *, table: str, event_id: str, content_hash: str, source_key: str
) -> Landed:
    """Record `source_key` as the first file that landed `event_id`, unless another file
    already did; returns the ledger's entry either way (a conditional write, so two files
    racing for one id agree on the winner)."""
    try:
        dynamodb.put_item(
            TableName=table,
            Item={
                **_event_key(event_id),
                "content_hash": {"S": content_hash},
                "source_key": {"S": source_key},
            },
            ConditionExpression="attribute_not_exists(pk)",
        )
    except ClientError as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            raise classified(exc, f"claim {event_id}") from exc
        answer = dynamodb.get_item(TableName=table, Key=_event_key(event_id), ConsistentRead=True)
        return _landed(answer["Item"])
    return Landed(content_hash=content_hash, source_key=source_key)


# --- CloudWatch --------------------------------------------------------------------------


def put_values(
    cloudwatch: Any,
    *,
    namespace: str,
    values: Mapping[str, tuple[float, str]],
    at: datetime,
    dimensions: Mapping[str, str] | None = None,
) -> None:
    """Metric name -> (value, unit) at time `at` (the run's now), in one call per 20."""
    items = sorted(values.items())
    for start in range(0, len(items), 20):
        data = [
            {
                "MetricName": name,
                "Dimensions": [{"Name": k, "Value": v} for k, v in (dimensions or {}).items()],
                "Timestamp": at,
                "Value": float(value),
                "Unit": unit,
            }
            for name, (value, unit) in items[start : start + 20]
        ]
        try:
            cloudwatch.put_metric_data(Namespace=namespace, MetricData=data)
        except ClientError as exc:
            raise classified(exc, "PutMetricData") from exc
