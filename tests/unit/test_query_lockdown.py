"""The local query engine reads the catalog's tables and nothing else: no file of its own
(read_csv, read_parquet, read_text, a quoted path, glob), no COPY, ATTACH or extension; and
finance tables only as finance (`--role finance`, the local stand-in for the finance
workgroup)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from functions.core import schemas
from pablo.cli import main
from pablo.query import engine as query_engine
from pablo.query.cli import run_query
from pablo.query.sql import QueryError, Translation
from tests.unit.query_lake import write_table

SALARY_SECRET = "9876543210"  # a figure that must never reach an analyst's screen


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A snapshot with salaries in the finance table, and the same salaries as a loose CSV
    next to it (what a finance export left on disk)."""
    out = tmp_path_factory.mktemp("out")
    schema = schemas.RAW_SALARIES.arrow_schema(with_partitions=True)
    row = {
        "team": "engineering",
        "headcount": 3,
        "amount_cents": int(SALARY_SECRET),
        "currency": "USD",
        "source_key": "landing/salaries/2026-09.csv",
        "month": "2026-09",
    }
    write_table(out / "lake", schemas.RAW_SALARIES, pa.Table.from_pylist([row], schema=schema))
    (out / "salaries.csv").write_text(f"team,amount_cents\nengineering,{SALARY_SECRET}\n")
    return out


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["query", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _outside_sql(lake: Path) -> list[str]:
    csv_path = lake / "salaries.csv"
    parquet = next((lake / "lake").rglob("*.parquet"))
    return [
        f"SELECT * FROM read_csv('{csv_path}')",
        f"SELECT * FROM read_csv_auto('{csv_path}')",
        f"SELECT * FROM read_parquet('{parquet}')",
        f"SELECT * FROM read_text('{csv_path}')",
        f"SELECT * FROM '{csv_path}'",
        f"SELECT * FROM glob('{lake}/*')",
        f"SELECT (SELECT max(amount_cents) FROM read_csv('{csv_path}')) AS leaked",
        f"COPY (SELECT 1) TO '{lake}/copied.csv'",
        f"ATTACH '{lake}/other.duckdb'",
        "INSTALL httpfs",
        "LOAD httpfs",
    ]


@pytest.mark.parametrize("index", range(11))
def test_any_path_outside_the_catalog_is_refused_in_one_line(
    lake: Path, capsys: pytest.CaptureFixture[str], index: int
) -> None:
    # Given SQL that reads, writes or attaches a path of its choosing
    sql = _outside_sql(lake)[index]
    # When an analyst runs it on the lake
    code, out, err = _run(capsys, sql, "--lake", str(lake))
    # Then it is refused: a failed query (exit 1), one line, nothing of the file shown,
    # nothing written
    assert code == 1, out
    assert out == ""
    assert len(err.splitlines()) == 1 and err.startswith("pablo: ")
    assert SALARY_SECRET not in err
    assert not (lake / "copied.csv").exists()
    assert not (lake / "other.duckdb").exists()


@pytest.mark.parametrize(
    "sql_template",
    [
        "SELECT * FROM read_csv('{csv}')",
        "SELECT * FROM '{csv}'",
        "COPY (SELECT 1) TO '{out}'",
        "ATTACH '{out}'",
        "INSTALL httpfs",
        "SET enable_external_access = true",
    ],
)
def test_duckdb_itself_is_locked_once_the_views_exist(lake: Path, sql_template: str) -> None:
    # Given SQL that got past the translator somehow (handed to the engine as is), next to
    # a real catalog table
    sql = sql_template.format(csv=lake / "salaries.csv", out=lake / "written.db")
    catalog = query_engine.lake_catalog(lake)
    spec = catalog.resolve("finance", "raw_salaries", default_database="curated")
    # When the engine runs it
    with pytest.raises(QueryError) as refused:
        query_engine.execute(Translation(sql=sql, tables=(spec,)))
    # Then DuckDB refuses it (file access disabled, configuration locked), in one line
    assert len(str(refused.value).splitlines()) == 1
    assert SALARY_SECRET not in str(refused.value)
    assert not (lake / "written.db").exists()


def test_the_locked_engine_still_reads_its_views(lake: Path) -> None:
    # Given the same lock / When a catalog table is read through its view
    catalog = query_engine.lake_catalog(lake)
    spec = catalog.resolve("finance", "raw_salaries", default_database="curated")
    sql = 'SELECT sum(amount_cents) AS total FROM "finance"."raw_salaries"'
    table = query_engine.execute(Translation(sql=sql, tables=(spec,)))
    # Then its rows come back
    assert table.to_pylist() == [{"total": int(SALARY_SECRET)}]


def test_finance_tables_are_refused_without_the_finance_role(
    lake: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sql = "SELECT amount_cents FROM finance.raw_salaries"
    # As an analyst (the default), and even naming the finance workgroup (an Athena setting
    # that grants nothing locally): refused in one line
    for extra in ((), ("--role", "analyst"), ("--workgroup", "finance")):
        code, out, err = _run(capsys, sql, "--lake", str(lake), *extra)
        assert code == 1 and out == ""
        assert err == (
            "pablo: finance.raw_salaries is restricted to finance: run it as finance "
            "(--role finance)\n"
        )
    # As finance: allowed
    code, out, err = _run(capsys, sql, "--lake", str(lake), "--role", "finance", "--format", "csv")
    assert code == 0, err
    assert out.splitlines() == ["amount_cents", SALARY_SECRET]


def test_run_query_refuses_an_unknown_role(lake: Path) -> None:
    with pytest.raises(QueryError, match="unknown role 'admin'"):
        run_query("SELECT 1", lake=lake, role="admin")
