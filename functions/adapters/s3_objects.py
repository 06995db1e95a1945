"""S3 reads every pipeline shares: listing a prefix, getting an object, and fetching many
small Parquet files at once. Errors are classified by the one shared rule (aws_errors).

A warm Lambda keeps the bodies it read, by (bucket, key, ETag), and the Parquet tables it
parsed, by (bucket, key, ETag, schema), up to BODY_CACHE_BYTES together: a listing gives
each object's ETag, and an object read again with the same ETag is taken from memory (the
daily workflows re-read the same 30 days and every account event on each run, and parsing
them again cost as much as the GETs). A rewritten object has a new ETag, so it is read
again; what was read is filed under the ETag its GetObject answered with, never under the
listing's, so a race cannot mix them.
"""

from __future__ import annotations

import io
import shutil
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any, Final, TypeVar

import pyarrow as pa
import pyarrow.parquet as pq
from botocore.exceptions import BotoCoreError, ClientError

from functions.adapters.aws_errors import classified
from functions.core import schemas

# Each GET waits on S3 far longer than its bytes take to parse, and a pipeline's inputs are
# many small files (a day of a table each): they are fetched this many at a time.
FETCH_THREADS: Final = 8
T = TypeVar("T")
R = TypeVar("R")
BODY_CACHE_BYTES: Final = 128 * 2**20
_MAX_KEPT: Final = BODY_CACHE_BYTES // 8  # a bigger object would evict everything else
DOWNLOAD_CHUNK_BYTES: Final = 1 << 20

# Bodies (bytes) and parsed tables, least recently used first.
_bodies: OrderedDict[tuple[Any, ...], bytes | pa.Table] = OrderedDict()
_bodies_bytes = [0]  # the sum of the kept values' sizes, kept under _bodies_lock
_bodies_lock = threading.Lock()


def list_keys(s3: Any, *, bucket: str, prefix: str) -> list[str]:
    """Every key under `prefix`, sorted (so reading them gives the same table every time)."""
    return list(list_etags(s3, bucket=bucket, prefix=prefix))


def list_etags(
    s3: Any, *, bucket: str, prefix: str, start_after: str | None = None
) -> dict[str, str]:
    """Every key under `prefix` (after `start_after`, if given) with its ETag, in key order."""
    found: dict[str, str] = {}
    after = {"StartAfter": start_after} if start_after else {}
    try:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, **after)
        for page in pages:
            found.update((obj["Key"], obj["ETag"]) for obj in page.get("Contents", []))
    except (ClientError, BotoCoreError) as exc:
        raise classified(exc, f"list s3://{bucket}/{prefix}") from exc
    return dict(sorted(found.items()))


def read_object(s3: Any, *, bucket: str, key: str, etag: str | None = None) -> bytes:
    """The object's body; from this container's cache when `etag` (from a listing) is known."""
    if etag is not None:
        cached = _cached((bucket, key, etag))
        if isinstance(cached, bytes):
            return cached
    body, answered = _get(s3, bucket=bucket, key=key)
    if etag is not None and answered:
        _remember((bucket, key, answered), body)
    return body


def _get(s3: Any, *, bucket: str, key: str) -> tuple[bytes, str | None]:
    """The object's body and the ETag it was answered with."""
    try:
        answer = s3.get_object(Bucket=bucket, Key=key)
        body: bytes = answer["Body"].read()
    except (ClientError, BotoCoreError) as exc:
        raise classified(exc, f"get s3://{bucket}/{key}") from exc
    etag = answer.get("ETag")
    return body, str(etag) if etag else None


def download(s3: Any, *, bucket: str, key: str, path: str, etag: str | None = None) -> None:
    """The object streamed to a local file (any size, little memory); a small one is also
    kept, and taken from the cache next time, when `etag` (from a listing) is known."""
    if etag is not None:
        cached = _cached((bucket, key, etag))
        if isinstance(cached, bytes):
            with open(path, "wb") as out:
                out.write(cached)
            return
    try:
        answer = s3.get_object(Bucket=bucket, Key=key)
        with open(path, "wb") as out:
            shutil.copyfileobj(answer["Body"], out, DOWNLOAD_CHUNK_BYTES)
    except (ClientError, BotoCoreError) as exc:
        raise classified(exc, f"download s3://{bucket}/{key}") from exc
    if etag is not None and answer.get("ETag") and answer.get("ContentLength", 0) <= _MAX_KEPT:
        with open(path, "rb") as written:
            _remember((bucket, key, str(answer["ETag"])), written.read())


