"""Fuzzing the click ingest HANDLER as deployed: the function's zip invoked by the emulator's
Lambda, with Hypothesis batches of hostile payloads (the strategies of
tests/unit/test_clicks_fuzz.py). For every batch: the function returns without an error and
reports no failure, and every record is in raw_clicks, in the quarantine, or a later copy of
an event_id the batch accepted: in = accepted + duplicates + quarantined.
"""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from functions.core import codes, schemas
from tests.conftest import EmulatorServer
from tests.functional.engagement_support import EngagementRig, build_rig, create_function
from tests.unit.test_clicks_fuzz import payloads

HANDLER = "functions.handlers.click_ingest.handler"
# Well under Lambda's 6 MB invocation payload once base64 and the envelope are added.
MAX_BATCH_BYTES = 3_000_000
_SHARDS = itertools.count(1)


@pytest.fixture(scope="module")
def fuzz_rig(emulator_server: EmulatorServer) -> Iterator[EngagementRig]:
    rig = build_rig(emulator_server)
    rig.ingest = create_function(rig, name="click-ingest-fuzz", handler=HANDLER)
    yield rig


def _event(rig: EngagementRig, raws: list[bytes], shard: str) -> dict[str, Any]:
    arrival = rig.server.control.now().timestamp()
    return {
        "Records": [
            {
                "kinesis": {
                    "data": base64.b64encode(raw).decode(),
                    "sequenceNumber": f"{seq:020d}",
                    "approximateArrivalTimestamp": arrival,
                    "partitionKey": "fuzz",
                },
                "eventID": f"{shard}:{seq:020d}",
                "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/fuzz",
            }
            for seq, raw in enumerate(raws, start=1)
        ]
    }


def _rows(rig: EngagementRig, bucket: str, prefix: str, batch_id: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for key in rig.keys(bucket, prefix):
        if key.endswith(f"/{batch_id}.parquet"):
            rows += rig.read(bucket, key).to_pylist()
    return rows


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,  # each example writes to the shared emulator: no replays across runs
)
@given(st.lists(payloads(), min_size=1, max_size=6))
def test_the_deployed_handler_never_fails_on_data_and_balances(
    fuzz_rig: EngagementRig, raws: list[bytes]
) -> None:
    assume(sum(map(len, raws)) < MAX_BATCH_BYTES)
    rig = fuzz_rig
    # Given a batch of hostile payloads from its own shard (so its files are its own)
    shard = f"shardId-{next(_SHARDS):012d}"
    # When the deployed function is invoked with it (rig.invoke fails on a function error)
    response = rig.invoke(rig.ingest, _event(rig, raws, shard))
    # Then it reports no failure: nothing is retried, nothing goes to the failure queue
    assert response == {"batchItemFailures": []}
    # and each record is accepted, quarantined, or a later copy of an accepted event_id
    batch_id = f"{shard}-{1:020d}"
    accepted = _rows(rig, rig.raw, f"{schemas.RAW_CLICKS.prefix}/", batch_id)
    quarantined = _rows(
        rig, rig.quarantine, f"{schemas.QUARANTINE.prefix}/pipeline=engagement/", batch_id
    )
    placed = [r["sequence_number"] for r in accepted + quarantined]
    assert len(placed) == len(set(placed))
    accepted_ids = {r["event_id"] for r in accepted}
    duplicates = 0
    for seq, raw in enumerate(raws, start=1):
        if f"{seq:020d}" not in placed:
            assert json.loads(raw)["event_id"] in accepted_ids, raw[:200]
            duplicates += 1
    assert len(raws) == len(accepted) + duplicates + len(quarantined)
    # and a quarantined record keeps its exact bytes (an oversized one as the base64 text
    # it arrived as: it is never decoded)
    for row in quarantined:
        raw = raws[int(row["sequence_number"]) - 1]
        if row["reason"] == codes.OVERSIZED_RECORD:
            raw = base64.b64encode(raw)
        assert row["raw"] == raw, row["reason"]
