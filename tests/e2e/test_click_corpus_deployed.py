"""The bad-input corpus on the DEPLOYED click stream: the real stack in the emulator, its
Kinesis stream, its event source mapping and its ingest function, as a producer reaches it.

Every corpus record that Kinesis can carry is put on the stream in one PutRecords call; each
must end up in raw_clicks, counted as a duplicate, or in the quarantine with the corpus's
reason code and its exact bytes, and nothing may reach the on-failure queue.
"""

from __future__ import annotations

import io
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from functions.core import schemas
from functions.handlers import click_ingest
from tests import click_corpus
from tests.conftest import EmulatorServer

PARTITION_KEY = "corpus"  # one shard, so the batch keeps the corpus order (duplicates follow)
# A batch's in-batch duplicate copies land in raw_clicks too, in a file of their own.
_COPIES_FILE = f"{click_ingest.DUPLICATE_COPIES_SUFFIX}.parquet"


def _read(
    server: EmulatorServer, bucket: str, prefix: str, *, suffix: str = ".parquet"
) -> pa.Table:
    s3 = server.client("s3")
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    keys = sorted(o["Key"] for p in pages for o in p.get("Contents", []))
    tables = [
        pq.read_table(io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))
        for key in keys
        if key.endswith(suffix) and (suffix != ".parquet" or not key.endswith(_COPIES_FILE))
    ]
    return (
        pa.concat_tables(tables)
        if tables
        else pa.table({"sequence_number": pa.array([], pa.string())})
    )


def _metric(server: EmulatorServer, name: str, dimensions: dict[str, str] | None = None) -> float:
    now = datetime.now(UTC)
    stats = server.client("cloudwatch").get_metric_statistics(
        Namespace=server.outputs["MetricsNamespace"],
        MetricName=name,
        Dimensions=[{"Name": k, "Value": v} for k, v in (dimensions or {}).items()],
        StartTime=now - timedelta(days=800),
        EndTime=now + timedelta(days=800),
        Period=86400 * 1600,
        Statistics=["Sum"],
    )
    return float(sum(p["Sum"] for p in stats["Datapoints"]))


@pytest.fixture(scope="module")
def landed(deployed_stack: EmulatorServer) -> dict[str, Any]:
    """The travelling corpus put on the deployed stream once, and where each record went."""
    stack = deployed_stack
    arrival_ms = int(stack.control.now().timestamp() * 1000)
    cases = [c for c in click_corpus.cases(arrival_ms) if c.travels]
    assert all(isinstance(c.data, bytes) for c in cases)
    response = stack.client("kinesis").put_records(
        StreamName=stack.outputs["ClickStreamName"],
        Records=[{"Data": c.data, "PartitionKey": PARTITION_KEY} for c in cases],
    )
    assert response.get("FailedRecordCount", 0) == 0
    sequences = [r["SequenceNumber"] for r in response["Records"]]
    assert stack.control.drain_streams(timeout=180)["drained"] is True
    raw = _read(stack, stack.outputs["RawBucketName"], f"{schemas.RAW_CLICKS.prefix}/")
    copies = _read(
        stack, stack.outputs["RawBucketName"], f"{schemas.RAW_CLICKS.prefix}/", suffix=_COPIES_FILE
    )
    quarantine = _read(
        stack,
        stack.outputs["QuarantineBucketName"],
        f"{schemas.QUARANTINE.prefix}/pipeline={schemas.Pipeline.ENGAGEMENT.value}/",
    )
    return {
        "cases": cases,
        "sequences": sequences,
        "raw": raw,
        "copies": copies,
        "quarantine": quarantine,
    }


def test_every_corpus_record_is_accepted_duplicate_or_quarantined_with_its_reason(
    landed: dict[str, Any],
) -> None:
    # Given the corpus's travelling records on the deployed stream, drained by its mapping
    cases, sequences = landed["cases"], landed["sequences"]
    quarantined = {r["sequence_number"]: r for r in landed["quarantine"].to_pylist()}
    accepted = Counter(landed["raw"].column("sequence_number").to_pylist())
    copies = Counter(landed["copies"].column("sequence_number").to_pylist())
    # When each record is looked up by the sequence number Kinesis gave it
    got = []
    for case, sequence in zip(cases, sequences, strict=True):
        if sequence in quarantined:
            row = quarantined[sequence]
            assert row["raw"] == case.data, case.name  # the exact bytes, for a replay
            got.append(row["reason"])
        elif accepted[sequence]:
            assert accepted[sequence] == 1, case.name
            got.append(click_corpus.ACCEPTED)
        else:
            # a duplicate is kept once, in the batch's copies file (the daily dedup counts it)
            assert copies[sequence] == 1, case.name
            got.append(click_corpus.DUPLICATE)
    # Then each one is where the corpus says, with the corpus's reason
    assert dict(zip([c.name for c in cases], got, strict=True)) == {
        c.name: c.expected for c in cases
    }


def test_the_counts_balance_and_nothing_failed(
    deployed_stack: EmulatorServer, landed: dict[str, Any]
) -> None:
    # Given the corpus's expected outcomes, counted by hand from the corpus itself
    expected = Counter(c.expected for c in landed["cases"])
    n_accepted = expected.pop(click_corpus.ACCEPTED)
    n_duplicate = expected.pop(click_corpus.DUPLICATE)
    n_quarantined = sum(expected.values())
    # Then the ingest metrics say in = accepted + duplicate + quarantined, per reason too
    received = _metric(deployed_stack, click_ingest.RECEIVED_METRIC)
    assert received == len(landed["cases"]) == n_accepted + n_duplicate + n_quarantined
    assert _metric(deployed_stack, click_ingest.ACCEPTED_METRIC) == n_accepted
    assert _metric(deployed_stack, click_ingest.DUPLICATE_METRIC) == n_duplicate
    assert _metric(deployed_stack, click_ingest.QUARANTINED_METRIC) == n_quarantined
    for reason, count in expected.items():
        dims = {click_ingest.REASON_DIMENSION: reason}
        assert _metric(deployed_stack, click_ingest.QUARANTINED_BY_REASON_METRIC, dims) == count
    # and no batch failed: the ingest function's on-failure queue is empty
    url = deployed_stack.outputs["ClickIngestFailureQueueUrl"]
    attributes = deployed_stack.client("sqs").get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
    )
    assert attributes["Attributes"]["ApproximateNumberOfMessages"] == "0"
