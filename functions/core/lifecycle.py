"""The account lifecycle as data, and the replay that checks event sequences against it.

One table (`TRANSITIONS`) says which event types may follow each status; everything else is
derived from it: the required steps (the shortest chain of allowed events that explains a
transition the table does not allow), the statuses, and the table printed in
docs/metrics.md (`markdown_table`, kept equal to the page by a unit test).

`replay(events)` orders one account's events by event time (late arrivals included) and walks
them through the model. A transition that skips a required step yields one `Issue` per
missing step (the pair of events around the gap, the missing step, the status inferred after
the later event); the account's status still follows the later event and is marked inferred
until another event sets the status cleanly. Events that no chain of allowed steps can explain
(a `trial_started` on a paying account) make the status `unknown`. Pure: no I/O.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from functions.core.codes import NO_VALID_PATH
from functions.core.schemas import ACCOUNT_EVENT_TYPES

# --- statuses ----------------------------------------------------------------------------
NEW: Final = "new"  # before the account's first event (never stored)
TRIAL: Final = "trial"
ACTIVE: Final = "active"
RENEWAL_DUE: Final = "renewal_due"
CANCELLED: Final = "cancelled"
CHURNED: Final = "churned"
UNKNOWN: Final = "unknown"  # the events contradict the model; no chain of steps explains them

STATUSES: Final[tuple[str, ...]] = (TRIAL, ACTIVE, RENEWAL_DUE, CANCELLED, CHURNED, UNKNOWN)
# A cancelled account keeps paying until its contract ends (docs/data-contracts.md).
PAYING_STATUSES: Final = frozenset({ACTIVE, RENEWAL_DUE, CANCELLED})

# Status after each event type; None keeps the status the account is in.
STATUS_AFTER: Final[dict[str, str | None]] = {
    "trial_started": TRIAL,
    "subscribed": ACTIVE,
    "seats_changed": None,
    "plan_changed": None,
    "renewal_due": RENEWAL_DUE,
    "renewed": ACTIVE,
    "cancelled": CANCELLED,
    "churned": CHURNED,
    "reactivated": ACTIVE,
}

# THE model: event types allowed in each status (the order is the table's row order).
TRANSITIONS: Final[dict[str, tuple[str, ...]]] = {
    NEW: ("trial_started", "subscribed"),
    TRIAL: ("subscribed", "churned"),
    ACTIVE: ("seats_changed", "plan_changed", "renewal_due", "cancelled"),
    RENEWAL_DUE: ("seats_changed", "plan_changed", "renewed", "cancelled"),
    CANCELLED: ("churned",),
    CHURNED: ("reactivated",),
}

# When two events share a timestamp, the natural order of the steps breaks the tie (a
# renewal_due recorded at the same second as its renewed comes first).
STEP_ORDER: Final[dict[str, int]] = {t: i for i, t in enumerate(ACCOUNT_EVENT_TYPES)}


def status_after(status: str, event_type: str) -> str:
    return STATUS_AFTER[event_type] or status


def allowed(status: str, event_type: str) -> bool:
    return event_type in TRANSITIONS.get(status, ())


def required_steps(status: str, event_type: str) -> tuple[str, ...] | None:
    """The shortest chain of event types that must come between `status` and `event_type`.

    () when the transition is allowed; None when no chain of allowed steps reaches it.
    Breadth-first over statuses, trying event types in table order, so the answer is unique.
    """
    if status == UNKNOWN or allowed(status, event_type):
        return ()
    queue: deque[tuple[str, tuple[str, ...]]] = deque([(status, ())])
    seen = {status}
    while queue:
        current, path = queue.popleft()
        for step in TRANSITIONS.get(current, ()):
            after = status_after(current, step)
            if after in seen:
                continue
            if allowed(after, event_type):
                return (*path, step)
            seen.add(after)
            queue.append((after, (*path, step)))
    return None


@dataclass(frozen=True)
class Event:
    """The fields of a raw account event the lifecycle needs."""

    event_id: str
    account_id: str
    event_type: str
    event_time: datetime
    plan: str | None
    seats: int | None
    mrr_cents: int


@dataclass(frozen=True)
class Issue:
    """A transition that skips a required step (one row of lifecycle_issues)."""

    account_id: str
    from_event_id: str
    to_event_id: str
    from_status: str
    to_event_type: str
    missing_step: str
    inferred_status: str
    to_event_time: datetime


@dataclass(frozen=True)
class State:
    """An account after one event: what the snapshot and the monthly tables read."""

    event: Event
    status: str
    status_inferred: bool
    missing_steps: tuple[str, ...]  # steps inferred just before this event

    @property
    def paying(self) -> bool:
        return self.status in PAYING_STATUSES

    @property
    def mrr_cents(self) -> int:
        return self.event.mrr_cents if self.paying else 0

    @property
    def paid_seats(self) -> int:
        return (self.event.seats or 0) if self.paying else 0


@dataclass(frozen=True)
class Replay:
    account_id: str
    states: tuple[State, ...]  # one per event, in event-time order
    issues: tuple[Issue, ...]


def ordered(events: Iterable[Event]) -> list[Event]:
    """Event-time order; ties broken by the natural order of the steps, then the id."""
    return sorted(events, key=lambda e: (e.event_time, STEP_ORDER[e.event_type], e.event_id))


def replay(events: Sequence[Event]) -> Replay:
    """Walk one account's events (any order) through the model."""
    if not events:
        raise ValueError("replay needs at least one event")
    account_id = events[0].account_id
    status, inferred = NEW, False
    previous: Event | None = None
    states: list[State] = []
    issues: list[Issue] = []
    for event in ordered(events):
        steps = required_steps(status, event.event_type)
        missing: tuple[str, ...] = steps if steps is not None else (NO_VALID_PATH,)
        if steps is None:
            after, inferred = UNKNOWN, True
        elif steps:
            after, inferred = status_after(status, event.event_type), True
        else:
            after = status_after(status, event.event_type)
            # A step that keeps the status (seats, plan) keeps the mark; a clean status
            # change clears it.
            inferred = inferred and STATUS_AFTER[event.event_type] is None
        if missing and previous is not None:
            issues.extend(
                Issue(
                    account_id=account_id,
                    from_event_id=previous.event_id,
                    to_event_id=event.event_id,
                    from_status=status,
                    to_event_type=event.event_type,
                    missing_step=step,
                    inferred_status=after,
                    to_event_time=event.event_time,
                )
                for step in missing
            )
        elif missing:
            # The account's very first event skips a step (e.g. it starts with renewed):
            # there is no earlier event; the pair names the event twice.
            issues.extend(
                Issue(
                    account_id=account_id,
                    from_event_id=event.event_id,
                    to_event_id=event.event_id,
                    from_status=NEW,
                    to_event_type=event.event_type,
                    missing_step=step,
                    inferred_status=after,
                    to_event_time=event.event_time,
                )
                for step in missing
            )
        states.append(State(event, after, inferred, missing))
        status, previous = after, event
    return Replay(account_id, tuple(states), tuple(issues))


