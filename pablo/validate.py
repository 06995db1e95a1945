"""`pablo validate DIR`: the check `pablo demo --input DIR` makes before it starts anything,
alone: every file recognised or ignored (with why), the window (manifest.json's, or inferred
from the files), and every problem as one line naming the file and what to fix. Exit 1 when
there is a problem, 0 otherwise."""

from __future__ import annotations

import argparse
import sys


def cmd_validate(args: argparse.Namespace) -> int:
    from pablo.demo import print_check  # noqa: PLC0415 (only what the command needs)
    from pablo.input_check import check_input  # noqa: PLC0415

    report = check_input(args.directory)
    print_check(report, sys.stdout if report.ok else sys.stderr)
    return 0 if report.ok else 1
