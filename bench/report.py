"""How the benchmarks that run interleaved sides print them: a line a side, then the
pipeline against each anchor that finished."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

SPARK_FASTER_TARGET: Final = 5.0  # the project at least 5x faster than PySpark
Figures = dict[str, Any]  # one side's best round, or {"failed": why}


def print_sides(
    results: Mapping[str, Figures],
    labels: Mapping[str, str],
    *,
    peak_gb: Callable[[Figures], float],
    last: tuple[str, Callable[[Figures], str]],
) -> None:
    """A line a side: wall, CPU, peak and the `last` column (its heading, its value)."""
    heading, value = last
    print(f"  {'side':<46} {'wall s':>8} {'cpu s':>8} {'peak GB':>8}  {heading}")
    for side, r in results.items():
        if "failed" in r:
            print(f"  {labels[side]:<46} FAILED: {r['failed']}")
            continue
        print(
            f"  {labels[side]:<46} {r['seconds']:>8.2f} {r['cpu_seconds']:>8.2f} "
            f"{peak_gb(r):>8.2f}  {value(r)}"
        )


def print_ratios(
    pipe: Figures,
    results: Mapping[str, Figures],
    anchors: Iterable[str],
    note: Callable[[str, Figures, float, float], str],
) -> None:
    """Pipeline / anchor wall and CPU for each anchor that ran and finished, followed by
    `note(anchor, its figures, wall ratio, cpu ratio)`."""
    for anchor in anchors:
        a = results.get(anchor)
        if a is None or "failed" in a:
            continue
        wall, cpu = pipe["seconds"] / a["seconds"], pipe["cpu_seconds"] / a["cpu_seconds"]
        print(
            f"  pipeline / {anchor}: wall {wall:.2f}x, cpu {cpu:.2f}x{note(anchor, a, wall, cpu)}"
        )


def spark_speedup(pipe: Figures, spark: Figures) -> str:
    """How many times faster than PySpark the pipeline ran, against the target."""
    faster = spark["seconds"] / pipe["seconds"]
    met = "met" if faster >= SPARK_FASTER_TARGET else "NOT met"
    return f"pipeline {faster:.1f}x faster, target >= {SPARK_FASTER_TARGET:.0f}x: {met}"
