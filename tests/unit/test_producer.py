"""Producer batching, resend of exactly the failed records, backoff, spill and replay."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from functions.core import schemas
from functions.core.errors import ValidationError
from pablo.producer import MAX_RECORDS_PER_CALL, ClickProducer
from pablo.producer_cli import read_clicks

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
        self, *, fail_ids: dict[str, int] | None = None, errors: list[Exception] | None = None
    ):
        self.calls: list[list[dict[str, Any]]] = []
        self.delivered: list[str] = []
        self.fail_ids = dict(fail_ids or {})  # event_id -> how many times to fail it
        self.errors = list(errors or [])

    def put_records(self, *, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803 (boto3 names)
        self.calls.append(Records)
        if self.errors:
            raise self.errors.pop(0)
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


def producer(client: Any, tmp_path: Path, sleeps: list[float] | None = None) -> ClickProducer:
    return ClickProducer(
        client=client,
        stream_name="clicks",
        spill_path=tmp_path / "spill.jsonl",
        sleep=(sleeps.append if sleeps is not None else lambda _: None),
        rand=lambda: 0.5,
    )


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
    resent = [[json.loads(r["Data"])["event_id"] for r in call] for call in client.calls[1:]]
    assert resent == [["e3", "e7"], ["e3"]]
    assert sorted(client.delivered) == sorted(f"e{i}" for i in range(10))
    assert (result.sent, result.resent, result.spilled) == (10, 3, 0)
    # full jitter: rand() x min(cap, base x 2^attempt)
    assert sleeps == [0.5 * 0.2, 0.5 * 0.4]


def test_an_unavailable_stream_spills_and_replay_sends_later(tmp_path: Path) -> None:
    # given a missing stream
    missing = ClientError(
        {"Error": {"Code": "ResourceNotFoundException", "Message": "no"}}, "PutRecords"
    )
    client = ScriptedKinesis(errors=[missing])
    p = producer(client, tmp_path)
    # when 3 clicks are sent: the first call fails, the next batch only probes once
    result = p.send([click(i) for i in range(3)])
    assert (result.sent, result.spilled, len(client.calls)) == (0, 3, 1)
    # and says why (the send-clicks command prints it)
    assert result.spill_reason is not None and "ResourceNotFoundException" in result.spill_reason
    spill = (tmp_path / "spill.jsonl").read_text().splitlines()
    assert len(spill) == 3
    # then a replay sends them, keeping their event_ids, and empties the spill
    replay = p.replay_spill()
    assert replay.sent == 3 and sorted(client.delivered) == ["e0", "e1", "e2"]
    assert not (tmp_path / "spill.jsonl").exists()
    # and the counts say what was offered: spilled once, never counted as sent again
    counts = p.counts_table()
    assert counts.schema == schemas.PRODUCER_COUNTS.arrow_schema(with_partitions=True)
    assert counts.column("sent").to_pylist() == [0] and counts.column("spilled").to_pylist() == [3]


def test_persistent_throttling_spills_after_max_attempts(tmp_path: Path) -> None:
    client = ScriptedKinesis(fail_ids={"e1": 99})
    p = producer(client, tmp_path)
    result = p.send([click(0), click(1)])
    assert (result.sent, result.spilled, len(client.calls)) == (1, 1, p.max_attempts)
    assert result.spill_reason == (
        f"records still failing after {p.max_attempts} calls "
        "(ProvisionedThroughputExceededException)"
    )
    client.fail_ids.clear()
    assert p.replay_spill().sent == 1 and client.delivered == ["e0", "e1"]


def test_an_unreachable_endpoint_spills_at_once(tmp_path: Path) -> None:
    client = ScriptedKinesis(errors=[EndpointConnectionError(endpoint_url="http://nowhere")])
    result = producer(client, tmp_path).send([click(0, minute=1), click(1, minute=2)])
    assert (result.spilled, len(client.calls)) == (2, 1)
    assert result.spill_reason == 'Could not connect to the endpoint URL: "http://nowhere"'


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


def test_an_oversized_click_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="exceeds"):
        producer(ScriptedKinesis(), tmp_path).send([click(0, size=1_100_000)])


def test_read_clicks_unwraps_envelopes_and_keeps_bad_lines_as_bytes(tmp_path: Path) -> None:
    path = tmp_path / "clicks.jsonl"
    path.write_bytes(
        b'{"event_id":"a"}\n'
        b'{"send_at": 1, "record": {"event_id": "b"}}\n'
        b"\n"
        b"not json\n"
        b'{"send_at": 2, "record": "{\\"event_id\\": 1,"}\n'
    )
    assert list(read_clicks(path)) == [
        {"event_id": "a"},
        {"event_id": "b"},
        b"not json",
        b'{"event_id": 1,',
    ]
