"""What every benchmark prints beside its figures: the load average and the CPU anchor
(`pablo/anchor.py`, the one definition `pablo demo` uses too)."""

from __future__ import annotations

from typing import Any

from pablo.anchor import load, measure_anchor


def anchor_line() -> str:
    """The CPU anchor measured now, and the load average, as one printable line."""
    timing = measure_anchor()
    return (
        f"CPU anchor python -c 'sum(range(3*10**8))': {timing.wall:.2f} s wall, "
        f"{timing.cpu:.2f} s cpu; load average {load()}"
    )


def best_of(runs: list[dict[str, Any]], *, peak: str) -> dict[str, Any]:
    """Interleaved rounds of one side: the fastest round, the least CPU of any round and the
    highest peak (`peak` names the side's peak field); a failed round stands for the side."""
    failed = [r for r in runs if "failed" in r]
    if failed:
        return failed[0]
    best = dict(min(runs, key=lambda r: r["seconds"]))
    best["cpu_seconds"] = min(r["cpu_seconds"] for r in runs)
    best[peak] = max(r[peak] for r in runs)
    return best


__all__ = ["anchor_line", "best_of", "load"]
