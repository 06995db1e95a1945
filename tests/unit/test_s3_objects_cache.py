"""The warm container's body cache stays within its byte bound (least recently used out)."""

from __future__ import annotations

from collections import OrderedDict

import pytest

from functions.adapters import s3_objects


@pytest.fixture
def small_cache(monkeypatch: pytest.MonkeyPatch) -> OrderedDict[tuple[str, str, str], bytes]:
    bodies: OrderedDict[tuple[str, str, str], bytes] = OrderedDict()
    monkeypatch.setattr(s3_objects, "_bodies", bodies)
    monkeypatch.setattr(s3_objects, "_bodies_bytes", [0])
    monkeypatch.setattr(s3_objects, "BODY_CACHE_BYTES", 10)
    monkeypatch.setattr(s3_objects, "_MAX_KEPT", 5)
    return bodies


def test_the_oldest_bodies_leave_when_the_bound_is_passed(
    small_cache: OrderedDict[tuple[str, str, str], bytes],
) -> None:
    # given a 10-byte cache holding two 4-byte bodies
    s3_objects._remember(("b", "k1", "e"), b"1111")
    s3_objects._remember(("b", "k2", "e"), b"2222")
    # when a third comes, one too big to keep is offered, and k2 is rewritten smaller
    s3_objects._remember(("b", "k3", "e"), b"3333")
    s3_objects._remember(("b", "big", "e"), b"too big")
    s3_objects._remember(("b", "k2", "e"), b"2")
    # then the oldest went, the big one was never kept, and the count follows the bodies
    assert list(small_cache) == [("b", "k3", "e"), ("b", "k2", "e")]
    assert s3_objects._bodies_bytes[0] == sum(len(b) for b in small_cache.values()) == 5
