"""Accounts, their users and their lifecycle histories (the source of every other input).

Lifecycle (docs/data-contracts.md): trial_started -> subscribed | churned (trial expired);
subscribed -> [seats_changed | plan_changed]* -> renewal_due (on the contract anniversary)
-> renewed | cancelled -> churned; a mid-term `cancelled` churns on the anniversary;
churned -> reactivated starts a new yearly contract.

A few accounts follow scripted histories so every window holds the cases the pipelines
must handle (a renewal, a churn, a reactivation, trials) and the missing-step faults.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from functions.core.schemas import PLANS
from pablo.generate.contracts import ACCOUNT_EVENTS
from pablo.generate.model import (
    CURRENCY,
    DAY,
    HISTORY_DAYS,
    HOUR,
    PAYING_STATUSES,
    PRICE_PER_SEAT_CENTS,
    GeneratorConfig,
    add_years,
    day_start,
    iso_z,
    new_uuid,
    working_time,
)

STATUS_AFTER: dict[str, str | None] = {
    "trial_started": "trial",
    "subscribed": "active",
    "seats_changed": None,  # status unchanged
    "plan_changed": None,
    "renewal_due": "renewal_due",
    "renewed": "active",
    "cancelled": "cancelled",
    "churned": "churned",
    "reactivated": "active",
}
ACCOUNT_EXECUTIVES = ("ae:jkim", "ae:mrossi", "ae:sokafor", "ae:tnguyen")
SYSTEM_RECORDER = "system:billing"
UTC_OFFSETS = (-8, -7, -6, -5, -5, -5, 0, 1, 1)  # account time zones (hours), US-heavy
TRIAL_DAYS = 14


@dataclass(frozen=True)
class AccountEvent:
    event_id: str
    account_id: str
    event_type: str
    event_time: datetime
    plan: str | None
    seats: int | None
    mrr_cents: int
    recorded_by: str | None
    recorded_day: date  # the landing file's day

    def record(self) -> dict[str, Any]:
        """The JSON object the company sends, fields in contract order."""
        values: dict[str, Any] = {
            "event_id": self.event_id,
            "account_id": self.account_id,
            "event_type": self.event_type,
            "event_time": iso_z(self.event_time),
            "plan": self.plan,
            "seats": self.seats,
            "mrr_cents": self.mrr_cents,
            "currency": CURRENCY,
            "recorded_by": self.recorded_by,
        }
        return {name: values[name] for name in ACCOUNT_EVENTS.sent_fields}


@dataclass(frozen=True)
class Snapshot:
    status: str | None  # None before the account's first event
    plan: str | None
    seats: int | None
    mrr_cents: int

    @property
    def paying(self) -> bool:
        return self.status in PAYING_STATUSES


@dataclass
class Account:
    account_id: str
    index: int
    utc_offset_hours: int
    users: tuple[str, ...]
    events: list[AccountEvent] = field(default_factory=list)  # true history, time order
    hidden_event_ids: set[str] = field(default_factory=set)  # dropped by a missing-step fault

    def snapshot_at(self, t: datetime) -> Snapshot:
        snap = Snapshot(None, None, None, 0)
        for ev in self.events:
            if ev.event_time > t:
                break
            status = STATUS_AFTER[ev.event_type] or snap.status
            snap = Snapshot(status, ev.plan, ev.seats, ev.mrr_cents)
        return snap

    def visible_events(self) -> list[AccountEvent]:
        return [e for e in self.events if e.event_id not in self.hidden_event_ids]


class _History:
    """Builds one account's events in time order, stopping at the horizon."""

    def __init__(self, rng: random.Random, account: Account, config: GeneratorConfig) -> None:
        self.rng = rng
        self.account = account
        self.config = config
        self.horizon = config.window_end
        self.plan: str | None = None
        self.seats: int | None = None
        self.stopped = False

    def emit(
        self, event_type: str, t: datetime, *, plan: str | None = None, seats: int | None = None
    ) -> AccountEvent | None:
        if self.stopped or t >= self.horizon:
            self.stopped = True
            return None
        if plan is not None:
            self.plan = plan
        if seats is not None:
            self.seats = seats
        if event_type == "churned":
            self.plan, self.seats = None, None
        mrr = 0  # a trial is free and a churned account pays nothing
        if event_type not in ("trial_started", "churned") and self.plan and self.seats:
            mrr = self.seats * PRICE_PER_SEAT_CENTS[self.plan]
        ev = AccountEvent(
            event_id=new_uuid(self.rng),
            account_id=self.account.account_id,
            event_type=event_type,
            event_time=t,
            plan=self.plan,
            seats=self.seats,
            mrr_cents=mrr,
            recorded_by=self._recorder(event_type),
            recorded_day=self._recorded_day(t),
        )
        self.account.events.append(ev)
        return ev

    @property
    def events(self) -> list[AccountEvent]:
        return self.account.events

    def _recorder(self, event_type: str) -> str | None:
        if event_type in ("renewal_due", "churned"):
            return SYSTEM_RECORDER
        if self.rng.random() < 0.05:
            return None  # recorded_by is optional
        return self.rng.choice(ACCOUNT_EXECUTIVES)

    def _recorded_day(self, t: datetime) -> date:
        """Events before the window arrive in one backfill file the day before it starts;
        in the window most are recorded the same day, some one to three days late."""
        cfg = self.config
        if t < cfg.window_start:
            return cfg.start - DAY
        lag = self.rng.choice((1, 2, 3)) if self.rng.random() < 0.1 else 0
        return min(t.date() + timedelta(days=lag), cfg.last_day)

    def time_on(self, d: date) -> datetime:
        return working_time(self.rng, d)

    def initial_seats(self) -> int:
        users = len(self.account.users)
        return users + self.rng.randint(0, max(1, users // 3))

    def initial_plan(self) -> str:
        return self.rng.choices(PLANS, weights=(4, 4, 2))[0]


def build_accounts(rng: random.Random, config: GeneratorConfig) -> list[Account]:
    accounts: list[Account] = []
    for index in range(config.accounts):
        users = tuple(f"user-{index + 1:04d}-{k + 1:03d}" for k in range(rng.randint(5, 50)))
        account = Account(
            account_id=f"acct-{index + 1:04d}",
            index=index,
            utc_offset_hours=rng.choice(UTC_OFFSETS),
            users=users,
        )
        history = _History(rng, account, config)
        script = SCRIPTS.get(index)
        if script is not None:
            script(history)
        else:
            _random_life(history)
        accounts.append(account)
    return accounts


# --- random lives -------------------------------------------------------------------


def _random_life(h: _History) -> None:
    cfg = h.config
    # Most accounts already exist when the window opens; some sign up during it.
    if h.rng.random() < 0.85:
        offset = -h.rng.randint(1, HISTORY_DAYS)
    else:
        offset = h.rng.randint(0, max(0, cfg.days - 3))
    t0 = h.time_on(cfg.start + timedelta(days=offset))
    if h.rng.random() < 0.5:
        h.emit("trial_started", t0, plan=h.initial_plan(), seats=h.initial_seats())
        trial_end = t0 + TRIAL_DAYS * DAY
        if h.rng.random() < 0.3:
            h.emit("churned", trial_end)  # the trial expired without converting
            return
        t0 = trial_end
        if h.emit("subscribed", t0) is None:
            return
    elif h.emit("subscribed", t0, plan=h.initial_plan(), seats=h.initial_seats()) is None:
        return
    _contracts(h, t0)


def _contracts(h: _History, contract_start: datetime) -> None:
    """Yearly contracts from `contract_start` until churn or the horizon."""
    while not h.stopped:
        anniversary = add_years(contract_start, 1)
        cancelled = _mid_term(h, contract_start, anniversary)
        if h.stopped:
            return
        if cancelled:
            h.emit("churned", anniversary)
        elif _renewal(h, anniversary):
            contract_start = anniversary
            continue
        churned_at = h.events[-1].event_time
        if h.stopped or h.rng.random() >= 0.15:
            return
        back = churned_at + h.rng.randint(30, 180) * DAY
        if h.emit("reactivated", back, plan=h.initial_plan(), seats=h.initial_seats()) is None:
            return
        contract_start = back


def _mid_term(h: _History, start: datetime, anniversary: datetime) -> bool:
    """Seat and plan changes during a contract year; True when the account cancelled."""
    cursor = start + h.rng.randint(20, 40) * DAY
    while cursor < anniversary - 5 * DAY and not h.stopped:
        r = h.rng.random()
        if r < 0.06:
            _change_seats(h, cursor)
        elif r < 0.08:
            _change_plan(h, cursor)
        elif r < 0.09:
            h.emit("cancelled", cursor)
            return True
        cursor += h.rng.randint(25, 35) * DAY
    return False


def _renewal(h: _History, anniversary: datetime) -> bool:
    """renewal_due on the anniversary, then renewed (True) or cancelled and churned."""
    due = h.emit("renewal_due", anniversary)
    if due is None:
        return False
    if h.rng.random() < 0.3:  # resized at renewal time
        _change_seats(h, anniversary + h.rng.randint(1, 2) * DAY, grow=True)
    decided = anniversary + h.rng.randint(2, 5) * DAY
    if h.rng.random() < 0.85:
        return h.emit("renewed", decided) is not None
    h.emit("cancelled", decided)
    h.emit("churned", decided + h.rng.randint(1, 3) * DAY)
    return False


def _change_seats(h: _History, t: datetime, *, grow: bool | None = None) -> None:
    current = h.seats or 1
    up = grow if grow is not None else h.rng.random() < 0.65
    delta = h.rng.randint(1, 8) if up else -h.rng.randint(1, 4)
    new = max(1, current + delta)
    if new != current:
        h.emit("seats_changed", t, seats=new)


def _change_plan(h: _History, t: datetime) -> None:
    position = PLANS.index(h.plan or PLANS[0])
    if position == 0:
        position += 1
    elif position == len(PLANS) - 1:
        position -= 1
    else:
        position += h.rng.choice((-1, 1))
    h.emit("plan_changed", t, plan=PLANS[position])


# --- scripted lives (indexes of accounts) -------------------------------------------


def _at(h: _History, offset_days: float, hour: int = 10) -> datetime:
    """A time `offset_days` after the window start at `hour` UTC plus some minutes."""
    base = day_start(h.config.start) + timedelta(days=int(offset_days))
    return base + hour * HOUR + timedelta(minutes=h.rng.randint(0, 59))


def _in_window(h: _History, fraction: float) -> int:
    return int(h.config.days * fraction)


def _script_renewal_without_due(h: _History) -> None:
    """Renews in the window; its renewal_due is hidden (missing step)."""
    anniversary_day = _in_window(h, 0.2)
    start = add_years(_at(h, anniversary_day, 9), -1)
    h.emit("subscribed", start, plan="team", seats=h.initial_seats())
    _change_seats(h, start + 150 * DAY, grow=True)
    anniversary = add_years(start, 1)
    due = h.emit("renewal_due", anniversary)
    h.emit("renewed", anniversary + 2 * DAY)
    if due is not None:
        h.account.hidden_event_ids.add(due.event_id)


def _script_churn_without_cancel(h: _History) -> None:
    """Cancelled mid-term (hidden: missing step) and churns on the anniversary in the window."""
    start = add_years(_at(h, _in_window(h, 0.35), 9), -1)
    h.emit("subscribed", start, plan="starter", seats=h.initial_seats())
    cancelled = h.emit("cancelled", _at(h, -40))
    h.emit("churned", add_years(start, 1))
    if cancelled is not None:
        h.account.hidden_event_ids.add(cancelled.event_id)


def _script_reactivation(h: _History) -> None:
    start = _at(h, -520)
    h.emit("subscribed", start, plan="team", seats=h.initial_seats())
    h.emit("cancelled", _at(h, -200))
    h.emit("churned", add_years(start, 1))
    h.emit("reactivated", _at(h, _in_window(h, 0.25)), plan="business", seats=h.initial_seats())


def _script_renewal_with_expansion(h: _History) -> None:
    start = add_years(_at(h, _in_window(h, 0.5), 9), -1)
    h.emit("subscribed", start, plan="starter", seats=h.initial_seats())
    anniversary = add_years(start, 1)
    h.emit("renewal_due", anniversary)
    h.emit("plan_changed", anniversary + DAY, plan="team")
    h.emit("seats_changed", anniversary + DAY + HOUR, seats=(h.seats or 1) + 5)
    h.emit("renewed", anniversary + 2 * DAY)


def _script_trial_converts(h: _History) -> None:
    converted = _at(h, _in_window(h, 0.4), 11)
    h.emit("trial_started", converted - TRIAL_DAYS * DAY, plan="team", seats=h.initial_seats())
    h.emit("subscribed", converted)


def _script_trial_expires(h: _History) -> None:
    expired = _at(h, _in_window(h, 0.5), 12)
    h.emit("trial_started", expired - TRIAL_DAYS * DAY, plan="starter", seats=h.initial_seats())
    h.emit("churned", expired)


def _script_cancel_at_renewal(h: _History) -> None:
    start = add_years(_at(h, _in_window(h, 0.6), 9), -1)
    h.emit("subscribed", start, plan="business", seats=h.initial_seats())
    anniversary = add_years(start, 1)
    h.emit("renewal_due", anniversary)
    h.emit("cancelled", anniversary + DAY)
    h.emit("churned", anniversary + 2 * DAY)


def _script_steady_payer(h: _History) -> None:
    """Pays through a window of up to about 8 months: its anniversary falls after it."""
    start = _at(h, -100)
    h.emit("subscribed", start, plan="team", seats=h.initial_seats())
    _contracts(h, start)


SCRIPTS = {
    0: _script_renewal_without_due,
    1: _script_churn_without_cancel,
    2: _script_reactivation,
    3: _script_renewal_with_expansion,
    4: _script_trial_converts,
    5: _script_trial_expires,
    6: _script_cancel_at_renewal,
    7: _script_steady_payer,
}


def missing_step_faults(accounts: list[Account]) -> list[dict[str, Any]]:
    """For every hidden event: the visible pair around the gap and the missing step."""
    faults: list[dict[str, Any]] = []
    for account in accounts:
        visible = account.visible_events()
        for hidden in (e for e in account.events if e.event_id in account.hidden_event_ids):
            before = [e for e in visible if e.event_time < hidden.event_time]
            after = [e for e in visible if e.event_time > hidden.event_time]
            if not before or not after:
                continue
            faults.append(
                {
                    "account_id": account.account_id,
                    "from_event_id": before[-1].event_id,
                    "from_event_type": before[-1].event_type,
                    "to_event_id": after[0].event_id,
                    "to_event_type": after[0].event_type,
                    "to_event_time": iso_z(after[0].event_time),
                    "missing_step": hidden.event_type,
                    "hidden_event_time": iso_z(hidden.event_time),
                }
            )
    return faults
