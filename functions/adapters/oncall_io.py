"""On-call records in the state table, and muting alarms (clients passed in).

Used by `pablo oncall` and by the unmute function; item shapes in functions/core/monitor/oncall.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from functions.adapters import state_store
from functions.core.monitor import oncall, oncall_replay
from functions.core.monitor.oncall import Ack

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()
BATCH_WRITE_LIMIT = 25


def _plain(raw: dict[str, Any]) -> dict[str, Any]:
    return {name: _DESERIALIZER.deserialize(value) for name, value in raw.items()}


def _query(dynamodb: Any, *, table: str, pk: str, sk_prefix: str = "") -> list[dict[str, Any]]:
    """Every item of `pk` (whose sk starts with `sk_prefix`), all pages, strongly consistent."""
    condition = "pk = :pk" + (" AND begins_with(sk, :prefix)" if sk_prefix else "")
    values: dict[str, Any] = {":pk": {"S": pk}}
    if sk_prefix:
        values[":prefix"] = {"S": sk_prefix}
    paginator = dynamodb.get_paginator("query")
    items: list[dict[str, Any]] = []
    for page in paginator.paginate(
        TableName=table,
        KeyConditionExpression=condition,
        ExpressionAttributeValues=values,
        ConsistentRead=True,
    ):
        items.extend(_plain(raw) for raw in page.get("Items", []))
    return items


def record_ack(dynamodb: Any, *, table: str, ack: Ack) -> None:
    state_store.put_record(dynamodb, table=table, item=ack.item())


def acks(dynamodb: Any, *, table: str, alarm: str | None = None) -> list[Ack]:
    """Acknowledgements (of one alarm, or all), oldest first."""
    prefix = f"{alarm}#" if alarm else ""
    items = _query(dynamodb, table=table, pk=oncall.ACK_PK, sk_prefix=prefix)
    return [oncall.ack_from_item(item) for item in items]


def close_ack(dynamodb: Any, *, table: str, ack: Ack, at: str, reason: str) -> bool:
    """Close an open acknowledgement; False if it was already closed (redelivery)."""
    try:
        dynamodb.update_item(
            TableName=table,
            Key={name: {"S": value} for name, value in ack.key().items()},
            UpdateExpression="SET #status = :closed, closed_at = :at, closed_reason = :reason",
            ConditionExpression="#status = :open",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":closed": {"S": oncall.CLOSED},
                ":open": {"S": oncall.OPEN},
                ":at": {"S": at},
                ":reason": {"S": reason},
            },
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise
    return True


def set_actions(cloudwatch: Any, *, alarm: str, enabled: bool) -> None:
    """Mute (DisableAlarmActions) or unmute (EnableAlarmActions) one alarm."""
    if enabled:
        cloudwatch.enable_alarm_actions(AlarmNames=[alarm])
    else:
        cloudwatch.disable_alarm_actions(AlarmNames=[alarm])


def replayed_digests(dynamodb: Any, *, table: str, pipeline: str, reason: str) -> set[str]:
    items = _query(dynamodb, table=table, pk=oncall_replay.replayed_pk(pipeline, reason))
    return {str(item["sk"]) for item in items}


def mark_replayed(
    dynamodb: Any, *, table: str, pipeline: str, reason: str, digests: Iterable[str], at: str
) -> int:
    """One item per replayed record, so the next replay skips it. Returns how many."""
    pk = oncall_replay.replayed_pk(pipeline, reason)
    requests = [
        {"PutRequest": {"Item": {"pk": {"S": pk}, "sk": {"S": d}, "replayed_at": {"S": at}}}}
        for d in sorted(set(digests))
    ]
    for start in range(0, len(requests), BATCH_WRITE_LIMIT):
        pending: dict[str, Any] = {table: requests[start : start + BATCH_WRITE_LIMIT]}
        while pending:
            response = dynamodb.batch_write_item(RequestItems=pending)
            pending = response.get("UnprocessedItems") or {}
    return len(requests)


def record_replay_run(dynamodb: Any, *, table: str, item: dict[str, Any]) -> None:
    state_store.put_record(dynamodb, table=table, item=item)


def replay_runs(dynamodb: Any, *, table: str) -> list[dict[str, Any]]:
    return _query(dynamodb, table=table, pk=oncall_replay.REPLAY_PK)
