"""`pablo query`: the same Athena SQL on Athena (AWS), or on DuckDB over a lake snapshot or
the emulator's Glue catalog.

    pablo query "SELECT month, mrr_end_cents FROM growth_monthly" [--format table|csv|json]
    pablo query --saved mrr_by_month --lake demo-out        # a `pablo demo --out` snapshot
    pablo query --saved profit_by_month --endpoint http://localhost:5000   # the emulator
    pablo query --list-saved

Where it runs: `--lake DIR` on the snapshot; else `--endpoint URL`, or the running emulator
(`pablo local up`), on its Glue tables and S3 data; else Athena in the analyst workgroup of
`--env` (cdk.json, default prod). Finance tables need `--role finance` (on Athena: the
finance workgroup, which IAM allows only to finance). Locally DuckDB reads the catalog's
tables and nothing else: no file, extension or database of its own. Tables are
`database.table` (`curated.growth_monthly`, or the Glue name
`pablo_prod_curated.growth_monthly`) or bare names in `--database`.
Errors are one line (`pablo: ...`) with exit code 2. See docs/query.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
from botocore.exceptions import BotoCoreError, ClientError

from functions.core.schemas import Database
from infra.config import PipelineConfig, config_from_context, read_cdk_json_context
from pablo.query_output import FORMATS, render
from pablo.query_saved import DEFAULT_DATABASE, load_saved_queries, saved_query
from pablo.query_sql import QueryError, check_tables, for_athena, registry_catalog, translate

# The workgroups' short names (infra/constructs/athena.py ANALYSTS and FINANCE; a test keeps
# them equal: importing the CDK construct here would start jsii for every query).
ANALYSTS_WORKGROUP = "analysts"
FINANCE_WORKGROUP = "finance"
DEFAULT_ENV = "prod"
# Who runs the query. Locally it is the only access control (the stand-in for the finance
# workgroup and its IAM role); on Athena it picks the workgroup, and IAM decides.
ANALYST_ROLE = "analyst"
FINANCE_ROLE = "finance"
ROLES = (ANALYST_ROLE, FINANCE_ROLE)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "query",
        help="run Athena SQL on Athena, or on DuckDB over a lake snapshot or the emulator",
        description=(__doc__ or "").split("\n\n")[0],
    )
    parser.add_argument("sql", nargs="?", help="the query (Athena SQL); '-' reads stdin")
    parser.add_argument("--saved", metavar="NAME", help="run queries/NAME.sql")
    parser.add_argument("--list-saved", action="store_true", help="list the saved queries")
    parser.add_argument("--format", choices=FORMATS, default="table", dest="output_format")
    parser.add_argument("--lake", type=Path, help="a lake snapshot (pablo demo --out DIR)")
    parser.add_argument("--endpoint", help="emulator endpoint (default: the running emulator)")
    parser.add_argument(
        "--role",
        choices=ROLES,
        default=ANALYST_ROLE,
        help="analyst (default) or finance: finance tables need finance",
    )
    parser.add_argument(
        "--workgroup",
        help="Athena only: analysts or finance (default: the role's), or a full name",
    )
    parser.add_argument(
        "--database", help=f"database of bare table names (default {DEFAULT_DATABASE})"
    )
    parser.add_argument("--env", default=DEFAULT_ENV, help="cdk.json environment, for Athena")
    parser.add_argument("--show-sql", action="store_true", help="print the DuckDB SQL first")
    parser.set_defaults(func=cmd_query)


def cmd_query(args: argparse.Namespace) -> int:
    if args.list_saved:
        for query in load_saved_queries():
            print(f"{query.name:<24} {query.title}")
        return 0
    sql, database = _query_text(args)
    table = run_query(
        sql,
        database=database,
        lake=args.lake,
        endpoint=args.endpoint or _running_emulator(),
        role=args.role,
        workgroup=args.workgroup,
        env=args.env,
        show_sql=args.show_sql,
    )
    sys.stdout.write(render(table, args.output_format))
    return 0


def _query_text(args: argparse.Namespace) -> tuple[str, str]:
    if args.saved and args.sql:
        raise QueryError("give either SQL or --saved NAME, not both")
    if args.saved:
        query = saved_query(args.saved)
        return query.sql, args.database or query.database
    if not args.sql:
        raise QueryError("no query: give SQL, --saved NAME or --list-saved")
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
) -> pa.Table:
    """The rows of `sql`: DuckDB on `lake` or the emulator at `endpoint`, else Athena."""
    if role not in ROLES:
        raise QueryError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    if lake is None and endpoint is None:
        chosen = workgroup or (FINANCE_WORKGROUP if role == FINANCE_ROLE else ANALYSTS_WORKGROUP)
        return _on_athena(sql, database=database, workgroup=chosen, env=env)
    from pablo import query_engine  # noqa: PLC0415 (DuckDB only when it runs here)

    if lake is not None:
        catalog = query_engine.lake_catalog(lake)
        filesystem = None
    else:
        assert endpoint is not None
        catalog, filesystem = _emulator_catalog(endpoint)
    translation = translate(
        sql, catalog, default_database=database, allow_restricted=role == FINANCE_ROLE
    )
    if show_sql:
        print(translation.sql.rstrip() + ";\n", file=sys.stderr)
    return query_engine.execute(translation, filesystem=filesystem)


def is_finance_workgroup(workgroup: str) -> bool:
    return workgroup == FINANCE_WORKGROUP or workgroup.endswith(f"-{FINANCE_WORKGROUP}")


def _emulator_catalog(endpoint: str) -> tuple[Any, Any]:
    from pablo import query_engine  # noqa: PLC0415
    from pablo.local.context import LOCAL_CREDENTIALS, LOCAL_REGION, local_client  # noqa: PLC0415

    try:
        catalog = query_engine.glue_catalog(local_client("glue", endpoint))
    except (BotoCoreError, ClientError) as exc:
        raise QueryError(f"cannot read the Glue catalog at {endpoint}: {exc}") from exc
    if not catalog.tables:
        raise QueryError(
            f"the emulator at {endpoint} has no Glue tables: deploy first (pablo local deploy)"
        )
    filesystem = query_engine.s3_filesystem(
        endpoint,
        LOCAL_REGION,
        LOCAL_CREDENTIALS["aws_access_key_id"],
        LOCAL_CREDENTIALS["aws_secret_access_key"],
    )
    return catalog, filesystem


def glue_database_names(glue_prefix: str) -> dict[str, str]:
    """Logical database -> Glue name (infra/constructs/catalog.py glue_database_name)."""
    return {db.value: f"{glue_prefix}_{db.value}" for db in Database}


def athena_workgroup(workgroup: str, config: PipelineConfig) -> str:
    """A short name (analysts, finance) as deployed (infra/constructs/athena.py)."""
    if workgroup in (ANALYSTS_WORKGROUP, FINANCE_WORKGROUP):
        return config.resource_name(workgroup)
    return workgroup


def _on_athena(sql: str, *, database: str, workgroup: str, env: str) -> pa.Table:
    import boto3  # noqa: PLC0415

    from pablo.query_athena import run_athena  # noqa: PLC0415

    context = read_cdk_json_context()
    config = config_from_context({**context, "env": env})
    databases = glue_database_names(config.glue_prefix)
    if database not in databases:
        raise QueryError(f"unknown database {database!r}; one of {', '.join(databases)}")
    check_tables(
        sql,
        registry_catalog(),
        default_database=database,
        allow_restricted=is_finance_workgroup(workgroup),
    )
    return run_athena(
        boto3.client("athena", region_name=config.region),
        for_athena(sql, databases),
        workgroup=athena_workgroup(workgroup, config),
        database=databases[database],
    )


def _running_emulator() -> str | None:
    from pablo.local.state import is_emulator_process, load_state  # noqa: PLC0415

    state = load_state()
    if state is not None and is_emulator_process(state.pid):
        return state.endpoint
    return None
