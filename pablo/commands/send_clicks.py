"""`pablo send-clicks FILE`: the parser (the command: pablo.producer.cli)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Final

from pablo.commands import Handler
from pablo.stack import add_target_arguments

DEFAULT_SPILL: Final = Path(".pablo/spill/clicks.jsonl")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "send-clicks", help="send JSON lines of clicks to the Kinesis click stream"
    )
    parser.add_argument("file", type=Path, help="JSON lines: payloads or replay envelopes")
    parser.add_argument(
        "--stream", help="Kinesis stream name; default: the deployed stack's click stream"
    )
    add_target_arguments(parser)
    parser.add_argument("--spill", type=Path, default=DEFAULT_SPILL, help="spill file")
    parser.add_argument("--producer-id", default="send-clicks", help="recorded in the counts")
    parser.add_argument("--counts-out", type=Path, help="write per-minute counts here")
    parser.add_argument(
        "--replay-spill",
        action="store_true",
        help="first resend what an earlier run spilled (with --counts-bucket, the counts "
        "uploaded before are taken up and corrected: the replayed clicks are no longer spilled)",
    )
    parser.add_argument(
        "--counts-bucket",
        help="raw bucket: upload the per-minute counts to raw/producer_counts/ (outage detection)",
    )
    parser.set_defaults(func=Handler("pablo.producer.cli:run"))
