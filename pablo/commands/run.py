"""`pablo run monthly|weekly`: the parsers (the command: pablo.run)."""

from __future__ import annotations

import argparse

from functions.core.report.executive_period import MONTH, WEEK
from pablo.commands import Handler
from pablo.stack import add_target_arguments


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("run", help="start an executive KPI workflow by hand")
    grains = parser.add_subparsers(dest="grain_command", required=True, metavar="GRAIN")
    monthly = grains.add_parser("monthly", help="the monthly executive KPIs and report")
    monthly.add_argument("--month", required=True, help="YYYY-MM")
    weekly = grains.add_parser("weekly", help="the weekly executive KPIs and report")
    weekly.add_argument("--week", required=True, help="the week's Sunday, YYYY-MM-DD")
    for command in (monthly, weekly):
        again = command.add_mutually_exclusive_group()
        again.add_argument("--rerun", action="store_true", help="re-run a failed period")
        again.add_argument(
            "--restate",
            action="store_true",
            help="recompute a published period now (late data); changes become restatements",
        )
        add_target_arguments(command)
        command.add_argument("--wait", action="store_true", help="wait for the execution")
        command.add_argument("--timeout", type=float, default=3600.0, help="seconds to wait")
        command.add_argument(
            "--freshness-wait", type=int, help="seconds between freshness checks (lower only)"
        )
        command.add_argument(
            "--freshness-checks", type=int, help="freshness checks before failing (lower only)"
        )
    handler = Handler("pablo.run:cmd_run")
    monthly.set_defaults(func=handler, grain=MONTH)
    weekly.set_defaults(func=handler, grain=WEEK)
