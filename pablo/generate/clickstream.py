"""Clicks: users' sessions in their account's working hours, sent through a producer.

Streams one event day at a time (only late sends wait in memory), so volume is bounded by
disk, not memory. Each landing day's file holds what the producer SENDS that day, in send
order, as replay envelopes `{"send_at": epoch ms, "record": {...}}`; a payload that is not
a JSON object is a string `record`, sent as its bytes. Faults: natural duplicates (the same
record resent), synthetic duplicates (same event_id, different payload), late sends (1 hour
to 5 days), a few sends later than 7 days (to be quarantined as too_late), malformed
payloads, a stream outage window, and one account silent for a month.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import msgspec
from tqdm import tqdm

from functions.core.definitions import CREATING_EVENT_TYPES
from functions.core.schemas import CLICK_EVENT_TYPES
from pablo.generate.accounts import Account
from pablo.generate.contracts import CLICKS
from pablo.generate.model import (
    ACCESS_STATUSES,
    GeneratorConfig,
    day_start,
    epoch_ms,
    from_epoch_ms,
    iso_z,
    new_uuid,
)
from pablo.generate.output import OutputTree

MS_HOUR = 3_600_000
MS_DAY = 24 * MS_HOUR
NATURAL_DUPLICATE_RATE = 0.005
LATE_RATE = 0.015
TOO_LATE_CLICKS = 3
SYNTHETIC_DUPLICATES = 4
EXAMPLES = 20
OUTAGE_START_HOUR = 13  # UTC: US morning and European afternoon
# Longer than the 48-hour freshness SLA plus the 6-hour freshness check, so the
# click-freshness alarm must fire during the outage (and clear once the spill is replayed).
OUTAGE_HOURS = 75
EVENT_TYPE_WEIGHTS = {
    "page_view": 45,
    "click": 35,
    "search": 9,
    "export": 3,
    "share": 3,
    "login": 5,
}
PAGES = (
    "/dashboard",
    "/projects",
    "/projects/board",
    "/reports",
    "/reports/revenue",
    "/search",
    "/settings",
    "/team",
    "/billing",
    "/integrations",
)
MALFORMED_KINDS = (
    "invalid_json",
    "invalid_utf8",
    "missing_field",
    "null_field",
    "wrong_type",
    "timestamp_in_seconds",
    "unknown_event_type",
    "future_timestamp",
)
_ENCODER = msgspec.json.Encoder()


@dataclass
class _Send:
    send_at: int
    seq: int
    envelope: dict[str, Any]
    fault: dict[str, Any] | None = None


@dataclass
class _Click:
    record: dict[str, Any]
    send_at: int
    kind: str = "plain"  # plain, natural_duplicate, late, too_late, synthetic_duplicate


@dataclass
class ClickTruth:
    records_sent: int = 0
    valid_records: int = 0
    distinct_valid_event_ids: int = 0
    natural_duplicate_copies: int = 0
    synthetic_duplicate_copies: int = 0
    late_records: int = 0
    too_late_records: int = 0
    # Distinct clicks (not too late) of accounts no visible creating event created: the
    # pipeline quarantines them unknown_account (docs/metrics.md, Definitions).
    unknown_account_clicks: int = 0
    accepted_by_event_day: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    records_by_send_day: dict[str, int] = field(default_factory=dict)
    natural_examples: list[dict[str, Any]] = field(default_factory=list)
    synthetic: list[dict[str, Any]] = field(default_factory=list)
    late_pairs: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    late_examples: list[dict[str, Any]] = field(default_factory=list)
    too_late: list[dict[str, Any]] = field(default_factory=list)
    malformed: list[dict[str, Any]] = field(default_factory=list)
    outage: dict[str, Any] = field(default_factory=dict)


class ClickWriter:
    def __init__(
        self,
        rng: random.Random,
        config: GeneratorConfig,
        accounts: list[Account],
        silent: dict[str, str],
    ) -> None:
        self.rng = rng
        self.config = config
        self.accounts = accounts
        self.silent = silent  # account_id -> month without any click
        # Accounts a creating event in the account event files created (known accounts).
        self.known = {
            a.account_id
            for a in accounts
            if any(e.event_type in CREATING_EVENT_TYPES for e in a.visible_events())
        }
        self.truth = ClickTruth()
        self.start_ms = epoch_ms(config.window_start)
        self.end_ms = epoch_ms(config.window_end)
        self.pending: dict[int, list[_Send]] = defaultdict(list)
        self.seq = 0
        self.activity = {u: rng.uniform(0.1, 0.75) for a in accounts for u in a.users}
        self.access = {a.account_id: self._access_days(a) for a in accounts}
        self.forced = self._plan_forced_faults()
        self.outage_window = self._outage_window()
        self.outage_records = 0  # lines whose send time falls in the outage window
        self.types = tuple(EVENT_TYPE_WEIGHTS)
        self.type_weights = tuple(EVENT_TYPE_WEIGHTS.values())

    # --- planning -------------------------------------------------------------------

    def _access_days(self, account: Account) -> list[bool]:
        return [
            account.snapshot_at(day_start(self.config.day(d))).status in ACCESS_STATUSES
            for d in range(self.config.days)
        ]

    def _plan_forced_faults(self) -> list[tuple[int, str]]:
        days = self.config.days
        plan: list[tuple[int, str]] = []
        if days >= 10:  # a send 7+ days late must still fall inside the window
            plan += [
                (i * (days - 10) // TOO_LATE_CLICKS, "too_late") for i in range(TOO_LATE_CLICKS)
            ]
        plan += [
            (i * (days - 2) // SYNTHETIC_DUPLICATES, "synthetic")
            for i in range(SYNTHETIC_DUPLICATES)
        ]
        plan += [
            ((i + 1) * (days - 1) // (len(MALFORMED_KINDS) + 1), kind)
            for i, kind in enumerate(MALFORMED_KINDS)
        ]
        return sorted(plan)

    def _outage_window(self) -> tuple[int, int]:
        """[start, end) in epoch ms: from 13:00 UTC of the first weekday at or after the
        window's middle, OUTAGE_HOURS long, cut at the window's end."""
        d = self.config.days // 2
        while self.config.day(d).weekday() >= 5 and d < self.config.days - 1:
            d += 1
        start = epoch_ms(day_start(self.config.day(d))) + OUTAGE_START_HOUR * MS_HOUR
        return start, min(start + OUTAGE_HOURS * MS_HOUR, self.end_ms)

    # --- the run --------------------------------------------------------------------

    def write(self, tree: OutputTree, progress: bool) -> ClickTruth:
        days = range(self.config.days)
        for d in tqdm(days, desc="clicks", unit="day", disable=not progress, leave=False):
            clicks = self._day_clicks(d)
            self._assign_sends(clicks)
            self._apply_forced(d, clicks)
            for click in clicks:
                self._emit_click(click)
            self._flush(tree, d)
        self._finish()
        return self.truth

    def _day_clicks(self, d: int) -> list[_Click]:
        local_day = self.config.day(d)
        factor = 0.15 if local_day.weekday() >= 5 else 1.0
        clicks: list[_Click] = []
        for account in self.accounts:
            if not self.access[account.account_id][d]:
                continue
            silent_month = self.silent.get(account.account_id)
            for user in account.users:
                if self.rng.random() < self.activity[user] * factor:
                    clicks += [
                        c
                        for c in self._user_day(account, user, local_day)
                        if _day(c.record["event_time"])[:7] != silent_month
                    ]
        return clicks

    def _user_day(self, account: Account, user: str, local_day: date) -> list[_Click]:
        rng = self.rng
        mean = self.config.clicks_per_user_day / 1.6  # 1.6 sessions per active day on average
        r = rng.random()
        sessions = 1 + (r < 0.45) + (r < 0.15)
        local_midnight = epoch_ms(day_start(local_day)) - account.utc_offset_hours * MS_HOUR
        t = local_midnight + int(rng.triangular(8.0, 18.5, 11.0) * MS_HOUR)
        out: list[_Click] = []
        for _ in range(sessions):
            n = 1 + int(rng.expovariate(1.0 / max(0.2, mean - 0.5)))
            for k in range(n):
                if t >= self.end_ms - 10_000:
                    return out
                out.append(_Click(self._record(rng, account, user, t, first=k == 0), 0))
                t += 2_000 + min(900_000, int(rng.expovariate(1 / 45_000)))
            t += rng.randint(35, 240) * 60_000  # a gap longer than a session timeout
            if t - local_midnight > 23 * MS_HOUR:
                break
        return out

    def _record(
        self, rng: random.Random, account: Account, user: str, t: int, *, first: bool
    ) -> dict[str, Any]:
        if first and rng.random() < 0.3:
            event_type = "login"
        else:
            event_type = rng.choices(self.types, self.type_weights)[0]
        values = {
            "event_id": new_uuid(rng),
            "account_id": account.account_id,
            "user_id": user,
            "event_type": event_type,
            "event_time": t,
            "page": None if event_type == "login" else rng.choice(PAGES),
        }
        return {name: values[name] for name in CLICKS.sent_fields}

    def _assign_sends(self, clicks: list[_Click]) -> None:
        rng = self.rng
        for click in clicks:
            event_time = click.record["event_time"]
            click.send_at = event_time + rng.randint(20, 1_500)
            r = rng.random()
            if r < NATURAL_DUPLICATE_RATE:
                click.kind = "natural_duplicate"
            elif r < NATURAL_DUPLICATE_RATE + LATE_RATE:
                late = event_time + rng.randint(MS_HOUR, 5 * MS_DAY)
                if late < self.end_ms:
                    click.kind, click.send_at = "late", late

    def _apply_forced(self, d: int, clicks: list[_Click]) -> None:
        while self.forced and self.forced[0][0] <= d:
            plain = [c for c in clicks if c.kind == "plain"]
            if not plain:
                return  # try again on the next day with clicks
            _, kind = self.forced.pop(0)
            victim = plain[self.rng.randrange(len(plain))]
            if kind == "too_late":
                send = (
                    victim.record["event_time"]
                    + 7 * MS_DAY
                    + self.rng.randint(MS_HOUR, 20 * MS_HOUR)
                )
                if send < self.end_ms:
                    victim.kind, victim.send_at = "too_late", send
            elif kind == "synthetic":
                victim.kind = "synthetic_duplicate"
            else:
                self._queue_malformed(kind, victim)

    # --- emitting -------------------------------------------------------------------

    def _queue(
        self, send_at: int, envelope: dict[str, Any], fault: dict[str, Any] | None = None
    ) -> None:
        self.seq += 1
        self.pending[(send_at - self.start_ms) // MS_DAY].append(
            _Send(send_at, self.seq, envelope, fault)
        )

    def _emit_click(self, click: _Click) -> None:
        t = self.truth
        record = click.record
        event_day = _day(record["event_time"])
        self._queue(click.send_at, {"send_at": click.send_at, "record": record})
        t.valid_records += 1
        t.distinct_valid_event_ids += 1
        if click.kind != "too_late" and record["account_id"] not in self.known:
            t.unknown_account_clicks += 1
        elif click.kind != "too_late":
            t.accepted_by_event_day[event_day] += 1
        if click.kind == "natural_duplicate":
            again = click.send_at + self.rng.randint(200, 30_000)
            if again < self.end_ms:
                self._queue(again, {"send_at": again, "record": record})
                t.valid_records += 1
                t.natural_duplicate_copies += 1
                if len(t.natural_examples) < EXAMPLES:
                    t.natural_examples.append({"event_id": record["event_id"], "dt": event_day})
        elif click.kind == "synthetic_duplicate":
            self._emit_synthetic(click, event_day)
        elif click.kind in ("late", "too_late"):
            self._note_late(click, event_day)

    def _emit_synthetic(self, click: _Click, event_day: str) -> None:
        record = click.record
        other = dict(record)
        other["event_type"] = next(
            e for e in CLICK_EVENT_TYPES if e not in ("login", record["event_type"])
        )
        other["page"] = record["page"] or PAGES[0]
        again = min(click.send_at + self.rng.randint(1_000, 600_000), self.end_ms - 1)
        self._queue(again, {"send_at": again, "record": other})
        self.truth.valid_records += 1
        self.truth.synthetic_duplicate_copies += 1
        self.truth.synthetic.append(
            {
                "event_id": record["event_id"],
                "dt": event_day,
                "first": {
                    "send_at": click.send_at,
                    "event_type": record["event_type"],
                    "page": record["page"],
                },
                "second": {
                    "send_at": again,
                    "event_type": other["event_type"],
                    "page": other["page"],
                },
            }
        )

    def _note_late(self, click: _Click, event_day: str) -> None:
        t = self.truth
        send_day = _day(click.send_at)
        note = {
            "event_id": click.record["event_id"],
            "event_day": event_day,
            "send_day": send_day,
            "delay_ms": click.send_at - click.record["event_time"],
        }
        if click.kind == "too_late":
            t.too_late_records += 1
            t.too_late.append({**note, "reason": "too_late"})
            return
        t.late_records += 1
        t.late_pairs[(event_day, send_day)] += 1
        if len(t.late_examples) < EXAMPLES:
            t.late_examples.append(note)

    def _queue_malformed(self, kind: str, victim: _Click) -> None:
        record = dict(victim.record)
        record["event_id"] = new_uuid(self.rng)
        send_at = victim.send_at + 1
        envelope: dict[str, Any] = {"send_at": send_at}
        if kind == "invalid_json":
            envelope["record"] = _ENCODER.encode(record)[:-12].decode("utf-8")
        elif kind == "invalid_utf8":
            # Lone surrogates cannot be encoded as UTF-8: the bytes sent are not valid UTF-8.
            record["page"] = "\udcff\udcfe"
            envelope["record"] = json.dumps(record, separators=(",", ":"), ensure_ascii=False)
        else:
            envelope["record"] = _MALFORM[kind](record, send_at)
        fault = {"input": "clicks", "reason": kind, "id": record["event_id"]}
        self._queue(send_at, envelope, fault)

    def _flush(self, tree: OutputTree, d: int) -> None:
        sends = sorted(self.pending.pop(d, []), key=lambda s: (s.send_at, s.seq))
        day = self.config.day(d).isoformat()
        rel = f"clicks/{day}.replay.jsonl"
        low, high = self.outage_window
        with tree.jsonl(rel) as out:
            for line, send in enumerate(sends, start=1):
                if isinstance(send.envelope.get("record"), str):
                    # json escapes the lone surrogates (msgspec refuses them)
                    out.write_line(json.dumps(send.envelope, separators=(",", ":")).encode())
                else:
                    out.write_object(send.envelope)
                if send.fault is not None:
                    self.truth.malformed.append({**send.fault, "file": rel, "line": line})
                if low <= send.send_at < high:
                    self.outage_records += 1
        self.truth.records_by_send_day[day] = len(sends)
        self.truth.records_sent += len(sends)

    def _finish(self) -> None:
        low, high = self.outage_window
        self.truth.outage = {
            "start": iso_z(from_epoch_ms(low)),
            "end": iso_z(from_epoch_ms(high)),
            "day": _day(low),
            "clicks_in_window": self.outage_records,
        }
        if self.pending:
            raise AssertionError(f"clicks left unsent for days {sorted(self.pending)}")


def _day(ms: int) -> str:
    return (date(1970, 1, 1) + timedelta(days=ms // MS_DAY)).isoformat()


def _without(record: dict[str, Any], name: str) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != name}


def _replace(record: dict[str, Any], **values: Any) -> dict[str, Any]:
    return {**record, **values}


_MALFORM: dict[str, Callable[[dict[str, Any], int], dict[str, Any]]] = {
    "missing_field": lambda r, s: _without(r, "user_id"),
    "null_field": lambda r, s: _replace(r, account_id=None),
    "wrong_type": lambda r, s: _replace(r, event_time=iso_z(from_epoch_ms(r["event_time"]))),
    "timestamp_in_seconds": lambda r, s: _replace(r, event_time=r["event_time"] // 1000),
    "unknown_event_type": lambda r, s: _replace(r, event_type="hover"),
    "future_timestamp": lambda r, s: _replace(r, event_time=s + 3 * MS_DAY),
}
