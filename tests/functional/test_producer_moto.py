"""The producer and `pablo send-clicks` against a real Kinesis API (moto server).

moto never fails a record of PutRecords, so a thin wrapper over the real client injects
partial failures: the records it fails are not forwarded (not written), and come back with
the ErrorCode Kinesis uses when a shard is over its throughput.
"""

from __future__ import annotations

import argparse
import base64
import json
import random
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from functions.core import codes
from functions.core.ingest import clicks
from pablo.commands import send_clicks
from pablo.local.context import local_client
from pablo.producer.click_producer import ClickProducer, VirtualTime
from tests import click_corpus
from tests.support import threaded_moto

STREAM = "clicks"
T0 = int(datetime(2026, 9, 10, 9, 0, tzinfo=UTC).timestamp() * 1000)


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with threaded_moto() as endpoint:
        yield endpoint


@pytest.fixture
def kinesis(endpoint: str) -> Iterator[Any]:
    client = local_client("kinesis", endpoint)  # created after the server started
    client.create_stream(StreamName=STREAM, ShardCount=1)
    client.get_waiter("stream_exists").wait(StreamName=STREAM)
    yield client
    client.delete_stream(StreamName=STREAM, EnforceConsumerDeletion=True)


def _landed(client: Any, stream: str = STREAM) -> list[dict[str, Any]]:
    """Every record of every shard of `stream`, oldest first per shard."""
    records: list[dict[str, Any]] = []
    for shard in client.list_shards(StreamName=stream)["Shards"]:
        iterator = client.get_shard_iterator(
            StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = client.get_records(ShardIterator=iterator, Limit=10_000)
            records += page["Records"]
            iterator = page.get("NextShardIterator") if page["Records"] else None
    return records


def click(i: int) -> dict[str, Any]:
    return {
        "event_id": f"e{i}",
        "account_id": "acct-1",
        "user_id": "u",
        "event_type": "click",
        "event_time": T0 + i,
    }


class FailingChosenRecords:
    """A thin wrapper over the real client: PutRecords fails chosen records (moto never does)."""

    def __init__(self, client: Any, fail_once: set[str], down_calls: int = 0) -> None:
        self.client, self.fail_once, self.down_calls = client, set(fail_once), down_calls
        self.sent_batches: list[list[str]] = []

    def put_records(self, *, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803 (boto3 names)
        ids = [json.loads(r["Data"])["event_id"] for r in Records]
        self.sent_batches.append(ids)
        if self.down_calls:
            self.down_calls -= 1
            return self.client.put_records(StreamName="no-such-stream", Records=Records)
        keep = [r for r, i in zip(Records, ids, strict=True) if i not in self.fail_once]
        response = (
            self.client.put_records(StreamName=StreamName, Records=keep)
            if keep
            else {"Records": []}
        )
        real = iter(response["Records"])
        results = []
        for i in ids:
            if i in self.fail_once:
                self.fail_once.discard(i)
                results.append({"ErrorCode": "InternalFailure", "ErrorMessage": "injected"})
            else:
                results.append(next(real))
        return {"FailedRecordCount": sum("ErrorCode" in r for r in results), "Records": results}


def test_failed_records_are_resent_and_land_exactly_once(kinesis: Any, tmp_path: Path) -> None:
    # given a stream whose PutRecords fails e2 and e5 on the first call
    wrapper = FailingChosenRecords(kinesis, {"e2", "e5"})
    p = ClickProducer(
        client=wrapper,
        stream_name=STREAM,
        spill_path=tmp_path / "spill.jsonl",
        sleep=lambda _: None,
    )
    # when 8 clicks are sent
    result = p.send([click(i) for i in range(8)])
    # then the second call resent exactly e2 and e5, and every click landed once
    assert wrapper.sent_batches[1] == ["e2", "e5"]
    landed = sorted(json.loads(r["Data"])["event_id"] for r in _landed(kinesis))
    assert landed == sorted(f"e{i}" for i in range(8)) and result.retried == 2


def test_an_unavailable_stream_spills_and_replays_into_the_pipeline(
    kinesis: Any, tmp_path: Path
) -> None:
    # given the stream unavailable for longer than the retry deadline
    wrapper = FailingChosenRecords(kinesis, set(), down_calls=10**6)
    clock = VirtualTime()
    p = ClickProducer(
        client=wrapper,
        stream_name=STREAM,
        spill_path=tmp_path / "spill.jsonl",
        sleep=clock.sleep,
        monotonic=clock.monotonic,
        clock=lambda: datetime.fromtimestamp(T0 / 1000 + 60, UTC),
    )
    # when clicks are sent, they spill once the deadline has passed
    assert p.send([click(i) for i in range(4)]).spilled == 4
    assert _landed(kinesis) == [] and clock.now <= p.retry_deadline
    # and once the stream is back, a replay sends them
    wrapper.down_calls = 0
    assert p.replay_spill().sent == 4
    ten_days_later = T0 / 1000 + 10 * 86_400

    def as_lambda_records(*, with_key: bool) -> list[dict[str, Any]]:
        return [
            {
                "kinesis": {
                    "data": base64.b64encode(r["Data"]).decode(),
                    "sequenceNumber": r["SequenceNumber"],
                    "approximateArrivalTimestamp": ten_days_later,
                    **({"partitionKey": r["PartitionKey"]} if with_key else {}),
                },
                "eventID": f"shardId-000000000000:{r['SequenceNumber']}",
            }
            for r in _landed(kinesis)
        ]

    now = datetime.fromtimestamp(ten_days_later + 5, UTC)
    # then the landed records, with the partition keys the stream kept, are a clean batch:
    # lateness counts from their first attempt, a minute after their event time
    outcome = clicks.decode_batch(as_lambda_records(with_key=True), now=now)
    assert outcome.accepted.num_rows == 4 and outcome.quarantined.num_rows == 0
    # while the same records without the replay's key would all be too late
    unmarked = clicks.decode_batch(as_lambda_records(with_key=False), now=now)
    assert unmarked.reason_counts() == {codes.TOO_LATE: 4}


def test_send_clicks_command_sends_a_replay_file(
    kinesis: Any, endpoint: str, tmp_path: Path
) -> None:
    # given a generator replay file with a good click, an envelope and a non-JSON line
    path = tmp_path / "2026-09-10.replay.jsonl"
    path.write_text(
        json.dumps(click(1))
        + "\n"
        + json.dumps({"send_at": T0, "record": click(2)})
        + "\n"
        + "garbage\n"
    )
    parser = argparse.ArgumentParser()
    send_clicks.register(parser.add_subparsers())
    args = parser.parse_args(
        [
            "send-clicks",
            str(path),
            "--stream",
            STREAM,
            "--endpoint",
            endpoint,
            "--spill",
            str(tmp_path / "s.jsonl"),
            "--counts-out",
            str(tmp_path / "c.jsonl"),
        ]
    )
    # when the command runs
    assert args.func(args) == 0
    # then all three records landed, byte for byte for the bad one
    data = [r["Data"] for r in _landed(kinesis)]
    assert len(data) == 3 and data[2] == b"garbage"
    counts = [json.loads(line) for line in (tmp_path / "c.jsonl").read_text().splitlines()]
    # the two clicks under their event minute; the garbage (no event_time) under the clock's
    assert counts[0]["minute"] == "2026-09-10T09:00:00+00:00" and counts[0]["sent"] == 2
    assert sum(c["sent"] for c in counts) == 3


def test_a_replay_in_a_new_process_corrects_the_uploaded_counts(
    kinesis: Any, endpoint: str, tmp_path: Path
) -> None:
    # given a producer that spilled 3 clicks of 09:00 and uploaded its counts (0 sent, 3
    # spilled), as the demo and `pablo send-clicks --counts-bucket` do
    s3 = local_client("s3", endpoint)
    s3.create_bucket(Bucket="raw-counts")
    spill = tmp_path / "spill.jsonl"
    down = FailingChosenRecords(kinesis, set(), down_calls=10_000)
    clock = VirtualTime()
    first = ClickProducer(
        client=down,
        stream_name=STREAM,
        spill_path=spill,
        producer_id="web",
        sleep=clock.sleep,
        monotonic=clock.monotonic,
    )
    assert first.send([click(i) for i in range(3)]).spilled == 3
    first.upload_counts(s3, bucket="raw-counts")
    # when a new process with the same producer id takes up those counts and replays
    second = ClickProducer(client=kinesis, stream_name=STREAM, spill_path=spill, producer_id="web")
    second.resume_counts(s3, bucket="raw-counts", days={"2026-09-10"})
    assert second.replay_spill().sent == 3
    second.upload_counts(s3, bucket="raw-counts")
    # then the day's file says 3 offered at 09:00, all sent, none still spilled
    body = s3.get_object(Bucket="raw-counts", Key="raw/producer_counts/dt=2026-09-10/web.parquet")
    rows = pq.read_table(pa.BufferReader(body["Body"].read())).to_pylist()
    assert [(r["sent"], r["spilled"]) for r in rows] == [(3, 0)]


class PartialFailures:
    """The real client, with each record of each PutRecords call failed with probability
    `rate` (a seeded draw): failed records are not forwarded, so they are not written."""

    def __init__(self, client: Any, rate: float, seed: int) -> None:
        self.client, self.rate, self.rng = client, rate, random.Random(seed)
        self.failed = 0

    def put_records(self, *, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803 (boto3 names)
        fail = [self.rng.random() < self.rate for _ in Records]
        keep = [r for r, f in zip(Records, fail, strict=True) if not f]
        real = iter(
            self.client.put_records(StreamName=StreamName, Records=keep)["Records"] if keep else []
        )
        results = [
            {"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "injected"}
            if f
            else next(real)
            for f in fail
        ]
        self.failed += sum(fail)
        return {"FailedRecordCount": sum(fail), "Records": results}


EVENTS = 1_000
ROUNDS = 5


@pytest.mark.parametrize("rate", [0.10, 0.30, 0.50])
def test_partial_failures_lose_duplicate_and_spill_nothing(
    endpoint: str, tmp_path: Path, rate: float
) -> None:
    client = local_client("kinesis", endpoint)
    for round_no in range(1, ROUNDS + 1):
        # Given a fresh 2-shard stream whose PutRecords fails `rate` of the records of each call
        stream = f"partial-{int(rate * 100)}-{round_no}"
        client.create_stream(StreamName=stream, ShardCount=2)
        client.get_waiter("stream_exists").wait(StreamName=stream)
        wrapper = PartialFailures(client, rate, seed=round_no)
        clock = VirtualTime()
        spill = tmp_path / f"{stream}.jsonl"
        producer = ClickProducer(
            client=wrapper,
            stream_name=stream,
            spill_path=spill,
            sleep=clock.sleep,
            monotonic=clock.monotonic,
            rand=random.Random(100 + round_no).random,
        )
        events = [{**click(i), "account_id": f"acct-{i % 7}"} for i in range(EVENTS)]
        # When 1,000 events are sent
        result = producer.send(events)
        # Then every event landed exactly once, and nothing spilled while the stream answered
        landed = Counter(json.loads(r["Data"])["event_id"] for r in _landed(client, stream))
        lost = sum(1 for e in events if landed[e["event_id"]] == 0)
        duplicated = sum(n - 1 for n in landed.values() if n > 1)
        print(
            f"\n{rate:.0%} partial failures, round {round_no}: {EVENTS} sent, "
            f"{sum(landed.values())} landed, {lost} lost, {duplicated} duplicated, "
            f"{result.spilled} spilled, {result.retried} retried "
            f"({wrapper.failed} records refused), {result.calls} calls, "
            f"{clock.now:.1f} s of backoff"
        )
        assert (lost, duplicated, result.spilled) == (0, 0, 0)
        assert result.sent == EVENTS and not spill.exists()
        # and exactly the refused records were retried (the ones that succeeded never were)
        assert result.retried == wrapper.failed > 0
        client.delete_stream(StreamName=stream, EnforceConsumerDeletion=True)


def _run_send_clicks(endpoint: str, path: Path, tmp_path: Path, stream: str = STREAM) -> int:
    parser = argparse.ArgumentParser()
    send_clicks.register(parser.add_subparsers())
    spill = str(tmp_path / "s.jsonl")
    command = ["send-clicks", str(path), "--stream", stream, "--endpoint", endpoint]
    args = parser.parse_args([*command, "--spill", spill])
    code: int = args.func(args)
    return code


def _fits_one_line(data: bytes | str) -> bool:
    """A record a line of a file can hold: bytes, not empty, no line ending inside."""
    return isinstance(data, bytes) and bool(data) and b"\n" not in data and not data.endswith(b"\r")


def test_send_clicks_sends_the_bad_corpus_byte_for_byte_for_the_right_quarantine(
    kinesis: Any, endpoint: str, tmp_path: Path
) -> None:
    # Given a file with one line per corpus record a line can hold (no newline inside)
    arrival = datetime(2026, 9, 10, 9, 0, tzinfo=UTC)
    cases = [
        c
        for c in click_corpus.cases(int(arrival.timestamp() * 1000))
        if c.travels and _fits_one_line(c.data)
    ]
    lines = [c.data for c in cases if isinstance(c.data, bytes)]
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    # When the command sends it
    assert _run_send_clicks(endpoint, path, tmp_path) == 0
    # Then every line landed exactly as it was in the file (NaN, repeated keys, surrogates)
    landed = _landed(kinesis)
    assert [r["Data"] for r in landed] == lines
    # and the ingest core gives each the corpus's verdict (as it would on the stream)
    records = [
        {
            "kinesis": {
                "data": base64.b64encode(r["Data"]).decode(),
                "sequenceNumber": str(i),
                "approximateArrivalTimestamp": arrival.timestamp(),
            },
            "eventID": f"shardId-000000000000:{i}",
        }
        for i, r in enumerate(landed)
    ]
    outcome = clicks.decode_batch(records, now=arrival)
    where = {int(r["sequence_number"]): r["reason"] for r in outcome.quarantined.to_pylist()}
    where |= {
        int(s): click_corpus.ACCEPTED
        for s in outcome.accepted.column("sequence_number").to_pylist()
    }
    got = [where.get(i, click_corpus.DUPLICATE) for i in range(len(cases))]
    assert got == [c.expected for c in cases]
    assert codes.NON_FINITE_NUMBER in got and codes.DUPLICATE_JSON_KEY in got
    assert codes.INVALID_UTF8 in got


def test_send_clicks_keys_unparseable_lines_by_a_hash_of_their_bytes(
    kinesis: Any, endpoint: str, tmp_path: Path
) -> None:
    # Given lines with and without a usable account_id
    path = tmp_path / "keys.jsonl"
    path.write_bytes(b'{"account_id":"acct-9","event_time":NaN}\n\xff\xfe\n\xff\xfe\n')
    # When the command sends them
    assert _run_send_clicks(endpoint, path, tmp_path) == 0
    # Then the parseable one is keyed by its account, the others by the same hash
    keys = [r["PartitionKey"] for r in _landed(kinesis)]
    assert keys[0] == "acct-9" and keys[1] == keys[2] and keys[1].startswith("sha256:")


def test_send_clicks_keeps_a_line_over_1_mb_aside_and_sends_the_rest(
    kinesis: Any, endpoint: str, tmp_path: Path
) -> None:
    # Given a line too big for Kinesis between two clicks
    path = tmp_path / "big.jsonl"
    big = json.dumps({**click(1), "page": "x" * 1_100_000}).encode()
    path.write_bytes(json.dumps(click(0)).encode() + b"\n" + big + b"\n" + b"not json\n")
    # When the command sends the file
    code = _run_send_clicks(endpoint, path, tmp_path)
    # Then the others landed, the big line is kept whole in the rejected file, and it says so
    assert code == 1
    assert [r["Data"] for r in _landed(kinesis)] == [json.dumps(click(0)).encode(), b"not json"]
    kept = json.loads((tmp_path / "s.jsonl.rejected").read_text())
    assert base64.b64decode(kept["data_b64"]) == big
    assert kept["reason"] == codes.OVERSIZED_RECORD
