"""The executive workflow's engine choice and its Athena path
(functions/core/report/executive_engine.py says when and why), and the versioned
`exec_join_totals` both paths write.

- `choose_engine`: the month's input bytes, from one listing per input partition (nothing
  read), against the configured threshold -> `duckdb` or `athena`;
- `start_athena_join`: the month's aggregates and join as one CREATE TABLE AS into a new
  prefix, started in the pipelines' workgroup; the workflow then waits and polls Athena
  itself (Wait and `athena:getQueryExecution` states: no Lambda runs while it waits);
- `finish_athena_join`: the totals the query wrote, handed to the reconciliation gate as the
  DuckDB join hands them; the query's working Glue table dropped.

Publish (executive_steps.publish) moves the `exec_join_totals` partition to the run's prefix
and deletes the version it replaced: a run that fails before then changes nothing readers see.
"""

from __future__ import annotations

import hashlib
from typing import Any, Final

import pyarrow as pa

from functions.adapters import athena_queries, glue_catalog, s3_objects, s3_tables
from functions.core.errors import TerminalError
from functions.core.report import executive_engine, executive_inputs
from functions.core.report.executive_period import Period
from functions.handlers.clients import client
from functions.handlers.executive_common import Run, get_work_json, put_work_json
from functions.handlers.settings import settings

JOIN_OUTPUT: Final = "join_output"  # the work file naming the run's exec_join_totals version
TOTALS: Final = "totals"  # the work file the reconciliation gate reads


def version_of(run: Run, event: dict[str, Any]) -> str:
    """This execution's version of exec_join_totals (the workflow passes the execution's
    name and start; a re-run keeps the run id but not them)."""
    execution = str(event.get("execution") or run.run_id)
    return executive_engine.run_version(execution, str(event.get("started", "")))


def choose_engine(run: Run, event: dict[str, Any]) -> dict[str, Any]:
    config, s3 = settings(), client("s3")
    period = run.period
    prefixes = [p for ps in executive_inputs.input_prefixes(period).values() for p in ps]
    objects = s3_objects.objects_under(s3, bucket=config.curated_bucket, prefixes=prefixes)
    input_bytes = sum(int(obj.get("Size", 0)) for obj in objects.values())
    threshold = config.executive_athena_min_input_bytes
    engine = executive_engine.engine_for(
        period, input_bytes=input_bytes, athena_min_bytes=threshold
    )
    return {
        "engine": engine,
        "input_bytes": input_bytes,
        "athena_min_input_bytes": threshold,
        "poll_seconds": config.athena_poll_seconds,
    }


def start_athena_join(run: Run, event: dict[str, Any]) -> dict[str, Any]:
    config = settings()
    period, version = run.period, version_of(run, event)
    database = config.curated_database
    prefix = executive_engine.join_totals_prefix(period, version)
    location = f"s3://{config.curated_bucket}/{prefix}"
    work_table = executive_engine.work_table_name(period, version)
    sql = executive_engine.create_table_as(
        executive_engine.monthly_join_sql(
            period, tables=executive_engine.qualified(database, executive_engine.MONTHLY_INPUTS)
        ),
        database=database,
        table=work_table,
        location=location,
    )
    # The version's own token: a retried start returns the first start's query.
    token = hashlib.sha256(f"executive-join/{version}".encode()).hexdigest()
    query_id = athena_queries.start_query(
        client("athena"),
        sql=sql,
        workgroup=config.athena_workgroup,
        database=database,
        token=token,
    )
    put_work_json(
        client("s3"),
        bucket=config.curated_bucket,
        period=period,
        name=JOIN_OUTPUT,
        value={"engine": executive_engine.ATHENA, "location": location, "work_table": work_table},
    )
    return {"query_id": query_id, "location": location}


