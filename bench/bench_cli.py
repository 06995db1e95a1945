"""`python -m bench cli`: the CPU seconds of `pablo --help` and of every command group's
`--help`, each a fresh `python -m pablo` process, against the anchor
`python -c "sum(range(3*10**8))"` measured in the same run (target: each help < 0.3 CPU s).

CPU seconds (user + system of the child, `RUSAGE_CHILDREN`) rather than wall time: another
process on the machine slows the wall clock, not the work done. Best of `--rounds`.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Final

from pablo.anchor import ANCHOR, run_child

TARGET_CPU_SECONDS: Final = 0.3


def command_groups() -> list[tuple[str, ...]]:
    """`pablo` itself and each command group, as the parser registers them."""
    from pablo.cli import build_parser  # noqa: PLC0415

    groups = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return [(), *((name,) for name in groups.choices)]


def cpu_seconds(argv: list[str]) -> float:
    """User + system CPU seconds of one child process running `argv`."""
    return run_child(argv).cpu


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench cli")
    parser.add_argument("--rounds", type=int, default=3, help="best of this many runs")
    rounds = parser.parse_args(argv).rounds
    python = sys.executable
    anchor = cpu_seconds([python, *ANCHOR])
    floor = min(cpu_seconds([python, "-c", "pass"]) for _ in range(rounds))
    print(f"load average {os.getloadavg()[0]:.1f}; best of {rounds}; CPU seconds")
    print(f"{'anchor: python -c sum(range(3*10**8))':44} {anchor:7.3f}")
    print(f"{'python -c pass (interpreter start)':44} {floor:7.3f} {floor / anchor:8.4f}x")
    worst = 0.0
    for command in command_groups():
        seconds = min(
            cpu_seconds([python, "-m", "pablo", *command, "--help"]) for _ in range(rounds)
        )
        worst = max(worst, seconds)
        name = f"pablo {' '.join(command)} --help".replace("  ", " ")
        print(f"{name:44} {seconds:7.3f} {seconds / anchor:8.4f}x")
    verdict = "met" if worst < TARGET_CPU_SECONDS else "NOT met"
    print(f"slowest help {worst:.3f} CPU s: target < {TARGET_CPU_SECONDS} s {verdict}")
