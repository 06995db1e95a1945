"""moto_patches.s3 s3-list-prefix-fast: a listing reads only its prefix, and answers as
moto does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from moto.s3.utils import _VersionedKeyStore

from pablo.local.context import local_client
from pablo.local.moto_patches import registry, s3
from tests.support import threaded_moto

BUCKET = "lake"
VERSIONED = "versioned"
KEYS = (
    "clicks/dt=2026-09-01/version=a/data.parquet",
    "clicks/dt=2026-09-01/version=b/data.parquet",
    "clicks/dt=2026-09-02/version=a/data.parquet",
    "clicks/dt=2026-09-02/_SUCCESS",
    "clicks_extra/dt=2026-09-01/data.parquet",
    "dedup_daily/dt=2026-09-01/version=a/data.parquet",
    "top.txt",
)


def _listings(client: Any) -> dict[str, Any]:
    """The answers of every kind of listing the pipelines and analysts make."""

    def v2(**kwargs: Any) -> Callable[[], Any]:
        return lambda: client.list_objects_v2(Bucket=BUCKET, **kwargs)

    calls: dict[str, Callable[[], Any]] = {
        "prefix": v2(Prefix="clicks/"),
        "prefix of a partition": v2(Prefix="clicks/dt=2026-09-01/"),
        "prefix shared by two tables": v2(Prefix="clicks"),
        "delimiter": v2(Prefix="clicks/", Delimiter="/"),
        "nothing under it": v2(Prefix="missing/"),
        "no prefix": v2(),
        "first page": v2(Prefix="clicks/", MaxKeys=2),
        "after a key": v2(Prefix="clicks/", StartAfter=KEYS[0]),
        "v1": lambda: client.list_objects(Bucket=BUCKET, Prefix="clicks/dt=", Delimiter="/"),
        "deleted, versioned": lambda: client.list_objects_v2(Bucket=VERSIONED, Prefix="clicks/"),
    }
    answers = {}
    for name, call in calls.items():
        answer = call()
        answer.pop("ResponseMetadata")
        answers[name] = answer
    first = client.list_objects_v2(Bucket=BUCKET, Prefix="clicks/", MaxKeys=2)
    answers["next page"] = [
        obj["Key"]
        for obj in client.list_objects_v2(
            Bucket=BUCKET, Prefix="clicks/", ContinuationToken=first["NextContinuationToken"]
        )["Contents"]
    ]
    return answers


def test_listings_answer_as_moto_does_with_the_patch(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a bucket with keys under shared prefixes, and a versioned one with a key deleted
    with threaded_moto() as endpoint:
        client = local_client("s3", endpoint)
        client.create_bucket(Bucket=BUCKET)
        for key in KEYS:
            client.put_object(Bucket=BUCKET, Key=key, Body=key.encode())
        client.create_bucket(Bucket=VERSIONED)
        client.put_bucket_versioning(
            Bucket=VERSIONED, VersioningConfiguration={"Status": "Enabled"}
        )
        for key in KEYS[:3]:
            client.put_object(Bucket=VERSIONED, Key=key, Body=b"x")
        client.delete_object(Bucket=VERSIONED, Key=KEYS[1])
        # When every kind of listing is made by moto, then with the patch
        stock = _listings(client)
        whole_stores: list[int] = []
        items = _VersionedKeyStore.items

        def counted_items(store: _VersionedKeyStore) -> Any:
            whole_stores.append(len(store))
            return items(store)

        monkeypatch.setattr(_VersionedKeyStore, "items", counted_items)
        registry.apply(s3.LIST_PREFIX_FAST)
        try:
            patched = _listings(client)
        finally:
            registry.restore(s3.LIST_PREFIX_FAST)
    # Then the answers are the same, and only the listing without a prefix read the whole
    # store
    assert patched == stock
    assert whole_stores == [len(KEYS)]
    # and they are the keys asked for
    assert [o["Key"] for o in stock["prefix of a partition"]["Contents"]] == list(KEYS[:2])
    assert [p["Prefix"] for p in stock["delimiter"]["CommonPrefixes"]] == [
        "clicks/dt=2026-09-01/",
        "clicks/dt=2026-09-02/",
    ]
    assert [o["Key"] for o in stock["deleted, versioned"]["Contents"]] == [KEYS[0], KEYS[2]]
    assert stock["next page"] == [KEYS[3], KEYS[2]]
