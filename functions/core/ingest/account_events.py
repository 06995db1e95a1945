"""Validate an account_events landing file (JSON lines) against its data contract. Pure.

`validate_file(body, source_key=..., now=...)` puts every line in exactly one place:

- accepted: the first copy of an event_id in the file, valid on its own;
- duplicate: a byte-for-byte repeat (same event_id, same canonical content) of an accepted
  line; counted, not stored;
- rejected: a quarantine row with its raw bytes and the FIRST reason code that applies, in
  the order docs/data-contracts.md lists them (a later line reusing an event_id with other
  content is `duplicate_event_id`).

So `lines == accepted + duplicates + rejected`. Events already landed by earlier files are
resolved by `against_landed` with what the state table remembers of them (their content hash
and file): the first copy landed wins. Bad input never raises.

`unknown_account` is the one reason a single file cannot decide: an account is created by its
first event (`trial_started` or `subscribed`), which may be recorded days later than the
events that follow it. So the weekly run checks it over every landed event
(`split_unknown_accounts`): the events of an account that no creating event has created are
quarantined by that run and left out of its tables, until the creating event lands.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import pyarrow as pa
import pyarrow.compute as pc

from functions.core import schemas
from functions.core.codes import (
    ACCOUNT_EVENTS_SOURCE,
    DUPLICATE_EVENT_ID,
    DUPLICATE_JSON_KEY,
    FUTURE_TIMESTAMP,
    INVALID_ID,
    INVALID_JSON,
    INVALID_TIMESTAMP,
    INVALID_UTF8,
    MISSING_FIELD,
    MRR_MISMATCH,
    NEGATIVE_AMOUNT,
    NEGATIVE_SEATS,
    NOT_AN_OBJECT,
    NULL_FIELD,
    UNKNOWN_ACCOUNT,
    UNKNOWN_CURRENCY,
    UNKNOWN_EVENT_TYPE,
    UNKNOWN_PLAN,
    WRONG_TYPE,
)
from functions.core.definitions import known_accounts
from functions.core.ingest.strict_input import json_object_line
from functions.core.landing import Landed
from functions.core.lifecycle import Event

PIPELINE: Final = schemas.Pipeline.GROWTH.value


REASON_CODES: Final[tuple[str, ...]] = (
    INVALID_UTF8,
    INVALID_JSON,
    NOT_AN_OBJECT,
    DUPLICATE_JSON_KEY,
    MISSING_FIELD,
    NULL_FIELD,
    WRONG_TYPE,
    INVALID_ID,
    UNKNOWN_EVENT_TYPE,
    INVALID_TIMESTAMP,
    FUTURE_TIMESTAMP,
    UNKNOWN_PLAN,
    NEGATIVE_SEATS,
    NEGATIVE_AMOUNT,
    MRR_MISMATCH,
    UNKNOWN_CURRENCY,
    DUPLICATE_EVENT_ID,
)

# List prices per seat per month (docs/data-contracts.md); the generator's copy is held
# equal by tests/unit/test_growth_account_events.py.
PRICE_PER_SEAT_CENTS: Final[dict[str, int]] = {"starter": 2000, "team": 3500, "business": 6000}
FREE_EVENT_TYPES: Final = frozenset({"trial_started", "churned"})  # mrr_cents must be 0
NULL_PLAN_EVENT_TYPES: Final = frozenset({"churned"})  # plan and seats may be null
MAX_ID_CHARS: Final = schemas.MAX_ID_CHARS
MAX_FUTURE_SKEW: Final = timedelta(minutes=5)

# Contract order of the sent fields.
SENT_FIELDS: Final[tuple[str, ...]] = (
    "event_id",
    "account_id",
    "event_type",
    "event_time",
    "plan",
    "seats",
    "mrr_cents",
    "currency",
    "recorded_by",
)
_STRING_FIELDS: Final = ("event_id", "account_id", "event_type", "event_time", "currency")
_NULLABLE_STRING_FIELDS: Final = ("plan", "recorded_by")
_TIMESTAMP_RE: Final = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")


@dataclass(frozen=True)
class Accepted:
    line_number: int
    event: Event
    currency: str
    recorded_by: str | None
    content_hash: str  # SHA-256 of the canonical JSON of the sent fields


@dataclass(frozen=True)
class Rejected:
    line_number: int
    reason: str
    detail: str
    raw: bytes
    event_id: str | None = None


@dataclass(frozen=True)
class FileOutcome:
    source_key: str
    lines: int
    accepted: tuple[Accepted, ...]
    duplicates: int
    rejected: tuple[Rejected, ...]

    def reason_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for item in self.rejected:
            counts[item.reason] = counts.get(item.reason, 0) + 1
        return dict(sorted(counts.items()))


def split_lines(body: bytes) -> list[bytes]:
    """The file's lines without their LF (a final LF does not start a line)."""
    lines = body.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return lines


