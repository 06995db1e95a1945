"""The emulator's Athena runs SQL: results, pages, CSV in the output location, errors,
workgroup settings, CTAS and INSERT INTO, awswrangler; all through the real Athena API."""

from __future__ import annotations

import io
import os
import time
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pablo.wrangler import emulator_session
from tests.conftest import EmulatorServer

DATABASE = "athena_lab"
RESULTS = "athena-lab-results"
LAKE = "athena-lab-lake"
WORKGROUP = "athena-lab"
# Two days of visits; every expected figure below is counted from these rows by hand.
VISITS = {
    "2026-10-01": [("u1", 3, datetime(2026, 10, 1, 9, 30, tzinfo=UTC)), ("u2", 4, None)],
    "2026-10-02": [("u1", 5, datetime(2026, 10, 2, 23, 59, 59, 250000, tzinfo=UTC))],
}
VISIT_COLUMNS = [("user_id", "string"), ("clicks", "bigint"), ("seen", "timestamp")]
SCHEMA = pa.schema(
    [("user_id", pa.string()), ("clicks", pa.int64()), ("seen", pa.timestamp("ms", tz="UTC"))]
)


@pytest.fixture(scope="module")
def lab(emulator_server: EmulatorServer) -> EmulatorServer:
    """A Glue database with one partitioned Parquet table, and a workgroup with results."""
    s3, glue, athena = (emulator_server.client(s) for s in ("s3", "glue", "athena"))
    for bucket in (RESULTS, LAKE):
        s3.create_bucket(Bucket=bucket)
    glue.create_database(DatabaseInput={"Name": DATABASE})
    glue.create_table(
        DatabaseName=DATABASE,
        TableInput={
            "Name": "visits",
            "PartitionKeys": [{"Name": "dt", "Type": "string"}],
            "StorageDescriptor": {
                "Columns": [{"Name": n, "Type": t} for n, t in VISIT_COLUMNS],
                "Location": f"s3://{LAKE}/visits/",
            },
        },
    )
    for day, rows in VISITS.items():
        body = io.BytesIO()
        records = [dict(zip(SCHEMA.names, row, strict=True)) for row in rows]
        table = pa.Table.from_pylist(records, SCHEMA)
        pq.write_table(table, body)
        s3.put_object(Bucket=LAKE, Key=f"visits/dt={day}/part-0.parquet", Body=body.getvalue())
    athena.create_work_group(
        Name=WORKGROUP,
        Configuration={
            "ResultConfiguration": {"OutputLocation": f"s3://{RESULTS}/queries/"},
            "EnforceWorkGroupConfiguration": True,
        },
    )
    return emulator_server


