"""`pablo finance signoff`: the parser (the command: pablo.finance)."""

from __future__ import annotations

from typing import Any

from pablo.commands import Handler
from pablo.stack import add_target_arguments


def register(subparsers: Any) -> None:
    finance = subparsers.add_parser("finance", help="finance reviews of the profit numbers")
    commands = finance.add_subparsers(dest="finance_command", required=True, metavar="COMMAND")
    signoff = commands.add_parser(
        "signoff", help="sign off a month's profit (records who/when, republishes it)"
    )
    signoff.add_argument("--month", required=True, help="YYYY-MM")
    signoff.add_argument("--by", required=True, help="the accountant's name")
    signoff.add_argument("--note", required=True, help="what was verified")
    add_target_arguments(signoff)
    signoff.add_argument("--no-wait", action="store_true", help="do not wait for the republish")
    signoff.set_defaults(func=Handler("pablo.finance:cmd_signoff"))
