"""S3 objects: listing a prefix, getting, putting, streaming and deleting objects, and
fetching many small Parquet files at once. Errors are classified by the one shared rule
(aws_errors). Tables of the schema registry (partitions, Parquet files) are in s3_tables.

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
import json
import os
import shutil
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final, TypeVar

import pyarrow as pa
import pyarrow.parquet as pq
from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import BotoCoreError, ClientError

from functions.adapters.aws_errors import RETRYABLE_CODES, classified
from functions.core.errors import TerminalError, TransientError

# Each GET waits on S3 far longer than its bytes take to parse, and a pipeline's inputs are
# many small files (a day of a table each): they are fetched this many at a time.
FETCH_THREADS: Final = 8
T = TypeVar("T")
R = TypeVar("R")
BODY_CACHE_BYTES: Final = 128 * 2**20
_MAX_KEPT: Final = BODY_CACHE_BYTES // 8  # a bigger object would evict everything else
DOWNLOAD_CHUNK_BYTES: Final = 1 << 20
# s3transfer's own multipart threshold: a file up to it goes up in one PutObject anyway.
SINGLE_PUT_MAX_BYTES: Final = 8 * 2**20
DELETE_BATCH: Final = 1000  # DeleteObjects' limit per call
NOT_FOUND_CODES: Final = frozenset({"404", "NoSuchKey", "NotFound"})

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


def objects_under(s3: Any, *, bucket: str, prefixes: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Every object under any of `prefixes` (each a folder, ending in `/`), by key in key
    order, as ListObjectsV2 describes it (`ETag`, `Size`, ...).

    The partitions of one table (`table/dt=2026-09-01/`, `table/dt=2026-09-02/`, ...) are
    listed together: one listing of the table's folder from the first of them, stopped once
    past the last, instead of one listing each (a month of days: one request, not 30)."""
    by_folder: dict[str, list[str]] = {}
    for prefix in prefixes:
        parent = prefix.rstrip("/").rpartition("/")[0]
        # A top-level folder's parent is the bucket itself: the empty prefix.
        by_folder.setdefault(f"{parent}/" if parent else "", []).append(prefix)
    found: dict[str, dict[str, Any]] = {}
    for folder, wanted in by_folder.items():
        first, last = min(wanted), max(wanted)
        # One partition: its own listing; several: the folder's, from the first.
        prefix, start_after = (first, "") if first == last else (folder, first)
        for obj in _listed(s3, bucket=bucket, prefix=prefix, start_after=start_after, stop=last):
            if obj["Key"].startswith(tuple(wanted)):
                found[obj["Key"]] = obj
    return dict(sorted(found.items()))


def _listed(
    s3: Any, *, bucket: str, prefix: str, start_after: str, stop: str
) -> Iterator[dict[str, Any]]:
    """The objects under `prefix` after `start_after`, page by page, until a page ends past
    every key under `stop`."""
    after = {"StartAfter": start_after} if start_after else {}
    try:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, **after)
        for page in pages:
            contents = page.get("Contents", [])
            yield from contents
            if contents and contents[-1]["Key"] > stop and not contents[-1]["Key"].startswith(stop):
                return
    except (ClientError, BotoCoreError) as exc:
        raise classified(exc, f"list s3://{bucket}/{prefix}") from exc


def prefix_bytes(s3: Any, *, bucket: str, prefix: str) -> int:
    """The total size of the objects under `prefix` (from the listing alone: none is read)."""
    total = 0
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            total += sum(int(obj.get("Size", 0)) for obj in page.get("Contents", []))
    except (ClientError, BotoCoreError) as exc:
        raise classified(exc, f"list s3://{bucket}/{prefix}") from exc
    return total


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


def put_object(
    s3: Any,
    *,
    bucket: str,
    key: str,
    body: bytes,
    kms: bool = False,
    content_type: str | None = None,
    metadata: Mapping[str, str] | None = None,
) -> str | None:
    """Put the object; the ETag S3 answered with (None if it gave none). `kms` asks for
    SSE-KMS explicitly (the finance bucket's default key), so a restricted object is never
    stored under another key even if a bucket default changed."""
    extra: dict[str, Any] = {"ServerSideEncryption": "aws:kms"} if kms else {}
    if content_type is not None:
        extra["ContentType"] = content_type
    if metadata is not None:
        extra["Metadata"] = dict(metadata)
    try:
        answer = s3.put_object(Bucket=bucket, Key=key, Body=body, **extra)
    except (ClientError, BotoCoreError) as exc:
        raise classified(exc, f"put s3://{bucket}/{key}") from exc
    etag = answer.get("ETag")
    return str(etag) if etag else None


