"""Athena SQL to DuckDB: table resolution, Trino semantics kept, one-line errors."""

from __future__ import annotations

import boto3
import duckdb
import pytest
from moto import mock_aws

from functions.core import schemas
from infra.saved_queries import SavedQueryError, load_saved_queries, parse_saved_query
from pablo.query.engine import glue_catalog
from pablo.query.sql import (
    QueryError,
    for_athena,
    parse_query,
    referenced_tables,
    registry_catalog,
    translate,
)

CATALOG = registry_catalog(lambda t: f"/lake/{t.name}")


def _tables(sql: str) -> list[str]:
    return [t.qualified_name for t in translate(sql, CATALOG).tables]


@pytest.mark.parametrize(
    "reference",
    [
        "growth_monthly",
        "curated.growth_monthly",
        "pablo_prod_curated.growth_monthly",
        "awsdatacatalog.pablo_local_curated.growth_monthly",
        '"curated"."GROWTH_MONTHLY"',
    ],
)
def test_every_way_analysts_name_a_table_resolves_to_its_view(reference: str) -> None:
    # Given a table named bare, logically, by its Glue name, with a catalog, or quoted
    # When translated / Then it reads the view curated.growth_monthly
    translation = translate(f"SELECT month FROM {reference}", CATALOG)
    assert [t.qualified_name for t in translation.tables] == ["curated.growth_monthly"]
    assert "FROM curated.growth_monthly" in translation.sql


def test_cte_names_are_not_catalog_tables() -> None:
    # Given a CTE that shadows nothing in the catalog / Then only real tables are resolved
    sql = "WITH m AS (SELECT month FROM growth_monthly) SELECT * FROM m"
    assert _tables(sql) == ["curated.growth_monthly"]


def test_bare_names_resolve_in_the_default_database_like_athena() -> None:
    # Given a raw table named bare with the raw database as the default
    translation = translate("SELECT event_id FROM raw_clicks", CATALOG, default_database="raw")
    # Then it resolves there, and the same bare name under curated is an error pointing at it
    assert [t.qualified_name for t in translation.tables] == ["raw.raw_clicks"]
    with pytest.raises(QueryError, match=r"did you mean raw\.raw_clicks"):
        translate("SELECT event_id FROM raw_clicks", CATALOG)


def test_integer_division_stays_integer_division() -> None:
    # Given Trino's bigint / bigint (truncating) and a double division
    sql = "SELECT mrr_end_cents / accounts_end AS a, mrr_end_cents / 100.0 AS b FROM growth_monthly"
    translated = translate(sql, CATALOG).sql
    # When DuckDB evaluates the translated SQL on 7 and 2
    con = duckdb.connect()
    con.execute("CREATE SCHEMA curated")
    con.execute(
        "CREATE TABLE curated.growth_monthly AS SELECT 7::BIGINT AS mrr_end_cents, "
        "2::BIGINT AS accounts_end"
    )
    # Then 7 / 2 is 3, as on Athena, and 7 / 100.0 stays 0.07
    assert con.execute(translated).fetchall() == [(3, 0.07)]


def test_unnamed_outputs_are_named_as_athena_names_them() -> None:
    # Given computed outputs without aliases / Then they are _col<position>, as on Athena
    translated = translate(
        "SELECT month, count(*), max(nrr) FROM growth_monthly GROUP BY 1", CATALOG
    )
    assert "AS _col1" in translated.sql
    assert "AS _col2" in translated.sql


def test_athena_only_functions_translate_to_duckdb_equivalents() -> None:
    # Given Athena functions DuckDB spells differently or lacks
    sql = """
        SELECT date_trunc('month', from_iso8601_date(dt)) AS m,
               approx_distinct(user_id) AS users,
               date_diff('day', from_iso8601_date(dt), date '2026-10-01') AS days,
               count_if(clicks > 0) AS active,
               day_of_week(from_iso8601_date(dt)) AS weekday
        FROM engagement_user_daily GROUP BY 1, 3, 5
    """
    translated = translate(sql, CATALOG).sql.upper()
    # Then each has its DuckDB form (approx_distinct counted exactly: see query_sql)
    assert "COUNT(DISTINCT" in translated
    assert "DATE_DIFF('DAY'" in translated
    assert "ISODOW(" in translated
    assert "COUNT_IF(" in translated


def test_a_date_plus_days_or_months_stays_a_date() -> None:
    # Given Trino date arithmetic, which gives dates (DuckDB's gives timestamps)
    sql = (
        "SELECT date_add('day', 1, from_iso8601_date(dt)) AS a, "
        "from_iso8601_date(dt) + INTERVAL '1' MONTH AS b, "
        "date_add('hour', 1, event_time) AS c FROM raw_clicks"
    )
    translated = translate(sql, CATALOG, default_database="raw").sql
    con = duckdb.connect()
    con.execute("CREATE SCHEMA raw")
    con.execute(
        "CREATE TABLE raw.raw_clicks AS "
        "SELECT '2026-01-31' AS dt, TIMESTAMP '2026-01-31 23:30:00' AS event_time"
    )
    # When run / Then the day and month shifts are dates, the hour shift a timestamp
    row = con.execute(translated).fetchone()
    assert row is not None
    assert [str(v) for v in row] == ["2026-02-01", "2026-02-28", "2026-02-01 00:30:00"]


