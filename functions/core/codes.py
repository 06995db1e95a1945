"""Every reason and status code the pipelines write, each spelled once (pure).

A code is a value stored in the lake or the state table: a quarantined row's `reason`, why a
KPI has no value, why a period is not final, a reconciliation or publication status.
docs/data-contracts.md and docs/metrics.md list them; the pipelines, the tools and the tests
import them from here. Which codes an input can get, and in which order they are checked,
stays with the code that checks them (for example `ingest.clicks.REASON_CODES`).
"""

from __future__ import annotations

from typing import Final

# --- sources: where a quarantined record came from (its `source`) ------------------------
CLICKS_SOURCE: Final = "clicks"
ACCOUNT_EVENTS_SOURCE: Final = "account_events"
EXPERIMENTS_SOURCE: Final = "experiments"
ASSIGNMENTS_SOURCE: Final = "assignments"

# --- a record's bytes (the click stream, JSON-lines files) --------------------------------
OVERSIZED_RECORD: Final = "oversized_record"  # more than the record size limit
INVALID_BASE64: Final = "invalid_base64"  # kinesis.data is not strict base64
BYTE_ORDER_MARK: Final = "byte_order_mark"  # the bytes open with a UTF-8/16/32 byte-order mark
INVALID_UTF8: Final = "invalid_utf8"  # bytes are not UTF-8, or a string holds a lone surrogate
NESTING_TOO_DEEP: Final = "nesting_too_deep"  # arrays/objects deeper than the nesting limit
INVALID_JSON: Final = "invalid_json"  # not one JSON document (NaN/Infinity literals included)
# The decoder failed on this record in a way none of the codes above names (for example it
# ran out of memory): the detail names the exception. The rest of the batch goes on.
UNDECODABLE: Final = "undecodable"
NON_FINITE_NUMBER: Final = "non_finite_number"  # NaN, Infinity, or a number that overflows
NOT_AN_OBJECT: Final = "not_an_object"  # valid JSON, but not an object
DUPLICATE_JSON_KEY: Final = "duplicate_json_key"  # the object names a key twice

# --- a CSV file or row --------------------------------------------------------------------
INVALID_HEADER: Final = "invalid_header"
MALFORMED_ROW: Final = "malformed_row"
INVALID_PATH: Final = "invalid_path"  # the landing key names no valid period

# --- a field ------------------------------------------------------------------------------
MISSING_FIELD: Final = "missing_field"  # a required field is absent
NULL_FIELD: Final = "null_field"  # a required field is null
WRONG_TYPE: Final = "wrong_type"  # e.g. a click's event_time as a string, a float or `true`
INVALID_ID: Final = "invalid_id"  # an id blank or too long
INVALID_DATE: Final = "invalid_date"
INVALID_TIMESTAMP: Final = "invalid_timestamp"
TIMESTAMP_IN_SECONDS: Final = "timestamp_in_seconds"  # event_time < 1e11: seconds, not ms
NEGATIVE_TIMESTAMP: Final = "negative_timestamp"
FUTURE_TIMESTAMP: Final = "future_timestamp"  # after arrival (+ the allowed skew)
TOO_LATE: Final = "too_late"  # before first sent (arrival, or a spill's first try) - lateness
DUPLICATE_ID: Final = "duplicate_id"
DUPLICATE_EVENT_ID: Final = "duplicate_event_id"

# --- a value the contract does not know -----------------------------------------------------
# An account no creating event made (functions.core.definitions, "known account").
UNKNOWN_ACCOUNT: Final = "unknown_account"
UNKNOWN_EVENT_TYPE: Final = "unknown_event_type"
UNKNOWN_PLAN: Final = "unknown_plan"
UNKNOWN_CURRENCY: Final = "unknown_currency"
MIXED_CURRENCY: Final = "mixed_currency"
UNKNOWN_STATUS: Final = "unknown_status"
UNKNOWN_CATEGORY: Final = "unknown_category"
UNKNOWN_TEAM: Final = "unknown_team"
UNKNOWN_LINE: Final = "unknown_line"
UNKNOWN_UNIT_TYPE: Final = "unknown_unit_type"
UNKNOWN_EXPERIMENT: Final = "unknown_experiment"
UNKNOWN_VARIANT: Final = "unknown_variant"

# --- values that contradict each other ------------------------------------------------------
NEGATIVE_SEATS: Final = "negative_seats"
NEGATIVE_AMOUNT: Final = "negative_amount"
MRR_MISMATCH: Final = "mrr_mismatch"
INCONSISTENT_STATUS: Final = "inconsistent_status"
INVALID_WEIGHT: Final = "invalid_weight"
NO_VALID_PATH: Final = "no_valid_path"  # a lifecycle issue's missing_step: no chain explains it

# --- why a KPI has no value -----------------------------------------------------------------
NO_SUBSCRIBERS: Final = "no_subscribers"
NO_STARTING_MRR: Final = "no_starting_mrr"
NO_ACCOUNTS_AT_START: Final = "no_accounts_at_start"
NO_ACTIVITY: Final = "no_activity"
NO_SEATS: Final = "no_seats"
# A month for which nothing landed at all (before the company's first delivery): nothing to
# publish or reconcile. Missing files of a live month are the landing inventory's alarm.
NO_DATA: Final = "no_data"

# --- why a period is not final, or was recomputed -----------------------------------------
UPSTREAM_STALE: Final = "upstream_stale"
UPSTREAM_INCOMPLETE: Final = "upstream_incomplete"
DIRTY_PARTITIONS: Final = "dirty_partitions"
PARTIAL_PERIOD: Final = "partial_period"
MONTHLY_ONLY: Final = "monthly_only"
STREAM_OUTAGE: Final = "stream_outage"
LATE_DATA: Final = "late_data"
BACKFILL_REASON: Final = "backfill"
CORRECTION: Final = "correction"  # a final period recomputed: its changes are corrections

# --- reconciliation with the ledger -------------------------------------------------------
MATCHED: Final = "matched"
MISMATCHED: Final = "mismatched"
MISSING_LEDGER: Final = "missing_ledger"

# --- publication --------------------------------------------------------------------------
FINAL: Final = "final"
PRELIMINARY: Final = "preliminary"
SIGNED_OFF: Final = "signed_off"
