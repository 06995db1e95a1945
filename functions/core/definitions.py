"""The business definitions every pipeline shares, each in one place (pure).

docs/metrics.md, "Definitions", states each of them in words precise enough to recompute
the published figures from the raw files; the pipelines import them from here:

- known account: an account that a creating event (`trial_started` or `subscribed`) in
  `account_events` created. Every other account's events, invoices and expense lines are
  quarantined `unknown_account` by every pipeline that reads them, and counted.
- paying subscriber (of a month): a known account whose revenue received in the month
  (invoices paid or refunded with `paid_date` in the month, refunds negative) sums to more
  than zero. Invoices issued, open or void count nothing.
- seat utilisation: monthly active users of the accounts paying at the period end /
  licensed seats of the same accounts (the executive join sums both over those accounts).
- period coverage: a period is covered when data exists from its first day; a period whose
  data starts later cannot be final.
- producer spill: a click the producer could not send is replayed later with the time it
  was first tried; the lateness rule measures from that time, not from the replay.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc

from functions.core.lifecycle import NEW, TRANSITIONS

# --- accounts ------------------------------------------------------------------------

# The event types that create an account: the lifecycle model's first steps.
CREATING_EVENT_TYPES: Final = frozenset(TRANSITIONS[NEW])


def unknown_account_detail(account_id: object) -> str:
    """The quarantine detail of a record of an unknown account."""
    return (
        f"account {account_id} was created by no {' or '.join(sorted(CREATING_EVENT_TYPES))} event"
    )


def known_accounts(account_events: pa.Table) -> frozenset[str]:
    """Accounts created by a creating event, from rows with `account_id` and `event_type`
    (raw_account_events). An account with only other events is not known."""
    if account_events.num_rows == 0:
        return frozenset()
    creating = pc.is_in(
        account_events.column("event_type"), value_set=pa.array(sorted(CREATING_EVENT_TYPES))
    )
    created = account_events.filter(creating).column("account_id")
    return frozenset(v for v in pc.unique(created).to_pylist() if v is not None)


# --- money ---------------------------------------------------------------------------

# Invoice statuses whose amount is revenue received (refund rows carry negative amounts).
REVENUE_STATUSES: Final = ("paid", "refunded")


def is_paying_subscriber(received_cents: int) -> bool:
    """An account whose revenue received in the month, net of refunds, is above zero."""
    return received_cents > 0


def paying_subscribers(received_by_account: Mapping[str, int]) -> int:
    """How many accounts are paying subscribers, from each account's revenue received in
    the month (known accounts only: the caller has left the others out)."""
    return sum(1 for cents in received_by_account.values() if is_paying_subscriber(cents))


# SQL of the same rule over a relation with one row per account and `paid_cents`.
PAYING_SUBSCRIBER_SQL: Final = "paid_cents > 0"


# --- engagement ----------------------------------------------------------------------

# The session gap and the allowed lateness: functions.core.defaults.
# WAU / MAU windows, in days ending the day (inclusive).
WAU_DAYS: Final = 7
MAU_DAYS: Final = 30


# --- the producer's spill ------------------------------------------------------------

# A click replayed from the producer's spill carries, in its Kinesis partition key, the time
# (epoch ms) the producer first tried to send it: `spilled:<ms>:<account partition key>`.
# The payload is the contract's and stays byte for byte what the client produced.
SPILL_KEY_PREFIX: Final = "spilled:"
MAX_PARTITION_KEY_CHARS: Final = 256
MAX_EPOCH_MS_DIGITS: Final = 15  # up to the year 33658


def spilled_partition_key(first_attempt_ms: int, partition_key: str) -> str:
    """The partition key of a replayed record (cut to Kinesis's 256 characters: the key
    only picks a shard)."""
    return f"{SPILL_KEY_PREFIX}{int(first_attempt_ms)}:{partition_key}"[:MAX_PARTITION_KEY_CHARS]


def first_attempt_ms(partition_key: object) -> int | None:
    """The first send attempt of a replayed record, or None for a record sent normally."""
    if not isinstance(partition_key, str) or not partition_key.startswith(SPILL_KEY_PREFIX):
        return None
    text, sep, _ = partition_key[len(SPILL_KEY_PREFIX) :].partition(":")
    # ASCII digits that fit epoch milliseconds (a forged key must never break the ingest).
    if not sep or not (text.isascii() and text.isdigit()) or len(text) > MAX_EPOCH_MS_DIGITS:
        return None
    return int(text)


# --- periods -------------------------------------------------------------------------


def covers(first_data_day: date | None, period_start: date) -> bool:
    """A period is covered when the data starts on or before its first day."""
    return first_data_day is not None and first_data_day <= period_start


def epoch_ms(moment: datetime) -> int:
    return int(moment.astimezone(UTC).timestamp() * 1000)
