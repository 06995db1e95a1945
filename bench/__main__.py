"""Run every benchmark in BENCHMARKS and print its report."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS: tuple[str, ...] = ("bench.bench_ingest", "bench.bench_engagement")


def main() -> int:
    for module_name in BENCHMARKS:
        print(f"== {module_name}", flush=True)
        importlib.import_module(module_name).main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
