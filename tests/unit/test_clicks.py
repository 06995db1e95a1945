"""Click decoding: every reason code, the batch invariant, dedup, Parquet and key scheme."""

from __future__ import annotations

import base64
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from functions.core import codes, definitions, schemas
from functions.core.ingest import clicks
from functions.core.parquet import write_parquet
from functions.core.transform import engagement
from tests import click_corpus as corpus

ARRIVAL = datetime(2026, 9, 10, 12, 0, tzinfo=UTC)
NOW = ARRIVAL + timedelta(seconds=5)
ARRIVAL_MS = int(ARRIVAL.timestamp() * 1000)


def payload(**overrides: Any) -> dict[str, Any]:
    base = {
        "event_id": "11111111-1111-1111-1111-111111111111",
        "account_id": "acct-1",
        "user_id": "user-1",
        "event_type": "click",
        "event_time": ARRIVAL_MS - 60_000,
        "page": "/reports",
    }
    base.update(overrides)
    return base


def encode(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def record(data: bytes | str, seq: int, arrival: datetime = ARRIVAL) -> dict[str, Any]:
    text = data if isinstance(data, str) else base64.b64encode(data).decode()
    return {
        "kinesis": {
            "data": text,
            "sequenceNumber": f"{seq:020d}",
            "approximateArrivalTimestamp": arrival.timestamp(),
            "partitionKey": "acct-1",
        },
        "eventID": f"shardId-000000000003:{seq:020d}",
        "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/clicks",
    }


def body(i: int) -> dict[str, Any]:
    return payload(event_id=f"evt-{i:04d}")


CORPUS = corpus.cases(ARRIVAL_MS)
ALONE = [c for c in CORPUS if c.expected != corpus.DUPLICATE]


def test_the_corpus_covers_every_reason_code() -> None:
    covered = {c.expected for c in CORPUS} | corpus.REASONS_WITHOUT_A_CASE
    assert covered == {*clicks.REASON_CODES, corpus.ACCEPTED, corpus.DUPLICATE}


@pytest.mark.parametrize("case", ALONE, ids=[c.name for c in ALONE])
def test_each_corpus_record_gets_its_verdict_and_the_batch_goes_on(case: corpus.Case) -> None:
    # given a corpus record between two good ones
    records = [record(encode(body(1)), 1), record(case.data, 2), record(encode(body(3)), 3)]
    # when the batch is decoded
    outcome = clicks.decode_batch(records, now=NOW)
    # then the good ones are accepted and the record is where the corpus says, bytes intact
    accepted = outcome.accepted.column("event_id").to_pylist()
    assert accepted[0] == "evt-0001" and accepted[-1] == "evt-0003"
    assert outcome.received == 3 == outcome.accepted.num_rows + outcome.quarantined.num_rows
    if case.expected == corpus.ACCEPTED:
        assert outcome.quarantined.num_rows == 0 and len(accepted) == 3
        return
    assert outcome.quarantined.column("reason").to_pylist() == [case.expected], case.name
    row = outcome.quarantined.to_pylist()[0]
    expected_raw = case.data.encode() if isinstance(case.data, str) else case.data
    if case.expected == codes.OVERSIZED_RECORD:  # kept as received: never decoded
        expected_raw = base64.b64encode(expected_raw)
    assert row["raw"] == expected_raw
    assert row["record_id"] == f"shardId-000000000003:{2:020d}"
    assert row["sequence_number"] == f"{2:020d}"
    assert row["shard_id"] == "shardId-000000000003"
    assert row["source"] == "clicks" and row["pipeline"] == "engagement"
    assert row["detail"]


def test_the_whole_corpus_as_one_batch_puts_every_record_in_its_place() -> None:
    # given every corpus record in one batch (the fast path refuses it: the careful path)
    records = [record(case.data, seq) for seq, case in enumerate(CORPUS)]
    # when it is decoded
    outcome = clicks.decode_batch(records, now=NOW)
    # then each record is accepted, counted duplicate or quarantined as the corpus says
    where = {int(r["sequence_number"]): r["reason"] for r in outcome.quarantined.to_pylist()}
    where |= {
        int(s): corpus.ACCEPTED for s in outcome.accepted.column("sequence_number").to_pylist()
    }
    got = [where.get(seq, corpus.DUPLICATE) for seq in range(len(CORPUS))]
    assert got == [c.expected for c in CORPUS]
    duplicates = sum(c.expected == corpus.DUPLICATE for c in CORPUS)
    assert outcome.duplicates == duplicates
    assert outcome.received == outcome.accepted.num_rows + duplicates + outcome.quarantined.num_rows
    # and both tables can be written as the handler writes them
    assert write_parquet(outcome.quarantined, schemas.QUARANTINE)
    assert write_parquet(outcome.accepted, schemas.RAW_CLICKS)


@pytest.mark.parametrize("failure", [MemoryError, RecursionError, SystemError, KeyError])
def test_a_decoder_failing_on_one_record_quarantines_it_as_undecodable(
    failure: type[Exception], monkeypatch: pytest.MonkeyPatch
) -> None:
    # given decoders that fail on one record the way a C extension or the runtime can
    poison = encode(payload(event_id="poison", extra=1))

    class Failing:
        def __init__(self, real: Any) -> None:
            self.real = real

        def decode(self, raw: bytes) -> Any:
            if b"poison" in raw:
                raise failure("injected")
            return self.real.decode(raw)

        def decode_lines(self, raw: bytes) -> Any:
            if b"poison" in raw:
                raise failure("injected")
            return self.real.decode_lines(raw)

    real_loads = json.loads

    def failing_loads(text: str, **kwargs: Any) -> Any:
        if "poison" in text:
            raise failure("injected")
        return real_loads(text, **kwargs)

    monkeypatch.setattr(clicks, "_PAYLOAD_DECODER", Failing(clicks._PAYLOAD_DECODER))
    monkeypatch.setattr(clicks.json, "loads", failing_loads)
    records = [record(encode(body(1)), 1), record(poison, 2), record(encode(body(3)), 3)]
    # when the batch is decoded
    outcome = clicks.decode_batch(records, now=NOW)
    # then that record alone is quarantined, named by the exception, and the rest accepted
    assert outcome.quarantined.column("reason").to_pylist() == [codes.UNDECODABLE]
    assert outcome.quarantined.column("detail")[0].as_py().startswith(failure.__name__)
    assert outcome.accepted.column("event_id").to_pylist() == ["evt-0001", "evt-0003"]


def test_the_default_limits_are_the_registry_ones() -> None:
    settings = clicks.IngestSettings()
    limits = schemas.CLICK_LIMITS
    assert settings.max_id_chars == limits.max_id_chars == 128
    assert settings.max_record_bytes == limits.max_record_bytes
    assert settings.max_nesting_depth == limits.max_nesting_depth
    assert settings.max_future_skew == timedelta(minutes=limits.max_future_skew_minutes)
    assert settings.allowed_lateness == timedelta(days=limits.allowed_lateness_days)
    assert limits.min_event_time_ms == clicks.MIN_EPOCH_MS


def test_accepted_rows_match_the_registry_and_carry_kinesis_metadata() -> None:
    # given a click from just before midnight that arrives after midnight
    event_time = datetime(2026, 9, 9, 23, 59, 30, tzinfo=UTC)
    arrival = datetime(2026, 9, 10, 0, 0, 10, tzinfo=UTC)
    click = payload(event_time=int(event_time.timestamp() * 1000))
    # when it is decoded
    outcome = clicks.decode_batch([record(encode(click), 42, arrival)], now=arrival)
    # then dt is the event date, arrival_time the Kinesis arrival, and the schema the registry's
    assert outcome.accepted.schema == schemas.RAW_CLICKS.arrow_schema(with_partitions=True)
    assert outcome.quarantined.schema == schemas.QUARANTINE.arrow_schema(with_partitions=True)
    row = outcome.accepted.to_pylist()[0]
    assert row["dt"] == "2026-09-09"
    assert row["event_time"] == event_time
    assert row["arrival_time"] == arrival
    assert row["sequence_number"] == f"{42:020d}"
    assert outcome.event_dates == ["2026-09-09"]


def test_in_batch_duplicates_keep_the_first_copy() -> None:
    # given the same event_id three times (the third with another page)
    first = encode(body(1))
    other = encode(payload(event_id="evt-0001", page="/elsewhere"))
    records = [record(first, 1), record(first, 2), record(encode(body(2)), 3), record(other, 4)]
    # when decoded
    outcome = clicks.decode_batch(records, now=NOW)
    # then the first copy is kept and the others are counted as duplicates
    assert outcome.accepted.column("sequence_number").to_pylist() == [f"{1:020d}", f"{3:020d}"]
    assert outcome.duplicates == 2
    assert outcome.quarantined.num_rows == 0


def test_a_resent_click_is_natural_whatever_its_spelling_and_a_changed_one_synthetic() -> None:
    # given one click landed by three batches: as sent, re-spelled (key order, whitespace,
    # an escape, an unknown key), then with another page
    a = encode(payload())
    respelled = {**dict(reversed(list(payload().items()))), "extra": 1}
    b = json.dumps(respelled, indent=1).replace("acct-1", "acct\\u002d1").encode()
    c = encode(payload(page="/other"))
    landed = [
        clicks.decode_batch([record(x, i, ARRIVAL + timedelta(seconds=i))], now=NOW).accepted
        for i, x in enumerate((a, b, c))
    ]
    # when the day is compacted
    day = ARRIVAL.date()
    dedup = engagement.compact_day(pa.concat_tables(landed), day).dedup.to_pylist()[0]
    # then the re-spelled copy is a natural duplicate and the changed one a synthetic one
    assert (dedup["rows_kept"], dedup["natural_duplicates"], dedup["synthetic_duplicates"]) == (
        1,
        1,
        1,
    )


def test_a_null_page_and_unknown_fields_are_accepted() -> None:
    records = [
        record(encode(payload(event_id="a", page=None)), 1),
        record(encode({k: v for k, v in payload(event_id="b").items() if k != "page"}), 2),
        record(encode({**payload(event_id="c"), "extra": {"nested": [1, 2]}}), 3),
    ]
    outcome = clicks.decode_batch(records, now=NOW)
    assert outcome.accepted.column("page").to_pylist() == [None, None, "/reports"]


def test_write_parquet_gives_one_file_per_event_date_without_the_partition_column() -> None:
    # given clicks on two event dates
    day1 = payload(event_id="a", event_time=ARRIVAL_MS - 86_400_000)
    day2 = payload(event_id="b")
    outcome = clicks.decode_batch([record(encode(day1), 1), record(encode(day2), 2)], now=NOW)
    # when written twice
    files = write_parquet(outcome.accepted, schemas.RAW_CLICKS)
    again = write_parquet(outcome.accepted, schemas.RAW_CLICKS)
    # then there is one file per date, the same bytes each time, with the registry's columns
    assert sorted(files) == ["2026-09-09", "2026-09-10"]
    assert files == again
    table = pq.read_table(io.BytesIO(files["2026-09-10"]))
    assert table.schema.names == schemas.RAW_CLICKS.column_names
    assert table.column("event_id").to_pylist() == ["b"]


def test_object_keys_are_named_after_the_batch_so_a_retry_overwrites() -> None:
    records = [record(encode(body(1)), 7), record(encode(body(2)), 8)]
    first = clicks.decode_batch(records, now=NOW)
    retry = clicks.decode_batch(records, now=NOW + timedelta(minutes=1))
    key = clicks.object_key(schemas.RAW_CLICKS, {"dt": "2026-09-10"}, first.batch_id)
    assert key == f"raw/raw_clicks/dt=2026-09-10/shardId-000000000003-{7:020d}.parquet"
    assert retry.batch_id == first.batch_id


def test_an_empty_batch_is_fine() -> None:
    outcome = clicks.decode_batch([], now=NOW)
    assert (outcome.received, outcome.accepted.num_rows, outcome.quarantined.num_rows) == (0, 0, 0)


def test_lateness_and_skew_follow_the_settings() -> None:
    settings = clicks.IngestSettings(allowed_lateness=timedelta(days=1))
    two_days = encode(payload(event_time=ARRIVAL_MS - 2 * 86_400_000))
    outcome = clicks.decode_batch([record(two_days, 1)], now=NOW, settings=settings)
    assert outcome.quarantined.column("reason").to_pylist() == [codes.TOO_LATE]


def test_a_click_replayed_from_the_producer_spill_is_late_only_from_its_first_attempt() -> None:
    # given three clicks that arrive now, each with an event time 10 days ago:
    #   a: sent normally                                   -> 10 days late: too_late
    #   b: replayed from the spill, first tried 9 days ago -> 1 day late: accepted
    #   c: replayed from the spill, first tried 8 days after its event (the client itself
    #      was late)                                       -> 8 days late: too_late
    day = 86_400_000
    event_time = ARRIVAL_MS - 10 * day
    a, b, c = (
        record(encode(payload(event_id=name, event_time=event_time)), seq)
        for seq, name in enumerate("abc", start=1)
    )
    b["kinesis"]["partitionKey"] = definitions.spilled_partition_key(ARRIVAL_MS - 9 * day, "acct-1")
    c["kinesis"]["partitionKey"] = definitions.spilled_partition_key(event_time + 8 * day, "acct-1")
    # when the batch is decoded with the default 7 days of allowed lateness
    outcome = clicks.decode_batch([a, b, c], now=NOW)
    # then only b lands; a and c stay queryable in the quarantine with their reason
    assert outcome.accepted.column("event_id").to_pylist() == ["b"]
    quarantined = outcome.quarantined.to_pylist()
    assert [(json.loads(r["raw"])["event_id"], r["reason"]) for r in quarantined] == [
        ("a", codes.TOO_LATE),
        ("c", codes.TOO_LATE),
    ]
    assert outcome.reason_counts() == {codes.TOO_LATE: 2}


def test_a_spill_marker_never_makes_a_click_later_than_its_arrival() -> None:
    # given a click 2 days old whose marker claims a first attempt after its arrival
    fresh = record(encode(payload(event_time=ARRIVAL_MS - 2 * 86_400_000)), 1)
    fresh["kinesis"]["partitionKey"] = definitions.spilled_partition_key(
        ARRIVAL_MS + 30 * 86_400_000, "acct-1"
    )
    # then lateness is still measured from the arrival: accepted
    assert clicks.decode_batch([fresh], now=NOW).accepted.num_rows == 1


def test_in_batch_copies_are_kept_as_duplicate_rows_for_the_daily_dedup() -> None:
    # given a batch: a, a again (natural), b, b with another page (synthetic), c
    a, b, c = (payload(event_id=name) for name in "abc")
    batch = [
        record(encode(a), 1),
        record(encode(a), 2),
        record(encode(b), 3),
        record(encode({**b, "page": "/other"}), 4),
        record(encode(c), 5),
    ]
    outcome = clicks.decode_batch(batch, now=NOW)
    # then the first copy of each id is accepted, and the 2 later copies are duplicate rows
    assert outcome.accepted.column("event_id").to_pylist() == ["a", "b", "c"]
    assert outcome.duplicates == 2 == outcome.duplicate_copies.num_rows
    copies = outcome.duplicate_copies.to_pylist()
    assert [(r["event_id"], r["page"], r["sequence_number"]) for r in copies] == [
        ("a", "/reports", f"{2:020d}"),
        ("b", "/other", f"{4:020d}"),
    ]
    assert outcome.duplicate_copies.schema == outcome.accepted.schema