def validate_file(body: bytes, *, source_key: str, now: datetime) -> FileOutcome:
    """Classify every line of one landing file; `now` is the landing event's time."""
    accepted: dict[str, Accepted] = {}
    rejected: list[Rejected] = []
    duplicates = 0
    lines = split_lines(body)
    for number, raw in enumerate(lines, start=1):
        result = validate_line(raw, line_number=number, now=now)
        if isinstance(result, Rejected):
            rejected.append(result)
            continue
        first = accepted.get(result.event.event_id)
        if first is None:
            accepted[result.event.event_id] = result
        elif first.content_hash == result.content_hash:
            duplicates += 1
        else:
            rejected.append(_conflict(result, raw, first_where=f"line {first.line_number}"))
    return FileOutcome(
        source_key, len(lines), tuple(accepted.values()), duplicates, tuple(rejected)
    )


def against_landed(outcome: FileOutcome, landed: Mapping[str, Landed]) -> FileOutcome:
    """Resolve the file's accepted events against event_ids landed by OTHER files.

    Same content: an exact re-send, counted as a duplicate. Other content: the first copy
    landed is kept and this one is quarantined as duplicate_event_id. An id first landed by
    this same file is this file's own (a re-run of the file), so it stays accepted.
    """
    kept: list[Accepted] = []
    rejected = list(outcome.rejected)
    duplicates = outcome.duplicates
    for item in outcome.accepted:
        prior = landed.get(item.event.event_id)
        if prior is None or prior.source_key == outcome.source_key:
            kept.append(item)
        elif prior.content_hash == item.content_hash:
            duplicates += 1
        else:
            raw = canonical_bytes(item)
            rejected.append(_conflict(item, raw, first_where=prior.source_key))
    rejected.sort(key=lambda r: r.line_number)
    return replace(outcome, accepted=tuple(kept), duplicates=duplicates, rejected=tuple(rejected))


def _conflict(item: Accepted, raw: bytes, *, first_where: str) -> Rejected:
    return Rejected(
        item.line_number,
        DUPLICATE_EVENT_ID,
        f"event_id {item.event.event_id} already landed with other content ({first_where})",
        raw,
        item.event.event_id,
    )


def validate_line(raw: bytes, *, line_number: int, now: datetime) -> Accepted | Rejected:
    """One line: Accepted, or Rejected with the first reason code that applies."""

    def reject(reason: str, detail: str, event_id: str | None = None) -> Rejected:
        return Rejected(line_number, reason, detail, raw, event_id)

    value = json_object_line(raw)
    if isinstance(value, tuple):
        return reject(*value)
    event_id = value.get("event_id") if isinstance(value.get("event_id"), str) else None
    reason = _field_problem(value, now)
    if reason is not None:
        return reject(reason[0], reason[1], event_id)
    return _accepted(value, line_number)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _field_problem(value: dict[str, Any], now: datetime) -> tuple[str, str] | None:
    """(reason, detail) of the first rule the object breaks, in contract order."""
    for name in SENT_FIELDS:
        if name not in value:
            return MISSING_FIELD, name
    event_type = value["event_type"]
    frees_plan = isinstance(event_type, str) and event_type in NULL_PLAN_EVENT_TYPES
    nullable = {"recorded_by"} | ({"plan", "seats"} if frees_plan else set())
    for name in SENT_FIELDS:
        if value[name] is None and name not in nullable:
            return NULL_FIELD, name
    for name in (*_STRING_FIELDS, *_NULLABLE_STRING_FIELDS):
        if value[name] is not None and not isinstance(value[name], str):
            return WRONG_TYPE, f"{name} is a JSON {type(value[name]).__name__}"
    for name in ("seats", "mrr_cents"):
        if value[name] is not None and not _is_int(value[name]):
            return WRONG_TYPE, f"{name} is a JSON {type(value[name]).__name__}, not an integer"
    for name in ("event_id", "account_id"):
        if not value[name].strip() or len(value[name]) > MAX_ID_CHARS:
            return INVALID_ID, f"{name} is empty or longer than {MAX_ID_CHARS} characters"
    if event_type not in schemas.ACCOUNT_EVENT_TYPES:
        return UNKNOWN_EVENT_TYPE, str(event_type)[:100]
    moment = parse_timestamp(value["event_time"])
    if moment is None:
        return INVALID_TIMESTAMP, str(value["event_time"])[:100]
    if moment > now + MAX_FUTURE_SKEW:
        return FUTURE_TIMESTAMP, f"{value['event_time']} is after {now.isoformat()}"
    return _money_problem(value)


