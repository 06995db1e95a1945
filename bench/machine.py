"""What every benchmark prints beside its figures: the load average and the CPU anchor
(`pablo/anchor.py`, the one definition `pablo demo` uses too)."""

from __future__ import annotations

from pablo.anchor import load, measure_anchor


def anchor_line() -> str:
    """The CPU anchor measured now, and the load average, as one printable line."""
    timing = measure_anchor()
    return (
        f"CPU anchor python -c 'sum(range(3*10**8))': {timing.wall:.2f} s wall, "
        f"{timing.cpu:.2f} s cpu; load average {load()}"
    )


__all__ = ["anchor_line", "load"]
