"""The schema registry: every table of every pipeline, defined once.

Arrow schemas (for the Parquet the functions write), Glue column lists (for the CDK
tables) and test cases all derive from `TABLES`. Nothing else spells a column.

Types are Glue/Athena (Hive) type names; `arrow_type` maps each to Arrow. Timestamps are
UTC instants stored as Parquet int64 milliseconds; money is integer cents with a currency
column next to it; ratios are doubles that are null (never NaN or infinity) when they
cannot be computed, with the reason in a `*_reason` column or the `missing_reasons` map.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa


class Database(StrEnum):
    """Glue databases; each maps to one bucket (finance data never leaves its own)."""

    RAW = "raw"
    CURATED = "curated"
    FINANCE = "finance"
    OPS = "ops"


class Bucket(StrEnum):
    """Logical buckets; the stack maps each to a physical name."""

    RAW = "raw"
    CURATED = "curated"
    FINANCE = "finance"
    QUARANTINE = "quarantine"


class Pipeline(StrEnum):
    PROFIT = "profit"
    GROWTH = "growth"
    ENGAGEMENT = "engagement"
    EXECUTIVE = "executive"
    EXPERIMENT = "experiment"
    PLATFORM = "platform"


# Enumerations that are part of the data contracts (docs/data-contracts.md).
# The click payload's fields the producer sends, in contract order; `page` alone may be null
# or absent.
CLICK_STRING_FIELDS: tuple[str, ...] = ("event_id", "account_id", "user_id", "event_type")
CLICK_PAYLOAD_FIELDS: tuple[str, ...] = (*CLICK_STRING_FIELDS, "event_time", "page")
CLICK_EVENT_TYPES: tuple[str, ...] = (
    "page_view",
    "click",
    "search",
    "export",
    "share",
    "login",
)
ACCOUNT_EVENT_TYPES: tuple[str, ...] = (
    "trial_started",
    "subscribed",
    "seats_changed",
    "plan_changed",
    "renewal_due",
    "renewed",
    "cancelled",
    "churned",
    "reactivated",
)
PLANS: tuple[str, ...] = ("starter", "team", "business")
INVOICE_STATUSES: tuple[str, ...] = ("paid", "open", "void", "refunded")
EXPENSE_CATEGORIES: tuple[str, ...] = ("hosting", "software", "hardware", "services", "office")
TEAMS: tuple[str, ...] = (
    "engineering",
    "frontend",
    "data",
    "sales",
    "accounts",
    "finance",
    "operations",
    "support",
)
LEDGER_LINES: tuple[str, ...] = ("revenue", "expenses", "salaries")
UNIT_TYPES: tuple[str, ...] = ("account", "user")
REPORTING_CURRENCY = "USD"
# Every input's ids (docs/data-contracts.md, "Ids"): non-empty, at most this many characters.
MAX_ID_CHARS = 128


@dataclass(frozen=True)
class ClickLimits:
    """The limits of one click record: the ingest function enforces them and
    docs/data-contracts.md states them (tests/unit/test_contracts.py compares the two)."""

    max_record_bytes: int = 1_048_576  # Kinesis's own per-record limit
    max_id_chars: int = MAX_ID_CHARS  # event_id, account_id, user_id
    # Depth of arrays and objects, the record itself being depth 1. A click is flat; the
    # bound keeps any decoder (recursive ones included) far from its own stack limit.
    max_nesting_depth: int = 32
    # Smallest plausible epoch-milliseconds value (1973-03-03); below it a producer sent seconds.
    min_event_time_ms: int = 100_000_000_000
    max_future_skew_minutes: int = 5  # event_time may be at most this far after arrival
    # Default of the deployment setting `allowed_lateness_days`: an older click is too late.
    allowed_lateness_days: int = 7


CLICK_LIMITS = ClickLimits()


# Arrow is imported only when a schema is asked for: the registry's names and Glue types are
# read without it (the `pablo` command line, the CDK app).
_SCALAR_ARROW: dict[str, Callable[[ModuleType], pa.DataType]] = {
    "string": lambda pa: pa.string(),
    "bigint": lambda pa: pa.int64(),
    "int": lambda pa: pa.int32(),
    "double": lambda pa: pa.float64(),
    "boolean": lambda pa: pa.bool_(),
    "timestamp": lambda pa: pa.timestamp("ms", tz="UTC"),
    "date": lambda pa: pa.date32(),
    "binary": lambda pa: pa.binary(),
    "map<string,string>": lambda pa: pa.map_(pa.string(), pa.string()),
}


def _check_glue_type(glue_type: str) -> None:
    if glue_type not in _SCALAR_ARROW:
        raise ValueError(f"type {glue_type!r} is not in the registry's type map")


@cache
def arrow_type(glue_type: str) -> pa.DataType:
    """Arrow type for a Glue type name of this registry."""
    _check_glue_type(glue_type)
    import pyarrow  # noqa: PLC0415

    return _SCALAR_ARROW[glue_type](pyarrow)


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    description: str
    nullable: bool = False

    def __post_init__(self) -> None:
        _check_glue_type(self.type)  # fail at import time on a typo

    def arrow_field(self) -> pa.Field:
        import pyarrow as pa  # noqa: PLC0415

        return pa.field(self.name, arrow_type(self.type), nullable=self.nullable)


@dataclass(frozen=True)
class Projection:
    """Athena partition projection: partitions are read from the path, never registered.

    For tables written by many writers (the quarantine), where registering every new
    partition from every pipeline would be one more thing that can be forgotten."""

    enums: tuple[tuple[str, tuple[str, ...]], ...] = ()  # partition key -> allowed values
    dates: tuple[str, ...] = ()  # partition keys holding YYYY-MM-DD
    first_date: str = "2020-01-01"


@dataclass(frozen=True)
class Table:
    """One Glue table over hive-partitioned Parquet under `bucket/prefix/`."""

    name: str
    database: Database
    bucket: Bucket
    pipeline: Pipeline
    description: str
    columns: tuple[Column, ...]
    partition_keys: tuple[Column, ...] = ()
    primary_key: tuple[str, ...] = ()
    restricted: bool = False  # finance-only: never readable by analysts
    prefix: str = field(default="")
    projection: Projection | None = None

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns + self.partition_keys]
        if len(names) != len(set(names)):
            raise ValueError(f"table {self.name} repeats a column name")
        missing = set(self.primary_key) - set(names)
        if missing:
            raise ValueError(f"table {self.name} primary key names unknown columns {missing}")
        if not self.prefix:
            object.__setattr__(self, "prefix", f"{self.database.value}/{self.name}")

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def file_column_names(self) -> list[str]:
        """The columns a landed file carries: every column but `source_key`, which ingest
        adds."""
        return [c for c in self.column_names if c != "source_key"]

    @property
    def partition_names(self) -> list[str]:
        return [c.name for c in self.partition_keys]

    def arrow_schema(self, *, with_partitions: bool = False) -> pa.Schema:
        """The schema of the Parquet files (partition keys live in the path)."""
        import pyarrow as pa  # noqa: PLC0415

        cols = self.columns + (self.partition_keys if with_partitions else ())
        return pa.schema([c.arrow_field() for c in cols])

    def glue_columns(self) -> list[dict[str, str]]:
        return [{"name": c.name, "type": c.type, "comment": c.description} for c in self.columns]

    def glue_partition_keys(self) -> list[dict[str, str]]:
        return [
            {"name": c.name, "type": c.type, "comment": c.description} for c in self.partition_keys
        ]

    def column(self, name: str) -> Column:
        for c in self.columns + self.partition_keys:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name}")


def _c(name: str, type_: str, description: str, *, nullable: bool = False) -> Column:
    return Column(name=name, type=type_, description=description, nullable=nullable)


def _dt(description: str = "Event date (UTC), YYYY-MM-DD") -> Column:
    return _c("dt", "string", description)


def _month(description: str = "Calendar month, YYYY-MM") -> Column:
    return _c("month", "string", description)


def _week(description: str = "ISO week ending Sunday, as the Sunday's date YYYY-MM-DD") -> Column:
    return _c("week", "string", description)


def _ratio(name: str, description: str) -> tuple[Column, Column]:
    return (
        _c(name, "double", description + "; null when it cannot be computed", nullable=True),
        _c(
            f"{name}_reason",
            "string",
            f"Why {name} is null (e.g. no_subscribers, no_starting_mrr); null when present",
            nullable=True,
        ),
    )


def _cents(name: str, description: str, *, nullable: bool = False) -> Column:
    return _c(
        name, "bigint", description + " (integer cents, reporting currency)", nullable=nullable
    )


def _clicks_by_type() -> tuple[Column, ...]:
    return tuple(
        _c(f"clicks_{t}", "bigint", f"Clicks of event type {t}") for t in CLICK_EVENT_TYPES
    )


QUARANTINE_COLUMNS = (
    _c("record_id", "string", "Stable id of the quarantined record (source key + position)"),
    _c("source", "string", "Input it came from: clicks, account_events, invoices, ..."),
    _c("reason", "string", "Reason code, e.g. invalid_base64, missing_field, unknown_account"),
    _c("detail", "string", "Human-readable detail of what was wrong", nullable=True),
    _c("raw", "binary", "The record's bytes exactly as received"),
    _c("received_at", "timestamp", "When the pipeline received it (UTC)"),
    _c("source_key", "string", "S3 key of the landing file, or the Kinesis stream", nullable=True),
    _c("line_number", "bigint", "1-based line of the landing file", nullable=True),
    _c("shard_id", "string", "Kinesis shard", nullable=True),
    _c("sequence_number", "string", "Kinesis sequence number", nullable=True),
)

# --- raw inputs --------------------------------------------------------------------

RAW_CLICKS = Table(
    name="raw_clicks",
    database=Database.RAW,
    bucket=Bucket.RAW,
    pipeline=Pipeline.ENGAGEMENT,
    description="Accepted click events as landed from Kinesis, before cross-batch dedup",
    columns=(
        _c("event_id", "string", "Producer-assigned unique id of the click (UUID)"),
        _c("account_id", "string", "Account the user belongs to"),
        _c("user_id", "string", "User who clicked"),
        _c("event_type", "string", "One of " + ", ".join(CLICK_EVENT_TYPES)),
        _c("event_time", "timestamp", "When the click happened (UTC)"),
        _c("page", "string", "Page or feature clicked", nullable=True),
        _c("arrival_time", "timestamp", "Kinesis approximate arrival time (UTC)"),
        _c("shard_id", "string", "Kinesis shard it came through"),
        _c("sequence_number", "string", "Kinesis sequence number"),
    ),
    partition_keys=(_dt("Event date (UTC) of event_time, not the arrival date"),),
)

RAW_ACCOUNT_EVENTS = Table(
    name="raw_account_events",
    database=Database.RAW,
    bucket=Bucket.RAW,
    pipeline=Pipeline.GROWTH,
    description="Account lifecycle changes recorded by the Accounts team, deduplicated by event_id",
    columns=(
        _c("event_id", "string", "Unique id of the change"),
        _c("account_id", "string", "Account changed"),
        _c("event_type", "string", "One of " + ", ".join(ACCOUNT_EVENT_TYPES)),
        _c("event_time", "timestamp", "When the change took effect (UTC)"),
        _c("plan", "string", "Plan after the change: " + ", ".join(PLANS), nullable=True),
        _c("seats", "bigint", "Licensed seats after the change", nullable=True),
        _cents("mrr_cents", "Monthly recurring revenue after the change", nullable=True),
        _c("currency", "string", "ISO 4217 currency of mrr_cents"),
        _c("recorded_by", "string", "Who recorded the change", nullable=True),
        _c("source_key", "string", "Landing file it came from"),
    ),
    partition_keys=(_month("Month of event_time, YYYY-MM"),),
    primary_key=("event_id",),
)

RAW_INVOICES = Table(
    name="raw_invoices",
    database=Database.RAW,
    bucket=Bucket.RAW,
    pipeline=Pipeline.PROFIT,
    description="Subscription invoices and their payments",
    columns=(
        _c("invoice_id", "string", "Unique invoice id"),
        _c("account_id", "string", "Account billed"),
        _c("issued_date", "date", "Date the invoice was issued"),
        _c("paid_date", "date", "Date it was paid; null while unpaid", nullable=True),
        _c("period_start", "date", "First day of the service period billed"),
        _c("period_end", "date", "Last day of the service period billed"),
        _c("amount_cents", "bigint", "Invoice amount in integer cents of `currency`"),
        _c("currency", "string", "ISO 4217 currency"),
        _c("status", "string", "One of " + ", ".join(INVOICE_STATUSES)),
        _c("source_key", "string", "Landing file it came from"),
    ),
    partition_keys=(_month("Month of issued_date, YYYY-MM"),),
    primary_key=("invoice_id",),
)

RAW_EXPENSES = Table(
    name="raw_expenses",
    database=Database.RAW,
    bucket=Bucket.RAW,
    pipeline=Pipeline.PROFIT,
    description="Ops spend on assets and services",
    columns=(
        _c("expense_id", "string", "Unique expense line id"),
        _c("expense_date", "date", "Date the cost was incurred"),
        _c("category", "string", "One of " + ", ".join(EXPENSE_CATEGORIES)),
        _c("team", "string", "Team that spent it: " + ", ".join(TEAMS)),
        _c("vendor", "string", "Supplier", nullable=True),
        _c("amount_cents", "bigint", "Amount in integer cents of `currency`"),
        _c("currency", "string", "ISO 4217 currency"),
        _c("account_id", "string", "Account the cost is attributable to, if any", nullable=True),
        _c("source_key", "string", "Landing file it came from"),
    ),
    partition_keys=(_month("Month of expense_date, YYYY-MM"),),
    primary_key=("expense_id",),
)

RAW_SALARIES = Table(
    name="raw_salaries",
    database=Database.FINANCE,
    bucket=Bucket.FINANCE,
    pipeline=Pipeline.PROFIT,
    description="Salaries aggregated by team and month (restricted: finance only)",
    columns=(
        _c("team", "string", "Team: " + ", ".join(TEAMS)),
        _c("headcount", "bigint", "People paid that month"),
        _c("amount_cents", "bigint", "Total salary cost in integer cents of `currency`"),
        _c("currency", "string", "ISO 4217 currency"),
        _c("source_key", "string", "Landing file it came from"),
    ),
    partition_keys=(_month(),),
    primary_key=("month", "team"),
    restricted=True,
)

RAW_LEDGER = Table(
    name="raw_ledger",
    database=Database.FINANCE,
    bucket=Bucket.FINANCE,
    pipeline=Pipeline.PROFIT,
    description="Ledger control totals per month and line, from the books",
    columns=(
        _c("line", "string", "One of " + ", ".join(LEDGER_LINES)),
        _c("amount_cents", "bigint", "Control total in integer cents of `currency`"),
        _c("currency", "string", "ISO 4217 currency"),
        _c("source_key", "string", "Landing file it came from"),
    ),
    partition_keys=(_month(),),
    primary_key=("month", "line"),
    restricted=True,
)

RAW_EXPERIMENTS = Table(
    name="raw_experiments",
    database=Database.RAW,
    bucket=Bucket.RAW,
    pipeline=Pipeline.EXPERIMENT,
    description="Experiment definitions: variants and their planned traffic split",
    columns=(
        _c("experiment_id", "string", "Experiment key"),
        _c("variant", "string", "Variant key"),
        _c(
            "planned_weight",
            "double",
            "Planned share of units, 0..1; an experiment's weights sum to 1",
        ),
        _c("unit_type", "string", "account or user"),
        _c("start_date", "date", "First day of exposure"),
        _c("owner", "string", "Data scientist who owns it"),
    ),
    primary_key=("experiment_id", "variant"),
)

RAW_ASSIGNMENTS = Table(
    name="raw_assignments",
    database=Database.RAW,
    bucket=Bucket.RAW,
    pipeline=Pipeline.EXPERIMENT,
    description="Experiment assignments of units to variants",
    columns=(
        _c("assignment_id", "string", "Unique id of the assignment record"),
        _c("experiment_id", "string", "Experiment key"),
        _c("variant", "string", "Variant the unit was assigned to"),
        _c("unit_type", "string", "account or user"),
        _c("unit_id", "string", "account_id or user_id"),
        _c("assigned_at", "timestamp", "First exposure (UTC)"),
        _c("source_key", "string", "Landing file it came from"),
    ),
    partition_keys=(_c("experiment", "string", "Experiment key (partition)"),),
    primary_key=("assignment_id",),
)

PRODUCER_COUNTS = Table(
    name="producer_counts",
    database=Database.RAW,
    bucket=Bucket.RAW,
    pipeline=Pipeline.ENGAGEMENT,
    description="Clicks the producers sent (or failed to send) per minute, for outage detection",
    columns=(
        _c("producer_id", "string", "Producer instance"),
        _c("minute", "timestamp", "Minute of event_time (UTC)"),
        _c("sent", "bigint", "Records accepted by PutRecords (a spill replay included)"),
        _c("spilled", "bigint", "Records still in the spill (stream unavailable, not replayed)"),
    ),
    partition_keys=(_dt(),),
)

QUARANTINE = Table(
    name="quarantine",
    database=Database.OPS,
    bucket=Bucket.QUARANTINE,
    pipeline=Pipeline.PLATFORM,
    description="Every rejected record with its reason and raw bytes (nothing is dropped)",
    columns=QUARANTINE_COLUMNS,
    partition_keys=(
        _c("pipeline", "string", "Pipeline that rejected it"),
        _dt("Date it was rejected (UTC)"),
    ),
    projection=Projection(enums=(("pipeline", tuple(Pipeline)),), dates=("dt",)),
)

# --- engagement --------------------------------------------------------------------

CLICKS = Table(
    name="clicks",
    database=Database.CURATED,
    bucket=Bucket.CURATED,
    pipeline=Pipeline.ENGAGEMENT,
    description="Deduplicated clicks: one row per event_id, the earliest arrival kept",
    columns=(
        _c("event_id", "string", "Unique click id"),
        _c("account_id", "string", "Account"),
        _c("user_id", "string", "User"),
        _c("event_type", "string", "Click event type"),
        _c("event_time", "timestamp", "When it happened (UTC)"),
        _c("page", "string", "Page or feature", nullable=True),
        _c("arrival_time", "timestamp", "Earliest arrival (UTC)"),
        _c("copies", "bigint", "How many times it arrived"),
    ),
    partition_keys=(_dt(),),
    primary_key=("event_id",),
)

DEDUP_DAILY = Table(
    name="dedup_daily",
    database=Database.CURATED,
    bucket=Bucket.CURATED,
    pipeline=Pipeline.ENGAGEMENT,
    description="Per day: rows landed, kept, and duplicates removed by kind",
    columns=(
        _c("rows_landed", "bigint", "Raw rows for the day"),
        _c("rows_kept", "bigint", "Distinct event_ids kept (clicks of known accounts)"),
        _c("natural_duplicates", "bigint", "Extra copies with the same payload"),
        _c(
            "synthetic_duplicates",
            "bigint",
            "Extra copies with the same event_id and a different payload",
        ),
        _c("late_rows", "bigint", "Rows that arrived after the day was first aggregated"),
        _c(
            "unknown_account_clicks",
            "bigint",
            "Distinct event_ids of accounts no creating event created: quarantined"
            " unknown_account, not kept (rows_landed = rows_kept + duplicates + these)",
        ),
    ),
    partition_keys=(_dt(),),
)

ENGAGEMENT_USER_DAILY = Table(
    name="engagement_user_daily",
    database=Database.CURATED,
    bucket=Bucket.CURATED,
    pipeline=Pipeline.ENGAGEMENT,
    description="Per user per day: sessions, time in session and clicks by type",
    columns=(
        _c("account_id", "string", "Account"),
        _c("user_id", "string", "User"),
        _c("sessions", "bigint", "Sessions started (a session ends after the configured gap)"),
        _c("session_seconds", "double", "Sum over sessions of last click minus first click"),
        _c("clicks", "bigint", "Deduplicated clicks"),
        *_clicks_by_type(),
    ),
    partition_keys=(_dt(),),
    primary_key=("account_id", "user_id", "dt"),
)

ENGAGEMENT_DAILY = Table(
    name="engagement_daily",
    database=Database.CURATED,
    bucket=Bucket.CURATED,
    pipeline=Pipeline.ENGAGEMENT,
    description="Per account per day: active users, sessions, hours and clicks",
    columns=(
        _c("account_id", "string", "Account"),
        _c("active_users", "bigint", "Distinct users with at least one click"),
        _c("sessions", "bigint", "Sessions"),
        _c("session_hours", "double", "Hours in session"),
        _c("clicks", "bigint", "Deduplicated clicks"),
        *_clicks_by_type(),
        _c("complete", "boolean", "False when a stream outage overlapped the day"),
        _c(
            "complete_reason",
            "string",
            "Why complete is false, e.g. stream_outage; null when complete",
            nullable=True,
        ),
    ),
    partition_keys=(_dt(),),
    primary_key=("account_id", "dt"),
)

ACTIVE_USERS_DAILY = Table(
    name="active_users_daily",
    database=Database.CURATED,
    bucket=Bucket.CURATED,
    pipeline=Pipeline.ENGAGEMENT,
    description="Per account per day: DAU, trailing 7-day WAU and 30-day MAU, seat utilisation",
    columns=(
        _c("account_id", "string", "Account"),
        _c("dau", "bigint", "Distinct users active that day"),
        _c("wau", "bigint", "Distinct users active in the 7 days ending that day"),
        _c("mau", "bigint", "Distinct users active in the 30 days ending that day"),
        _c("licensed_seats", "bigint", "Seats the account pays for that day", nullable=True),
        *_ratio("seat_utilisation", "MAU divided by licensed seats"),
    ),
    partition_keys=(_dt(),),
    primary_key=("account_id", "dt"),
)

STREAM_COMPLETENESS = Table(
    name="stream_completeness",
    database=Database.CURATED,
    bucket=Bucket.CURATED,
    pipeline=Pipeline.ENGAGEMENT,
    description="Per hour: clicks the producers sent vs clicks landed; outage windows",
    columns=(
        _c("hour", "timestamp", "Hour window start (UTC)"),
        _c("sent", "bigint", "Records the producers report sent or spilled"),
        _c("landed", "bigint", "Records landed in raw_clicks"),
        _c("spilled", "bigint", "Records still in a producer's spill (not yet replayed)"),
        _c("complete", "boolean", "landed covers sent within tolerance and nothing is spilled"),
    ),
    partition_keys=(_dt(),),
)

RESTATEMENTS = Table(
    name="restatements",
    database=Database.CURATED,
    bucket=Bucket.CURATED,
    pipeline=Pipeline.PLATFORM,
    description="Every change to an already-published number: old value, new value and why",
    columns=(
        _c("table_name", "string", "Curated table restated"),
        _c("period", "string", "Day, week or month restated"),
        _c("key", "string", "Row key (e.g. account_id) or 'total'"),
        _c("metric", "string", "Column restated"),
        _c("old_value", "double", "Value before", nullable=True),
        _c("new_value", "double", "Value after", nullable=True),
        _c("reason", "string", "Why: late_data, backfill, correction"),
        _c("restated_at", "timestamp", "When (pipeline clock, UTC)"),
        _c("run_id", "string", "Run that restated it"),
    ),
    partition_keys=(_month("Month the restatement was made"),),
)

# --- growth ------------------------------------------------------------------------

ACCOUNT_STATUS_WEEKLY = Table(
    name="account_status_weekly",
    database=Database.CURATED,
    bucket=Bucket.CURATED,
    pipeline=Pipeline.GROWTH,
    description="Latest status of every account at the end of each week",
    columns=(
        _c("account_id", "string", "Account"),
        _c("status", "string", "trial, active, renewal_due, cancelled, churned or unknown"),
        _c("status_inferred", "boolean", "True when a missing lifecycle step was inferred"),
        _c("plan", "string", "Plan", nullable=True),
        _c("seats", "bigint", "Licensed seats", nullable=True),
        _cents("mrr_cents", "MRR at week end", nullable=True),
        _c("last_event_time", "timestamp", "Latest event applied"),
    ),
    partition_keys=(_week(),),
    primary_key=("account_id", "week"),
)

LIFECYCLE_ISSUES = Table(
    name="lifecycle_issues",
    database=Database.CURATED,
    bucket=Bucket.CURATED,
    pipeline=Pipeline.GROWTH,
    description="Transitions that skip a required lifecycle step (data-quality table)",
    columns=(
        _c("account_id", "string", "Account"),
        _c("from_event_id", "string", "Earlier event of the pair"),
        _c("to_event_id", "string", "Later event of the pair"),
        _c("from_status", "string", "Status after the earlier event"),
        _c("to_event_type", "string", "Event type of the later event"),
        _c("missing_step", "string", "Required step that is missing"),
        _c("inferred_status", "string", "Status the pipeline inferred after the later event"),
        _c("to_event_time", "timestamp", "Time of the later event"),
    ),
    partition_keys=(_month("Month of the later event"),),
)

GROWTH_ACCOUNT_MONTHLY = Table(
    name="growth_account_monthly",
    database=Database.CURATED,
    bucket=Bucket.CURATED,
    pipeline=Pipeline.GROWTH,
    description="Per account per month: status, seats and MRR movements",
    columns=(
        _c("account_id", "string", "Account"),
        _c("status_start", "string", "Status at month start", nullable=True),
        _c("status_end", "string", "Status at month end"),
        _c("seats_start", "bigint", "Seats at month start"),
        _c("seats_end", "bigint", "Seats at month end"),
        _c("seats_added", "bigint", "Seats added during the month"),
        _c("seats_removed", "bigint", "Seats removed during the month"),
        _cents("mrr_start_cents", "MRR at month start"),
        _cents("mrr_end_cents", "MRR at month end"),
        _cents("mrr_new_cents", "MRR from accounts new this month"),
        _cents("mrr_expansion_cents", "MRR increase of existing accounts"),
        _cents("mrr_contraction_cents", "MRR decrease of accounts that stay"),
        _cents("mrr_churn_cents", "MRR lost to accounts that churned"),
        _cents("mrr_reactivation_cents", "MRR of accounts that came back"),
        _cents("renewal_expansion_cents", "Expansion of accounts whose renewal fell in the month"),
        _c("came_up_for_renewal", "boolean", "Renewal was due this month"),
    ),
    partition_keys=(_month(),),
    primary_key=("account_id", "month"),
)

GROWTH_MONTHLY = Table(
    name="growth_monthly",
    database=Database.CURATED,
    bucket=Bucket.CURATED,
    pipeline=Pipeline.GROWTH,
    description="Per month: account counts, seats, MRR movements, retention",
    columns=(
        _c("accounts_start", "bigint", "Paying accounts at month start"),
        _c("accounts_end", "bigint", "Paying accounts at month end"),
        _c("new_accounts", "bigint", "Accounts that started paying"),
        _c("churned_accounts", "bigint", "Accounts that churned"),
        _c("renewed_accounts", "bigint", "Accounts that renewed"),
        _c("reactivated_accounts", "bigint", "Accounts that came back"),
        _c("seats_added", "bigint", "Seats added"),
        _c("seats_removed", "bigint", "Seats removed"),
        _cents("mrr_start_cents", "MRR at month start"),
        _cents("mrr_end_cents", "MRR at month end"),
        _cents("mrr_new_cents", "New MRR"),
        _cents("mrr_expansion_cents", "Expansion MRR"),
        _cents("mrr_contraction_cents", "Contraction MRR"),
        _cents("mrr_churn_cents", "Churned MRR"),
        _cents("mrr_reactivation_cents", "Reactivation MRR"),
        _cents("renewal_expansion_cents", "Expansion of accounts that came up for renewal"),
        *_ratio("nrr", "Net revenue retention: (start + expansion - contraction - churn) / start"),
        *_ratio("grr", "Gross revenue retention: (start - contraction - churn) / start"),
        *_ratio("logo_churn_rate", "Churned accounts / accounts at month start"),
    ),
    partition_keys=(_month(),),
    primary_key=("month",),
)

# --- profit ------------------------------------------------------------------------

REVENUE_ACCOUNT_MONTHLY = Table(
    name="revenue_account_monthly",
    database=Database.CURATED,
    bucket=Bucket.CURATED,
    pipeline=Pipeline.PROFIT,
    description="Subscription money paid per account per month (by paid_date)",
    columns=(
        _c("account_id", "string", "Account"),
        _cents("paid_cents", "Money paid"),
        _c("invoices", "bigint", "Invoices paid"),
        _cents("attributed_expense_cents", "Expenses attributable to the account"),
    ),
    partition_keys=(_month(),),
    primary_key=("account_id", "month"),
)

EXPENSES_MONTHLY = Table(
    name="expenses_monthly",
    database=Database.CURATED,
    bucket=Bucket.CURATED,
    pipeline=Pipeline.PROFIT,
    description="Ops expenses per month by category and team",
    columns=(
        _c("category", "string", "Expense category"),
        _c("team", "string", "Team"),
        _cents("amount_cents", "Total"),
        _c("lines", "bigint", "Expense lines"),
    ),
    partition_keys=(_month(),),
    primary_key=("month", "category", "team"),
)

SALARIES_TEAM_MONTHLY = Table(
    name="salaries_team_monthly",
    database=Database.FINANCE,
    bucket=Bucket.FINANCE,
    pipeline=Pipeline.PROFIT,
    description="Salaries by team and month (restricted: finance only)",
    columns=(
        _c("team", "string", "Team"),
        _c("headcount", "bigint", "People paid"),
        _cents("amount_cents", "Salary cost"),
    ),
    partition_keys=(_month(),),
    primary_key=("month", "team"),
    restricted=True,
)

PROFIT_MONTHLY = Table(
    name="profit_monthly",
    database=Database.CURATED,
    bucket=Bucket.CURATED,
    pipeline=Pipeline.PROFIT,
    description="Profit per month at the aggregated level analysts may see",
    columns=(
        _cents("revenue_cents", "Subscription money paid"),
        _cents("expenses_cents", "Ops expenses"),
        _cents("salaries_cents", "Salaries, all teams together"),
        _cents("profit_cents", "revenue - expenses - salaries"),
        _c("paying_subscribers", "bigint", "Accounts that paid in the month"),
        *_ratio("unit_profit_cents", "Profit per paying subscriber, cents"),
        *_ratio("cost_per_account_cents", "(expenses + salaries) per paying subscriber, cents"),
        _c("publication_status", "string", "final, preliminary (unreconciled) or signed_off"),
    ),
    partition_keys=(_month(),),
    primary_key=("month",),
)

RECONCILIATION = Table(
    name="reconciliation",
    database=Database.FINANCE,
    bucket=Bucket.FINANCE,
    pipeline=Pipeline.PROFIT,
    description="Computed totals vs ledger control totals per month and line",
    columns=(
        _c("line", "string", "revenue, expenses or salaries"),
        _cents("computed_cents", "Total the pipeline computed"),
        _cents("ledger_cents", "Ledger control total", nullable=True),
        _cents("difference_cents", "computed - ledger", nullable=True),
        _cents("tolerance_cents", "Allowed absolute difference"),
        _c("status", "string", "matched, mismatched or missing_ledger"),
    ),
    partition_keys=(_month(),),
    primary_key=("month", "line"),
    restricted=True,
)

# --- executive ---------------------------------------------------------------------

_KPI_COLUMNS: tuple[Column, ...] = (
    _c("period_start", "date", "First day of the period"),
    _c("period_end", "date", "Last day of the period"),
    _cents("mrr_cents", "MRR at period end", nullable=True),
    _cents("arr_cents", "12 x MRR", nullable=True),
    _cents(
        "net_new_mrr_cents", "new + expansion + reactivation - contraction - churn", nullable=True
    ),
    _cents("mrr_new_cents", "New MRR", nullable=True),
    _cents("mrr_expansion_cents", "Expansion MRR", nullable=True),
    _cents("mrr_contraction_cents", "Contraction MRR", nullable=True),
    _cents("mrr_churn_cents", "Churned MRR", nullable=True),
    _cents("mrr_reactivation_cents", "Reactivation MRR", nullable=True),
    _c("nrr", "double", "Net revenue retention", nullable=True),
    _c("grr", "double", "Gross revenue retention", nullable=True),
    _c("new_accounts", "bigint", "New paying accounts", nullable=True),
    _c("churned_accounts", "bigint", "Churned accounts", nullable=True),
    _c("active_accounts", "bigint", "Paying accounts at period end", nullable=True),
    _c("logo_churn_rate", "double", "Churned / accounts at period start", nullable=True),
    _c("dau", "double", "Average daily active users", nullable=True),
    _c("wau", "bigint", "Active users in the last 7 days of the period", nullable=True),
    _c("mau", "bigint", "Active users in the last 30 days of the period", nullable=True),
    _c(
        "hours_per_active_user_day",
        "double",
        "Session hours per active user per day",
        nullable=True,
    ),
    _c("seat_utilisation", "double", "MAU / licensed seats", nullable=True),
    _cents("revenue_cents", "Money paid", nullable=True),
    _cents("expenses_cents", "Ops expenses", nullable=True),
    _cents("salaries_cents", "Salaries, all teams together", nullable=True),
    _cents("profit_cents", "Profit: revenue - expenses - salaries", nullable=True),
    _c("unit_profit_cents", "double", "Profit per paying subscriber", nullable=True),
    _c("cost_per_account_cents", "double", "Cost per paying account", nullable=True),
    _c("missing_reasons", "map<string,string>", "For every null KPI, its reason code"),
    _c("engagement_fresh_through", "timestamp", "Newest engagement data used", nullable=True),
    _c("growth_fresh_through", "timestamp", "Newest growth data used", nullable=True),
    _c("profit_fresh_through", "timestamp", "Newest profit data used", nullable=True),
    _c("publication_status", "string", "final or preliminary"),
    _c("generated_at", "timestamp", "Pipeline clock when the row was built"),
)

EXEC_KPI = Table(
    name="exec_kpi",
    database=Database.CURATED,
    bucket=Bucket.CURATED,
    pipeline=Pipeline.EXECUTIVE,
    description="Executive KPIs, one row per period (grain week or month)",
    columns=_KPI_COLUMNS,
    partition_keys=(
        _c("grain", "string", "week or month"),
        _c("period", "string", "YYYY-MM for months, the week's Sunday YYYY-MM-DD for weeks"),
    ),
    primary_key=("grain", "period"),
)

EXEC_JOIN_TOTALS = Table(
    name="exec_join_totals",
    database=Database.CURATED,
    bucket=Bucket.CURATED,
    pipeline=Pipeline.EXECUTIVE,
    description=(
        "The accounts x (account, period) aggregates join of a period, summed: what exec_kpi "
        "is computed from, by the DuckDB or the Athena engine. Each run writes its own prefix "
        "and moves the Glue partition to it: read it through Glue (Athena)"
    ),
    columns=(
        _c("accounts", "bigint", "Accounts the growth pipeline knows"),
        _c("unknown_accounts", "bigint", "Accounts with engagement or revenue but unknown"),
        _c("accounts_start", "bigint", "Accounts with MRR at period start"),
        _c("active_accounts", "bigint", "Accounts with MRR at period end"),
        _c("new_accounts", "bigint", "Accounts with new MRR"),
        _c("churned_accounts", "bigint", "Accounts with churned MRR"),
        _c("paying_accounts", "bigint", "Known accounts that paid in the period"),
        _c("seats", "bigint", "Licensed seats of the accounts paying at period end"),
        _c("mau_paying", "bigint", "MAU of the accounts paying at period end"),
        _c("mrr_start_cents", "bigint", "MRR at period start"),
        _c("mrr_end_cents", "bigint", "MRR at period end"),
        _c("mrr_new_cents", "bigint", "New MRR"),
        _c("mrr_expansion_cents", "bigint", "Expansion MRR"),
        _c("mrr_contraction_cents", "bigint", "Contraction MRR"),
        _c("mrr_churn_cents", "bigint", "Churned MRR"),
        _c("mrr_reactivation_cents", "bigint", "Reactivation MRR"),
        _c("active_user_days", "bigint", "Active user-days of the period"),
        _c("session_hours", "double", "Hours in session"),
        _c("clicks", "bigint", "Deduplicated clicks"),
        _c("incomplete_days", "bigint", "Most incomplete days of any account"),
        _c("wau", "bigint", "WAU on the period's last day"),
        _c("mau", "bigint", "MAU on the period's last day"),
        _c("paid_cents", "bigint", "Money paid in the period (months; 0 for weeks)"),
    ),
    partition_keys=(
        _c("grain", "string", "week or month"),
        _c("period", "string", "YYYY-MM for months, the week's Sunday YYYY-MM-DD for weeks"),
    ),
    primary_key=("grain", "period"),
)

# --- experiments -------------------------------------------------------------------

EXPERIMENT_ASSIGNMENTS = Table(
    name="experiment_assignments",
    database=Database.CURATED,
    bucket=Bucket.CURATED,
    pipeline=Pipeline.EXPERIMENT,
    description="One row per unit and experiment: its variant and first exposure",
    columns=(
        _c("unit_type", "string", "account or user"),
        _c("unit_id", "string", "Unit"),
        _c("variant", "string", "Variant"),
        _c("assigned_at", "timestamp", "First exposure (UTC)"),
        _c(
            "multiple_variants",
            "boolean",
            "Unit was assigned to more than one variant (exclude it)",
        ),
    ),
    partition_keys=(_c("experiment_id", "string", "Experiment"),),
    primary_key=("experiment_id", "unit_id"),
)

_UNIT_METRICS: tuple[Column, ...] = (
    _c("active_users", "bigint", "Active users (1 or 0 for a user unit)"),
    _c("sessions", "bigint", "Sessions"),
    _c("session_hours", "double", "Hours in session"),
    _c("clicks", "bigint", "Clicks"),
    *_clicks_by_type(),
    _c("seats", "bigint", "Licensed seats of the unit's account", nullable=True),
    _cents("mrr_cents", "MRR of the unit's account", nullable=True),
)

EXPERIMENT_UNIT_DAILY = Table(
    name="experiment_unit_daily",
    database=Database.CURATED,
    bucket=Bucket.CURATED,
    pipeline=Pipeline.EXPERIMENT,
    description="One row per unit per day from exposure on, with variant and metrics",
    columns=(
        _c("unit_type", "string", "account or user"),
        _c("unit_id", "string", "Unit"),
        _c("variant", "string", "Variant"),
        _c("date", "date", "Metric day"),
        *_UNIT_METRICS,
    ),
    partition_keys=(_c("experiment_id", "string", "Experiment"), _dt("Metric day")),
    primary_key=("experiment_id", "unit_id", "dt"),
)

EXPERIMENT_COVARIATES = Table(
    name="experiment_covariates",
    database=Database.CURATED,
    bucket=Bucket.CURATED,
    pipeline=Pipeline.EXPERIMENT,
    description="CUPED pre-period covariates: each unit's metrics in the window before exposure",
    columns=(
        _c("unit_type", "string", "account or user"),
        _c("unit_id", "string", "Unit"),
        _c("variant", "string", "Variant"),
        _c("window_days", "bigint", "Length of the pre-period"),
        _c("pre_active_days", "bigint", "Days with activity in the pre-period"),
        _c("pre_sessions", "bigint", "Sessions in the pre-period"),
        _c("pre_session_hours", "double", "Hours in the pre-period"),
        _c("pre_clicks", "bigint", "Clicks in the pre-period"),
    ),
    partition_keys=(_c("experiment_id", "string", "Experiment"),),
    primary_key=("experiment_id", "unit_id"),
)

EXPERIMENT_HEALTH_WEEKLY = Table(
    name="experiment_health_weekly",
    database=Database.CURATED,
    bucket=Bucket.CURATED,
    pipeline=Pipeline.EXPERIMENT,
    description="Weekly health per experiment: sample ratio mismatch and data checks",
    columns=(
        _c("experiment_id", "string", "Experiment"),
        _c("units", "bigint", "Units assigned (single variant)"),
        _c("observed_split", "map<string,string>", "Units per variant"),
        _c("planned_split", "map<string,string>", "Planned weight per variant"),
        _c("chi_square", "double", "Pearson chi-square against the planned split", nullable=True),
        _c("p_value", "double", "SRM p-value", nullable=True),
        _c("srm_flag", "boolean", "p_value below the threshold"),
        _c("units_multiple_variants", "bigint", "Units assigned to more than one variant"),
        _c("units_no_data", "bigint", "Units with no metrics since exposure"),
    ),
    partition_keys=(_week(),),
    primary_key=("experiment_id", "week"),
)


TABLES: tuple[Table, ...] = (
    RAW_CLICKS,
    RAW_ACCOUNT_EVENTS,
    RAW_INVOICES,
    RAW_EXPENSES,
    RAW_SALARIES,
    RAW_LEDGER,
    RAW_EXPERIMENTS,
    RAW_ASSIGNMENTS,
    PRODUCER_COUNTS,
    QUARANTINE,
    CLICKS,
    DEDUP_DAILY,
    ENGAGEMENT_USER_DAILY,
    ENGAGEMENT_DAILY,
    ACTIVE_USERS_DAILY,
    STREAM_COMPLETENESS,
    RESTATEMENTS,
    ACCOUNT_STATUS_WEEKLY,
    LIFECYCLE_ISSUES,
    GROWTH_ACCOUNT_MONTHLY,
    GROWTH_MONTHLY,
    REVENUE_ACCOUNT_MONTHLY,
    EXPENSES_MONTHLY,
    SALARIES_TEAM_MONTHLY,
    PROFIT_MONTHLY,
    RECONCILIATION,
    EXEC_KPI,
    EXEC_JOIN_TOTALS,
    EXPERIMENT_ASSIGNMENTS,
    EXPERIMENT_UNIT_DAILY,
    EXPERIMENT_COVARIATES,
    EXPERIMENT_HEALTH_WEEKLY,
)

_BY_NAME = {t.name: t for t in TABLES}
if len(_BY_NAME) != len(TABLES):
    raise ValueError("two registry tables share a name")


def table(name: str) -> Table:
    """The registry entry for `name` (KeyError with the known names otherwise)."""
    try:
        return _BY_NAME[name]
    except KeyError as exc:
        raise KeyError(f"unknown table {name!r}; known: {', '.join(sorted(_BY_NAME))}") from exc


def tables_in(database: Database) -> Iterable[Table]:
    return (t for t in TABLES if t.database == database)