def _money_problem(value: dict[str, Any]) -> tuple[str, str] | None:
    plan, seats, mrr = value["plan"], value["seats"], value["mrr_cents"]
    if plan is not None and plan not in schemas.PLANS:
        return UNKNOWN_PLAN, str(plan)[:100]
    if seats is not None and seats < 1:
        return NEGATIVE_SEATS, str(seats)
    if mrr < 0:
        return NEGATIVE_AMOUNT, str(mrr)
    expected = expected_mrr_cents(value["event_type"], plan, seats)
    if mrr != expected:
        return MRR_MISMATCH, f"mrr_cents {mrr}, expected {expected}"
    if value["currency"] != schemas.REPORTING_CURRENCY:
        return UNKNOWN_CURRENCY, str(value["currency"])[:100]
    return None


def expected_mrr_cents(event_type: str, plan: str | None, seats: int | None) -> int:
    """seats x list price, or 0 for a free event (trial, churn)."""
    if event_type in FREE_EVENT_TYPES or plan is None or seats is None:
        return 0
    return seats * PRICE_PER_SEAT_CENTS[plan]


def parse_timestamp(text: str) -> datetime | None:
    """`YYYY-MM-DDTHH:MM:SS[.ffffff]Z` as an aware UTC datetime; None when invalid."""
    if not _TIMESTAMP_RE.match(text):
        return None
    try:
        return datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)
    except ValueError:
        return None


def _accepted(value: dict[str, Any], line_number: int) -> Accepted:
    sent = {name: value[name] for name in SENT_FIELDS}
    moment = parse_timestamp(value["event_time"])
    assert moment is not None  # checked by _field_problem
    event = Event(
        event_id=value["event_id"],
        account_id=value["account_id"],
        event_type=value["event_type"],
        event_time=moment,
        plan=value["plan"],
        seats=value["seats"],
        mrr_cents=value["mrr_cents"],
    )
    return Accepted(line_number, event, value["currency"], value["recorded_by"], _hash(sent))


def _canonical(sent: Mapping[str, Any]) -> bytes:
    return json.dumps(sent, sort_keys=True, separators=(",", ":")).encode()


def _hash(sent: Mapping[str, Any]) -> str:
    return hashlib.sha256(_canonical(sent)).hexdigest()


def canonical_bytes(item: Accepted) -> bytes:
    e = item.event
    text = e.event_time.strftime("%Y-%m-%dT%H:%M:%S")
    if e.event_time.microsecond:
        text += f".{e.event_time.microsecond:06d}"
    sent = {
        "event_id": e.event_id,
        "account_id": e.account_id,
        "event_type": e.event_type,
        "event_time": text + "Z",
        "plan": e.plan,
        "seats": e.seats,
        "mrr_cents": e.mrr_cents,
        "currency": item.currency,
        "recorded_by": item.recorded_by,
    }
    return _canonical(sent)


# --- tables ------------------------------------------------------------------------------


def raw_table(outcome: FileOutcome) -> pa.Table:
    """RAW_ACCOUNT_EVENTS rows of the accepted events, with the `month` partition."""
    items = sorted(outcome.accepted, key=lambda a: a.line_number)
    columns: dict[str, list[Any]] = {
        "event_id": [a.event.event_id for a in items],
        "account_id": [a.event.account_id for a in items],
        "event_type": [a.event.event_type for a in items],
        "event_time": [a.event.event_time for a in items],
        "plan": [a.event.plan for a in items],
        "seats": [a.event.seats for a in items],
        "mrr_cents": [a.event.mrr_cents for a in items],
        "currency": [a.currency for a in items],
        "recorded_by": [a.recorded_by for a in items],
        "source_key": [outcome.source_key] * len(items),
        "month": [a.event.event_time.strftime("%Y-%m") for a in items],
    }
    schema = schemas.RAW_ACCOUNT_EVENTS.arrow_schema(with_partitions=True)
    return pa.table(columns, schema=schema)


