"""The emulator's clock: simulated UTC time that runs at wall speed and can jump forward.

`pablo local tick --to T` moves it; Kinesis arrival times, scheduled events and alarm
evaluation all read it, so a month of daily, weekly and monthly runs takes seconds.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta


class Clock:
    """Thread-safe simulated clock. It never goes backwards."""

    def __init__(self, start: datetime | None = None) -> None:
        self._lock = threading.Lock()
        self._anchor_sim = (start or datetime.now(UTC)).astimezone(UTC)
        self._anchor_wall = time.monotonic()

    def now(self) -> datetime:
        with self._lock:
            return self._now_locked()

    def _now_locked(self) -> datetime:
        return self._anchor_sim + timedelta(seconds=time.monotonic() - self._anchor_wall)

    def advance_to(self, target: datetime) -> tuple[datetime, datetime]:
        """Jump to `target`; returns (old, new). Moving backwards is refused."""
        target = target.astimezone(UTC)
        with self._lock:
            old = self._now_locked()
            if target < old:
                raise ValueError(
                    f"the emulator clock cannot go back: it is {old.isoformat()}, "
                    f"asked for {target.isoformat()}"
                )
            self._anchor_sim = target
            self._anchor_wall = time.monotonic()
            return old, target

    def advance_at_least(self, target: datetime) -> datetime:
        """Jump to `target`, or stay where the clock already is if that is later; the new
        time. (Reading now() and then asking for it races the clock's own running.)"""
        target = target.astimezone(UTC)
        with self._lock:
            new = max(target, self._now_locked())
            self._anchor_sim = new
            self._anchor_wall = time.monotonic()
            return new


def parse_instant(text: str) -> datetime:
    """An ISO 8601 instant; a naive one is taken as UTC."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"not an ISO 8601 time: {text!r}") from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)
