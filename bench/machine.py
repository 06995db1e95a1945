"""What every benchmark prints beside its figures: the load average and the CPU anchor.

The machine is shared (2 cores, other work running): a wall time means little without the
load it was measured under, and the anchor `python -c "sum(range(3*10**8))"`, timed in a
child of the same run, says how fast a core was then.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from typing import Final

ANCHOR: Final = ("-c", "sum(range(3*10**8))")


def load() -> str:
    """The load averages (1, 5, 15 min), as `uptime` shows them."""
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def run_child(argv: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, RUSAGE_CHILDREN) of one child running `argv`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def anchor_line() -> str:
    """The CPU anchor measured now, and the load average, as one printable line."""
    wall, cpu = run_child([sys.executable, *ANCHOR])
    return (
        f"CPU anchor python -c 'sum(range(3*10**8))': {wall:.2f} s wall, {cpu:.2f} s cpu; "
        f"load average {load()}"
    )
