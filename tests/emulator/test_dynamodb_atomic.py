"""moto_patches.dynamodb: a read never sees an item write half done."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

import pytest
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
