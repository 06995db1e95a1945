"""Run the benchmarks: `python -m bench` (all, default sizes) or `python -m bench NAME [ARGS]`.

NAME is a key of BENCHMARKS (`ingest`, `engagement`, `exec_join`, `cli`); ARGS go to that
benchmark's main (e.g. `python -m bench engagement 1000000 10000000 --rounds 1`). Each
prints a small table and exits 0: benchmarks report figures and ratios, they never fail on
time.
"""

from __future__ import annotations

import importlib
import sys

BENCHMARKS: dict[str, str] = {
    "ingest": "bench.bench_ingest",
    "engagement": "bench.bench_engagement",
    # The executive join at 1M accounts and 50M then 100M clicks: generating its data the
    # first time takes about a quarter of an hour (cached under bench/.data/ afterwards).
    "exec_join": "bench.bench_exec_join",
    # `pablo --help` and each command group's help, in CPU seconds against the anchor.
    "cli": "bench.bench_cli",
}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] not in BENCHMARKS:
        print(f"unknown benchmark {args[0]!r}; choose from {', '.join(BENCHMARKS)}")
        return 2
    names = [args[0]] if args else list(BENCHMARKS)
    for name in names:
        print(f"== {name} ({BENCHMARKS[name]})", flush=True)
        importlib.import_module(BENCHMARKS[name]).main(args[1:] if args else [])
    return 0


if __name__ == "__main__":
    sys.exit(main())
