"""`pablo finance signoff` argument handling (the recording itself is tested end to end in
tests/e2e/test_profit_pipeline.py)."""

from __future__ import annotations

import argparse

import pytest

from functions.core.errors import PabloError
from pablo import finance
from pablo.commands import finance as finance_commands


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pablo")
    finance_commands.register(parser.add_subparsers(dest="command", required=True))
    return parser


def test_signoff_parses_month_by_and_note() -> None:
    args = _parser().parse_args(
        ["finance", "signoff", "--month", "2026-09", "--by", "Dana", "--note", "verified"]
    )
    assert (args.month, args.by, args.note) == ("2026-09", "Dana", "verified")
    assert args.func.resolve() is finance.cmd_signoff


def test_signoff_requires_who_and_why() -> None:
    with pytest.raises(SystemExit):
        _parser().parse_args(["finance", "signoff", "--month", "2026-09", "--by", "Dana"])


@pytest.mark.parametrize(
    ("month", "by", "note"), [("2026-13", "Dana", "ok"), ("2026-09", " ", "ok")]
)
def test_bad_values_are_clean_errors(month: str, by: str, note: str) -> None:
    args = _parser().parse_args(
        [
            "finance",
            "signoff",
            "--month",
            month,
            "--by",
            by,
            "--note",
            note,
            "--endpoint",
            "http://localhost:1",
        ]
    )
    with pytest.raises(PabloError):
        args.func(args)
