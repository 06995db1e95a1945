"""The `pablo` command: one entry point, one module per command group.

Each module in COMMAND_MODULES exposes `register(subparsers)`, which adds its commands and
sets `func` on them. Errors of this project print as one line, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from functions.core.errors import PabloError

COMMAND_MODULES: tuple[str, ...] = (
    "pablo.generate.cli",
    "pablo.local.cli",
    "pablo.producer_cli",
    "pablo.backfill",
    "pablo.finance",
    "pablo.run",
    "pablo.oncall",
    "pablo.report_cli",
    "pablo.demo",
    "pablo.query",
    "pablo.validate",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pablo", description="Pablo Inc growth pipelines: local emulator, data and tools"
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = args.func(args)
    except PabloError as exc:
        print(f"pablo: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pablo: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
