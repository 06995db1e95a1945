"""`pablo query` from the command line: formats, one-line errors (exit code 1 for a query that
cannot run, 2 for a wrong command line), and the
Athena path (boto3 against moto's Athena, which records the query but runs no SQL)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from moto import mock_aws
from moto.athena.models import QueryResults, athena_backends
from moto.core import DEFAULT_ACCOUNT_ID

from functions.core import schemas
from infra.config import (
    ANALYSTS_WORKGROUP,
    FINANCE_WORKGROUP,
    config_from_context,
    is_finance_workgroup,
    read_cdk_json_context,
)
from pablo.cli import main
from pablo.query.athena import run_athena
from pablo.query.cli import run_query
from pablo.query.sql import QueryError
from tests.unit.query_lake import write_table

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def small_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """growth_monthly with two months, one of them with null ratios and their reasons."""
    out = tmp_path_factory.mktemp("out")
    schema = schemas.GROWTH_MONTHLY.arrow_schema(with_partitions=True)
    full = []
    for month, start, end, accounts in (("2026-09", 0, 700, 2), ("2026-10", 700, 1050, 3)):
        filled: dict[str, Any] = {f.name: 0 for f in schema if pa.types.is_integer(f.type)}
        filled.update({f.name: None for f in schema if not pa.types.is_integer(f.type)})
        filled.update(month=month, mrr_start_cents=start, mrr_end_cents=end, accounts_end=accounts)
        filled["nrr"] = end / start if start else None
        filled["nrr_reason"] = None if start else "no_starting_mrr"
        full.append(filled)
    write_table(out / "lake", schemas.GROWTH_MONTHLY, pa.Table.from_pylist(full, schema=schema))
    return out


SQL = (
    "SELECT month, mrr_end_cents / accounts_end AS per_account, nrr, nrr_reason "
    "FROM growth_monthly ORDER BY month"
)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["query", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_table_format_aligns_columns_and_counts_rows(
    small_lake: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the lake / When queried with the default format
    code, out, _ = _run(capsys, SQL, "--lake", str(small_lake))
    # Then a header, a rule, one line per row (NULL shown) and the count
    assert code == 0
    assert out.splitlines() == [
        "month   | per_account |  nrr | nrr_reason",
        "--------+-------------+------+----------------",
        "2026-09 |         350 | NULL | no_starting_mrr",
        "2026-10 |         350 |  1.5 | NULL",
        "(2 rows)",
    ]


def test_csv_and_json_formats(small_lake: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # When the same query is asked as CSV and as JSON
    _, csv_out, _ = _run(capsys, SQL, "--lake", str(small_lake), "--format", "csv")
    _, json_out, _ = _run(capsys, SQL, "--lake", str(small_lake), "--format", "json")
    # Then CSV leaves nulls empty and JSON keeps types and nulls
    assert csv_out.splitlines() == [
        "month,per_account,nrr,nrr_reason",
        "2026-09,350,,no_starting_mrr",
        "2026-10,350,1.5,",
    ]
    assert json.loads(json_out) == [
        {"month": "2026-09", "per_account": 350, "nrr": None, "nrr_reason": "no_starting_mrr"},
        {"month": "2026-10", "per_account": 350, "nrr": 1.5, "nrr_reason": None},
    ]


@pytest.mark.parametrize(
    ("argv", "message", "code"),
    [
        (["SELECT * FROM nope"], "pablo: unknown table nope in database curated", 1),
        (
            ["SELECT month FROM"],
            "pablo: syntax error at line 1, column 17: Expected table name",
            1,
        ),
        (
            ["SELECT format_datetime(month, 'yyyy') FROM growth_monthly"],
            "pablo: the DuckDB path cannot run this query: Scalar Function with name "
            "format_datetime does not exist!",
            1,
        ),
        (
            ["SELECT reduce(array[1], 0, (s, x) -> s + x, s -> s) FROM growth_monthly"],
            "pablo: the DuckDB path cannot run this query: Argument 'finish' is not supported",
            1,
        ),
        (["--saved", "nope"], "pablo: no saved query 'nope'; saved queries: ", 1),
        ([], "pablo: no query: give SQL, --saved NAME or --list-saved", 2),
        (["SELECT 1", "--saved", "x"], "pablo: give either SQL or --saved NAME, not both", 2),
    ],
)
def test_errors_are_one_line_with_their_exit_code(
    small_lake: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
    code: int,
) -> None:
    # Given a query that cannot run (1) or a wrong command line (2) / When run
    exit_code, out, err = _run(capsys, *argv, "--lake", str(small_lake))
    # Then that exit code, nothing on stdout, and one line on stderr
    assert exit_code == code
    assert out == ""
    assert len(err.splitlines()) == 1
    assert err.startswith(message)


def test_a_real_process_prints_no_traceback(small_lake: Path) -> None:
    # Given the installed command / When a query names an unknown table
    done = subprocess.run(
        [sys.executable, "-m", "pablo", "query", "SELECT * FROM curated.nope"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=False,
        env={
            "PATH": "/usr/bin:/bin",
            "PABLO_HOME": str(small_lake / "no-emulator"),
            # No emulator runs: the target is AWS, with these (unused) credentials.
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        },
    )
    # Then exit code 1 and one line after the target's, no traceback (it failed before
    # reaching Athena)
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines() == [
        "pablo: target: AWS (credentials: env)",
        "pablo: unknown table curated.nope in database curated",
    ]


def test_list_saved_names_every_query_file(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "--list-saved")
    names = sorted(p.stem for p in (REPO_ROOT / "queries").glob("*.sql"))
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()] == names


# --- Athena ------------------------------------------------------------------------------


def test_names_match_the_deployed_workgroups_and_databases() -> None:
    # Given the prod environment of cdk.json (name_prefix pablo-prod)
    config = config_from_context({**read_cdk_json_context(), "env": "prod"})
    # Then pablo query names the workgroups as deployed, and a full name as given
    analysts = config.workgroup_name(ANALYSTS_WORKGROUP)
    finance = config.workgroup_name(FINANCE_WORKGROUP)
    assert (analysts, finance) == ("pablo-prod-analysts", "pablo-prod-finance")
    assert config.workgroup_name("pablo-prod-analysts") == "pablo-prod-analysts"
    # And only the finance one, by short or deployed name, reads finance tables
    assert [is_finance_workgroup(w) for w in (analysts, finance, FINANCE_WORKGROUP)] == [
        False,
        True,
        True,
    ]
    # And each logical database has its Glue name, the prefix with underscores
    assert config.glue_database_names() == {
        "raw": "pablo_prod_raw",
        "curated": "pablo_prod_curated",
        "finance": "pablo_prod_finance",
        "ops": "pablo_prod_ops",
    }


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield athena_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]


def _queue_results(aws: Any, columns: list[dict[str, str]], rows: list[list[str | None]]) -> None:
    """What moto's Athena answers for the next query (it runs no SQL itself)."""
    aws.query_results_queue.append(
        QueryResults(
            rows=[
                {"Data": [{} if v is None else {"VarCharValue": v} for v in row]} for row in rows
            ],
            column_info=columns,
        )
    )


