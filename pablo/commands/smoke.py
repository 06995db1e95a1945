"""`pablo smoke-check`: the parser (the command: pablo.smoke)."""

from __future__ import annotations

import argparse

from pablo.commands import Handler
from pablo.query.output import REPORT_FORMATS, add_format_argument
from pablo.stack import add_target_arguments


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "smoke-check",
        help="check the deployed stack: status, outputs, streams, buckets, workflows, alarms",
    )
    add_target_arguments(parser)
    add_format_argument(parser, REPORT_FORMATS)
    parser.set_defaults(func=Handler("pablo.smoke:cmd_smoke_check"))
