"""The pipelines' Athena adapter and the atomic partition publish, on the emulator's Athena
(queries run on DuckDB over its S3 and Glue) and Glue."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from functions.adapters import athena_queries, glue_catalog
from functions.adapters.athena_queries import AthenaQueryError
from functions.core import schemas
from tests.conftest import EmulatorServer
from tests.functional.engagement_support import wait_for
from tests.support import athena_workgroup, glue_database, unique_name


def _workgroup(server: EmulatorServer) -> str:
    bucket = unique_name("results")
    server.client("s3").create_bucket(Bucket=bucket)
    return athena_workgroup(server.client("athena"), bucket)


def _database(server: EmulatorServer, table: schemas.Table, bucket: str) -> str:
    return glue_database(server, unique_name("curated").replace("-", "_"), [table], bucket)


def _ended(server: EmulatorServer, query_id: str) -> athena_queries.QueryState:
    athena = server.client("athena")
    return wait_for(
        lambda: s if (s := athena_queries.query_state(athena, query_id)).ended else None,
        f"query {query_id}",
    )


def test_a_query_runs_in_its_workgroup_and_its_small_result_reads_by_column(
    emulator_server: EmulatorServer,
) -> None:
    # given the pipelines workgroup and a curated database
    athena = emulator_server.client("athena")
    workgroup = _workgroup(emulator_server)
    bucket = unique_name("curated")
    emulator_server.client("s3").create_bucket(Bucket=bucket)
    database = _database(emulator_server, schemas.DEDUP_DAILY, bucket)
    # when a SELECT is started there and has ended
    query = athena_queries.start_query(
        athena,
        sql="SELECT 2 + 3 AS five, CAST(NULL AS varchar) AS nothing, 'a''b' AS quoted",
        workgroup=workgroup,
        database=database,
    )
    state = _ended(emulator_server, query)
    # then it succeeded and its one row reads by column name, NULL as None
    assert athena_queries.all_succeeded(athena_queries.query_states(athena, [query]))
    assert state.state == athena_queries.SUCCEEDED
    assert athena_queries.read_rows(athena, query) == [
        {"five": "5", "nothing": None, "quoted": "a'b"}
    ]


def test_a_failed_query_is_terminal_with_athenas_reason(emulator_server: EmulatorServer) -> None:
    # given a query naming a table that does not exist
    athena = emulator_server.client("athena")
    workgroup = _workgroup(emulator_server)
    bucket = unique_name("curated")
    emulator_server.client("s3").create_bucket(Bucket=bucket)
    database = _database(emulator_server, schemas.DEDUP_DAILY, bucket)
    query = athena_queries.start_query(
        athena, sql="SELECT * FROM no_such_table", workgroup=workgroup, database=database
    )
    state = _ended(emulator_server, query)
    # then its state says FAILED, and checking it raises the terminal error with the reason
    assert state.state == athena_queries.FAILED and not state.retryable
    with pytest.raises(AthenaQueryError, match="no_such_table"):
        athena_queries.all_succeeded([state])


def test_starting_in_an_unknown_workgroup_is_refused_not_retried(
    emulator_server: EmulatorServer,
) -> None:
    from botocore.exceptions import ClientError  # noqa: PLC0415

    # when a query is started in a workgroup that does not exist: the request is wrong
    with pytest.raises(ClientError):
        athena_queries.start_query(
            emulator_server.client("athena"), sql="SELECT 1", workgroup="nope", database="x"
        )


def test_publishing_moves_a_partition_in_one_call_and_athena_reads_the_new_version(
    emulator_server: EmulatorServer,
) -> None:
    # given a dedup_daily day published at a first prefix
    table = schemas.DEDUP_DAILY
    glue, s3 = emulator_server.client("glue"), emulator_server.client("s3")
    bucket = unique_name("curated")
    s3.create_bucket(Bucket=bucket)
    database = _database(emulator_server, table, bucket)
    day = "2026-10-02"

    def put(version: str, rows_landed: int) -> str:
        prefix = f"{table.prefix}/dt={day}/run={version}/"
        row = {c: 0 for c in table.arrow_schema().names} | {"rows_landed": rows_landed}
        body = io.BytesIO()
        pq.write_table(pa.Table.from_pylist([row], schema=table.arrow_schema()), body)
        s3.put_object(Bucket=bucket, Key=f"{prefix}data.parquet", Body=body.getvalue())
        return f"s3://{bucket}/{prefix}"

    first = put("a", 7)
    glue_catalog.publish_partition(
        glue, database=database, table=table, values=[day], location=first
    )
    assert (
        glue_catalog.partition_location_of(glue, database=database, table=table, values=[day])
        == first
    )
    # when a second version is written to a new prefix and published
    second = put("b", 9)
    glue_catalog.publish_partition(
        glue, database=database, table=table, values=[day], location=second
    )
    # then the partition moved, still one
    location = glue_catalog.partition_location_of(
        glue, database=database, table=table, values=[day]
    )
    assert location == second
    partitions = glue.get_partitions(DatabaseName=database, TableName=table.name)["Partitions"]
    assert [p["Values"] for p in partitions] == [[day]]
    # and once the old version is deleted, Athena reads the new one
    s3.delete_object(Bucket=bucket, Key=f"{table.prefix}/dt={day}/run=a/data.parquet")
    athena = emulator_server.client("athena")
    query = athena_queries.start_query(
        athena,
        sql=f"SELECT dt, rows_landed FROM {table.name}",
        workgroup=_workgroup(emulator_server),
        database=database,
    )
    _ended(emulator_server, query)
    assert athena_queries.read_rows(athena, query) == [{"dt": day, "rows_landed": "9"}]


def test_dropping_a_working_table_leaves_its_files(emulator_server: EmulatorServer) -> None:
    glue = emulator_server.client("glue")
    database = _database(emulator_server, schemas.DEDUP_DAILY, "b")
    assert glue_catalog.drop_table(glue, database=database, name=schemas.DEDUP_DAILY.name)
    assert not glue_catalog.drop_table(glue, database=database, name=schemas.DEDUP_DAILY.name)
