"""`pablo query`: the parser (the command: pablo.query.cli)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from infra.config import ANALYSTS_WORKGROUP, FINANCE_WORKGROUP
from infra.saved_queries import DEFAULT_DATABASE
from pablo.commands import Handler
from pablo.query.output import QUERY_FORMATS, add_format_argument
from pablo.stack import endpoint_help

# Athena on AWS runs in this cdk.json environment unless --env names another.
DEFAULT_ENV: Final = "prod"
# Who runs the query. On a lake it is the only access control (the stand-in for the finance
# workgroup and its IAM role); on Athena it picks the workgroup, and IAM decides.
ANALYST_ROLE: Final = "analyst"
FINANCE_ROLE: Final = "finance"
ROLES: Final = (ANALYST_ROLE, FINANCE_ROLE)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "query",
        help="run Athena SQL on Athena (AWS or the emulator's), or on DuckDB over a lake",
        description="`pablo query`: the same Athena SQL on Athena (AWS, or the emulator's, "
        "which runs it on DuckDB), or on DuckDB over a lake snapshot. See docs/query.md.",
    )
    parser.add_argument("sql", nargs="?", help="the query (Athena SQL); '-' reads stdin")
    parser.add_argument("--saved", metavar="NAME", help="run queries/NAME.sql")
    parser.add_argument("--list-saved", action="store_true", help="list the saved queries")
    add_format_argument(parser, QUERY_FORMATS)
    parser.add_argument("--lake", type=Path, help="a lake snapshot (pablo demo --out DIR)")
    parser.add_argument("--endpoint", help=endpoint_help() + " (Athena)")
    parser.add_argument(
        "--role",
        choices=ROLES,
        default=ANALYST_ROLE,
        help=f"finance tables need {FINANCE_ROLE}",
    )
    parser.add_argument(
        "--workgroup",
        help=f"Athena only: {ANALYSTS_WORKGROUP} or {FINANCE_WORKGROUP} (default: the role's), "
        "or a full workgroup name",
    )
    parser.add_argument(
        "--database",
        help=f"database of bare table names; default: the saved query's, else {DEFAULT_DATABASE}",
    )
    parser.add_argument("--env", default=DEFAULT_ENV, help="cdk.json environment, for Athena")
    parser.add_argument("--show-sql", action="store_true", help="print the DuckDB SQL first")
    parser.add_argument(
        "--ctas",
        action="store_true",
        help="on Athena: awswrangler's CTAS approach (faster for large results; needs Glue "
        "and S3 write access in the workgroup's location)",
    )
    parser.set_defaults(func=Handler("pablo.query.cli:cmd_query"))
