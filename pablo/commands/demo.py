"""`pablo demo`: the parser (the command: pablo.demo)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pablo.commands import Handler


def register(subparsers: Any) -> None:
    demo = subparsers.add_parser("demo", help="the pipelines end to end on the emulator")
    demo.add_argument("--out", type=Path, default=Path("demo-out"), help="summary and lake")
    demo.add_argument("--input", type=Path, help="a company in the contracts; default: generate")
    demo.add_argument("--seed", type=int, default=7, help="seed of the generated company")
    demo.add_argument("--accounts", type=int, help="accounts; default: the generator's")
    demo.add_argument("--days", type=int, help="days; default: the generator's")
    demo.add_argument("--start", help="first day, YYYY-MM-DD; default: the generator's")
    demo.add_argument("--keep-running", action="store_true", help="leave the emulator up")
    demo.add_argument(
        "--enforce-iam",
        action="store_true",
        help="run under IAM enforcement: each function acts as its own role",
    )
    demo.set_defaults(func=Handler("pablo.demo:cmd_demo"))
