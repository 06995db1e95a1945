"""DynamoDB: a request is seen whole by every other request, as in AWS."""

from __future__ import annotations

import threading
from typing import Any

from moto.dynamodb.responses import DynamoHandler

from pablo.local.moto_patches.registry import Patch, Replacement


def _requests_atomic() -> list[Replacement]:
    """DynamoDB requests are answered one at a time.

    Why: moto's UpdateItem of an item that does not exist yet first stores the bare key,
    then applies the update expression to it; on an existing item it applies the
    expression's actions one by one. A GetItem on another server thread can answer in
    between, with the key alone or half the update: seen as a freshness record without its
    `landed_at` while the landing inventory was writing it. AWS applies an item write
    atomically. DynamoDB requests are short and in-memory, so one lock costs little; it is
    re-entrant in case a request's handling ever issues another.
    """
    original = DynamoHandler.call_action
    lock = threading.RLock()

    def call_action(self: DynamoHandler) -> Any:
        with lock:
            return original(self)

    return [Replacement(DynamoHandler, "call_action", call_action)]


REQUESTS_ATOMIC = Patch("dynamodb-requests-atomic", "dynamodb", _requests_atomic)
