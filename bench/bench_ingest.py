"""The click ingest path against an anchor: records per second per core, and the ratio.

Measured path: `functions.core.ingest.clicks.decode_batch` then
`functions.core.parquet.write_parquet`, i.e. everything the ingest handler does to a batch
between the Lambda event and the S3 bodies (base64, parse, validate, quarantine, in-batch
dedup, Arrow, one Parquet file per event date). Input: a Lambda Kinesis event of 10,000
clicks of about 250 bytes.

Anchor, written here: the least a handler could do with the same input and no validation,
a msgspec typed decode of each record straight into Arrow columns and the same Parquet
writer. Targets: >= 250,000 records/s/core and >= 0.8x the anchor. Both are measured in the
same run, best of several repeats, single-threaded (`pa.set_cpu_count(1)`).

Also printed, for information: a dirty batch (1% bad records), which takes the careful path.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq

from functions.core import schemas
from functions.core.ingest import clicks
from functions.core.parquet import parquet_bytes, write_parquet

BATCH = 10_000
REPEATS = 21
TARGET_RECORDS_PER_SECOND = 250_000
TARGET_RATIO = 0.8
START = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)


class AnchorClick(msgspec.Struct):
    event_id: str
    account_id: str
    user_id: str
    event_type: str
    event_time: int
    page: str | None = None


def click_payload(i: int) -> dict[str, Any]:
    """A realistic ~250-byte click (UUID ids, a long-ish page path)."""
    event_time = START + timedelta(milliseconds=37 * i)
    return {
        "event_id": str(uuid.UUID(int=i + 1)),
        "account_id": f"acct-{i % 60:04d}-{uuid.UUID(int=i % 60)}"[:40],
        "user_id": f"user-{i % 1500:06d}",
        "event_type": schemas.CLICK_EVENT_TYPES[i % len(schemas.CLICK_EVENT_TYPES)],
        "event_time": int(event_time.timestamp() * 1000),
        "page": f"/app/reports/{i % 97}/quarterly-overview?tab={i % 5}&filter=region-emea&v=2",
    }


def kinesis_record(data: bytes, sequence: int, arrival: datetime) -> dict[str, Any]:
    """A record as the Lambda Kinesis event gives it."""
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": "acct",
            "sequenceNumber": f"4959{sequence:052d}",
            "data": base64.b64encode(data).decode("ascii"),
            "approximateArrivalTimestamp": arrival.timestamp(),
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"shardId-000000000000:4959{sequence:052d}",
        "eventName": "aws:kinesis:record",
        "awsRegion": "us-east-1",
        "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/clicks",
    }


def clean_event(size: int = BATCH) -> list[dict[str, Any]]:
    encoder = msgspec.json.Encoder()
    arrival = START + timedelta(minutes=10)
    return [kinesis_record(encoder.encode(click_payload(i)), i, arrival) for i in range(size)]


def dirty_event(size: int = BATCH, bad_every: int = 100) -> list[dict[str, Any]]:
    records = clean_event(size)
    arrival = START + timedelta(minutes=10)
    for i in range(0, size, bad_every):
        records[i] = kinesis_record(b'{"event_id": "x", "event_time": true}', i, arrival)
    return records


def anchor(records: list[dict[str, Any]]) -> bytes:
    """msgspec typed decode straight to Arrow and Parquet; no validation, no metadata."""
    decoder = msgspec.json.Decoder(AnchorClick)
    rows = [decoder.decode(base64.b64decode(r["kinesis"]["data"])) for r in records]
    table = pa.table(
        {
            "event_id": pa.array([r.event_id for r in rows], pa.string()),
            "account_id": pa.array([r.account_id for r in rows], pa.string()),
            "user_id": pa.array([r.user_id for r in rows], pa.string()),
            "event_type": pa.array([r.event_type for r in rows], pa.string()),
            "event_time": pa.array([r.event_time for r in rows], pa.int64()).cast(
                pa.timestamp("ms", tz="UTC")
            ),
            "page": pa.array([r.page for r in rows], pa.string()),
        }
    )
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd", compression_level=3)
    return bytes(sink.getvalue().to_pybytes())


def handler_path(records: list[dict[str, Any]], now: datetime) -> dict[str, bytes]:
    outcome = clicks.decode_batch(records, now=now)
    files = write_parquet(
        outcome.accepted,
        schemas.RAW_CLICKS,
        dictionary_columns=clicks.RAW_CLICKS_DICTIONARY_COLUMNS,
        compression_level=clicks.RAW_CLICKS_COMPRESSION_LEVEL,
    )
    if outcome.quarantined.num_rows:
        files["quarantine"] = parquet_bytes(outcome.quarantined, schemas.QUARANTINE)
    return files


def best_times(
    fns: Sequence[Callable[[], object]], repeats: int = REPEATS
) -> list[tuple[float, float]]:
    """(best wall seconds, best CPU seconds) of each function, the runs interleaved so that
    a change in the machine's load hits every side alike."""
    for fn in fns:
        fn()  # warm caches and lazy imports
    best = [(float("inf"), float("inf"))] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            wall, cpu = time.perf_counter(), time.process_time()
            fn()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            best[i] = (min(best[i][0], wall), min(best[i][1], cpu))
    return best


def main(argv: list[str] | None = None) -> None:
    """Measure and print; `argv` is accepted for `python -m bench` (no options yet)."""
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    now = START + timedelta(minutes=11)
    clean = clean_event()
    dirty = dirty_event()
    outcome = clicks.decode_batch(clean, now=now)
    if outcome.accepted.num_rows != BATCH:
        raise SystemExit(f"bench input is not clean: {outcome.reason_counts()}")
    payload_bytes = sum(len(base64.b64decode(r["kinesis"]["data"])) for r in clean) / BATCH

    (anchor_s, anchor_cpu), (path_s, path_cpu), (dirty_s, _) = best_times(
        [lambda: anchor(clean), lambda: handler_path(clean, now), lambda: handler_path(dirty, now)]
    )
    path_rate = BATCH / path_s
    ratio = anchor_s / path_s
    print(f"batch: {BATCH} records, {payload_bytes:.0f} bytes per payload, best of {REPEATS}")
    print("                                                       wall ms   cpu ms")
    print(
        f"anchor (msgspec -> Arrow -> Parquet, no validation): {anchor_s * 1000:8.1f} "
        f"{anchor_cpu * 1000:8.1f}"
    )
    print(
        f"ingest path (decode_batch + write_parquet):          {path_s * 1000:8.1f} "
        f"{path_cpu * 1000:8.1f}"
    )
    print(f"ingest path, dirty batch (1% bad, careful path):     {dirty_s * 1000:8.1f}")
    rate_ok = _verdict(path_rate >= TARGET_RECORDS_PER_SECOND)
    target = f"{TARGET_RECORDS_PER_SECOND:,}"
    ratio_ok = _verdict(ratio >= TARGET_RATIO)
    print(f"ingest: {path_rate:,.0f} records/s/core (target >= {target}: {rate_ok})")
    print(
        f"ratio vs anchor: wall {ratio:.2f}x (target >= {TARGET_RATIO}x: {ratio_ok}), "
        f"cpu {anchor_cpu / path_cpu:.2f}x"
    )
    print(f"dirty batch: {BATCH / dirty_s:,.0f} records/s/core")


def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


if __name__ == "__main__":
    main()
