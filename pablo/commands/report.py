"""`pablo report preview`: the parser (the command: pablo.report_cli)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from functions.core.report.executive_period import MONTH, WEEK
from pablo.commands import Handler


def register(subparsers: Any) -> None:
    report = subparsers.add_parser("report", help="the executive report")
    commands = report.add_subparsers(dest="report_command", required=True, metavar="COMMAND")
    preview = commands.add_parser("preview", help="render the report from sample data")
    preview.add_argument("--out", required=True, type=Path, help="HTML file to write")
    preview.add_argument("--grain", choices=(MONTH, WEEK), default=MONTH, help="report period")
    preview.set_defaults(func=Handler("pablo.report_cli:cmd_preview"))
