"""`pablo query` against the emulator: the deployed Glue catalog (tables, columns, partition
keys, S3 locations from the real CDK deploy) and Parquet read from the emulator's S3."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from functions.core import schemas
from infra.saved_queries import load_saved_queries, saved_query
from pablo.cli import main
from pablo.query.cli import run_query
from pablo.query.sql import QueryError
from pablo.wrangler import emulator_session
from tests.conftest import EmulatorServer

CLOCK_START = "2026-10-02T00:00:00+00:00"
MONTHS = {"2026-08": (0, 700, 2), "2026-09": (700, 1050, 3)}  # start, end cents, accounts


def _growth_month(month: str, start: int, end: int, accounts: int) -> pa.Table:
    schema = schemas.GROWTH_MONTHLY.arrow_schema()
    row: dict[str, object] = {f.name: 0 for f in schema if pa.types.is_integer(f.type)}
    row.update({f.name: None for f in schema if not pa.types.is_integer(f.type)})
    row.update({"mrr_start_cents": start, "mrr_end_cents": end, "accounts_end": accounts})
    row.update(
        {"nrr": end / start, "nrr_reason": None}
        if start
        else {"nrr": None, "nrr_reason": "no_starting_mrr"}
    )
    return pa.Table.from_pylist([row], schema=schema)


@pytest.fixture(scope="module")
def stack(deployed_stack: EmulatorServer) -> EmulatorServer:
    """The deployed stack with two months of growth_monthly in the curated bucket."""
    s3 = deployed_stack.client("s3")
    bucket = deployed_stack.outputs["CuratedBucketName"]
    for month, (start, end, accounts) in MONTHS.items():
        body = io.BytesIO()
        pq.write_table(_growth_month(month, start, end, accounts), body)
        key = f"{schemas.GROWTH_MONTHLY.prefix}/month={month}/growth-{month}.parquet"
        s3.put_object(Bucket=bucket, Key=key, Body=body.getvalue())
    return deployed_stack


def test_glue_tables_carry_the_registry_descriptions(stack: EmulatorServer) -> None:
    # Given the deployed Glue catalog
    glue = stack.client("glue")
    database = stack.outputs["CuratedDatabaseName"]
    table = glue.get_table(DatabaseName=database, Name="growth_monthly")["Table"]
    # Then the table and every column are described as in the registry (console help)
    assert table["Description"] == schemas.GROWTH_MONTHLY.description
    comments = {c["Name"]: c["Comment"] for c in table["StorageDescriptor"]["Columns"]}
    assert comments == {c.name: c.description for c in schemas.GROWTH_MONTHLY.columns}


def test_query_reads_the_emulators_s3_through_the_glue_catalog(stack: EmulatorServer) -> None:
    # Given SQL naming the table by its deployed Glue name, with Athena-only functions
    database = stack.outputs["CuratedDatabaseName"]
    sql = (
        "SELECT month, date_trunc('month', date_parse(month, '%Y-%m')) AS m, "
        f"mrr_end_cents / accounts_end AS per_account, nrr_reason FROM {database}.growth_monthly "
        "ORDER BY month"
    )
    # When pablo query runs against the emulator
    rows = run_query(sql, endpoint=stack.endpoint).to_pylist()
    # Then the partitions are months (strings, as in Glue) and the values are the files'
    assert [r["month"] for r in rows] == list(MONTHS)
    assert [r["per_account"] for r in rows] == [350, 350]
    assert [r["nrr_reason"] for r in rows] == ["no_starting_mrr", None]


def test_saved_query_runs_on_the_emulator(
    stack: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    # When an analyst runs a saved query against the emulator, as CSV
    code = main(
        ["query", "--saved", "mrr_by_month", "--endpoint", stack.endpoint, "--format", "csv"]
    )
    lines = capsys.readouterr().out.splitlines()
    # Then one line per month, MRR in dollars
    assert code == 0
    assert [line.split(",")[0] for line in lines[1:]] == list(MONTHS)
    header = lines[0].split(",")
    assert [line.split(",")[header.index("mrr")] for line in lines[1:]] == ["7.0", "10.5"]
    assert saved_query("mrr_by_month").database == "curated"


def test_empty_tables_answer_no_rows_and_finance_tables_need_the_finance_role(
    stack: EmulatorServer,
) -> None:
    # Given a curated table nothing has written yet / Then no rows, as on Athena
    assert run_query("SELECT * FROM profit_monthly", endpoint=stack.endpoint).num_rows == 0
    # Given a restricted table / Then an analyst is refused in one line, whatever workgroup
    with pytest.raises(QueryError, match="restricted to finance"):
        run_query("SELECT * FROM finance.reconciliation", endpoint=stack.endpoint)
    with pytest.raises(QueryError, match="restricted to finance"):
        run_query(
            "SELECT * FROM finance.reconciliation", endpoint=stack.endpoint, workgroup="finance"
        )
    # And the finance role reads it
    finance = run_query(
        "SELECT count(*) AS n FROM finance.reconciliation",
        endpoint=stack.endpoint,
        role="finance",
    )
    assert finance.to_pylist() == [{"n": 0}]


def test_every_saved_query_is_a_named_query_of_the_analyst_workgroup(
    stack: EmulatorServer,
) -> None:
    # Given the deploy (moto's CloudFormation skips AWS::Athena::NamedQuery; the deploy
    # creates them from the template)
    athena = stack.client("athena")
    workgroups = [w["Name"] for w in athena.list_work_groups()["WorkGroups"]]
    (analysts,) = [w for w in workgroups if w.endswith("-analysts")]
    # When the console lists the analysts' saved queries
    ids = athena.list_named_queries(WorkGroup=analysts)["NamedQueryIds"]
    texts = {athena.get_named_query(NamedQueryId=i)["NamedQuery"]["QueryString"] for i in ids}
    # Then each file of queries/ is there with its exact text
    saved = load_saved_queries()
    assert len(saved) >= 9
    assert {q.sql for q in saved} <= texts


def test_awswrangler_reads_the_emulators_catalog_and_lake(stack: EmulatorServer) -> None:
    # Given awswrangler pointed at the emulator, as a notebook would be
    import awswrangler as wr  # noqa: PLC0415

    session = emulator_session(stack.endpoint)
    database = stack.outputs["CuratedDatabaseName"]
    bucket = stack.outputs["CuratedBucketName"]
    try:
        # When it lists the catalog and reads the table's files as a dataset
        tables = wr.catalog.tables(database=database, limit=None, boto3_session=session)
        frame = wr.s3.read_parquet(
            f"s3://{bucket}/{schemas.GROWTH_MONTHLY.prefix}/",
            dataset=True,
            boto3_session=session,
        )
    finally:
        wr.config.reset()
    # Then the deployed Glue tables are there, with the registry's descriptions
    described = dict(zip(tables["Table"], tables["Description"], strict=True))
    assert described["growth_monthly"] == schemas.GROWTH_MONTHLY.description
    # And the rows are the files', with the month partition read from the keys
    rows = frame.sort_values("month")[["month", "mrr_end_cents", "accounts_end"]]
    assert rows.to_dict("records") == [
        {"month": month, "mrr_end_cents": end, "accounts_end": accounts}
        for month, (_, end, accounts) in MONTHS.items()
    ]
