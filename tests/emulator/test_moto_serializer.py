"""moto_patches.core moto-dict-keys-listed-once-per-answer: answers serialized from plain
dicts are byte for byte moto's, with the keys of each member listed once per answer."""

from __future__ import annotations

from typing import Any, Final

import pytest
from moto.core.serialize import XFormedAttributePicker

from pablo.local.context import local_client
from pablo.local.moto_patches import core, registry
from tests.support import state_table, threaded_moto

RECORDS: Final = 40
ITEMS: Final = 12


def _raw_answers(endpoint: str, stream: str, table: str) -> list[bytes]:
    """The response bodies, byte for byte, of answers moto serializes from dicts: a
    PutRecords into a new stream, the stream described, a table's items queried."""
    bodies: list[bytes] = []

    def recorded(service: str) -> Any:
        client = local_client(service, endpoint)
        client.meta.events.register(
            "after-call", lambda http_response, **_: bodies.append(http_response.content)
        )
        return client

    kinesis = recorded("kinesis")
    kinesis.create_stream(StreamName=stream, ShardCount=2)
    records = [
        {"Data": f"click {n}".encode(), "PartitionKey": f"account-{n}"} for n in range(RECORDS)
    ]
    kinesis.put_records(StreamName=stream, Records=records)
    kinesis.describe_stream_summary(StreamName=stream)
    dynamodb = recorded("dynamodb")
    dynamodb.query(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "day"}},
    )
    dynamodb.batch_get_item(
        RequestItems={
            table: {"Keys": [{"pk": {"S": "day"}, "sk": {"S": f"{n:02d}"}} for n in range(3)]}
        }
    )
    return [body for body in bodies if b"StreamCreationTimestamp" not in body]


def test_answers_from_dicts_are_moto_s_listing_keys_once_per_member(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a table of items with maps and lists, stock moto in this process
    with threaded_moto() as endpoint:
        table = state_table(local_client("dynamodb", endpoint))
        for n in range(ITEMS):
            item = {
                "pk": {"S": "day"},
                "sk": {"S": f"{n:02d}"},
                "m": {"M": {"l": {"L": [{"N": "1"}]}}},
            }
            local_client("dynamodb", endpoint).put_item(TableName=table, Item=item)
        # When the answers are made by moto, then with the patch, whose listings of the
        # keys to try are counted
        stock = _raw_answers(endpoint, "stock", table)
        listings: list[str] = []
        listed = XFormedAttributePicker.get_possible_keys

        def counted(self: XFormedAttributePicker, context: Any) -> Any:
            listings.append(context.key)
            return listed(self, context)

        monkeypatch.setattr(XFormedAttributePicker, "get_possible_keys", counted)
        registry.apply(core.DICT_KEYS_LISTED_ONCE_PER_ANSWER)
        try:
            patched = _raw_answers(endpoint, "patched", table)
        finally:
            registry.restore(core.DICT_KEYS_LISTED_ONCE_PER_ANSWER)
    # Then the answers are the same, byte for byte, and a record's members were listed
    # once for the whole PutRecords answer
    assert patched == stock
    assert b'"SequenceNumber": "' in stock[1]
    assert listings.count("SequenceNumber") == 1
    assert listings.count("S") < ITEMS
