"""The pipeline state table (DynamoDB, pk/sk strings): landing records and freshness.

The client is passed in (`boto3.client("dynamodb")`); nothing here reads the environment.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from functions.adapters.aws_errors import classified
from functions.core.landing import freshness_key

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


def _attributes(item: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _SERIALIZER.serialize(value) for name, value in item.items()}


def put_record(dynamodb: Any, *, table: str, item: Mapping[str, Any]) -> None:
    """Write `item` (with its pk and sk); a second write of the same keys overwrites it,
    which makes a redelivered event harmless."""
    try:
        dynamodb.put_item(TableName=table, Item=_attributes(item))
    except ClientError as exc:
        raise classified(exc, f"put {item.get('pk')}/{item.get('sk')}") from exc


def advance_freshness(dynamodb: Any, *, table: str, source: str, landed_at: str, key: str) -> bool:
    """Set the source's newest landed_at to `landed_at` if it is newer than the stored one.

    Times are ISO 8601 UTC strings of one format, so string order is time order. Returns
    False (nothing written) when an equal or newer landing is already recorded: a late or
    redelivered event never moves freshness backwards.
    """
    try:
        dynamodb.update_item(
            TableName=table,
            Key=_attributes(freshness_key(source)),
            UpdateExpression="SET landed_at = :landed_at, #key = :key, #source = :source",
            ConditionExpression="attribute_not_exists(landed_at) OR landed_at < :landed_at",
            ExpressionAttributeNames={"#key": "key", "#source": "source"},
            ExpressionAttributeValues=_attributes(
                {":landed_at": landed_at, ":key": key, ":source": source}
            ),
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise classified(exc, f"freshness of {source}") from exc
    return True


def get_item(dynamodb: Any, *, table: str, pk: str, sk: str) -> dict[str, Any] | None:
    """One item as plain Python values (strongly consistent), or None."""
    response = dynamodb.get_item(
        TableName=table, Key=_attributes({"pk": pk, "sk": sk}), ConsistentRead=True
    )
    raw = response.get("Item")
    if raw is None:
        return None
    return {name: _DESERIALIZER.deserialize(value) for name, value in raw.items()}
