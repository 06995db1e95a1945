"""The emulator clock: the control API, extension stepping, and Kinesis arrival times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pablo.local.clock import Clock
from pablo.local.context import EmulatorContext
from pablo.local.control import ControlApiError, parse_duration
from pablo.local.server import Emulator
from tests.conftest import EmulatorServer
from tests.support import unique_name


class RecordingExtension:
    """Records every window it is given and reports one event per window."""

    name = "recorder"

    def __init__(self) -> None:
        self.windows: list[tuple[datetime, datetime]] = []

    def start(self, ctx: EmulatorContext) -> None:
        pass

    def stop(self) -> None:
        pass

    def on_clock_advance(self, old: datetime, new: datetime) -> list[dict[str, Any]]:
        self.windows.append((old, new))
        return [{"window_end": new.isoformat()}]


def test_clock_endpoint_advances_and_refuses_to_go_back(emulator_server: EmulatorServer) -> None:
    # given the emulator's current time
    before = emulator_server.control.now()

    # when it is moved forward by a day
    result = emulator_server.control.advance(by=timedelta(days=1))

    # then it moved in hourly steps and now reads a day later
    now = emulator_server.control.now()
    assert now - before >= timedelta(days=1)
    assert now - before < timedelta(days=1, minutes=5)
    assert result["steps"] == 24
    with pytest.raises(ControlApiError, match="cannot go back"):
        emulator_server.control.advance(to=before)


def test_kinesis_arrival_time_follows_the_emulator_clock(emulator_server: EmulatorServer) -> None:
    # given the emulator clock moved to a day far from wall time
    target = emulator_server.control.now() + timedelta(days=3)
    emulator_server.control.advance(to=target, step=timedelta(days=1))
    kinesis = emulator_server.client("kinesis")
    stream = unique_name("clicks")
    kinesis.create_stream(StreamName=stream, ShardCount=1)

    # when a record is put and read back
    kinesis.put_record(StreamName=stream, Data=b"click", PartitionKey="account-1")
    shard = kinesis.describe_stream(StreamName=stream)["StreamDescription"]["Shards"][0]
    iterator = kinesis.get_shard_iterator(
        StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    record = kinesis.get_records(ShardIterator=iterator)["Records"][0]

    # then it arrived at the simulated time, not the wall time
    arrival = record["ApproximateArrivalTimestamp"].astimezone(UTC)
    assert abs(arrival - target) < timedelta(minutes=1)
    assert abs(arrival - datetime.now(UTC)) > timedelta(days=2)


def test_extensions_see_every_window_in_order_without_gaps() -> None:
    # given an emulator (not started) with a recording extension
    start = datetime(2026, 3, 1, tzinfo=UTC)
    emulator = Emulator(clock=Clock(start), extensions=())
    recorder = RecordingExtension()
    emulator.extensions.append(recorder)

    # when the clock moves 5 hours in 2-hour steps, then again 1 hour
    first = emulator.advance(start + timedelta(hours=5), step=timedelta(hours=2), settle=False)
    emulator.advance(start + timedelta(hours=6), step=timedelta(hours=2), settle=False)

    # then the windows tile the time from the start, and events name their extension
    # (the clock runs at wall speed between calls: allow for the microseconds that pass)
    ends = [new for _, new in recorder.windows]
    assert recorder.windows[0][0] - start < timedelta(seconds=1)
    assert all(a[1] == b[0] for a, b in zip(recorder.windows, recorder.windows[1:], strict=False))
    expected = [start + timedelta(hours=h) for h in (2, 4, 5, 6)]
    assert all(
        timedelta(0) <= e - x < timedelta(seconds=1) for e, x in zip(ends, expected, strict=True)
    )
    assert first["steps"] == 3
    assert {event["extension"] for event in first["events"]} == {"recorder"}
    # and the health report says where the ticks' time went: every extension, no settle
    assert set(emulator.health()["tick_seconds"]) == {e.name for e in emulator.extensions}


class DueExtension(RecordingExtension):
    """Records windows, and is due at given instants (as a schedule is at its firings)."""

    name = "due"

    def __init__(self, due: list[datetime]) -> None:
        super().__init__()
        self.due = due

    def next_due(self, after: datetime, until: datetime) -> datetime | None:
        return next((d for d in self.due if after < d <= until), None)


def test_the_clock_stops_where_an_extension_is_due() -> None:
    # given an emulator with an extension due at 01:05 and 03:30, and one that is not
    start = datetime(2026, 3, 1, tzinfo=UTC)
    emulator = Emulator(clock=Clock(start), extensions=())
    due = DueExtension([start + timedelta(hours=1, minutes=5), start + timedelta(hours=3.5)])
    recorder = RecordingExtension()
    emulator.extensions += [due, recorder]

    # when the clock moves 6 hours in steps of up to 6 hours
    result = emulator.advance(start + timedelta(hours=6), step=timedelta(hours=6), settle=False)

    # then every extension saw the clock stop at each due instant, and nowhere else
    expected = [start + timedelta(hours=h) for h in (1 + 5 / 60, 3.5, 6)]
    for extension in (due, recorder):
        ends = [new for _, new in extension.windows]
        late = [e - x for e, x in zip(ends, expected, strict=True)]
        assert all(timedelta(0) <= lag < timedelta(seconds=1) for lag in late)
    assert result["steps"] == 3


def test_durations_parse_and_nonsense_is_refused() -> None:
    assert parse_duration("1d12h") == timedelta(days=1, hours=12)
    assert parse_duration("90s") == timedelta(seconds=90)
    assert parse_duration("2w") == timedelta(weeks=2)
    with pytest.raises(ControlApiError, match="not a duration"):
        parse_duration("tomorrow")


def test_advance_at_least_never_goes_back_and_jumps_forward() -> None:
    # given a clock (running at wall speed)
    start = datetime(2026, 3, 1, tzinfo=UTC)
    clock = Clock(start)
    # when asked for an instant it has already passed, then for one ahead
    stayed = clock.advance_at_least(start - timedelta(seconds=1))
    jumped = clock.advance_at_least(start + timedelta(hours=1))
    # then it stayed where it was, then jumped exactly
    assert start <= stayed < start + timedelta(seconds=1)
    assert jumped == start + timedelta(hours=1)
    assert clock.now() >= jumped
