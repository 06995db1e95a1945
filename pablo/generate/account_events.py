"""Account event files: one JSON-lines file per day the accounts team recorded events.

History from before the window arrives as one backfill file dated the day before the window.
Besides the missing lifecycle steps (hidden events), the files carry an exact re-send of an
event (harmless: deduplicated), a conflicting re-use of an event_id (duplicate_event_id) and
a few malformed lines.
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import date, timedelta
from typing import Any

from pablo.generate.accounts import Account, AccountEvent
from pablo.generate.contracts import ACCOUNT_EVENTS
from pablo.generate.model import PRICE_PER_SEAT_CENTS, GeneratorConfig
from pablo.generate.output import OutputTree
from pablo.generate.records import Row, bad, interleave, write_json_rows


def write_account_events(
    rng: random.Random, config: GeneratorConfig, tree: OutputTree, accounts: list[Account]
) -> dict[str, Any]:
    """Writes the files; returns their truth (counts, duplicates, fault notes)."""
    by_day: dict[date, list[AccountEvent]] = defaultdict(list)
    for account in accounts:
        for ev in account.visible_events():
            by_day[ev.recorded_day].append(ev)
    in_window = sorted(
        (e for events in by_day.values() for e in events if e.recorded_day >= config.start),
        key=lambda e: (e.event_time, e.event_id),
    )
    extra: dict[date, list[Row]] = defaultdict(list)
    duplicates = _duplicates(rng, config, in_window, extra)
    malformed_day = _malformed_day(config, by_day)
    extra[malformed_day] += _malformed(malformed_day)
    faults: list[dict[str, Any]] = []
    for day in sorted(set(by_day) | set(extra)):
        events = sorted(by_day.get(day, []), key=lambda e: (e.event_time, e.event_id))
        rows = interleave(rng, [Row(e.record()) for e in events], extra.get(day, []))
        rel = f"account_events/{day.isoformat()}.jsonl"
        with tree.jsonl(rel) as out:
            faults += write_json_rows(out, rows, input_name=ACCOUNT_EVENTS.name, rel=rel)
    visible = sum(len(v) for v in by_day.values())
    return {
        "records": visible + sum(len(v) for v in extra.values()),
        "valid_events": visible,
        "backfill_file": f"account_events/{(config.start - timedelta(days=1)).isoformat()}.jsonl",
        "exact_duplicates": duplicates,
        "faults": faults,
    }


def _duplicates(
    rng: random.Random,
    config: GeneratorConfig,
    in_window: list[AccountEvent],
    extra: dict[date, list[Row]],
) -> list[dict[str, Any]]:
    """An exact re-send (the same line again, a day later) and a conflicting event_id."""
    candidates = [e for e in in_window if e.seats is not None and e.plan is not None]
    if len(candidates) < 2:
        return []
    resent, conflicting = rng.sample(candidates, 2)
    resent_day = min(resent.recorded_day + timedelta(days=1), config.last_day)
    extra[resent_day].append(Row(resent.record()))
    seats = conflicting.seats + 3 if conflicting.seats else 3
    # The conflict must be valid on its own, so that duplicate_event_id is the first reason
    # that applies: a free event (a trial) keeps mrr_cents 0 whatever its seats.
    paid = conflicting.mrr_cents > 0
    changed = {
        **conflicting.record(),
        "seats": seats,
        "mrr_cents": seats * PRICE_PER_SEAT_CENTS[conflicting.plan or "starter"] if paid else 0,
    }
    conflict_day = min(conflicting.recorded_day + timedelta(days=2), config.last_day)
    extra[conflict_day].append(
        bad(changed, "duplicate_event_id", conflicting.event_id, "same event_id, seats differ")
    )
    return [{"event_id": resent.event_id, "file": f"account_events/{resent_day.isoformat()}.jsonl"}]


def _malformed_day(config: GeneratorConfig, by_day: dict[date, list[AccountEvent]]) -> date:
    middle = config.day(config.days // 3)
    in_window = sorted(d for d in by_day if d >= middle)
    return in_window[0] if in_window else middle


def _malformed(day: date) -> list[Row]:
    when = f"{day.isoformat()}T11:00:00Z"

    def record(event_id: str, **over: Any) -> dict[str, Any]:
        base: dict[str, Any] = {
            "event_id": event_id,
            "account_id": "acct-0002",
            "event_type": "seats_changed",
            "event_time": when,
            "plan": "team",
            "seats": 12,
            "mrr_cents": 12 * PRICE_PER_SEAT_CENTS["team"],
            "currency": "USD",
            "recorded_by": "ae:jkim",
        }
        base.update(over)
        return {k: base[k] for k in ACCOUNT_EVENTS.sent_fields if k in base}

    ids = [f"bad-account-event-{n}" for n in range(1, 8)]
    missing = record(ids[1])
    del missing["event_type"]
    return [
        bad(
            b'{"event_id": "' + ids[0].encode() + b'", "account_id": "acct-0002", ',
            "invalid_json",
            ids[0],
            "truncated line",
        ),
        bad(missing, "missing_field", ids[1], "event_type"),
        bad(record(ids[2], seats=-3, mrr_cents=0), "negative_seats", ids[2], "-3"),
        bad(record(ids[3], currency="EUR"), "unknown_currency", ids[3], "EUR"),
        bad(record(ids[4], event_type="paused"), "unknown_event_type", ids[4], "paused"),
        bad(
            record(ids[5], event_time=f"{day.isoformat()} 11:00:00"),
            "invalid_timestamp",
            ids[5],
            "no T and no Z",
        ),
        bad(record(ids[6], plan="enterprise"), "unknown_plan", ids[6], "enterprise"),
    ]
