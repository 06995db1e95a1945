"""`pablo backfill engagement --from D --to D`: the parser (the command: pablo.backfill)."""

from __future__ import annotations

import argparse
from datetime import date

from pablo.commands import Handler
from pablo.stack import add_target_arguments


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("backfill", help="recompute a range of days of a pipeline")
    pipelines = parser.add_subparsers(dest="pipeline", required=True, metavar="PIPELINE")
    engagement = pipelines.add_parser("engagement", help="the daily engagement tables")
    engagement.add_argument(
        "--from", dest="start", type=date.fromisoformat, required=True, help="first day"
    )
    engagement.add_argument(
        "--to", dest="end", type=date.fromisoformat, required=True, help="last day"
    )
    add_target_arguments(engagement)
    engagement.add_argument("--chunk-days", type=int, default=7, help="days per execution")
    engagement.add_argument("--timeout", type=float, default=1800.0, help="seconds per chunk")
    engagement.set_defaults(func=Handler("pablo.backfill:run_engagement"))
