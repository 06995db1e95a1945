"""The emulator's indexed Kinesis shard (pablo.local.moto_patches.kinesis): moto's semantics, in
O(log n) per call, and safe while another thread puts records."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator

import pytest
from moto.kinesis.models import Shard

from pablo.local.moto_patches import kinesis as patches


@pytest.fixture
def shard(monkeypatch: pytest.MonkeyPatch) -> Iterator[Shard]:
    monkeypatch.setattr(Shard, "put_record", patches.shard_put_record)
    monkeypatch.setattr(Shard, "get_records", patches.shard_get_records)
    monkeypatch.setattr(Shard, "get_max_sequence_number", patches.shard_max_sequence_number)
    yield Shard(0, 0, 2**128)


def put(shard: Shard, count: int) -> list[str]:
    return [
        shard.put_record(f"pk{n}", base64.b64encode(f"r{n}".encode()).decode(), "")
        for n in range(count)
    ]


def test_sequence_numbers_count_up_from_one_as_moto_numbers_them(shard: Shard) -> None:
    # given an empty shard, when three records are put
    numbers = put(shard, 3)
    # then they are numbered 1, 2, 3 and the newest is the maximum
    assert numbers == ["1", "2", "3"]
    assert shard.get_max_sequence_number() == 3
    assert list(shard.records) == [1, 2, 3]


def test_reads_start_after_the_iterator_position_and_honour_the_limit(shard: Shard) -> None:
    # given ten records
    put(shard, 10)
    # when reading after record 4 with a limit of 3
    records, last, _ = shard.get_records("4", 3)
    # then records 5..7 come back and the iterator moves to 7
    assert [r.sequence_number for r in records] == [5, 6, 7]
    assert last == 7
    # and without a limit the rest comes back
    rest, last, behind = shard.get_records("7", None)
    assert [r.sequence_number for r in rest] == [8, 9, 10]
    assert (last, behind) == (10, 0)


def test_reading_at_the_tip_returns_nothing_and_keeps_the_position(shard: Shard) -> None:
    # given an empty shard, then a shard read to its end
    assert shard.get_records("0", 100) == ([], 0, 0)
    put(shard, 2)
    assert shard.get_records("2", 100) == ([], 2, 0)


def test_millis_behind_latest_is_measured_from_the_last_record_returned(shard: Shard) -> None:
    # given records whose arrival times are a second apart
    put(shard, 3)
    for number, record in shard.records.items():
        record.created_at = 1000.0 + number
    # when reading only the first one
    _, _, behind = shard.get_records("0", 1)
    # then the reader is two seconds behind the newest record
    assert behind == 2000


def test_a_records_dict_replaced_by_moto_is_reindexed(shard: Shard) -> None:
    # given a shard whose records moto moved away (as a split does)
    put(shard, 5)
    shard.records = type(shard.records)()
    # when a record is put again, then numbering restarts like moto's and reads see it
    assert put(shard, 1) == ["1"]
    assert [r.sequence_number for r in shard.get_records("0", None)[0]] == [1]


def test_reads_while_another_thread_puts_see_every_record_once_in_order(shard: Shard) -> None:
    # given a writer putting 20,000 records in batches on another thread
    total = 20_000
    errors: list[BaseException] = []

    def write() -> None:
        try:
            put(shard, total)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    writer = threading.Thread(target=write)
    writer.start()
    # when a reader polls meanwhile, as the emulator's Kinesis poller does
    seen: list[int] = []
    position = "0"
    while writer.is_alive() or len(seen) < total:
        records, last, _ = shard.get_records(position, 500)
        seen += [r.sequence_number for r in records]
        position = str(last)
    writer.join()
    # then nothing failed (moto's scan raised "OrderedDict mutated during iteration")
    assert errors == []
    assert seen == list(range(1, total + 1))
