"""THE registry test: the Glue catalog in the template is exactly the schema registry."""

from __future__ import annotations

import json
from typing import Any

from functions.core.schemas import TABLES, Database, Table
from infra.constructs.catalog import (
    PARQUET_INPUT_FORMAT,
    PARQUET_OUTPUT_FORMAT,
    PARQUET_SERDE,
)


def _glue_tables(synthesized) -> dict[tuple[str, str], dict[str, Any]]:
    tables = {}
    for resource in synthesized.resources("AWS::Glue::Table").values():
        props = resource["Properties"]
        key = (props["DatabaseName"], props["TableInput"]["Name"])
        assert key not in tables, f"Glue table {key} is defined twice"
        tables[key] = props
    return tables


def _expected_key(synthesized, table: Table) -> tuple[str, str]:
    return synthesized.config.glue_database_name(table.database), table.name


def test_every_registry_table_has_exactly_one_glue_table_and_nothing_else(synthesized):
    # given the registry and the synthesized template
    expected = {_expected_key(synthesized, t) for t in TABLES}
    # when the Glue tables are collected
    actual = set(_glue_tables(synthesized))
    # then they are the same set: nothing missing, nothing extra
    assert actual - expected == set(), "Glue tables that are not in the registry"
    assert expected - actual == set(), "registry tables without a Glue table"


def test_every_glue_table_matches_its_registry_entry_exactly(synthesized):
    # given every Glue table of the template
    tables = _glue_tables(synthesized)
    config = synthesized.config
    for table in TABLES:
        # when its registry entry is looked up
        props = tables[_expected_key(synthesized, table)]
        table_input = props["TableInput"]
        storage = table_input["StorageDescriptor"]
        # then columns (order, names, types, comments) and partition keys are the registry's
        assert _columns(storage["Columns"]) == table.glue_columns(), table.name
        assert _columns(table_input.get("PartitionKeys", [])) == table.glue_partition_keys()
        assert table_input["Description"] == table.description
        # and the data lives under the registry prefix of the registry bucket
        bucket = config.bucket_name(table.bucket.value)
        assert storage["Location"] == f"s3://{bucket}/{table.prefix}/", table.name
        # and it is Parquet, external
        assert table_input["TableType"] == "EXTERNAL_TABLE"
        assert storage["InputFormat"] == PARQUET_INPUT_FORMAT
        assert storage["OutputFormat"] == PARQUET_OUTPUT_FORMAT
        assert storage["SerdeInfo"]["SerializationLibrary"] == PARQUET_SERDE
        assert table_input["Parameters"]["classification"] == "parquet"
        assert props["CatalogId"] == config.account


def test_restricted_tables_live_only_in_the_finance_database_and_bucket(synthesized):
    # given the Glue tables of the template
    tables = _glue_tables(synthesized)
    finance_db = synthesized.config.glue_database_name(Database.FINANCE)
    finance_bucket = synthesized.config.bucket_name("finance")
    for table in TABLES:
        props = tables[_expected_key(synthesized, table)]
        location = props["TableInput"]["StorageDescriptor"]["Location"]
        in_finance = props["DatabaseName"] == finance_db or f"//{finance_bucket}/" in location
        # then a table is in the finance database or bucket if and only if it is restricted
        assert in_finance == table.restricted, table.name
    assert any(t.restricted for t in TABLES), "the registry is expected to have restricted data"


def test_one_glue_database_per_registry_database_and_tables_depend_on_them(synthesized):
    # given the Glue databases of the template
    databases = synthesized.resources("AWS::Glue::Database")
    names = {d["Properties"]["DatabaseInput"]["Name"]: k for k, d in databases.items()}
    # then there is one per registry database, named prefix_database
    assert set(names) == {synthesized.config.glue_database_name(db) for db in Database}
    # and every table is created after its database
    for resource in synthesized.resources("AWS::Glue::Table").values():
        database_logical_id = names[resource["Properties"]["DatabaseName"]]
        assert database_logical_id in resource.get("DependsOn", [])


def test_glue_comments_fit_glue_limits(synthesized):
    # Glue rejects a column comment over 255 characters and a description over 2048.
    for table in TABLES:
        assert len(table.description) <= 2048, table.name
        for column in table.glue_columns() + table.glue_partition_keys():
            assert len(column["comment"]) <= 255, f"{table.name}.{column['name']}"


def _columns(columns: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{"name": c["Name"], "type": c["Type"], "comment": c["Comment"]} for c in columns]


def test_the_quarantine_table_projects_its_partitions(synthesized) -> None:
    # given the synthesized quarantine table (written by every pipeline, registered by none)
    tables = synthesized.resources("AWS::Glue::Table")
    (quarantine,) = [
        t for t in tables.values() if t["Properties"]["TableInput"]["Name"] == "quarantine"
    ]
    parameters = quarantine["Properties"]["TableInput"]["Parameters"]
    # then Athena computes its partitions from the path: every pipeline, every day
    assert parameters["projection.enabled"] == "true"
    assert set(parameters["projection.pipeline.values"].split(",")) >= {
        "engagement",
        "growth",
        "profit",
        "experiment",
    }
    assert parameters["projection.dt.type"] == "date"
    template_value = parameters["storage.location.template"]
    assert "pipeline=${pipeline}/dt=${dt}/" in json.dumps(template_value)