def finish_athena_join(run: Run, event: dict[str, Any]) -> dict[str, Any]:
    config, s3 = settings(), client("s3")
    period = run.period
    output = get_work_json(s3, bucket=config.curated_bucket, period=period, name=JOIN_OUTPUT)
    glue_catalog.drop_table(
        client("glue"), database=config.curated_database, name=output["work_table"]
    )
    totals = read_join_totals(s3, bucket=config.curated_bucket, location=output["location"])
    put_work_json(s3, bucket=config.curated_bucket, period=period, name=TOTALS, value=totals)
    return summary(totals)


def write_join_totals(s3: Any, *, period: Period, version: str, totals: dict[str, Any]) -> None:
    """The DuckDB join's totals as this run's version of exec_join_totals."""
    bucket = settings().curated_bucket
    prefix = executive_engine.join_totals_prefix(period, version)
    rows = pa.Table.from_pylist(
        [totals], schema=executive_engine.JOIN_TOTALS.arrow_schema(with_partitions=False)
    )
    s3_tables.put_file(
        s3,
        bucket=bucket,
        key=f"{prefix}{executive_engine.JOIN_TOTALS_FILE}.parquet",
        rows=rows,
        table=executive_engine.JOIN_TOTALS,
    )
    put_work_json(
        s3,
        bucket=bucket,
        period=period,
        name=JOIN_OUTPUT,
        value={"engine": executive_engine.DUCKDB, "location": f"s3://{bucket}/{prefix}"},
    )


def read_join_totals(s3: Any, *, bucket: str, location: str) -> dict[str, Any]:
    """The one totals row under `location`. Every object there is Parquet: Athena names a
    CREATE TABLE AS's files without an extension."""
    prefix = _key_of(location, bucket)
    keys = [k for k in s3_objects.list_keys(s3, bucket=bucket, prefix=prefix) if _data_file(k)]
    schema = executive_engine.JOIN_TOTALS.arrow_schema(with_partitions=False)
    tables = s3_objects.read_tables(s3, bucket=bucket, keys=keys)
    rows = [r for t in tables for r in t.select(schema.names).cast(schema).to_pylist()]
    if len(rows) != 1:
        raise TerminalError(f"{location} holds {len(rows)} join totals rows, not 1")
    return dict(rows[0])


def publish_join_totals(period: Period) -> str:
    """Point the period's exec_join_totals partition at this run's version, then delete
    every other version of the period (the one replaced, and any a failed run left):
    readers through Glue see the old version or the new one, never both, and a scan of the
    partition's prefix finds one version once this returns."""
    config, s3 = settings(), client("s3")
    bucket = config.curated_bucket
    output = get_work_json(s3, bucket=bucket, period=period, name=JOIN_OUTPUT)
    location = str(output["location"])
    glue_catalog.publish_partition(
        client("glue"),
        database=config.curated_database,
        table=executive_engine.JOIN_TOTALS,
        values=[period.grain, period.name],
        location=location,
    )
    current = _key_of(location, bucket)
    partition = executive_engine.join_totals_partition(period)
    stale = [
        k
        for k in s3_objects.list_keys(s3, bucket=bucket, prefix=partition)
        if not k.startswith(current)
    ]
    s3_objects.delete_keys(s3, bucket=bucket, keys=stale)
    return location


def summary(totals: dict[str, Any]) -> dict[str, Any]:
    return {k: totals[k] for k in ("accounts", "unknown_accounts", "active_accounts", "paid_cents")}


def _key_of(location: str, bucket: str) -> str:
    head = f"s3://{bucket}/"
    if not location.startswith(head):
        raise TerminalError(f"{location} is not in the curated bucket {bucket}")
    return location.removeprefix(head).rstrip("/") + "/"


def _data_file(key: str) -> bool:
    """Athena's own markers beside a CREATE TABLE AS's files are not data."""
    name = key.rsplit("/", 1)[-1]
    return bool(name) and not name.startswith(("_", ".")) and not name.endswith(".metadata")