def test_map_cardinality_uses_duckdbs_cardinality() -> None:
    translated = translate(
        "SELECT cardinality(observed_split) FROM experiment_health_weekly", CATALOG
    )
    assert "CARDINALITY(" in translated.sql.upper()
    assert "ARRAY_LENGTH" not in translated.sql.upper()


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        (
            "SELECT * FROM growth_montly",
            r"unknown table growth_montly in database curated; did you mean growth_monthly",
        ),
        ("SELECT * FROM nowhere.growth_monthly", r"unknown database 'nowhere'"),
        ("SELECT nope FROM growth_monthly", r"unknown column nope \(line 1, column 11\)"),
        ("SELECT FROM", r"syntax error at line 1, column 11: Expected table name but got the end"),
        ("SELECT (1 FROM growth_monthly", r"syntax error at line 1"),
        ("SELECT 'open FROM growth_monthly", r"syntax error"),
        ("", r"empty query"),
        ("SELECT 1; SELECT 2", r"expected one statement, got 2"),
        ("DROP TABLE growth_monthly", r"only SELECT queries can run here, not DROP"),
        (
            "SELECT reduce(array[1], 0, (s, x) -> s + x, s -> s) FROM growth_monthly",
            r"the DuckDB path cannot run this query: .*not supported",
        ),
        ("SELECT * FROM finance.reconciliation", r"restricted to finance"),
    ],
)
def test_errors_are_one_clear_line(sql: str, message: str) -> None:
    # Given a query that cannot run / When translated / Then one line says why
    with pytest.raises(QueryError, match=message) as caught:
        translate(sql, CATALOG)
    assert "\n" not in str(caught.value)


def test_restricted_tables_translate_in_the_finance_workgroup() -> None:
    translation = translate(
        "SELECT line FROM finance.reconciliation", CATALOG, allow_restricted=True
    )
    assert [t.qualified_name for t in translation.tables] == ["finance.reconciliation"]


def test_for_athena_renames_logical_databases_and_leaves_other_sql_as_typed() -> None:
    glue = {"curated": "pablo_prod_curated", "raw": "pablo_prod_raw"}
    # Given logical qualifiers / Then they become the Glue names
    assert "pablo_prod_curated.growth_monthly" in for_athena(
        "SELECT month FROM curated.growth_monthly", glue
    )
    # Given SQL with bare or Glue names / Then it goes to Athena byte for byte
    typed = "select  month from growth_monthly  -- as typed"
    assert for_athena(typed, glue) == typed


def test_saved_queries_name_only_tables_of_their_database() -> None:
    # Given every saved query / Then each names tables bare (Athena resolves them in the
    # named query's database) and every table exists there, so the file runs on Athena as is
    for query in load_saved_queries():
        for table in referenced_tables(parse_query(query.sql)):
            assert not table.db, f"{query.name} qualifies {table.sql()}"
        translate(query.sql, CATALOG, default_database=query.database)


def test_saved_query_header_is_required() -> None:
    with pytest.raises(SavedQueryError, match="must start with a -- comment"):
        parse_saved_query("no_header", "SELECT 1")
    parsed = parse_saved_query("raw_one", "-- Clicks.\n-- database: raw\nSELECT 1")
    assert (parsed.description, parsed.database) == ("Clicks.", "raw")


def test_glue_catalog_reads_tables_columns_and_locations(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a Glue catalog in moto with one registry table, as the CDK catalog creates it
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        glue = boto3.client("glue", region_name="us-east-1")
        glue.create_database(DatabaseInput={"Name": "pablo_local_curated"})
        table = schemas.GROWTH_MONTHLY
        glue.create_table(
            DatabaseName="pablo_local_curated",
            TableInput={
                "Name": table.name,
                "Description": table.description,
                "PartitionKeys": [
                    {"Name": c["name"], "Type": c["type"]} for c in table.glue_partition_keys()
                ],
                "StorageDescriptor": {
                    "Columns": [
                        {"Name": c["name"], "Type": c["type"]} for c in table.glue_columns()
                    ],
                    "Location": "s3://curated-bucket/curated/growth_monthly/",
                },
                "Parameters": {"pablo.restricted": "false"},
            },
        )
        # When the catalog is read
        catalog = glue_catalog(glue)
    # Then the table is curated.growth_monthly with the registry's columns and its location
    spec = catalog.find("curated", "growth_monthly")
    assert spec is not None
    assert [name for name, _ in spec.columns] == table.column_names
    assert [name for name, _ in spec.partition_keys] == ["month"]
    assert spec.location == "s3://curated-bucket/curated/growth_monthly/"
