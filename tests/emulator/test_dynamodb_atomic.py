"""moto_patches.dynamodb: a read never sees an item write half done; a Query reads its
partition and answers as moto does; items are serialized directly, byte for byte as moto
does."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any, Final

import pytest
from moto.core.serialize import XFormedAttributePicker
from moto.dynamodb.models.table import Table
from moto.dynamodb.parsing.executors import UpdateExpressionExecutor

from pablo.local.context import local_client
from pablo.local.moto_patches import dynamodb, registry
from tests.support import state_table, threaded_moto

TABLE = "state"
KEY = {"pk": {"S": "freshness#invoices"}, "sk": {"S": "latest"}}
PAUSE_LIMIT = 10.0
READ_GRACE = 1.0


@pytest.fixture
def paused_updates(
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[threading.Event, threading.Event]]:
    """(paused, release): moto's UpdateItem stops after storing the item's key, before
    applying its update expression, until `release` is set."""
    paused, release = threading.Event(), threading.Event()
    original = UpdateExpressionExecutor.execute

    def execute(self: UpdateExpressionExecutor, *args: Any) -> Any:
        paused.set()
        release.wait(PAUSE_LIMIT)
        return original(self, *args)

    monkeypatch.setattr(UpdateExpressionExecutor, "execute", execute)
    yield paused, release
    release.set()


@pytest.fixture
def atomic_moto() -> Iterator[Any]:
    """Stock moto in this process with the patch applied; a DynamoDB client and table."""
    registry.apply(dynamodb.REQUESTS_ATOMIC)
    try:
        with threaded_moto() as endpoint:
            client = local_client("dynamodb", endpoint)
            state_table(client, TABLE)
            yield client
    finally:
        registry.restore(dynamodb.REQUESTS_ATOMIC)


def test_a_read_during_an_update_creating_the_item_sees_it_whole(
    atomic_moto: Any, paused_updates: tuple[threading.Event, threading.Event]
) -> None:
    paused, release = paused_updates
    with ThreadPoolExecutor(max_workers=2) as pool:
        # Given an UpdateItem creating the item, held after moto stored the bare key
        update = pool.submit(
            atomic_moto.update_item,
            TableName=TABLE,
            Key=KEY,
            UpdateExpression="SET landed_at = :at",
            ExpressionAttributeValues={":at": {"S": "2026-09-02T00:00:00Z"}},
        )
        assert paused.wait(PAUSE_LIMIT)
        # When a consistent read of the item is made meanwhile
        read = pool.submit(atomic_moto.get_item, TableName=TABLE, Key=KEY, ConsistentRead=True)
        answered_early = bool(wait([read], timeout=READ_GRACE).done)
        release.set()
        update.result(PAUSE_LIMIT)
        item = read.result(PAUSE_LIMIT)["Item"]
    # Then the read waited for the update and sees the whole item
    assert not answered_early
    assert item["landed_at"] == {"S": "2026-09-02T00:00:00Z"}


def _queries(client: Any, table: str) -> list[Any]:
    """The answers of the queries the pipelines make, and of paging, order and filters."""
    calls: list[dict[str, Any]] = [
        {"KeyConditionExpression": "pk = :pk", "ExpressionAttributeValues": {":pk": {"S": "a"}}},
        {
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :p)",
            "ExpressionAttributeValues": {":pk": {"S": "a"}, ":p": {"S": "2026-09"}},
        },
        {
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": "a"}},
            "ScanIndexForward": False,
            "Limit": 3,
        },
        {
            "KeyConditionExpression": "pk = :pk",
            "FilterExpression": "n > :n",
            "ExpressionAttributeValues": {":pk": {"S": "b"}, ":n": {"N": "2"}},
        },
        {"KeyConditionExpression": "pk = :pk", "ExpressionAttributeValues": {":pk": {"S": "z"}}},
    ]
    answers = []
    for call in calls:
        answer = client.query(TableName=table, ConsistentRead=True, **call)
        answer.pop("ResponseMetadata")
        answers.append(answer)
    first = client.query(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "a"}},
        Limit=2,
    )
    answers.append(
        client.query(
            TableName=table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": "a"}},
            ExclusiveStartKey=first["LastEvaluatedKey"],
        )["Items"]
    )
    return answers


def test_a_query_answers_as_moto_does_reading_only_its_partition(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a table of three partitions, stock moto in this process
    with threaded_moto() as endpoint:
        client = local_client("dynamodb", endpoint)
        table = state_table(client)
        for pk, count in (("a", 6), ("b", 4), ("c", 5)):
            for n in range(count):
                item = {"pk": {"S": pk}, "sk": {"S": f"2026-0{8 + n % 2}-{n:02d}"}}
                client.put_item(TableName=table, Item={**item, "n": {"N": str(n)}})
        # When the queries are made by moto, then with the patch, whose reads are counted
        stock = _queries(client, table)
        whole_tables: list[int] = []
        all_items = Table.all_items

        def counted(self: Table) -> Any:
            found = all_items(self)
            whole_tables.append(len(found))
            return found

        monkeypatch.setattr(Table, "all_items", counted)
        registry.apply(dynamodb.QUERY_READS_ITS_PARTITION)
        try:
            patched = _queries(client, table)
        finally:
            registry.restore(dynamodb.QUERY_READS_ITS_PARTITION)
    # Then the answers are the same, and no query read the whole table
    assert patched == stock
    assert whole_tables == []
    assert [item["sk"]["S"] for item in stock[2]["Items"]] == [
        "2026-09-05",
        "2026-09-03",
        "2026-09-01",
    ]


# An item holding every type of attribute value, nested and empty ones included.
EVERY_TYPE: Final = {
    "pk": {"S": "every"},
    "sk": {"S": "type"},
    "s": {"S": "text é"},
    "empty": {"S": ""},
    "n": {"N": "-12.50"},
    "b": {"B": b"\x00\xffbytes"},
    "ss": {"SS": ["a", "b"]},
    "ns": {"NS": ["1", "2.5"]},
    "bs": {"BS": [b"\x01", b"\x02"]},
    "null": {"NULL": True},
    "yes": {"BOOL": True},
    "no": {"BOOL": False},
    "nothing": {"L": []},
    "none": {"M": {}},
    "m": {"M": {"inner": {"L": [{"N": "1"}, {"M": {"deep": {"B": b"\x03"}}}, {"SS": ["x"]}]}}},
}


def _raw_answers(endpoint: str, table: str) -> list[bytes]:
    """The response bodies, byte for byte, of every action that answers with items."""
    bodies: list[bytes] = []
    client = local_client("dynamodb", endpoint)
    client.meta.events.register(
        "after-call.dynamodb", lambda http_response, **_: bodies.append(http_response.content)
    )
    key = {"pk": EVERY_TYPE["pk"], "sk": EVERY_TYPE["sk"]}
    client.get_item(TableName=table, Key=key)
    client.get_item(TableName=table, Key=key, ProjectionExpression="m.inner[1], ns")
    client.query(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "every"}},
    )
    client.scan(TableName=table)
    client.batch_get_item(RequestItems={table: {"Keys": [key]}})
    client.update_item(
        TableName=table,
        Key=key,
        UpdateExpression="SET added = :v",
        ExpressionAttributeValues={":v": {"L": [{"BOOL": True}]}},
        ReturnValues="ALL_NEW",
    )
    client.put_item(TableName=table, Item=EVERY_TYPE, ReturnValues="ALL_OLD")
    return bodies


def test_items_are_serialized_as_moto_does_without_picking_each_member(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a table holding an item of every attribute type, stock moto in this process
    with threaded_moto() as endpoint:
        client = local_client("dynamodb", endpoint)
        table = state_table(client)
        client.put_item(TableName=table, Item=EVERY_TYPE)
        # When the actions answering with items are made by moto, then with the patch,
        # whose member picks are counted
        stock = _raw_answers(endpoint, table)
        picks: list[str] = []
        pick = XFormedAttributePicker.__call__

        def counted(self: XFormedAttributePicker, context: Any) -> Any:
            picks.append(context.key)
            return pick(self, context)

        monkeypatch.setattr(XFormedAttributePicker, "__call__", counted)
        registry.apply(dynamodb.ATTRIBUTE_VALUES_SERIALIZED_DIRECTLY)
        try:
            patched = _raw_answers(endpoint, table)
        finally:
            registry.restore(dynamodb.ATTRIBUTE_VALUES_SERIALIZED_DIRECTLY)
    # Then every answer is the same, byte for byte, and no attribute value was picked
    # member by member
    assert patched == stock
    assert not set(picks) & {"S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL"}
    assert b'"b": {"B": "AP9ieXRlcw=="}' in stock[0]