def _run(
    server: EmulatorServer, sql: str, *, workgroup: str = WORKGROUP, **kwargs: Any
) -> dict[str, Any]:
    athena = server.client("athena")
    query_id = athena.start_query_execution(
        QueryString=sql,
        WorkGroup=workgroup,
        QueryExecutionContext={"Database": DATABASE},
        **kwargs,
    )["QueryExecutionId"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        execution: dict[str, Any] = athena.get_query_execution(QueryExecutionId=query_id)[
            "QueryExecution"
        ]
        if execution["Status"]["State"] not in ("QUEUED", "RUNNING"):
            return execution
        time.sleep(0.05)
    raise AssertionError(f"query {query_id} did not end")


def _values(page: dict[str, Any]) -> list[list[str | None]]:
    return [[cell.get("VarCharValue") for cell in row["Data"]] for row in page["ResultSet"]["Rows"]]


def test_a_select_runs_and_its_results_come_as_athena_gives_them(lab: EmulatorServer) -> None:
    # Given the visits table / When a query aggregates it by day
    execution = _run(
        lab,
        "SELECT dt, sum(clicks) AS clicks, count(*) AS visits, max(seen) AS last_seen "
        "FROM visits GROUP BY dt ORDER BY dt",
    )
    # Then it succeeded, scanning the table's files
    assert execution["Status"]["State"] == "SUCCEEDED", execution["Status"]
    assert execution["StatementType"] == "DML"
    s3 = lab.client("s3")
    sizes = [o["Size"] for o in s3.list_objects_v2(Bucket=LAKE, Prefix="visits/")["Contents"]]
    assert execution["Statistics"]["DataScannedInBytes"] == sum(sizes)
    # And its rows: header first, then 3+4 clicks in 2 visits, and 5 in 1; NULL max is NULL
    athena = lab.client("athena")
    page = athena.get_query_results(QueryExecutionId=execution["QueryExecutionId"])
    assert _values(page) == [
        ["dt", "clicks", "visits", "last_seen"],
        ["2026-10-01", "7", "2", "2026-10-01 09:30:00.000"],
        ["2026-10-02", "5", "1", "2026-10-02 23:59:59.250"],
    ]
    types = [(c["Name"], c["Type"]) for c in page["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]]
    assert types == [
        ("dt", "varchar"),
        ("clicks", "bigint"),
        ("visits", "bigint"),
        ("last_seen", "timestamp"),
    ]
    # And the CSV Athena would write sits in the workgroup's output location
    location = execution["ResultConfiguration"]["OutputLocation"]
    assert location == f"s3://{RESULTS}/queries/{execution['QueryExecutionId']}.csv"
    key = location.removeprefix(f"s3://{RESULTS}/")
    csv_text = s3.get_object(Bucket=RESULTS, Key=key)["Body"].read().decode()
    assert csv_text == (
        '"dt","clicks","visits","last_seen"\n'
        '"2026-10-01","7","2","2026-10-01 09:30:00.000"\n'
        '"2026-10-02","5","1","2026-10-02 23:59:59.250"\n'
    )
    assert s3.head_object(Bucket=RESULTS, Key=f"{key}.metadata")["ContentLength"] > 0


def test_results_come_in_pages(lab: EmulatorServer) -> None:
    # Given a query of three rows (four with the header)
    execution = _run(lab, "SELECT user_id, clicks FROM visits ORDER BY clicks")
    athena = lab.client("athena")
    # When they are read two at a time with the paginator
    pages = athena.get_paginator("get_query_results").paginate(
        QueryExecutionId=execution["QueryExecutionId"], PaginationConfig={"PageSize": 2}
    )
    # Then two pages hold the header and the rows in order, and NULL is a missing value
    rows = [_values(page) for page in pages]
    assert rows == [[["user_id", "clicks"], ["u1", "3"]], [["u2", "4"], ["u1", "5"]]]


def test_a_missing_table_and_bad_syntax_fail_as_athena_fails_them(lab: EmulatorServer) -> None:
    # When a query names a table that does not exist, and another is not SQL
    missing = _run(lab, "SELECT * FROM nope")
    broken = _run(lab, "SELEC 1")
    # Then both FAILED, with Athena's error name first and a user error category
    assert missing["Status"]["State"] == "FAILED"
    assert missing["Status"]["StateChangeReason"].startswith("TABLE_NOT_FOUND: unknown table nope")
    assert missing["Status"]["AthenaError"]["ErrorCategory"] == 2
    assert broken["Status"]["StateChangeReason"].startswith("SYNTAX_ERROR: ")
    # And their results are refused as Athena refuses them
    athena = lab.client("athena")
    with pytest.raises(athena.exceptions.InvalidRequestException, match="TABLE_NOT_FOUND"):
        athena.get_query_results(QueryExecutionId=missing["QueryExecutionId"])


def test_the_workgroup_enforces_its_location_and_its_bytes_scanned_cutoff(
    lab: EmulatorServer,
) -> None:
    # Given a table of 11 MB (random bytes do not compress) and a workgroup that allows
    # 10 MB scanned per query, Athena's smallest cutoff
    glue, s3, athena = (lab.client(s) for s in ("glue", "s3", "athena"))
    glue.create_table(
        DatabaseName=DATABASE,
        TableInput={
            "Name": "blobs",
            "StorageDescriptor": {
                "Columns": [{"Name": "payload", "Type": "binary"}],
                "Location": f"s3://{LAKE}/blobs/",
            },
        },
    )
    body = io.BytesIO()
    pq.write_table(pa.table({"payload": [os.urandom(11 * 1024 * 1024)]}), body)
    s3.put_object(Bucket=LAKE, Key="blobs/part-0.parquet", Body=body.getvalue())
    athena.create_work_group(
        Name="athena-lab-small",
        Configuration={
            "ResultConfiguration": {"OutputLocation": f"s3://{RESULTS}/small/"},
            "BytesScannedCutoffPerQuery": 10_000_000,
        },
    )
    # When a query asks for its own location and scans the whole table
    execution = _run(
        lab,
        "SELECT count(*) FROM blobs",
        workgroup="athena-lab-small",
        ResultConfiguration={"OutputLocation": f"s3://{RESULTS}/elsewhere/"},
    )
    # Then the workgroup's location is used and the cutoff failed the query
    assert execution["ResultConfiguration"]["OutputLocation"].startswith(f"s3://{RESULTS}/small/")
    assert execution["Status"]["State"] == "FAILED"
    assert "Bytes scanned limit was exceeded" in execution["Status"]["StateChangeReason"]


def test_ctas_and_insert_write_parquet_and_register_glue(lab: EmulatorServer) -> None:
    # When a CTAS builds a partitioned table of clicks per user and day
    created = _run(
        lab,
        "CREATE TABLE user_days WITH (format = 'PARQUET', partitioned_by = ARRAY['dt']) AS "
        "SELECT user_id, sum(clicks) AS clicks, dt FROM visits GROUP BY user_id, dt",
    )
    # Then it succeeded as DDL, writing 3 rows under the query's tables/ folder
    assert created["Status"]["State"] == "SUCCEEDED", created["Status"]
    assert created["StatementType"] == "DDL"
    glue = lab.client("glue")
    table = glue.get_table(DatabaseName=DATABASE, Name="user_days")["Table"]
    assert [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]] == [
        ("user_id", "string"),
        ("clicks", "bigint"),
    ]
    assert [(k["Name"], k["Type"]) for k in table["PartitionKeys"]] == [("dt", "string")]
    partitions = glue.get_partitions(DatabaseName=DATABASE, TableName="user_days")["Partitions"]
    assert sorted(p["Values"][0] for p in partitions) == ["2026-10-01", "2026-10-02"]
    # When one more day is inserted into it
    inserted = _run(lab, "INSERT INTO user_days SELECT 'u3', 9, '2026-10-03'")
    assert inserted["Status"]["State"] == "SUCCEEDED", inserted["Status"]
    # Then the table reads back every row: u1 3 then 5, u2 4, u3 9
    read = _run(lab, "SELECT user_id, clicks, dt FROM user_days ORDER BY dt, user_id")
    page = lab.client("athena").get_query_results(QueryExecutionId=read["QueryExecutionId"])
    assert _values(page)[1:] == [
        ["u1", "3", "2026-10-01"],
        ["u2", "4", "2026-10-01"],
        ["u1", "5", "2026-10-02"],
        ["u3", "9", "2026-10-03"],
    ]
    # And a second CTAS of the same name is refused
    again = _run(lab, "CREATE TABLE user_days AS SELECT 1 AS one")
    assert again["Status"]["StateChangeReason"].startswith("ALREADY_EXISTS: ")


def test_executions_are_listed_newest_first_and_stopping_a_finished_one_changes_nothing(
    lab: EmulatorServer,
) -> None:
    first = _run(lab, "SELECT 1 AS one")
    second = _run(lab, "SELECT 2 AS two")
    athena = lab.client("athena")
    listed = athena.list_query_executions(WorkGroup=WORKGROUP)["QueryExecutionIds"]
    assert listed.index(second["QueryExecutionId"]) < listed.index(first["QueryExecutionId"])
    athena.stop_query_execution(QueryExecutionId=first["QueryExecutionId"])
    state = athena.get_query_execution(QueryExecutionId=first["QueryExecutionId"])
    assert state["QueryExecution"]["Status"]["State"] == "SUCCEEDED"


def test_awswrangler_reads_a_query_from_the_emulators_athena(lab: EmulatorServer) -> None:
    # Given awswrangler pointed at the emulator, as in a notebook
    import awswrangler as wr  # noqa: PLC0415

    session = emulator_session(lab.endpoint)
    try:
        # When it runs a query the way analysts do on AWS
        frame = wr.athena.read_sql_query(
            "SELECT user_id, sum(clicks) AS clicks FROM visits GROUP BY user_id ORDER BY user_id",
            database=DATABASE,
            workgroup=WORKGROUP,
            ctas_approach=False,
            boto3_session=session,
        )
    finally:
        wr.config.reset()
    # Then the DataFrame holds u1 with 3+5 clicks and u2 with 4, typed from the metadata
    assert frame.to_dict("records") == [
        {"user_id": "u1", "clicks": 8},
        {"user_id": "u2", "clicks": 4},
    ]
    assert str(frame["clicks"].dtype) == "Int64"


def test_csv_tables_and_projected_partitions_are_read(lab: EmulatorServer) -> None:
    # Given a CSV table (OpenCSVSerde, a header line to skip, partitions by projection: no
    # partition is registered in Glue) with two files under hive paths
    glue, s3 = lab.client("glue"), lab.client("s3")
    glue.create_table(
        DatabaseName=DATABASE,
        TableInput={
            "Name": "prices",
            "Parameters": {
                "skip.header.line.count": "1",
                "projection.enabled": "true",
                "projection.plan.type": "enum",
                "projection.plan.values": "team,business",
                "storage.location.template": f"s3://{LAKE}/prices/plan=${{plan}}/",
            },
            "PartitionKeys": [{"Name": "plan", "Type": "string"}],
            "StorageDescriptor": {
                "Columns": [
                    {"Name": "seats", "Type": "bigint"},
                    {"Name": "note", "Type": "string"},
                ],
                "Location": f"s3://{LAKE}/prices/",
                "SerdeInfo": {
                    "SerializationLibrary": "org.apache.hadoop.hive.serde2.OpenCSVSerde",
                    "Parameters": {"separatorChar": ";", "quoteChar": '"'},
                },
            },
        },
    )
    s3.put_object(
        Bucket=LAKE, Key="prices/plan=team/a.csv", Body=b'seats;note\n5;"a; quoted"\n;none\n10;\n'
    )
    s3.put_object(Bucket=LAKE, Key="prices/plan=business/b.csv", Body=b"seats;note\n50;big\n")
    # When it is queried
    execution = _run(lab, "SELECT plan, seats, note FROM prices ORDER BY seats")
    # Then every row is read, the header skipped, the quoted delimiter kept; an empty
    # number is NULL (sorted last) and an empty string stays a string
    assert execution["Status"]["State"] == "SUCCEEDED", execution["Status"]
    page = lab.client("athena").get_query_results(QueryExecutionId=execution["QueryExecutionId"])
    assert _values(page)[1:] == [
        ["team", "5", "a; quoted"],
        ["team", "10", ""],
        ["business", "50", "big"],
        ["team", None, "none"],
    ]


def test_a_start_retried_with_its_token_is_the_first_query_not_a_second(
    lab: EmulatorServer,
) -> None:
    # given a query started with a client request token (32 characters at least)
    token = "retried-start-token-0123456789abcdef"
    first = _run(lab, "SELECT 1 AS one", ClientRequestToken=token)
    athena = lab.client("athena")
    # when the same start is sent again (a retried Lambda), and the token with other SQL
    again = athena.start_query_execution(
        QueryString="SELECT 1 AS one", WorkGroup=WORKGROUP, ClientRequestToken=token
    )["QueryExecutionId"]
    with pytest.raises(athena.exceptions.InvalidRequestException):
        athena.start_query_execution(
            QueryString="SELECT 2 AS two", WorkGroup=WORKGROUP, ClientRequestToken=token
        )
    # then the retry answers the first query's id and runs nothing more
    assert again == first["QueryExecutionId"]
    listed = athena.list_query_executions(WorkGroup=WORKGROUP)["QueryExecutionIds"]
    assert listed.count(again) == 1
