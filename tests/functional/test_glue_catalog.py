"""The shared Glue partition adapter, on the emulator's Glue."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pytest
from botocore.exceptions import ClientError

from functions.adapters import glue_catalog
from functions.adapters.aws_errors import classified
from functions.core import schemas
from functions.core.errors import TransientError
from pablo.local.context import local_client
from tests.conftest import EmulatorServer
from tests.support import glue_database, unique_name


def _table(server: EmulatorServer, table: schemas.Table) -> str:
    return glue_database(server, unique_name("db").replace("-", "_"), [table])


def test_partitions_are_created_once_with_their_hive_location(
    emulator_server: EmulatorServer,
) -> None:
    # given a registry table with two partition keys in the catalog
    table = schemas.QUARANTINE
    database = _table(emulator_server, table)
    glue = emulator_server.client("glue")
    wanted = [("profit", f"2026-09-{day:02d}") for day in range(1, 31)] * 2 + [("growth", "x")]
    # when registered twice (more than one BatchCreatePartition call's worth the first time)
    first = glue_catalog.register_partitions(
        glue, database=database, table=table, bucket="b", values=wanted * 4
    )
    again = glue_catalog.register_partitions(
        glue, database=database, table=table, bucket="b", values=wanted
    )
    # then each distinct partition exists once, at its hive path
    assert (first, again) == (31, 0)
    partitions = glue.get_partitions(DatabaseName=database, TableName=table.name)["Partitions"]
    locations = {tuple(p["Values"]): p["StorageDescriptor"]["Location"] for p in partitions}
    assert locations[("profit", "2026-09-07")] == (
        f"s3://b/{table.prefix}/pipeline=profit/dt=2026-09-07/"
    )
    assert len(locations) == 31


def test_a_missing_table_is_terminal_and_throttling_transient(
    emulator_server: EmulatorServer,
) -> None:
    # given a database without the table
    glue = emulator_server.client("glue")
    database = glue_database(emulator_server, unique_name("db").replace("-", "_"), [])
    # when registering a partition / then the ClientError is raised as it is (no retry helps)
    with pytest.raises(ClientError):
        glue_catalog.register_partitions(
            glue, database=database, table=schemas.QUARANTINE, bucket="b", values=[("a", "b")]
        )
    # and a throttled call is marked transient
    throttled = ClientError({"Error": {"Code": "ThrottlingException"}}, "BatchCreatePartition")
    assert isinstance(classified(throttled, "glue"), TransientError)


def test_a_client_does_not_ask_again_for_partitions_it_registered(
    emulator_server: EmulatorServer,
) -> None:
    # given a partition registered through one client, and a second, fresh client
    table = schemas.QUARANTINE
    database = _table(emulator_server, table)
    warm = local_client("glue", emulator_server.endpoint)  # its own: the test hooks its calls
    glue_catalog.register_partitions(
        warm, database=database, table=table, bucket="b", values=[("profit", "2026-09-01")]
    )
    fresh = local_client("glue", emulator_server.endpoint)
    calls: list[str] = []
    for client in (warm, fresh):
        client.meta.events.register(
            "before-call.glue.BatchCreatePartition", lambda **kw: calls.append(kw["model"].name)
        )
    # when both register it again (a warm Lambda re-running a day; a cold start)
    again = [
        glue_catalog.register_partitions(
            client, database=database, table=table, bucket="b", values=[("profit", "2026-09-01")]
        )
        for client in (warm, fresh)
    ]
    # then only the fresh client asked Glue, and nothing was created twice
    assert calls == ["BatchCreatePartition"]
    assert again == [0, 0]


def test_written_partitions_are_registered_where_their_files_are(
    emulator_server: EmulatorServer,
) -> None:
    # given a catalog table and a bucket, and rows of two days
    table = schemas.PRODUCER_COUNTS
    database = _table(emulator_server, table)
    s3, glue = emulator_server.client("s3"), emulator_server.client("glue")
    bucket = unique_name("bucket")
    s3.create_bucket(Bucket=bucket)
    rows = pa.table(
        {
            "producer_id": ["web", "web", "web"],
            "minute": pa.array(
                [datetime(2026, 9, d, 10, tzinfo=UTC) for d in (1, 1, 2)], pa.timestamp("us", "UTC")
            ),
            "sent": [3, 4, 5],
            "spilled": [0, 0, 1],
            "dt": ["2026-09-01", "2026-09-01", "2026-09-02"],
        }
    )
    # when written and registered in one call
    keys = glue_catalog.write_and_register(
        s3, glue, bucket=bucket, database=database, table=table, rows=rows, name="f", kms=False
    )
    # then one file per day, and each day's partition points at the folder of its file
    assert keys == [
        f"{table.prefix}/dt=2026-09-01/f.parquet",
        f"{table.prefix}/dt=2026-09-02/f.parquet",
    ]
    partitions = glue.get_partitions(DatabaseName=database, TableName=table.name)["Partitions"]
    assert sorted((p["Values"][0], p["StorageDescriptor"]["Location"]) for p in partitions) == [
        (day, f"s3://{bucket}/{table.prefix}/dt={day}/") for day in ("2026-09-01", "2026-09-02")
    ]
