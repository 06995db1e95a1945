"""`pablo validate DIR`: the parser (the command: pablo.validate)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pablo.commands import Handler


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "validate", help="check a folder of company input before `pablo demo --input`"
    )
    parser.add_argument("directory", type=Path, help="the folder (as `pablo generate` writes)")
    parser.set_defaults(func=Handler("pablo.validate:cmd_validate"))
