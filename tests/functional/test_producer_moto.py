"""The producer and `pablo send-clicks` against a real Kinesis API (moto server)."""

from __future__ import annotations

import argparse
import base64
import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from moto.server import ThreadedMotoServer

from functions.core import clicks
from pablo.commands import send_clicks
from pablo.local.context import local_client
from pablo.producer import ClickProducer

STREAM = "clicks"
T0 = int(datetime(2026, 9, 10, 9, 0, tzinfo=UTC).timestamp() * 1000)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    port = _free_port()
    server = ThreadedMotoServer(ip_address="localhost", port=port)
    server.start()
    try:
        yield f"http://localhost:{port}"
    finally:
        server.stop()


@pytest.fixture
def kinesis(endpoint: str) -> Iterator[Any]:
    client = local_client("kinesis", endpoint)  # created after the server started
    client.create_stream(StreamName=STREAM, ShardCount=1)
    client.get_waiter("stream_exists").wait(StreamName=STREAM)
    yield client
    client.delete_stream(StreamName=STREAM, EnforceConsumerDeletion=True)


def _landed(client: Any) -> list[dict[str, Any]]:
    shard = client.list_shards(StreamName=STREAM)["Shards"][0]["ShardId"]
    iterator = client.get_shard_iterator(
        StreamName=STREAM, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    return client.get_records(ShardIterator=iterator, Limit=10_000)["Records"]


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
    assert landed == sorted(f"e{i}" for i in range(8)) and result.resent == 2


def test_an_unavailable_stream_spills_and_replays_into_the_pipeline(
    kinesis: Any, tmp_path: Path
) -> None:
    # given the stream unavailable for the first call
    wrapper = FailingChosenRecords(kinesis, set(), down_calls=1)
    p = ClickProducer(
        client=wrapper,
        stream_name=STREAM,
        spill_path=tmp_path / "spill.jsonl",
        sleep=lambda _: None,
    )
    # when clicks are sent, they spill; a replay sends them
    assert p.send([click(i) for i in range(4)]).spilled == 4
    assert _landed(kinesis) == []
    assert p.replay_spill().sent == 4
    # then the landed records decode as a clean batch in the pipeline
    records = [
        {
            "kinesis": {
                "data": base64.b64encode(r["Data"]).decode(),
                "sequenceNumber": r["SequenceNumber"],
                "approximateArrivalTimestamp": T0 / 1000 + 60,
            },
            "eventID": f"shardId-000000000000:{r['SequenceNumber']}",
        }
        for r in _landed(kinesis)
    ]
    outcome = clicks.decode_batch(records, now=datetime(2026, 9, 10, 9, 2, tzinfo=UTC))
    assert outcome.accepted.num_rows == 4 and outcome.quarantined.num_rows == 0


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
