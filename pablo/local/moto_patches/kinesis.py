"""Kinesis: arrival times from the emulator clock, indexed thread-safe shards, pollers woken
by puts."""

from __future__ import annotations

import bisect
import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from moto.core.utils import unix_time
from moto.kinesis.models import KinesisBackend, Record, Shard

from pablo.local.clock import Clock
from pablo.local.moto_patches.registry import Patch, Replacement


def _arrival_from_clock(clock: Clock) -> list[Replacement]:
    """Kinesis `ApproximateArrivalTimestamp` comes from the emulator clock.

    Why: replayed clicks must arrive at simulated times, so lateness, the 48-hour freshness
    SLA and AT_TIMESTAMP iterators behave as they would on the simulated day. moto stamps
    records with wall time in `Record.__init__`; both the datetime and the epoch seconds
    (used by AT_TIMESTAMP and MillisBehindLatest) are re-stamped.
    """
    original = Record.__init__

    @functools.wraps(original)
    def stamped_init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        arrival = clock.now().replace(tzinfo=None)  # moto keeps naive UTC datetimes
        self.created_at_datetime = arrival
        self.created_at = unix_time(arrival)

    return [Replacement(Record, "__init__", stamped_init)]


ARRIVAL_FROM_CLOCK = Patch("kinesis-arrival-time-from-clock", "kinesis", _arrival_from_clock)


@dataclass
class _ShardIndex:
    """A shard's sequence numbers in order, for the `records` dict they index."""

    records: dict[int, Any]
    keys: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _shard_index(shard: Any) -> _ShardIndex:
    """The shard's index object (created once; setdefault is atomic, so two threads racing
    here share one index and one lock). Check it with `_current` under its lock."""
    index: _ShardIndex | None = shard.__dict__.get("_pablo_index")
    if index is None:
        index = shard.__dict__.setdefault("_pablo_index", _ShardIndex(shard.records))
    return index


def _current(index: _ShardIndex, shard: Any) -> list[int]:
    """The sorted sequence numbers, rebuilt if moto replaced or changed `records` behind
    the index (a split or merge moves records into new shards). Call under `index.lock`."""
    records = shard.records
    if index.records is not records or len(index.keys) != len(records):
        index.records = records
        index.keys = sorted(records)
    return index.keys


def _shard_indexed() -> list[Replacement]:
    """Kinesis shards put and read records in O(log n), and safely across threads.

    Why: moto's `Shard.put_record` finds the last sequence number with
    `list(self.records.keys())[-1]` (a copy of every key per record put: quadratic in the
    stream's length) and `Shard.get_records` scans the shard from its first record on every
    call. With the demo's ~94k clicks that was over half the emulator's CPU. Worse, the
    scan iterates `records` while a PutRecords request on another server thread inserts
    into it: `RuntimeError: OrderedDict mutated during iteration`, a 500 to the Kinesis
    poller, which then backs off. Here each shard keeps its sequence numbers in a sorted
    list beside `records`, both changed under one lock per shard; reads bisect the list.
    The three methods are replaced, not wrapped: their algorithm is the problem. Records,
    sequence numbers, iterators and MillisBehindLatest are as moto makes them.
    """
    return [
        Replacement(Shard, "put_record", shard_put_record),
        Replacement(Shard, "get_records", shard_get_records),
        Replacement(Shard, "get_max_sequence_number", shard_max_sequence_number),
    ]


SHARD_INDEXED = Patch("kinesis-shard-indexed-thread-safe", "kinesis", _shard_indexed)


def shard_put_record(self: Any, partition_key: str, data: str, explicit_hash_key: str) -> str:
    index = _shard_index(self)
    with index.lock:
        keys = _current(index, self)
        sequence_number = (keys[-1] if keys else 0) + 1
        self.records[sequence_number] = Record(
            partition_key, data, sequence_number, explicit_hash_key
        )
        keys.append(sequence_number)
    return str(sequence_number)


def shard_get_records(
    self: Any, last_sequence_id: str, limit: int | None
) -> tuple[list[Any], int, int]:
    after = int(last_sequence_id)
    index = _shard_index(self)
    with index.lock:
        keys = _current(index, self)
        start = bisect.bisect_right(keys, after)
        chosen = keys[start : start + limit if limit else None]
        results = [self.records[number] for number in chosen]
        newest = self.records[keys[-1]] if keys else None
    if not results or newest is None:
        return [], after, 0
    behind = newest.created_at - results[-1].created_at
    return results, chosen[-1], int(behind * 1000)


def shard_max_sequence_number(self: Any) -> int:
    index = _shard_index(self)
    with index.lock:
        keys = _current(index, self)
        return keys[-1] if keys else 0


def _wake_pollers_on_put(wake: Callable[[str], None]) -> list[Replacement]:
    """`wake(stream_arn)` is called after every PutRecord(s) to a stream.

    Why: a poller then reads new records at once instead of at its next idle poll, so it
    can poll an idle shard as rarely as AWS does (each idle poll is a GetRecords request
    the emulator serves) without adding latency.
    """

    def wrap(original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        def put_then_wake(self: KinesisBackend, *args: Any, **kwargs: Any) -> Any:
            result = original(self, *args, **kwargs)
            stream_arn = kwargs.get("stream_arn") or (args[0] if args else None)
            stream_name = kwargs.get("stream_name") or (args[1] if len(args) > 1 else None)
            try:
                stream = self.describe_stream(stream_arn=stream_arn, stream_name=stream_name)
            except Exception:  # the put succeeded; a missed wake only delays the poller
                return result
            wake(stream.arn)
            return result

        return put_then_wake

    return [
        Replacement(KinesisBackend, "put_record", wrap(KinesisBackend.put_record)),
        Replacement(KinesisBackend, "put_records", wrap(KinesisBackend.put_records)),
    ]


WAKE_POLLERS_ON_PUT = Patch("kinesis-wake-pollers-on-put", "kinesis", _wake_pollers_on_put)
