"""`pablo query`: the same Athena SQL on Athena (AWS), or on DuckDB over a lake snapshot or
the emulator's Glue catalog.

    pablo query "SELECT month, mrr_end_cents FROM growth_monthly" [--format table|csv|json|parquet]
    pablo query --saved mrr_by_month --lake demo-out        # a `pablo demo --out` snapshot
    pablo query --saved profit_by_month --endpoint http://localhost:5000   # the emulator
    pablo query --list-saved

Where it runs: `--lake DIR` on the snapshot; else the target every command finds
(`pablo.stack.resolve_target`): `--endpoint URL`, $PABLO_ENDPOINT or the running emulator
(`pablo local up`), on its Glue tables and S3 data; else Athena in the analyst workgroup of
`--env` (cdk.json, default prod), through awswrangler. Finance tables need `--role finance`
(on Athena, AWS's or the emulator's: the finance workgroup, which IAM allows only to finance;
on a lake, the only access control). On a lake DuckDB reads the catalog's tables and nothing
else: no file, extension or database of its own. Tables are `database.table`
(`curated.growth_monthly`, or the Glue name `pablo_prod_curated.growth_monthly`) or bare
names in `--database`. Errors are one line (`pablo: ...`): exit code 2 for a wrong command
line, 1 for a query that failed. See docs/query.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pyarrow as pa
from botocore.exceptions import BotoCoreError, ClientError

from functions.core.errors import ConfigurationError
from infra.config import (
    ANALYSTS_WORKGROUP,
    FINANCE_WORKGROUP,
    config_from_context,
    is_finance_workgroup,
    load_config,
    read_cdk_json_context,
)
from infra.config import DEFAULT_ENV as LOCAL_ENV
from infra.saved_queries import DEFAULT_DATABASE, load_saved_queries, saved_query
from pablo.commands.query import ANALYST_ROLE, DEFAULT_ENV, FINANCE_ROLE, ROLES
from pablo.query.output import write
from pablo.query.sql import (
    ACCESS_DENIED,
    QueryError,
    check_tables,
    for_athena,
    registry_catalog,
    translate,
)
from pablo.stack import command_target


def cmd_query(args: argparse.Namespace) -> int:
    if args.list_saved:
        for query in load_saved_queries():
            print(f"{query.name:<24} {query.title}")
        return 0
    sql, database = _query_text(args)
    endpoint = None if args.lake is not None else command_target(args).endpoint
    table = run_query(
        sql,
        database=database,
        lake=args.lake,
        endpoint=endpoint,
        role=args.role,
        workgroup=args.workgroup,
        env=args.env,
        show_sql=args.show_sql,
        ctas=args.ctas,
    )
    write(table, args.output_format, sys.stdout)
    return 0


def _query_text(args: argparse.Namespace) -> tuple[str, str]:
    if args.saved and args.sql:
        raise ConfigurationError("give either SQL or --saved NAME, not both")
    if args.saved:
        query = saved_query(args.saved)
        return query.sql, args.database or query.database
    if not args.sql:
        raise ConfigurationError("no query: give SQL, --saved NAME or --list-saved")
    sql = sys.stdin.read() if args.sql == "-" else args.sql
    return sql, args.database or DEFAULT_DATABASE


def run_query(
    sql: str,
    *,
    database: str = DEFAULT_DATABASE,
    lake: Path | None = None,
    endpoint: str | None = None,
    role: str = ANALYST_ROLE,
    workgroup: str | None = None,
    env: str = DEFAULT_ENV,
    show_sql: bool = False,
    ctas: bool = False,
) -> pa.Table:
    """The rows of `sql`: DuckDB on `lake`; else Athena, the emulator's at `endpoint` or AWS's,
    in `workgroup` (default: the role's)."""
    if role not in ROLES:
        raise QueryError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    if lake is not None:
        from pablo.query import engine as query_engine  # noqa: PLC0415 (DuckDB only when it runs here)

        translation = translate(
            sql,
            query_engine.lake_catalog(lake),
            default_database=database,
            allow_restricted=role == FINANCE_ROLE,
        )
        if show_sql:
            print(translation.sql.rstrip() + ";\n", file=sys.stderr)
        return query_engine.execute(translation)
    chosen = workgroup or (FINANCE_WORKGROUP if role == FINANCE_ROLE else ANALYSTS_WORKGROUP)
    if endpoint is not None:
        if role != FINANCE_ROLE and is_finance_workgroup(chosen):
            # What IAM answers an analyst on AWS; the emulator's credentials are everyone's,
            # so the role stands in for them here.
            raise QueryError(
                f"the {chosen} workgroup is restricted to finance: run it as finance "
                "(--role finance)",
                reason=ACCESS_DENIED,
            )
        return _on_emulator(
            sql, endpoint=endpoint, database=database, workgroup=chosen, show_sql=show_sql
        )
    return _on_athena(sql, database=database, workgroup=chosen, env=env, ctas=ctas)


def _on_emulator(
    sql: str, *, endpoint: str, database: str, workgroup: str, show_sql: bool
) -> pa.Table:
    """The emulator's Athena, through the same API calls as on AWS (awswrangler); the
    emulator runs the SQL on DuckDB (pablo/local/athena.py). `--show-sql` shows that SQL."""
    from pablo.local.context import local_client  # noqa: PLC0415
    from pablo.query.athena import run_athena  # noqa: PLC0415
    from pablo.wrangler import (  # noqa: PLC0415
        EMULATOR_POLL_SECONDS,
        emulator_session,
        reset_wrangler_endpoints,
    )

    config = load_config(LOCAL_ENV)
    databases = config.glue_database_names()
    if database not in databases:
        raise QueryError(f"unknown database {database!r}; one of {', '.join(databases)}")
    if show_sql:
        from pablo.query import engine as query_engine  # noqa: PLC0415

        try:
            catalog = query_engine.glue_catalog(local_client("glue", endpoint))
        except (BotoCoreError, ClientError) as exc:
            raise QueryError(f"cannot read the Glue catalog at {endpoint}: {exc}") from exc
        translation = translate(
            sql,
            catalog,
            default_database=database,
            allow_restricted=is_finance_workgroup(workgroup),
        )
        print(translation.sql.rstrip() + ";\n", file=sys.stderr)
    session = emulator_session(endpoint)
    try:
        return run_athena(
            session,
            for_athena(sql, databases),
            workgroup=config.workgroup_name(workgroup),
            database=databases[database],
            poll_seconds=EMULATOR_POLL_SECONDS,
        )
    finally:
        reset_wrangler_endpoints()


def _on_athena(sql: str, *, database: str, workgroup: str, env: str, ctas: bool) -> pa.Table:
    import boto3  # noqa: PLC0415

    from pablo.query.athena import run_athena  # noqa: PLC0415

    context = read_cdk_json_context()
    config = config_from_context({**context, "env": env})
    databases = config.glue_database_names()
    if database not in databases:
        raise QueryError(f"unknown database {database!r}; one of {', '.join(databases)}")
    check_tables(
        sql,
        registry_catalog(),
        default_database=database,
        allow_restricted=is_finance_workgroup(workgroup),
    )
    return run_athena(
        boto3.Session(region_name=config.region),
        for_athena(sql, databases),
        workgroup=config.workgroup_name(workgroup),
        database=databases[database],
        ctas=ctas,
    )