def test_athena_path_runs_in_the_analyst_workgroup_through_awswrangler(aws: Any) -> None:
    # Given Athena answering a query with typed columns (header row first, as Athena does)
    columns = [{"Name": "month", "Type": "varchar"}, {"Name": "mrr", "Type": "double"}]
    columns += [{"Name": "accounts", "Type": "bigint"}, {"Name": "day", "Type": "date"}]
    _queue_results(
        aws,
        columns,
        [
            ["month", "mrr", "accounts", "day"],
            ["2026-09", "82.3", "5", "2026-09-01"],
            ["2026-10", None, "6", "2026-10-01"],
        ],
    )
    # And the analyst workgroup, writing its results where awswrangler reads them
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="results")
    athena = boto3.client("athena", region_name="us-east-1")
    athena.create_work_group(
        Name="pablo-prod-analysts",
        Configuration={"ResultConfiguration": {"OutputLocation": "s3://results/analysts/"}},
    )
    # When pablo query runs with no lake and no emulator
    table = run_query("SELECT month FROM curated.growth_monthly", env="prod")
    # Then the rows come back typed, Athena's NULL as null
    assert table.to_pylist()[1] == {
        "month": "2026-10",
        "mrr": None,
        "accounts": 6,
        "day": date(2026, 10, 1),
    }
    assert table.column("mrr").to_pylist() == [82.3, None]
    # And Athena got the Glue names, the analyst workgroup and the curated database
    executions = athena.list_query_executions()["QueryExecutionIds"]
    execution = athena.get_query_execution(QueryExecutionId=executions[0])["QueryExecution"]
    assert "pablo_prod_curated.growth_monthly" in execution["Query"]
    assert execution["QueryExecutionContext"]["Database"] == "pablo_prod_curated"
    assert execution["WorkGroup"] == "pablo-prod-analysts"


def test_a_failed_athena_query_is_one_line(aws: Any) -> None:
    # Given a workgroup and a query execution Athena marks FAILED
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="results")
    boto3.client("athena", region_name="us-east-1").create_work_group(
        Name="primary-results",
        Configuration={"ResultConfiguration": {"OutputLocation": "s3://results/"}},
    )
    original = aws.start_query_execution

    def failing(*args: Any, **kwargs: Any) -> str:
        execution_id = original(*args, **kwargs)
        aws.executions[execution_id].status = "FAILED"
        return execution_id

    aws.start_query_execution = failing
    # When it runs / Then a one-line QueryError says Athena failed it
    with pytest.raises(QueryError, match=r"^Athena: ") as caught:
        run_athena(
            boto3.Session(region_name="us-east-1"),
            "SELECT 1",
            workgroup="primary-results",
            database="default",
        )
    assert "\n" not in str(caught.value)


def test_athena_refusal_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a session whose Athena endpoint cannot be reached
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    session = boto3.Session(
        region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    # When a query is started / Then a one-line QueryError says Athena failed
    with pytest.raises(QueryError, match=r"^Athena: ") as caught:
        run_athena(session, "SELECT 1", workgroup="primary", database="default")
    assert "\n" not in str(caught.value)


def test_parquet_format_writes_the_rows_as_parquet(small_lake: Path, tmp_path: Path) -> None:
    # Given the lake / When a real process asks for Parquet on a redirected stdout
    target = tmp_path / "out.parquet"
    with target.open("wb") as sink:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pablo",
                "query",
                SQL,
                "--lake",
                str(small_lake),
                "--format",
                "parquet",
            ],
            stdout=sink,
            stderr=subprocess.PIPE,
            text=False,
            check=False,
        )
    # Then the file is Parquet with the query's rows and types
    assert result.returncode == 0, result.stderr
    assert pq.read_table(target).to_pylist() == [
        {"month": "2026-09", "per_account": 350, "nrr": None, "nrr_reason": "no_starting_mrr"},
        {"month": "2026-10", "per_account": 350, "nrr": 1.5, "nrr_reason": None},
    ]
