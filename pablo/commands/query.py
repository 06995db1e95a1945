"""`pablo query`: the parser (the command: pablo.query)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from pablo.commands import Handler
from pablo.query_output import add_format_argument
from pablo.query_saved import DEFAULT_DATABASE
from pablo.stack import endpoint_help

# The workgroups' short names (infra/constructs/athena.py ANALYSTS and FINANCE; a test keeps
# them equal: importing the CDK construct here would start jsii for every query).
ANALYSTS_WORKGROUP: Final = "analysts"
FINANCE_WORKGROUP: Final = "finance"
DEFAULT_ENV: Final = "prod"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "query",
        help="run Athena SQL on Athena, or on DuckDB over a lake snapshot or the emulator",
        description="`pablo query`: the same Athena SQL on Athena (AWS), or on DuckDB over a "
        "lake snapshot or the emulator's Glue catalog. See docs/query.md.",
    )
    parser.add_argument("sql", nargs="?", help="the query (Athena SQL); '-' reads stdin")
    parser.add_argument("--saved", metavar="NAME", help="run queries/NAME.sql")
    parser.add_argument("--list-saved", action="store_true", help="list the saved queries")
    add_format_argument(parser)
    parser.add_argument("--lake", type=Path, help="a lake snapshot (pablo demo --out DIR)")
    parser.add_argument("--endpoint", help=endpoint_help() + " (Athena)")
    parser.add_argument(
        "--workgroup",
        default=ANALYSTS_WORKGROUP,
        help=f"{ANALYSTS_WORKGROUP} or {FINANCE_WORKGROUP}, or a full workgroup name",
    )
    parser.add_argument(
        "--database",
        help=f"database of bare table names; default: the saved query's, else {DEFAULT_DATABASE}",
    )
    parser.add_argument("--env", default=DEFAULT_ENV, help="cdk.json environment, for Athena")
    parser.add_argument("--show-sql", action="store_true", help="print the DuckDB SQL first")
    parser.set_defaults(func=Handler("pablo.query:cmd_query"))
