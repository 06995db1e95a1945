"""The schema registry is the single source of every table's columns."""

from __future__ import annotations

import pyarrow as pa
import pytest

from functions.core import schemas
from functions.core.schemas import TABLES, Column, Database, Table


@pytest.mark.parametrize("tbl", TABLES, ids=lambda t: t.name)
def test_every_table_maps_to_arrow_and_glue_with_the_same_columns(tbl: Table) -> None:
    # Given a registry table
    # When it is mapped to Arrow and to Glue
    arrow = tbl.arrow_schema(with_partitions=True)
    glue = tbl.glue_columns() + tbl.glue_partition_keys()
    # Then both carry the same names, in the same order, with a description each
    assert arrow.names == [c["name"] for c in glue]
    assert all(c["comment"] for c in glue)
    assert tbl.description


@pytest.mark.parametrize("tbl", TABLES, ids=lambda t: t.name)
def test_files_do_not_repeat_partition_columns(tbl: Table) -> None:
    file_schema = tbl.arrow_schema()
    assert not set(file_schema.names) & set(tbl.partition_names)


def test_restricted_tables_live_only_in_the_finance_database() -> None:
    for tbl in TABLES:
        if tbl.restricted:
            assert tbl.database is Database.FINANCE and tbl.bucket.value == "finance"
    assert schemas.table("raw_salaries").restricted
    assert not schemas.table("profit_monthly").restricted


def test_every_reason_column_explains_a_nullable_value_or_a_flag() -> None:
    # Given every double that can be undefined (a ratio)
    for tbl in TABLES:
        names = set(tbl.column_names)
        for col in tbl.columns:
            if col.name.endswith("_reason"):
                base = col.name.removesuffix("_reason")
                # Then it explains a column next to it: a nullable value or a false flag
                assert base in names, f"{tbl.name}.{col.name} explains no column"
                explained = tbl.column(base)
                assert col.nullable and (explained.nullable or explained.type == "boolean")


def test_money_is_integer_cents() -> None:
    for tbl in TABLES:
        for col in tbl.columns:
            if col.name.endswith("_cents") and not col.name.startswith(("unit_profit", "cost_per")):
                assert col.type == "bigint", f"{tbl.name}.{col.name}"


def test_timestamps_are_utc_milliseconds() -> None:
    assert schemas.arrow_type("timestamp") == pa.timestamp("ms", tz="UTC")


def test_clicks_by_type_columns_follow_the_event_type_enumeration() -> None:
    cols = schemas.ENGAGEMENT_DAILY.column_names
    assert [c for c in cols if c.startswith("clicks_")] == [
        f"clicks_{t}" for t in schemas.CLICK_EVENT_TYPES
    ]


def test_a_typo_in_a_type_fails_at_definition() -> None:
    with pytest.raises(ValueError, match="type map"):
        Column(name="x", type="strng", description="typo")


def test_unknown_table_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="raw_clicks"):
        schemas.table("no_such_table")


def test_primary_keys_name_real_columns() -> None:
    with pytest.raises(ValueError, match="primary key"):
        Table(
            name="t",
            database=Database.RAW,
            bucket=schemas.Bucket.RAW,
            pipeline=schemas.Pipeline.PLATFORM,
            description="d",
            columns=(Column("a", "string", "a"),),
            primary_key=("b",),
        )
