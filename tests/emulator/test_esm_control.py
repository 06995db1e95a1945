"""The control API exposes the Kinesis pollers so the demo and tests can wait for them."""

from __future__ import annotations


def test_esm_stats_and_drain_answer_through_the_control_api(emulator_server) -> None:
    # Given the running emulator with its Kinesis poller loaded
    control = emulator_server.control
    # When a client asks for the stats and drains the (empty) set of mappings
    stats = control.esm_stats()
    drained = control.drain_streams(timeout=5)
    # Then both answer: nothing mapped means nothing pending
    assert isinstance(stats, dict)
    assert drained["drained"] is True
