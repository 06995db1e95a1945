"""`pablo generate`: the parser (the command: pablo.generate.cli)."""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path
from typing import Any

from pablo.commands import Handler
from pablo.generate.model import GeneratorConfig


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a YYYY-MM-DD date") from exc


def register(subparsers: Any) -> None:
    defaults = GeneratorConfig()
    parser = subparsers.add_parser(
        "generate",
        help="write a synthetic company's raw inputs (deterministic for a seed)",
        description="Writes every raw input in the formats of docs/data-contracts.md, "
        "plus truth.json (injected faults, expected totals) and manifest.json.",
    )
    parser.add_argument("--seed", type=int, default=defaults.seed, help="random seed")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument(
        "--accounts", type=int, default=defaults.accounts, help="accounts of the company"
    )
    parser.add_argument("--start", type=_date, default=defaults.start, help="first day, YYYY-MM-DD")
    parser.add_argument("--days", type=int, default=defaults.days, help="days of data")
    parser.add_argument(
        "--clicks-per-user-day",
        type=float,
        default=defaults.clicks_per_user_day,
        help="mean clicks of a user on a day they are active (scales click volume)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    parser.set_defaults(func=Handler("pablo.generate.cli:run"))
