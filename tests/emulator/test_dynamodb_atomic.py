"""moto_patches.dynamodb: a read never sees an item write half done; a Query reads its
partition and answers as moto does."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

import pytest
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