def quarantine_table(outcome: FileOutcome, *, received_at: datetime) -> pa.Table:
    """QUARANTINE rows of the rejected lines (raw bytes kept), with their partitions."""
    items = outcome.rejected
    columns: dict[str, list[Any]] = {
        "record_id": [f"{outcome.source_key}:{r.line_number}" for r in items],
        "source": [ACCOUNT_EVENTS_SOURCE] * len(items),
        "reason": [r.reason for r in items],
        "detail": [r.detail for r in items],
        "raw": [r.raw for r in items],
        "received_at": [received_at] * len(items),
        "source_key": [outcome.source_key] * len(items),
        "line_number": [r.line_number for r in items],
        "shard_id": [None] * len(items),
        "sequence_number": [None] * len(items),
        "pipeline": [PIPELINE] * len(items),
        "dt": [received_at.strftime("%Y-%m-%d")] * len(items),
    }
    schema = schemas.QUARANTINE.arrow_schema(with_partitions=True)
    return pa.table(columns, schema=schema)


@dataclass(frozen=True)
class KnownSplit:
    """Landed events split by whether their account was created by an account event."""

    known: pa.Table  # RAW_ACCOUNT_EVENTS rows (file columns) of created accounts
    quarantined: pa.Table  # QUARANTINE rows (with partitions) of every other account's events
    unknown_accounts: tuple[str, ...]


def split_unknown_accounts(raw: pa.Table, *, received_at: datetime) -> KnownSplit:
    """Quarantine (`unknown_account`) the events of accounts that no `trial_started` or
    `subscribed` event created. One row per event_id (raw files may overlap after a re-send),
    ordered by account, time and id; the raw bytes are the event's canonical JSON line, as the
    landed line itself is not kept in the raw table."""
    created = pa.array(sorted(known_accounts(raw)), pa.string())
    known = pc.is_in(raw.column("account_id"), value_set=created)
    unknown: dict[str, dict[str, Any]] = {}
    for row in raw.filter(pc.invert(known)).to_pylist():
        unknown.setdefault(row["event_id"], row)
    rows = sorted(unknown.values(), key=lambda r: (r["account_id"], r["event_time"], r["event_id"]))
    return KnownSplit(
        known=raw.filter(known),
        quarantined=_unknown_account_rows(rows, received_at=received_at),
        unknown_accounts=tuple(sorted({r["account_id"] for r in rows})),
    )


def _sent_value(row: Mapping[str, Any], name: str) -> Any:
    if name != "event_time":
        return row[name]
    moment: datetime = row[name].astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return text + (f".{moment.microsecond:06d}" if moment.microsecond else "") + "Z"


def _unknown_account_rows(rows: Sequence[Mapping[str, Any]], *, received_at: datetime) -> pa.Table:
    """QUARANTINE rows of the weekly run: the record id names the event's landing file and
    its event_id (the line number is not kept in the raw table)."""
    count = len(rows)
    columns: dict[str, list[Any]] = {
        "record_id": [f"{r['source_key']}#{r['event_id']}" for r in rows],
        "source": [ACCOUNT_EVENTS_SOURCE] * count,
        "reason": [UNKNOWN_ACCOUNT] * count,
        "detail": [
            f"account {r['account_id']} was created by no trial_started or subscribed event"
            for r in rows
        ],
        "raw": [_canonical({name: _sent_value(r, name) for name in SENT_FIELDS}) for r in rows],
        "received_at": [received_at] * count,
        "source_key": [r["source_key"] for r in rows],
        "line_number": [None] * count,
        "shard_id": [None] * count,
        "sequence_number": [None] * count,
        "pipeline": [PIPELINE] * count,
        "dt": [received_at.strftime("%Y-%m-%d")] * count,
    }
    return pa.table(columns, schema=schemas.QUARANTINE.arrow_schema(with_partitions=True))


def events_from_table(table: pa.Table) -> list[Event]:
    """Lifecycle events from RAW_ACCOUNT_EVENTS rows (for the weekly run)."""
    rows = table.select(
        ["event_id", "account_id", "event_type", "event_time", "plan", "seats", "mrr_cents"]
    ).to_pylist()
    return [
        Event(
            event_id=r["event_id"],
            account_id=r["account_id"],
            event_type=r["event_type"],
            event_time=r["event_time"].astimezone(UTC),
            plan=r["plan"],
            seats=r["seats"],
            mrr_cents=r["mrr_cents"] or 0,
        )
        for r in rows
    ]


def unique_events(events: Sequence[Event]) -> list[Event]:
    """One event per event_id (the first seen): raw files may overlap after a re-send."""
    seen: dict[str, Event] = {}
    for event in events:
        seen.setdefault(event.event_id, event)
    return list(seen.values())