def put_json(s3: Any, *, bucket: str, key: str, value: Any) -> None:
    """`value` as sorted-key JSON (anything JSON lacks written as its str)."""
    put_object(
        s3, bucket=bucket, key=key, body=json.dumps(value, sort_keys=True, default=str).encode()
    )


def read_json(s3: Any, *, bucket: str, key: str) -> Any:
    return json.loads(read_object(s3, bucket=bucket, key=key))


def put_parquet(s3: Any, *, bucket: str, key: str, table: pa.Table) -> None:
    """A table as one zstd Parquet object, with the table's own schema."""
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    put_object(s3, bucket=bucket, key=key, body=sink.getvalue())


def read_parquet(s3: Any, *, bucket: str, key: str) -> pa.Table:
    return pq.read_table(io.BytesIO(read_object(s3, bucket=bucket, key=key)))


def upload_file(s3: Any, *, bucket: str, key: str, path: str) -> None:
    """A local file to S3: a small one in one PutObject, a large one streamed (multipart)
    and never read into memory whole. (The transfer manager costs a thread pool per file,
    which a day of a few MiB, the usual one, does not need.)"""
    if os.path.getsize(path) <= SINGLE_PUT_MAX_BYTES:
        with open(path, "rb") as body:
            put_object(s3, bucket=bucket, key=key, body=body.read())
        return
    try:
        s3.upload_file(path, bucket, key)
    except (ClientError, BotoCoreError, S3UploadFailedError) as exc:
        raise classified(exc, f"upload s3://{bucket}/{key}") from exc


def metadata(s3: Any, *, bucket: str, key: str) -> dict[str, str] | None:
    """The object's user metadata (`x-amz-meta-*`), or None when there is no such object."""
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in NOT_FOUND_CODES:
            return None
        raise classified(exc, f"head s3://{bucket}/{key}") from exc
    except BotoCoreError as exc:
        raise classified(exc, f"head s3://{bucket}/{key}") from exc
    return dict(head.get("Metadata", {}))


def delete_object(s3: Any, *, bucket: str, key: str) -> None:
    """Delete one object (deleting a key that does not exist succeeds, as in S3)."""
    try:
        s3.delete_object(Bucket=bucket, Key=key)
    except (ClientError, BotoCoreError) as exc:
        raise classified(exc, f"delete s3://{bucket}/{key}") from exc


def delete_keys(s3: Any, *, bucket: str, keys: Sequence[str]) -> None:
    """Delete the objects, DELETE_BATCH per call."""
    for start in range(0, len(keys), DELETE_BATCH):
        chunk = keys[start : start + DELETE_BATCH]
        try:
            answer = s3.delete_objects(
                Bucket=bucket, Delete={"Objects": [{"Key": k} for k in chunk]}
            )
        except (ClientError, BotoCoreError) as exc:
            raise classified(exc, f"delete under s3://{bucket}/{chunk[0]}") from exc
        # DeleteObjects answers 200 with the keys it could not delete listed in Errors.
        failed = answer.get("Errors", [])
        if failed:
            codes = sorted({str(e.get("Code")) for e in failed})
            what = f"delete of {len(failed)} objects under s3://{bucket}/{chunk[0]}: {codes}"
            if set(codes) <= RETRYABLE_CODES:
                raise TransientError(what)
            raise TerminalError(what)


def has_object(s3: Any, *, bucket: str, prefix: str, suffix: str = "") -> bool:
    """Whether a key under `prefix` ending with `suffix` is among the first few listed."""
    try:
        listing = s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=20)
    except (ClientError, BotoCoreError) as exc:
        raise classified(exc, f"list s3://{bucket}/{prefix}") from exc
    return any(o["Key"].endswith(suffix) for o in listing.get("Contents", []))


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
