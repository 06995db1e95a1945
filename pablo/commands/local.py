"""`pablo local ...`: the parsers (the commands: pablo.local.cli)."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from infra.config import STACK_NAME
from pablo.commands import Handler
from pablo.local.clock import parse_instant
from pablo.local.state import DEFAULT_PORT
from pablo.query.output import REPORT_FORMATS, add_format_argument
from pablo.stack import endpoint_help


def _instant(text: str) -> datetime:
    try:
        return parse_instant(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def register(subparsers: Any) -> None:
    local = subparsers.add_parser("local", help="the embedded AWS emulator (moto + extensions)")
    commands = local.add_subparsers(dest="local_command", required=True, metavar="SUBCOMMAND")

    up = commands.add_parser("up", help="start the emulator")
    up.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port")
    up.add_argument("--detach", action="store_true", help="run in the background")
    up.add_argument("--clock-start", type=_instant, help="ISO time of the clock; default now")
    up.add_argument(
        "--enforce-iam",
        action="store_true",
        help="check every request against IAM; functions act as their roles",
    )
    up.set_defaults(func=Handler("pablo.local.cli:cmd_up"))

    down = commands.add_parser("down", help="stop the emulator")
    down.set_defaults(func=Handler("pablo.local.cli:cmd_down"))

    status = commands.add_parser("status", help="endpoint, pid, clock and stack outputs")
    add_format_argument(status, REPORT_FORMATS)
    status.add_argument("--stack-name", default=STACK_NAME, help="the deployed stack")
    status.set_defaults(func=Handler("pablo.local.cli:cmd_status"))

    tick = commands.add_parser("tick", help="move the emulator clock forward")
    target = tick.add_mutually_exclusive_group(required=True)
    target.add_argument("--to", type=_instant, help="ISO time to move to")
    target.add_argument("--by", help="duration to move by: 90s, 15m, 6h, 1d12h, 2w")
    tick.add_argument("--step", help="largest step between extension calls (default 1h)")
    tick.add_argument("--no-settle", action="store_true", help="do not wait for executions")
    add_format_argument(tick, REPORT_FORMATS)
    tick.set_defaults(func=Handler("pablo.local.cli:cmd_tick"))

    deploy = commands.add_parser(
        "deploy",
        help="deploy the CDK app into the emulator (or the endpoint given)",
        description="The real `cdk deploy` into an emulator, then what moto skips, then a "
        "fidelity report. Into: --endpoint, else $PABLO_ENDPOINT, else the running "
        "embedded emulator.",
    )
    deploy.add_argument("--endpoint", help=endpoint_help(allow_aws=False))
    deploy.add_argument("--stack-name", default=STACK_NAME, help="the stack to deploy")
    deploy.set_defaults(func=Handler("pablo.local.cli:cmd_deploy"))
