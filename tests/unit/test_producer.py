"""Producer batching, resend of exactly the failed records, backoff within a deadline,
spill only when the stream stays away, and in-order, resumable replay."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from functions.core import schemas
from functions.core.errors import ConfigurationError
from pablo.producer.cli import envelope_record, read_clicks
from pablo.producer.click_producer import (
    HASHED_KEY_PREFIX,
    MAX_RECORDS_PER_CALL,
    ClickProducer,
    VirtualTime,
    partition_key,
)

T0 = int(datetime(2026, 9, 10, 9, 0, tzinfo=UTC).timestamp() * 1000)


def click(i: int, *, minute: int = 0, size: int = 0) -> dict[str, Any]:
    return {
        "event_id": f"e{i}",
        "account_id": f"acct-{i % 3}",
        "user_id": "u",
        "event_type": "click",
        "event_time": T0 + minute * 60_000 + i,
        "page": "x" * size,
    }


class ScriptedKinesis:
    """Records every PutRecords call; fails the records or calls the script says."""

    def __init__(
        self,
        *,
        fail_ids: dict[str, int] | None = None,
        errors: list[BaseException | None] | None = None,
    ):
        self.calls: list[list[dict[str, Any]]] = []
        self.delivered: list[str] = []
        self.fail_ids = dict(fail_ids or {})  # event_id -> how many times to fail it
        self.errors = list(errors or [])  # raised by the next calls, one each

    def put_records(self, *, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803 (boto3 names)
        self.calls.append(Records)
        if self.errors:
            error = self.errors.pop(0)
            if error is not None:
                raise error
        results = []
        for record in Records:
            event_id = json.loads(record["Data"])["event_id"]
            if self.fail_ids.get(event_id, 0) > 0:
                self.fail_ids[event_id] -= 1
                results.append(
                    {
                        "ErrorCode": "ProvisionedThroughputExceededException",
                        "ErrorMessage": "slow down",
                    }
                )
            else:
                self.delivered.append(event_id)
                results.append({"SequenceNumber": "1", "ShardId": "shardId-0"})
        failed = sum(1 for r in results if "ErrorCode" in r)
        return {"FailedRecordCount": failed, "Records": results}


def producer(
    client: Any, tmp_path: Path, sleeps: list[float] | None = None, clock: VirtualTime | None = None
) -> ClickProducer:
    clock = clock or VirtualTime()

    def sleep(seconds: float) -> None:
        if sleeps is not None:
            sleeps.append(seconds)
        clock.sleep(seconds)

    return ClickProducer(
        client=client,
        stream_name="clicks",
        spill_path=tmp_path / "spill.jsonl",
        sleep=sleep,
        monotonic=clock.monotonic,
        rand=lambda: 0.5,
    )


def missing_stream() -> ClientError:
    return ClientError(
        {"Error": {"Code": "ResourceNotFoundException", "Message": "no"}}, "PutRecords"
    )


def ids(call: list[dict[str, Any]]) -> list[str]:
    return [json.loads(r["Data"])["event_id"] for r in call]


def test_batches_respect_the_record_and_byte_limits(tmp_path: Path) -> None:
    # given 1,100 small clicks and 12 clicks of ~900 KB
    client = ScriptedKinesis()
    result = producer(client, tmp_path).send([click(i) for i in range(1100)])
    big = producer(client, tmp_path).send([click(5000 + i, size=900_000) for i in range(12)])
    # then no call has more than 500 records or 5 MB
    sizes = [len(call) for call in client.calls]
    assert sizes[:3] == [MAX_RECORDS_PER_CALL, MAX_RECORDS_PER_CALL, 100]
    for call in client.calls:
        assert sum(len(r["Data"]) + len(r["PartitionKey"]) for r in call) <= 5 * 1024 * 1024
    assert result.sent == 1100 and big.sent == 12
    assert client.calls[0][1]["PartitionKey"] == "acct-1"


def test_exactly_the_failed_records_are_resent_with_backoff(tmp_path: Path) -> None:
    # given a stream that rejects e3 twice and e7 once
    client = ScriptedKinesis(fail_ids={"e3": 2, "e7": 1})
    sleeps: list[float] = []
    # when ten clicks are sent
    result = producer(client, tmp_path, sleeps).send([click(i) for i in range(10)])
    # then the second call carries e3 and e7 only, the third e3 only
    assert [ids(call) for call in client.calls[1:]] == [["e3", "e7"], ["e3"]]
    assert sorted(client.delivered) == sorted(f"e{i}" for i in range(10))
    assert (result.sent, result.retried, result.spilled) == (10, 3, 0)
    # full jitter: rand() x min(cap, base x 2^attempt)
    assert sleeps == [0.5 * 0.2, 0.5 * 0.4]


def test_a_missing_stream_spills_after_the_deadline_and_replay_sends_later(
    tmp_path: Path,
) -> None:
    # given a stream that stays missing for 60 calls, longer than the 30 s deadline
    client = ScriptedKinesis(errors=[missing_stream() for _ in range(60)])
    clock = VirtualTime()
    p = producer(client, tmp_path, clock=clock)
    first_try = datetime(2026, 9, 10, 9, 30, tzinfo=UTC)
    p.clock = lambda: first_try
    # when 3 clicks are sent
    result = p.send([click(i) for i in range(3)])
    # then they were retried until the deadline, and only then spilled, saying why
    assert (result.sent, result.spilled) == (0, 3)
    assert result.spill_reason is not None and "ResourceNotFoundException" in result.spill_reason
    assert result.failed_calls == len(client.calls) > 10
    assert p.retry_deadline - 2 * p.max_delay < clock.now <= p.retry_deadline
    assert len((tmp_path / "spill.jsonl").read_text().splitlines()) == 3
    # and, before the replay, the minute counts 3 offered, all 3 still spilled
    assert p.counts_table().column("spilled").to_pylist() == [3]
    # and a replay (days later) once the stream is back sends them, keeping their
    # event_ids, and empties it
    client.errors.clear()
    p.clock = lambda: datetime(2026, 9, 20, tzinfo=UTC)
    replay = p.replay_spill()
    assert (replay.sent, replay.spilled) == (3, 0) and sorted(client.delivered) == [
        "e0",
        "e1",
        "e2",
    ]
    assert not (tmp_path / "spill.jsonl").exists()
    # each replayed record's partition key carries the first attempt, not the replay time
    first_ms = int(first_try.timestamp() * 1000)
    assert [r["PartitionKey"] for r in client.calls[-1]] == [
        f"spilled:{first_ms}:acct-0",
        f"spilled:{first_ms}:acct-1",
        f"spilled:{first_ms}:acct-2",
    ]
    # and the counts still say 3 offered, now sent and none spilled: nothing unaccounted for
    counts = p.counts_table()
    assert counts.schema == schemas.PRODUCER_COUNTS.arrow_schema(with_partitions=True)
    assert counts.column("sent").to_pylist() == [3] and counts.column("spilled").to_pylist() == [0]


def test_a_record_spilled_twice_keeps_its_first_attempt(tmp_path: Path) -> None:
    # given a click spilled at 09:30 (the stream missing past the deadline), and a replay at
    # 10:00 that finds it missing again
    client = ScriptedKinesis(errors=[missing_stream() for _ in range(60)])
    p = producer(client, tmp_path)
    p.clock = lambda: datetime(2026, 9, 10, 9, 30, tzinfo=UTC)
    assert p.send([click(0)]).spilled == 1
    client.errors = [missing_stream() for _ in range(60)]
    p.clock = lambda: datetime(2026, 9, 10, 10, 0, tzinfo=UTC)
    assert p.replay_spill().spilled == 1
    # when it is replayed once the stream is back
    client.errors.clear()
    assert p.replay_spill().sent == 1
    # then its key still names 09:30, its first attempt
    first_ms = int(datetime(2026, 9, 10, 9, 30, tzinfo=UTC).timestamp() * 1000)
    assert client.calls[-1][0]["PartitionKey"] == f"spilled:{first_ms}:acct-0"
    assert p.counts_table().column("spilled").to_pylist() == [0]


def test_a_stream_back_within_the_deadline_loses_and_spills_nothing(tmp_path: Path) -> None:
    # given an endpoint unreachable for 5 calls, then fine
    down = [EndpointConnectionError(endpoint_url="http://nowhere") for _ in range(5)]
    client = ScriptedKinesis(errors=down)
    # when 2 clicks are sent
    result = producer(client, tmp_path).send([click(0, minute=1), click(1, minute=2)])
    # then the sixth call sent them: nothing spilled
    assert (result.sent, result.spilled, result.failed_calls, len(client.calls)) == (2, 0, 5, 6)
    assert not (tmp_path / "spill.jsonl").exists()


def test_a_record_refused_for_the_whole_deadline_spills_alone(tmp_path: Path) -> None:
    # given a stream that accepts e0 and refuses e1 every time
    client = ScriptedKinesis(fail_ids={"e1": 10**6})
    p = producer(client, tmp_path)
    # when both are sent
    result = p.send([click(0), click(1)])
    # then e0 went once, e1 was retried alone until the deadline and spilled
    assert (result.sent, result.spilled) == (1, 1)
    assert client.delivered == ["e0"] and all(ids(call) == ["e1"] for call in client.calls[1:])
    client.fail_ids.clear()
    assert p.replay_spill().sent == 1 and client.delivered == ["e0", "e1"]


def test_progress_extends_the_deadline_so_a_slow_stream_never_spills(tmp_path: Path) -> None:
    # given 100 clicks, each refused 30 times (far more retries than one deadline allows
    # without progress), but never all at once: e_i is refused on its first 30 + i tries
    client = ScriptedKinesis(fail_ids={f"e{i}": 30 + i for i in range(100)})
    clock = VirtualTime()
    # when they are sent
    result = producer(client, tmp_path, clock=clock).send([click(i) for i in range(100)])
    # then every one is sent exactly once, although the waits add up past the deadline
    assert (result.sent, result.spilled) == (100, 0)
    assert sorted(client.delivered) == sorted(f"e{i}" for i in range(100))
    assert clock.now > 2 * 30.0


def test_one_batch_spilling_does_not_degrade_the_next(tmp_path: Path) -> None:
    # given a stream down for the first batch's whole deadline, then back
    client = ScriptedKinesis(errors=[missing_stream() for _ in range(60)])
    p = producer(client, tmp_path)
    first = p.send([click(0)])
    assert first.spilled == 1
    # when the next batch meets one partial failure
    client.errors.clear()
    client.fail_ids = {"e2": 1}
    second = p.send([click(1), click(2)])
    # then it is retried as usual, not spilled after a single attempt
    assert (second.sent, second.spilled, second.retried) == (2, 0, 1)


def test_an_error_a_retry_cannot_cure_spills_the_batch_and_stops(tmp_path: Path) -> None:
    # given credentials the stream refuses
    denied = ClientError(
        {"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "PutRecords"
    )
    client = ScriptedKinesis(errors=[denied])
    p = producer(client, tmp_path)
    # when clicks are sent, the command stops at once with the reason...
    with pytest.raises(ConfigurationError, match="AccessDeniedException"):
        p.send([click(0), click(1)])
    # ... after one call, with the batch safe in the spill
    assert len(client.calls) == 1 and len(p.spilled_records()) == 2


def test_replay_stops_at_the_first_unsendable_batch_and_keeps_the_order(tmp_path: Path) -> None:
    # given 1,200 clicks spilled (three batches), then 5 more spilled later
    client = ScriptedKinesis(errors=[missing_stream() for _ in range(10**4)])
    p = producer(client, tmp_path)
    p.send([click(i) for i in range(1200)])
    # when the replay meets the stream back for the first batch only
    client.errors = [None, *(missing_stream() for _ in range(10**4))]
    replay = p.replay_spill()
    # then the first 500 were sent, and the spill holds the other 700 in their order
    assert replay.sent == 500 and client.delivered == [f"e{i}" for i in range(500)]
    spilled = [json.loads(r.data)["event_id"] for r in p.spilled_records()]
    assert spilled == [f"e{i}" for i in range(500, 1200)] and replay.spilled == 700
    # and once the stream is back for good, a replay sends them in order, each once
    client.errors.clear()
    assert p.replay_spill().sent == 700
    assert client.delivered == [f"e{i}" for i in range(1200)]
    assert p.replay_spill().sent == 0  # replaying again sends nothing


class Crash(BaseException):
    """The process dying in the middle of a call."""


def test_a_replay_after_a_crash_resumes_at_its_checkpoint(tmp_path: Path) -> None:
    # given 1,200 spilled clicks, and a replay that dies during its third batch
    client = ScriptedKinesis(errors=[missing_stream() for _ in range(10**4)])
    p = producer(client, tmp_path)
    p.send([click(i) for i in range(1200)])
    client.errors = [None, None, Crash()]
    with pytest.raises(Crash):
        p.replay_spill()
    assert client.delivered == [f"e{i}" for i in range(1000)]
    # when a new producer replays the same spill
    again = producer(client, tmp_path).replay_spill()
    # then it sends only the last 200: nothing twice, nothing lost, nothing left
    assert again.sent == 200 and client.delivered == [f"e{i}" for i in range(1200)]
    assert list(tmp_path.iterdir()) == []


def test_counts_are_per_minute_of_event_time_and_written_as_parquet_or_json(tmp_path: Path) -> None:
    p = producer(ScriptedKinesis(), tmp_path)
    p.send([click(0, minute=0), click(1, minute=0), click(2, minute=5)])
    rows = p.counts_table().to_pylist()
    assert [(r["minute"].minute, r["sent"]) for r in rows] == [(0, 2), (5, 1)]
    assert p.write_counts(tmp_path / "c.parquet").stat().st_size > 0
    lines = p.write_counts(tmp_path / "c.jsonl").read_text().splitlines()
    assert json.loads(lines[1])["minute"] == "2026-09-10T09:05:00+00:00"


def test_counts_of_chosen_days_only_are_returned_in_minute_order(tmp_path: Path) -> None:
    # Given clicks on two days, sent out of order (1440 minutes = one day later)
    p = producer(ScriptedKinesis(), tmp_path)
    p.send([click(0, minute=1440 + 3), click(1, minute=7), click(2, minute=2)])
    # When asking for the second day, the first, and a day with nothing
    second = p.counts_table(days={"2026-09-11"}).to_pylist()
    first = p.counts_table(days=["2026-09-10", "2026-09-12"]).to_pylist()
    # Then each holds only its own minutes, sorted, with its dt partition
    assert [(r["dt"], r["minute"].hour, r["minute"].minute) for r in second] == [
        ("2026-09-11", 9, 3)
    ]
    assert [(r["dt"], r["minute"].minute) for r in first] == [
        ("2026-09-10", 2),
        ("2026-09-10", 7),
    ]


def test_an_oversized_click_is_kept_aside_and_the_others_go_on(tmp_path: Path) -> None:
    # given a click over Kinesis's 1 MB limit between two small ones
    client = ScriptedKinesis()
    p = producer(client, tmp_path)
    big = click(1, size=1_100_000)
    # when they are sent
    result = p.send([click(0), big, click(2)])
    # then the small ones are sent and the big one is kept, whole, in the rejected file
    assert (result.sent, result.rejected, result.spilled) == (2, 1, 0)
    assert client.delivered == ["e0", "e2"]
    kept = json.loads(p.rejected_path.read_text())
    assert kept["reason"] == "oversized_record"
    assert json.loads(base64.b64decode(kept["data_b64"])) == big
    assert p.spilled_records() == []  # never replayed: it cannot be sent


def test_read_clicks_sends_every_line_byte_for_byte(tmp_path: Path) -> None:
    # given lines a decoder would change or refuse, with LF and CRLF endings and blank lines
    lines = [
        b'{"event_id":"a","event_time":NaN}',
        b'{"event_id":"b","event_id":"c"}',
        b'{"event_id":"\\ud800"}',
        b'{"event_id":"\xed\xa0\x80"}',
        b'{"page":"\xff"}',
        b"\xef\xbb\xbf{}",
        b"not json",
        b" ",
    ]
    path = tmp_path / "clicks.jsonl"
    path.write_bytes(b"\n".join(lines[:4]) + b"\r\n" + b"\r\n".join(lines[4:]) + b"\n\n")
    # when it is read
    # then each line comes back exactly, without its line ending; the empty line is skipped
    assert list(read_clicks(path)) == lines


def test_read_clicks_unwraps_envelopes_with_their_record_as_written(tmp_path: Path) -> None:
    path = tmp_path / "clicks.jsonl"
    path.write_bytes(
        b'{"send_at": 1, "record": {"event_id": "b", "x": NaN, "x": [[["}"]]]}}\n'
        b'{"send_at":2,"record":"{\\"event_id\\": 1,"}\n'
        b'{"send_at":3,"record":"\\udcff"}\n'
        b'{"send_at":"4","record":{}}\n'
        b'{"send_at":5,"record":{},"extra":1}\n'
    )
    assert list(read_clicks(path)) == [
        b'{"event_id": "b", "x": NaN, "x": [[["}"]]]}',
        b'{"event_id": 1,',
        b"\xed\xb3\xbf",  # the lone surrogate, as the generator meant it: invalid UTF-8
        b'{"send_at":"4","record":{}}',  # not an envelope: sent as the line
        b'{"send_at":5,"record":{},"extra":1}',
    ]
    assert envelope_record(b'{"send_at":1,"record":{"a":1}') is None  # unclosed


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b'{"account_id":"acct-7","event_time":NaN}', "acct-7"),
        (b'{"account_id":"acct-7","account_id":"acct-8"}', "acct-8"),
        (b'{"account_id":"\\ud800"}', None),
        (b'{"account_id":""}', None),
        (b'{"account_id":7}', None),
        (b"\xff\xfe", None),
        (b"[" * 100_000, None),
        (b'{"account_id":"a","n":' + b"9" * 5000 + b"}", None),
    ],
)
def test_the_partition_key_is_the_account_or_a_hash_of_the_bytes(
    data: bytes, expected: str | None, tmp_path: Path
) -> None:
    # when a record is prepared (any bytes at all)
    record = producer(ScriptedKinesis(), tmp_path).prepare(data)
    # then its key is its usable account_id, else a stable hash of its bytes
    if expected is None:
        assert record.partition_key.startswith(HASHED_KEY_PREFIX)
        assert record.partition_key == partition_key(data, {})
        assert len(record.partition_key) <= 256
    else:
        assert record.partition_key == expected
    assert record.data == data


def test_a_click_given_as_a_dict_is_encoded_faithfully(tmp_path: Path) -> None:
    # given clicks as dicts: a usual one, one with a NaN time, one with a lone surrogate
    usual = click(0)
    nan = {**click(1), "event_time": float("nan")}
    surrogate = {**click(2), "page": "\udcff"}
    p = producer(ScriptedKinesis(), tmp_path)
    # when they are prepared
    # then the usual one is compact JSON, NaN stays NaN, the surrogate stays invalid UTF-8
    assert p.prepare(usual).data == json.dumps(usual, separators=(",", ":")).encode()
    assert p.prepare(nan).data.endswith(b'"event_time":NaN,"page":""}')
    assert b'"page":"\xed\xb3\xbf"' in p.prepare(surrogate).data