def state_at(replayed: Replay, moment: datetime) -> State | None:
    """The account's state after every event at or before `moment` (None: not yet created)."""
    latest: State | None = None
    for state in replayed.states:
        if state.event.event_time > moment:
            break
        latest = state
    return latest


def markdown_table() -> str:
    """The model as the table printed in docs/metrics.md (generated, never hand-edited)."""
    rows = [
        "| status | event types allowed next | status after each |",
        "|---|---|---|",
    ]
    for status, next_types in TRANSITIONS.items():
        label = "(new account)" if status == NEW else f"`{status}`"
        nexts = ", ".join(f"`{t}`" for t in next_types)
        afters = ", ".join(f"`{t}` -> `{status_after(status, t)}`" for t in next_types)
        rows.append(f"| {label} | {nexts} | {afters} |")
    return "\n".join(rows)


def required_steps_table() -> str:
    """Every transition the model does not allow, with the steps that must come between."""
    rows = ["| status | event | required steps before it |", "|---|---|---|"]
    for status in TRANSITIONS:
        for event_type in ACCOUNT_EVENT_TYPES:
            steps = required_steps(status, event_type)
            if steps == ():
                continue
            label = "(new account)" if status == NEW else f"`{status}`"
            text = " then ".join(f"`{s}`" for s in steps) if steps else NO_VALID_PATH
            rows.append(f"| {label} | `{event_type}` | {text} |")
    return "\n".join(rows)
