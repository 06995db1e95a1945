"""The demo summary's speed lines: the run against the CPU anchor and the issue's targets."""

from __future__ import annotations

import sys

from pablo import anchor
from pablo.demo import speed_lines


def test_speed_lines_give_the_demo_in_anchors_and_the_emulator_against_the_lambdas() -> None:
    # given a 320 s demo, an anchor of 7.05 s, emulator 190 s and Lambda 174 s of CPU
    summary = {
        "elapsed_seconds": 320.0,
        "phases_seconds": {"deploy": 26.0, "replay": 269.0},
        "cpu_seconds": {"emulator": 190.0, "lambda": 174.0},
        "anchor": {
            "wall_seconds": 7.05,
            "cpu_seconds": 7.01,
            "load_average": "1.00 0.50 0.25",
            "demo_over_anchor": round(320.0 / 7.05, 1),
            "emulator_over_lambda": round(190.0 / 174.0, 2),
        },
    }
    # when the lines are made
    lines = speed_lines(summary)
    # then 320 / 7.05 = 45.4 anchors and 190 / 174 = 1.09 are printed beside the targets
    assert lines[0] == "time          deploy 26.0 s, replay 269.0 s"
    assert lines[1] == "cpu           emulator 190.0 s, lambda 174.0 s"
    assert "7.05 s (7.01 s cpu), load average 1.00 0.50 0.25" in lines[2]
    assert lines[3] == (
        "speed         demo 320.0 s = 45.4x the anchor (target <= 15x); "
        "emulator cpu / lambda cpu 1.09 (target < 0.33)"
    )


def test_the_anchor_is_timed_in_a_child_process() -> None:
    # given a child that only starts the interpreter
    # when it is timed
    timing = anchor.run_child([sys.executable, "-c", "pass"])
    # then its wall and CPU seconds are measured, and the anchor's command is the issue's
    assert 0 < timing.wall < 30
    assert 0 <= timing.cpu < 30
    assert anchor.ANCHOR == ("-c", "sum(range(3*10**8))")
