"""Glue databases and one Glue table per registry table, derived from the registry only."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from aws_cdk import Stack
from aws_cdk import aws_glue as glue
from constructs import Construct

from functions.core.schemas import TABLES, Bucket, Database, Table
from infra.config import PipelineConfig

PARQUET_INPUT_FORMAT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
PARQUET_OUTPUT_FORMAT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"

DATABASE_DESCRIPTIONS: dict[Database, str] = {
    Database.RAW: "Validated inputs as landed, partitioned Parquet",
    Database.CURATED: "Deduplicated, aggregated tables analysts query",
    Database.FINANCE: "Restricted finance data: salaries, ledger, reconciliation",
    Database.OPS: "Operational tables: quarantine of rejected records",
}


def glue_arns(stack: Stack, databases: Iterable[str], tables: str = "*") -> list[str]:
    """What a grant on Glue databases names: the catalog, each database, and its tables
    matching `tables` (Glue checks all three for a call on a table)."""
    names = list(databases)
    return [
        stack.format_arn(service="glue", resource="catalog"),
        *(stack.format_arn(service="glue", resource="database", resource_name=n) for n in names),
        *(
            stack.format_arn(service="glue", resource="table", resource_name=f"{n}/{tables}")
            for n in names
        ),
    ]


def table_location(bucket_name: str, table: Table) -> str:
    return f"s3://{bucket_name}/{table.prefix}/"


def projection_parameters(bucket_name: str, table: Table) -> dict[str, str]:
    """Glue table parameters enabling Athena partition projection, if the table uses it."""
    projection = table.projection
    if projection is None:
        return {}
    template = "/".join(f"{key}=${{{key}}}" for key in table.partition_names)
    parameters = {
        "projection.enabled": "true",
        "storage.location.template": f"{table_location(bucket_name, table)}{template}/",
    }
    for key, values in projection.enums:
        parameters[f"projection.{key}.type"] = "enum"
        parameters[f"projection.{key}.values"] = ",".join(values)
    for key in projection.dates:
        parameters[f"projection.{key}.type"] = "date"
        parameters[f"projection.{key}.format"] = "yyyy-MM-dd"
        parameters[f"projection.{key}.range"] = f"{projection.first_date},NOW"
    return parameters


def check_restricted_placement(table: Table) -> None:
    """Restricted data lives in the finance database and bucket, nowhere else."""
    in_finance = table.database == Database.FINANCE and table.bucket == Bucket.FINANCE
    if table.restricted != in_finance:
        raise ValueError(
            f"registry table {table.name}: restricted={table.restricted} but it is in "
            f"database {table.database.value} / bucket {table.bucket.value}; restricted "
            "tables belong in the finance database and bucket, and only they do"
        )


class GlueCatalog(Construct):
    """Attributes: `databases` (Database -> CfnDatabase), `database_names`
    (Database -> name), `tables` (registry table name -> CfnTable)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PipelineConfig,
        bucket_name_for: Callable[[Bucket], str],
        tables: Iterable[Table] = TABLES,
    ) -> None:
        super().__init__(scope, construct_id)
        account = Stack.of(self).account
        self.database_names: dict[Database, str] = {
            db: config.glue_database_name(db) for db in Database
        }
        self.databases: dict[Database, glue.CfnDatabase] = {
            db: glue.CfnDatabase(
                self,
                f"{db.value.capitalize()}Database",
                catalog_id=account,
                database_input=glue.CfnDatabase.DatabaseInputProperty(
                    name=name, description=DATABASE_DESCRIPTIONS[db]
                ),
            )
            for db, name in self.database_names.items()
        }
        self.tables: dict[str, glue.CfnTable] = {}
        for table in tables:
            check_restricted_placement(table)
            cfn_table = self._table(table, account, bucket_name_for(table.bucket))
            cfn_table.node.add_dependency(self.databases[table.database])
            self.tables[table.name] = cfn_table

    def _table(self, table: Table, account: str, bucket_name: str) -> glue.CfnTable:
        return glue.CfnTable(
            self,
            f"Table-{table.name}",
            catalog_id=account,
            database_name=self.database_names[table.database],
            table_input=glue.CfnTable.TableInputProperty(
                name=table.name,
                description=table.description,
                table_type="EXTERNAL_TABLE",
                parameters={
                    "classification": "parquet",
                    "EXTERNAL": "TRUE",
                    "pablo.pipeline": table.pipeline.value,
                    "pablo.restricted": str(table.restricted).lower(),
                    "pablo.primary_key": ",".join(table.primary_key),
                    **projection_parameters(bucket_name, table),
                },
                partition_keys=[_column(c) for c in table.glue_partition_keys()],
                storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                    columns=[_column(c) for c in table.glue_columns()],
                    location=table_location(bucket_name, table),
                    input_format=PARQUET_INPUT_FORMAT,
                    output_format=PARQUET_OUTPUT_FORMAT,
                    serde_info=glue.CfnTable.SerdeInfoProperty(
                        serialization_library=PARQUET_SERDE,
                        parameters={"serialization.format": "1"},
                    ),
                    compressed=True,
                    stored_as_sub_directories=False,
                ),
            ),
        )


def _column(column: dict[str, str]) -> glue.CfnTable.ColumnProperty:
    return glue.CfnTable.ColumnProperty(
        name=column["name"], type=column["type"], comment=column["comment"]
    )
