"""The CPU anchor: `python -c "sum(range(3*10**8))"` timed in a child of the same run.

The machine is shared: a wall time means little without how fast a core was at the time,
and the anchor, single-threaded in its own process, says that. `pablo demo` prints its
elapsed time as a multiple of the anchor. It lives here, in the installed package, so that
both `pablo` and the benchmarks (`bench/`, which is not installed) can import it.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Final

ANCHOR: Final = ("-c", "sum(range(3*10**8))")


@dataclass(frozen=True)
class Timing:
    wall: float
    cpu: float  # user + system of the child


def load() -> str:
    """The load averages (1, 5, 15 min), as `uptime` shows them."""
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def run_child(argv: list[str]) -> Timing:
    """Wall and CPU seconds (user + system, RUSAGE_CHILDREN) of one child running `argv`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return Timing(wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))


def measure_anchor() -> Timing:
    """The anchor run once now, with this interpreter."""
    return run_child([sys.executable, *ANCHOR])