def is_current(*, bucket: str, key: str, etag: str | None, body: bytes) -> bool:
    """True when S3 already holds `body` at `key`: `etag` (from a listing) names a body this
    container wrote or read, and it is the same bytes. (The ETag alone cannot say: under
    SSE-KMS it is not the body's MD5.)"""
    if etag is None:
        return False
    held = _cached((bucket, key, etag))
    return isinstance(held, bytes) and held == body


def remember_written(*, bucket: str, key: str, etag: str | None, body: bytes) -> None:
    """Keep a body this container put, under the ETag the put answered with."""
    if etag:
        _remember((bucket, key, etag), body)


def _cached(name: tuple[Any, ...]) -> bytes | pa.Table | None:
    with _bodies_lock:
        found = _bodies.get(name)
        if found is not None:
            _bodies.move_to_end(name)
        return found


def _remember(name: tuple[Any, ...], value: bytes | pa.Table) -> None:
    if _size(value) > _MAX_KEPT:
        return  # a big object would evict everything else
    with _bodies_lock:
        replaced = _bodies.pop(name, None)
        _bodies[name] = value
        _bodies_bytes[0] += _size(value) - (_size(replaced) if replaced is not None else 0)
        while _bodies_bytes[0] > BODY_CACHE_BYTES:
            _, evicted = _bodies.popitem(last=False)
            _bodies_bytes[0] -= _size(evicted)


def _size(value: bytes | pa.Table) -> int:
    return len(value) if isinstance(value, bytes) else int(value.nbytes)


def read_tables(
    s3: Any,
    *,
    bucket: str,
    keys: Sequence[str],
    schema: pa.Schema | None = None,
    etags: Mapping[str, str] | None = None,
) -> list[pa.Table]:
    """One table per Parquet object at `keys`, in key order (read as `schema` if given);
    `etags` (from list_etags) lets unchanged objects come from the cache, parsed."""
    known = etags or {}

    def read(key: str) -> pa.Table:
        etag = known.get(key)
        if etag is not None:
            cached = _cached((bucket, key, etag, schema))
            if isinstance(cached, pa.Table):
                return cached
        body, answered = _get(s3, bucket=bucket, key=key)
        table = pq.read_table(io.BytesIO(body), schema=schema)
        if etag is not None and answered:
            _remember((bucket, key, answered, schema), table)
        return table

    return in_parallel(read, keys)


def in_parallel(work: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """`work` on each item, FETCH_THREADS at a time (S3 calls wait, they do not compute);
    the results in the items' order, the first exception raised."""
    if len(items) <= 1:
        return [work(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(FETCH_THREADS, len(items))) as pool:
        return list(pool.map(work, items))


def read_files(s3: Any, *, bucket: str, table: schemas.Table) -> pa.Table:
    """Every Parquet file of a registry table, concatenated (file schema, no partitions)."""
    schema = table.arrow_schema()
    etags = list_etags(s3, bucket=bucket, prefix=f"{table.prefix}/")
    keys = [key for key in etags if key.endswith(".parquet")]
    tables = read_tables(s3, bucket=bucket, keys=keys, schema=schema, etags=etags)
    return pa.concat_tables(tables) if tables else schema.empty_table()


def read_days(s3: Any, *, bucket: str, table: schemas.Table, first: date, last: date) -> pa.Table:
    """Rows of a `dt`-partitioned table for the days first..last, `dt` as a column: one
    listing of the table, not one per day, that starts at `first` when `dt` is the first
    partition (keys sort by day then), so years of older days are never listed."""
    schema = table.arrow_schema(with_partitions=True)
    low, high = first.isoformat(), last.isoformat()
    prefix = f"{table.prefix}/"
    start_after = f"{prefix}dt={low}" if table.partition_names[:1] == ["dt"] else None
    etags = list_etags(s3, bucket=bucket, prefix=prefix, start_after=start_after)
    keyed = [
        (key, dt)
        for key in etags
        if key.endswith(".parquet") and (dt := dt_of(key)) is not None and low <= dt <= high
    ]
    tables = read_tables(s3, bucket=bucket, keys=[key for key, _ in keyed], etags=etags)
    parts = [
        rows.append_column("dt", pa.array([dt] * rows.num_rows, pa.string()))
        .select(schema.names)
        .cast(schema)
        for (_, dt), rows in zip(keyed, tables, strict=True)
    ]
    return pa.concat_tables(parts) if parts else schema.empty_table()


def dt_of(key: str) -> str | None:
    """The `dt` partition value in a key, if any."""
    for segment in key.split("/"):
        name, _, value = segment.partition("=")
        if name == "dt":
            return value
    return None
