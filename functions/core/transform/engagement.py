"""Daily engagement: compaction, sessions, per-user and per-account aggregates (DuckDB).

Pure: every function takes its inputs as Arrow tables, Arrow datasets or Parquet paths (with
an optional pyarrow filesystem, e.g. `pyarrow.fs.S3FileSystem` for s3 data), and returns Arrow
tables matching the registry (partition columns included). DuckDB streams Parquet and spills
to `Engine.temp_directory` when a day outgrows `Engine.memory_limit`.

Definitions (docs/metrics.md copies them):

- A click is a deduplicated `clicks` row: one per event_id, the earliest arrival kept (ties
  broken by shard, sequence number, then the payload fields, so the choice is deterministic),
  of a known account (definitions.known_accounts): the kept copy of a click of any other
  account is counted `unknown_account_clicks` and quarantined, in no figure.
- Session: a user's clicks in time order; a click more than `gap_minutes` (default 30) after
  the previous one starts a new session; a click exactly `gap_minutes` later continues it.
  Session length = last click - first click, so a single-click session lasts 0 seconds.
- Sessions are cut at UTC midnight: each day is computed from that day's clicks alone, so a
  session that spans midnight counts as one session on each day, each part measured within
  its day. This keeps every day independent: re-aggregating a late day never changes another.
- Active user on a day: a user with at least one click that day. WAU/MAU: distinct users
  active in the 7/30 days ending that day (inclusive). Seat utilisation: MAU / licensed seats,
  null with reason `no_seats` when the seats are 0 or unknown (never NaN or infinity).
- A day is complete unless a stream outage window overlaps it (`complete_reason` =
  `stream_outage`).
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
import threading
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final, TypeAlias

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from functions.core import codes, defaults, definitions, quarantine, schemas
from functions.core.codes import CLICKS_SOURCE, NO_SEATS, STREAM_OUTAGE
from functions.core.lifecycle import PAYING_STATUSES, STATUS_AFTER
from functions.core.parquet import file_writer
from functions.core.schemas import CLICK_PAYLOAD_FIELDS

Source: TypeAlias = pa.Table | ds.Dataset | Sequence[str]

_MS_PER_DAY: Final = 86_400_000
_MS_PER_HOUR: Final = 3_600_000


@dataclass(frozen=True)
class Engine:
    """DuckDB resources: a Lambda sets memory below its own and points temp at /tmp."""

    memory_limit: str = "1GB"
    temp_directory: str | None = None
    threads: int | None = None


@dataclass(frozen=True)
class Compaction:
    clicks: pa.Table  # CLICKS rows of the day, partitions included
    dedup: pa.Table  # one DEDUP_DAILY row


@dataclass(frozen=True)
class Completeness:
    hours: pa.Table  # STREAM_COMPLETENESS rows, partitions included
    outages: list[tuple[datetime, datetime]]  # [start, end) windows of incomplete hours


# --- compaction ----------------------------------------------------------------------

# Compaction in three steps, so only the few repeated events go through a window: (1) the
# hashes of the day's event_ids that landed more than once, (2) every copy of an event with
# such a hash, ranked (earliest arrival first), (3) the kept rows: the events whose hash
# landed once, as they are, plus the first copy of each ranked one. `late`: copies of the
# event that arrived after $first_aggregated.
#
# Step (1) is the one aggregate over every row of the day, so it groups the ids' 64-bit
# hashes rather than the id strings: a hash table a third the size, so a lower peak memory
# at large days, in less time (figures: bench/README.md, "peak memory by input size"). A
# hash shared by two ids is harmless: it only brings an event
# that landed once into step (2), whose window is partitioned by the id itself, so that
# event is ranked alone (copy_no 1, copies 1) and kept as it is.
_ID_HASH: Final = "hash(event_id)"  # a module global so a test can force collisions
_DAY_ROWS: Final = "epoch_ms(event_time) >= $start AND epoch_ms(event_time) < $end"


def _repeated_sql() -> str:
    return f"""
CREATE TEMP TABLE repeated AS
SELECT {_ID_HASH} AS id_hash
FROM raw_clicks
WHERE {_DAY_ROWS}
GROUP BY id_hash HAVING count(*) > 1
"""


def _copies_sql() -> str:
    return f"""
CREATE TEMP TABLE copies AS
SELECT event_id, account_id, user_id, event_type, page,
       epoch_ms(event_time) AS event_ms,
       epoch_ms(arrival_time) AS arrival_ms,
       row_number() OVER w AS copy_no,
       count(*) OVER (PARTITION BY event_id) AS copies,
       -- The payload is the contract fields (ingest stores no other key); a null page
       -- equals a null page.
       struct_pack(account_id, user_id, event_type, event_time, page) IS NOT DISTINCT FROM
           first_value(struct_pack(account_id, user_id, event_type, event_time, page)) OVER w
           AS same_payload,
       count(*) FILTER (WHERE epoch_ms(arrival_time) > $first_aggregated)
           OVER (PARTITION BY event_id) AS late
FROM raw_clicks SEMI JOIN repeated ON {_ID_HASH} = repeated.id_hash
WHERE {_DAY_ROWS}
WINDOW w AS (PARTITION BY event_id
             ORDER BY arrival_time, shard_id, sequence_number,
                      account_id, user_id, event_type, event_time, page)
"""


# Whether a kept click's account is known (definitions.known_accounts): a lookup in the
# `known_accounts` relation, registered by the caller that checks accounts.
_KNOWN_SQL: Final = "account_id IN (SELECT account_id FROM known_accounts)"


def _kept_rows_sql(known: str = "TRUE") -> str:
    """The day's kept rows (the ANTI JOIN streams: `repeated` is the small build side);
    `known`: the SQL that says whether a row's account is known (every account: TRUE)."""
    return f"""
SELECT event_id, account_id, user_id, event_type, page, event_ms, arrival_ms, copies, late,
       {known} AS known
FROM (
    SELECT event_id, account_id, user_id, event_type, page,
           epoch_ms(event_time) AS event_ms,
           epoch_ms(arrival_time) AS arrival_ms,
           CAST(1 AS BIGINT) AS copies,
           CAST(epoch_ms(arrival_time) > $first_aggregated AS BIGINT) AS late
    FROM raw_clicks ANTI JOIN repeated ON {_ID_HASH} = repeated.id_hash
    WHERE {_DAY_ROWS}
    UNION ALL
    SELECT event_id, account_id, user_id, event_type, page, event_ms, arrival_ms, copies, late
    FROM copies
    WHERE copy_no = 1
)
"""


# CLICKS columns from the kept rows' columns: the one mapping both SQL and Arrow use.
_CLICKS_COLUMNS: Final = {
    "event_id": "event_id",
    "account_id": "account_id",
    "user_id": "user_id",
    "event_type": "event_type",
    "event_time": "event_ms",
    "page": "page",
    "arrival_time": "arrival_ms",
    "copies": "copies",
}


def _clicks_sql(relation: str) -> str:
    """CLICKS rows from kept rows in `relation`, ordered by (event_time, event_id)."""
    columns = ", ".join(f"{kept} AS {name}" for name, kept in _CLICKS_COLUMNS.items())
    return f"SELECT {columns} FROM {relation} ORDER BY event_ms, event_id"


_KEPT_SQL: Final = _clicks_sql("(SELECT * FROM kept WHERE known)")

# Natural: a later copy with the kept copy's payload; synthetic: with another payload.
# Duplicates are removed first, then the account check: a click (its first copy) of an
# unknown account is one unknown_account click, its other copies duplicates as any others.
_DEDUP_SQL: Final = """
SELECT (SELECT coalesce(sum(copies), 0) FROM kept) AS rows_landed,
       (SELECT count(*) FILTER (WHERE known) FROM kept) AS rows_kept,
       count(*) FILTER (WHERE copy_no > 1 AND same_payload) AS natural_duplicates,
       count(*) FILTER (WHERE copy_no > 1 AND NOT same_payload) AS synthetic_duplicates,
       (SELECT coalesce(sum(late), 0) FROM kept) AS late_rows,
       (SELECT count(*) FILTER (WHERE NOT known) FROM kept) AS unknown_account_clicks
FROM copies
"""


def _rank_repeated(con: duckdb.DuckDBPyConnection, params: Mapping[str, int]) -> None:
    """Create the `repeated` and `copies` tables (`params`: start, end, first_aggregated)."""
    _find_repeated(con, params)
    con.execute(_copies_sql(), params)


def _find_repeated(con: duckdb.DuckDBPyConnection, params: Mapping[str, int]) -> None:
    """Create `repeated`: the one aggregate over the whole day (its own step in the bench)."""
    con.execute(_repeated_sql(), {"start": params["start"], "end": params["end"]})


def _compact(con: duckdb.DuckDBPyConnection, params: Mapping[str, int]) -> dict[str, int]:
    """Create the `kept` table (one row per event_id) and return the DEDUP_DAILY counts."""
    _rank_repeated(con, params)
    con.execute(f"CREATE TEMP TABLE kept AS {_kept_rows_sql()}", params)
    return _dedup_counts(con)


def _dedup_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """The DEDUP_DAILY counts from `kept` (a table or a view) and `copies`."""
    row = con.execute(_DEDUP_SQL).fetchone()
    assert row is not None  # an aggregate without GROUP BY always returns one row
    names = (
        "rows_landed",
        "rows_kept",
        "natural_duplicates",
        "synthetic_duplicates",
        "late_rows",
        "unknown_account_clicks",
    )
    return dict(zip(names, (int(v) for v in row), strict=True))


def _dedup_table(counts: Mapping[str, int], day: date) -> pa.Table:
    schema = schemas.DEDUP_DAILY.arrow_schema(with_partitions=True)
    return pa.Table.from_pylist([{**counts, "dt": day.isoformat()}], schema=schema)


def compact_day(
    raw_clicks: Source,
    day: date,
    *,
    first_aggregated_at: datetime | None = None,
    filesystem: pafs.FileSystem | None = None,
    engine: Engine | None = None,
) -> Compaction:
    """One row per event_id for `day` (earliest arrival kept) and the day's dedup counts.

    `raw_clicks`: RAW_CLICKS rows (usually the files of partition dt=`day`); rows whose
    event_time is outside `day` are ignored. Late rows are rows that arrived after
    `first_aggregated_at` (None: the day was never aggregated, so none are late).
    Output rows are ordered by (event_time, event_id): the same input gives the same bytes.
    """
    start, end = _day_ms(day)
    late_after = _epoch_ms(first_aggregated_at) if first_aggregated_at else 2**62
    with _connect(engine) as con:
        _register(con, "raw_clicks", raw_clicks, schemas.RAW_CLICKS, filesystem)
        counts = _compact(con, {"start": start, "end": end, "first_aggregated": late_after})
        kept = con.execute(_KEPT_SQL).fetch_arrow_table()
    clicks = _conform(kept, schemas.CLICKS, dt=day)
    return Compaction(clicks=clicks, dedup=_dedup_table(counts, day))


# --- sessions and daily aggregates -------------------------------------------------------


def _by_type_sql(column: str = "event_type") -> str:
    return ",\n       ".join(
        f"count(*) FILTER (WHERE {column} = '{t}') AS clicks_{t}" for t in schemas.CLICK_EVENT_TYPES
    )


def _user_daily_sql(relation: str, time_ms: str, user_key: str | None = None) -> str:
    """ENGAGEMENT_USER_DAILY from `relation`'s clicks (`time_ms`: event time in epoch ms).

    One window and one aggregate: a user's sessions are 1 + the gaps longer than the session
    gap, and the sum of their lengths (last - first click of each) is the user's whole span
    minus those gaps. No per-session rows, no join. Clicks at the same instant need no
    tie-break: whichever comes first, the user's gaps are the same multiset.

    `user_key`: an integer expression to partition the window by instead of the two strings
    (faster to sort); it is exact only if no two users share a key, so the result then has a
    `user_key` column to check that with (see `_bucket_user_daily`).
    """
    partition = user_key or "account_id, user_id"
    key = f"{user_key} AS user_key," if user_key else ""
    key_column = "min(user_key) AS user_key," if user_key else ""
    return f"""
WITH c AS (
    SELECT account_id, user_id, event_type, event_id, {time_ms} AS t
    FROM {relation}
    WHERE {time_ms} >= $start AND {time_ms} < $end
), gaps AS (
    SELECT account_id, user_id, event_type, t, {key}
           t - lag(t) OVER (PARTITION BY {partition} ORDER BY t) AS since
    FROM c
)
SELECT account_id, user_id, {key_column}
       count(*) FILTER (WHERE since IS NULL OR since > $gap_ms) AS sessions,
       (max(t) - min(t) - coalesce(sum(since) FILTER (WHERE since > $gap_ms), 0)) / 1000.0
           AS session_seconds,
       count(*) AS clicks,
       {_by_type_sql()}
FROM gaps
GROUP BY account_id, user_id
ORDER BY account_id, user_id
"""


_USER_DAILY_SQL: Final = _user_daily_sql("clicks", "epoch_ms(event_time)")


def engagement_user_daily(
    clicks: Source,
    day: date,
    *,
    gap_minutes: float = defaults.DEFAULT_SESSION_GAP_MINUTES,
    filesystem: pafs.FileSystem | None = None,
    engine: Engine | None = None,
) -> pa.Table:
    """ENGAGEMENT_USER_DAILY for `day` from CLICKS rows (see the module's definitions)."""
    if gap_minutes <= 0:
        raise ValueError(f"gap_minutes must be positive, got {gap_minutes}")
    start, end = _day_ms(day)
    params = {"start": start, "end": end, "gap_ms": round(gap_minutes * 60_000)}
    with _connect(engine) as con:
        _register(con, "clicks", clicks, schemas.CLICKS, filesystem)
        table = con.execute(_USER_DAILY_SQL, params).fetch_arrow_table()
    return _conform(table, schemas.ENGAGEMENT_USER_DAILY, dt=day)


_DAILY_SQL: Final = f"""
SELECT account_id,
       count(*) FILTER (WHERE clicks > 0) AS active_users,
       sum(sessions) AS sessions,
       sum(session_seconds) / 3600.0 AS session_hours,
       sum(clicks) AS clicks,
       {", ".join(f"sum(clicks_{t}) AS clicks_{t}" for t in schemas.CLICK_EVENT_TYPES)}
FROM user_daily
GROUP BY account_id
ORDER BY account_id
"""


def engagement_daily(
    user_daily: Source,
    day: date,
    *,
    outages: Iterable[tuple[datetime, datetime]] = (),
    filesystem: pafs.FileSystem | None = None,
    engine: Engine | None = None,
) -> pa.Table:
    """ENGAGEMENT_DAILY for `day` from that day's ENGAGEMENT_USER_DAILY rows.

    `outages`: [start, end) windows when the stream lost data (see `stream_completeness`);
    any overlap with the day marks every row of the day incomplete.
    """
    with _connect(engine) as con:
        _register(con, "user_daily", user_daily, schemas.ENGAGEMENT_USER_DAILY, filesystem)
        table = con.execute(_DAILY_SQL).fetch_arrow_table()
    hit = outage_overlaps(day, outages)
    table = table.append_column("complete", pa.array([not hit] * table.num_rows, pa.bool_()))
    reason = STREAM_OUTAGE if hit else None
    table = table.append_column("complete_reason", pa.array([reason] * table.num_rows, pa.string()))
    return _conform(table, schemas.ENGAGEMENT_DAILY, dt=day)


def outage_overlaps(day: date, outages: Iterable[tuple[datetime, datetime]]) -> bool:
    """Whether a stream outage window [start, end) overlaps the UTC day: it is incomplete."""
    day_start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return any(s < day_start + timedelta(days=1) and e > day_start for s, e in outages)


# Active users (docs/metrics.md, Definitions): WAU / MAU windows of definitions.WAU_DAYS /
# MAU_DAYS days ending the day, inclusive.
_ACTIVE_SQL: Final = f"""
WITH targets AS (
    SELECT CAST(unnest($days) AS DATE) AS day
), active AS (
    SELECT DISTINCT account_id, user_id, CAST(dt AS DATE) AS d
    FROM user_daily WHERE clicks > 0
), counts AS (
    SELECT t.day, a.account_id,
           count(DISTINCT a.user_id) FILTER (WHERE a.d = t.day) AS dau,
           count(DISTINCT a.user_id) FILTER (WHERE a.d > t.day - {definitions.WAU_DAYS}) AS wau,
           count(DISTINCT a.user_id) AS mau
    FROM targets t JOIN active a ON a.d BETWEEN t.day - {definitions.MAU_DAYS - 1} AND t.day
    GROUP BY t.day, a.account_id
), seats_by_day AS (
    SELECT t.day, s.account_id, s.seats FROM seats s JOIN targets t ON CAST(s.dt AS DATE) = t.day
)
SELECT coalesce(c.day, s.day) AS day, coalesce(c.account_id, s.account_id) AS account_id,
       coalesce(c.dau, 0) AS dau, coalesce(c.wau, 0) AS wau, coalesce(c.mau, 0) AS mau,
       s.seats AS licensed_seats,
       CASE WHEN s.seats > 0 THEN coalesce(c.mau, 0) / s.seats END AS seat_utilisation,
       CASE WHEN s.seats > 0 THEN NULL ELSE $no_seats END AS seat_utilisation_reason
FROM counts c FULL OUTER JOIN seats_by_day s ON c.account_id = s.account_id AND c.day = s.day
ORDER BY day, account_id
"""


def active_users(
    user_daily_days: Source,
    day: date,
    seats_by_account: Mapping[str, int | None],
    *,
    filesystem: pafs.FileSystem | None = None,
    engine: Engine | None = None,
) -> pa.Table:
    """ACTIVE_USERS_DAILY for `day` from ENGAGEMENT_USER_DAILY rows of the 30 days ending it.

    `user_daily_days` must carry the `dt` column (tables from this module do; for Parquet
    paths pass a hive-partitioned `pyarrow.dataset`). Accounts with seats but no activity
    get a row with zeros, so an idle paying account shows utilisation 0, not nothing.
    """
    tables = active_users_days(
        user_daily_days, {day: seats_by_account}, filesystem=filesystem, engine=engine
    )
    return tables[day]


def active_users_days(
    user_daily_days: Source,
    seats_by_day: Mapping[date, Mapping[str, int | None]],
    *,
    filesystem: pafs.FileSystem | None = None,
    engine: Engine | None = None,
) -> dict[date, pa.Table]:
    """`active_users` for every day of `seats_by_day` in one query (a run restating a day
    recomputes the 30 days after it: one scan instead of 30)."""
    days = sorted(seats_by_day)
    flat = [(d, a, n) for d in days for a, n in seats_by_day[d].items()]
    seats = pa.table(
        {
            "dt": pa.array([d.isoformat() for d, _, _ in flat], pa.string()),
            "account_id": pa.array([a for _, a, _ in flat], pa.string()),
            "seats": pa.array([n for _, _, n in flat], pa.int64()),
        }
    )
    params = {"days": [d.isoformat() for d in days], "no_seats": NO_SEATS}
    with _connect(engine) as con:
        _register(con, "user_daily", user_daily_days, schemas.ENGAGEMENT_USER_DAILY, filesystem)
        con.register("seats", seats)
        table = con.execute(_ACTIVE_SQL, params).fetch_arrow_table()
    result: dict[date, pa.Table] = {}
    for day in days:
        rows = table.filter(pc.equal(table.column("day"), pa.scalar(day, pa.date32())))
        result[day] = _conform(rows, schemas.ACTIVE_USERS_DAILY, dt=day)
    return result


# --- the whole day in one DuckDB connection: bounded memory, linear time ------------------

CLICKS_BATCH_ROWS: Final = 1_000_000
# Landed rows per user bucket (see engagement_day) under the daily Lambda's 1.4 GB engine
# limit, and the most under any limit: a bucket's sessions window and clicks sort use about
# 1 GB of DuckDB's 1.3 GiB at 4M rows. Under a smaller limit the buckets shrink in
# proportion (_bucket_rows), or they run out of memory (bench/README.md).
USER_DAILY_BUCKET_ROWS: Final = 4_000_000
_BUCKET_LIMIT_BYTES_PER_ROW: Final = 350  # 1.4 GB / USER_DAILY_BUCKET_ROWS
_BUCKET: Final = "bucket"


@dataclass(frozen=True)
class DayResult:
    clicks_rows: int  # rows written to `clicks_path`
    dedup: pa.Table  # one DEDUP_DAILY row
    user_daily: pa.Table  # ENGAGEMENT_USER_DAILY rows
    landed_by_hour: dict[datetime, int]  # distinct clicks per hour (stream_completeness)
    # CLICKS rows (no partition) of the distinct clicks of unknown accounts: not in the
    # clicks file nor any figure; quarantined unknown_account by the caller.
    unknown_account_clicks: pa.Table


# Rows landed (Parquet metadata alone): sizes the buckets.
_LANDED_ROWS_SQL: Final = "SELECT count(*) FROM raw_clicks"

_HOURS_SQL: Final = """
SELECT event_ms // 3600000 AS hour, count(*) AS n FROM kept GROUP BY ALL ORDER BY hour
"""


# The user-bucket scratch files are Arrow IPC, zstd level 1: written and read back at the
# speed of a copy (DuckDB's Parquet writer spent about a quarter of a 10M-click day writing
# them), and compressed so that a day's files stay about the size of its clicks file on the
# function's /tmp (bench/README.md).
_BUCKET_FILE_OPTIONS: Final = pa.ipc.IpcWriteOptions(compression=pa.Codec("zstd", 1))
_BUCKET_SUFFIX: Final = ".arrow"


def _bucketed_sql(buckets: int, known: str) -> str:
    """The kept rows with their bucket: a known account's user bucket,
    `hash(account_id, user_id) % buckets` (a user's clicks all land in one bucket), and
    bucket number `buckets` for every row of an unknown account."""
    return f"""
SELECT *,
       CASE WHEN known THEN hash(account_id, user_id) % {buckets:d} ELSE {buckets:d} END
           AS {_BUCKET}
FROM ({_kept_rows_sql(known)})
"""


def engagement_day(
    raw_clicks: Source,
    day: date,
    *,
    clicks_path: str,
    known_accounts: Collection[str] | None = None,
    first_aggregated_at: datetime | None = None,
    gap_minutes: float = defaults.DEFAULT_SESSION_GAP_MINUTES,
    filesystem: pafs.FileSystem | None = None,
    engine: Engine | None = None,
) -> DayResult:
    """compact_day + engagement_user_daily for days of any size, in bounded memory.

    `known_accounts` (definitions.known_accounts): the distinct clicks (after dedup) of any
    other account are left out of the clicks file and the user rows, counted in the dedup
    row's `unknown_account_clicks` and returned in `unknown_account_clicks`; they still count
    as landed in `landed_by_hour` (they reached us: no stream loss). None: every account is
    known (a caller with no account check, e.g. a benchmark of the engine alone).

    Memory stays near the engine's limit and time linear in the input, whatever the day's
    size: the event_ids landed more than once are found by one hash aggregate and ranked
    (small); the kept rows are then written ONCE to local scratch Arrow IPC files split by
    user bucket (`hash(account_id, user_id) % K`, K = rows landed / bucket rows, the bucket
    rows in proportion to the engine's memory limit and at most USER_DAILY_BUCKET_ROWS, in a
    temporary directory beside `clicks_path`; unknown accounts' rows in a file of their
    own), and each bucket is processed alone: its per-user sessions and counts, and its
    clicks, sorted, appended to `clicks_path` (a local Parquet file with the CLICKS file
    schema). A bucket's file is deleted once read, so scratch disk peaks near the size of
    the bucket files (zstd: 45 bytes a row at 10M, bench/README.md). On a large day
    (over SHARED_DATABASE_MAX_ROWS landed) compaction and each bucket have a database of
    their own (see `_compact_day`); small days share the process's warm one.

    Row order of the clicks file: by bucket, then (event_time, event_id) within a bucket
    (a day of one bucket, e.g. up to USER_DAILY_BUCKET_ROWS rows under a 1.4 GB limit, is in
    (event_time, event_id) order, as compact_day's). Buckets come from DuckDB's `hash`
    (pinned version), the day's row count and the memory limit, so the same input and
    engine give the same bytes.
    """
    if gap_minutes <= 0:
        raise ValueError(f"gap_minutes must be positive, got {gap_minutes}")
    start, end = _day_ms(day)
    late_after = _epoch_ms(first_aggregated_at) if first_aggregated_at else 2**62
    params = {"start": start, "end": end, "first_aggregated": late_after}
    scratch_root = os.path.dirname(os.path.abspath(clicks_path))
    with tempfile.TemporaryDirectory(prefix="engagement-day-", dir=scratch_root) as scratch:
        compacted = _compact_day(
            raw_clicks,
            params,
            scratch,
            known_accounts=known_accounts,
            engine=engine,
            filesystem=filesystem,
        )
        session = {"start": start, "end": end, "gap_ms": round(gap_minutes * 60_000)}
        user_daily, rows = _process_buckets(
            compacted.buckets, session, clicks_path, engine, close_each=compacted.large
        )
    return DayResult(
        clicks_rows=rows,
        dedup=_dedup_table(compacted.counts, day),
        user_daily=_conform(user_daily, schemas.ENGAGEMENT_USER_DAILY, dt=day),
        landed_by_hour=compacted.landed_by_hour,
        unknown_account_clicks=compacted.unknown_account_clicks,
    )


@dataclass(frozen=True)
class _Compacted:
    buckets: list[str]  # the scratch file of each user bucket, in bucket order
    counts: dict[str, int]  # the DEDUP_DAILY counts
    landed_by_hour: dict[datetime, int]
    large: bool  # more rows landed than SHARED_DATABASE_MAX_ROWS
    unknown_account_clicks: pa.Table  # CLICKS rows of unknown accounts


# The distinct clicks of unknown accounts, as CLICKS rows.
_UNKNOWN_CLICKS_SQL: Final = _clicks_sql("unknown")


def _compact_day(
    raw_clicks: Source,
    params: Mapping[str, int],
    scratch: str,
    *,
    known_accounts: Collection[str] | None,
    engine: Engine | None,
    filesystem: pafs.FileSystem | None,
) -> _Compacted:
    """The day's kept rows in user-bucket files under `scratch`, its dedup counts and clicks
    per hour; on a large day, in a database closed before the buckets are processed.

    Why a database of its own: the memory this step's scans and spilled aggregate leave
    behind outside DuckDB's accounting (under a 0.8 GB limit ~0.4 GB at 10M clicks, ~0.65
    GB at 50M; not its caches or temp tables, which it accounts; most likely freed memory
    its allocator keeps) is only returned when the database closes. In one connection the
    buckets would run on top of it, and the whole process's peak would grow with the day
    (bench/README.md, "peak memory by input size"). The buckets need only the scratch files.
    """
    known = "TRUE"
    with _connect(engine) as con:
        _register(con, "raw_clicks", raw_clicks, schemas.RAW_CLICKS, filesystem)
        if known_accounts is not None:
            ids = pa.array(sorted(known_accounts), pa.string())
            con.register("known_accounts", pa.table({"account_id": ids}))
            known = _KNOWN_SQL
        buckets, landed_rows = _compact_into_buckets(
            con, params, scratch, _bucket_rows(engine), known=known
        )
        counts, hours = _day_counts(con)
        if buckets.unknown:
            con.register("unknown", _read_bucket(buckets.unknown))
        else:
            con.execute("CREATE TEMP VIEW unknown AS SELECT * FROM kept LIMIT 0")
        unknown = con.execute(_UNKNOWN_CLICKS_SQL).fetch_arrow_table()
    large = landed_rows > SHARED_DATABASE_MAX_ROWS
    if large:
        _close_database(engine)
    landed = {datetime.fromtimestamp(h * 3600, UTC): n for h, n in hours}
    return _Compacted(
        buckets=buckets.users,
        counts=counts,
        landed_by_hour=landed,
        large=large,
        unknown_account_clicks=_conform_file(unknown, schemas.CLICKS),
    )


def _day_counts(con: duckdb.DuckDBPyConnection) -> tuple[dict[str, int], list[tuple[int, int]]]:
    """The DEDUP_DAILY counts and the distinct clicks per hour (epoch hour, clicks)."""
    hours = [(int(h), int(n)) for h, n in con.execute(_HOURS_SQL).fetchall()]
    return _dedup_counts(con), hours


def _bucket_rows(engine: Engine | None) -> int:
    """Landed rows per user bucket: in proportion to the engine's memory limit, so a bucket's
    window and sort fit it, and at most USER_DAILY_BUCKET_ROWS (a limit in a form
    _size_bytes does not read gets that)."""
    limit = _size_bytes((engine or Engine()).memory_limit)
    if limit is None:
        return USER_DAILY_BUCKET_ROWS
    return max(1, min(USER_DAILY_BUCKET_ROWS, limit // _BUCKET_LIMIT_BYTES_PER_ROW))


# DuckDB's memory sizes: KB, MB, GB, TB are powers of 1000, KiB... powers of 1024; the B
# may be left out ("500M").
_SIZE: Final = re.compile(r"\s*(\d+(?:\.\d*)?)\s*([kmgt])(i?)b?\s*", re.IGNORECASE)
_POWERS: Final = {"k": 1, "m": 2, "g": 3, "t": 4}


def _size_bytes(text: str) -> int | None:
    """Bytes in a memory size as DuckDB reads it ("1.4GB": 1,400,000,000); None if not one."""
    match = _SIZE.fullmatch(text)
    if match is None:
        return None
    number, unit, binary = match.groups()
    return round(float(number) * (1024 if binary else 1000) ** _POWERS[unit.lower()])


@dataclass(frozen=True)
class _BucketFiles:
    users: list[str]  # the file of each user bucket (known accounts' rows), in bucket order
    unknown: str | None  # the rows of unknown accounts
    every: list[str]  # all of them: every kept row


def _compact_into_buckets(
    con: duckdb.DuckDBPyConnection,
    params: Mapping[str, int],
    scratch: str,
    bucket_rows: int,
    *,
    known: str,
) -> tuple[_BucketFiles, int]:
    """Rank the repeated events (`repeated`, `copies`), write the kept rows into user-bucket
    files under `scratch` (`bucket_rows` landed rows per bucket; an empty bucket has no
    file), the rows of unknown accounts into a file of their own, and expose them all as the
    `kept` relation (what the dedup counts and hours read). The files, and the rows landed."""
    _rank_repeated(con, params)
    found = con.execute(_LANDED_ROWS_SQL).fetchone()
    landed = int(found[0]) if found else 0
    buckets = max(1, math.ceil(landed / bucket_rows))
    rows = con.execute(_bucketed_sql(buckets, known), params).fetch_record_batch()
    written = _write_bucket_files(rows, os.path.join(scratch, "kept"))
    files = _BucketFiles(
        users=[written[b] for b in sorted(written) if b < buckets],
        unknown=written.get(buckets),
        every=list(written.values()),
    )
    if files.every:
        con.register("kept", ds.dataset(files.every, format="ipc"))
    else:  # nothing kept (an empty day)
        con.execute(f"CREATE TEMP TABLE kept AS {_kept_rows_sql()} LIMIT 0", params)
    return files, landed


def _write_bucket_files(rows: pa.RecordBatchReader, directory: str) -> dict[int, str]:
    """Split the stream of kept rows by their bucket column into one Arrow IPC file per
    bucket under `directory` (the column itself is not written); {bucket: file}."""
    os.makedirs(directory)
    schema = rows.schema.remove(rows.schema.get_field_index(_BUCKET))
    files: dict[int, str] = {}
    writers: dict[int, pa.ipc.RecordBatchFileWriter] = {}
    try:
        for batch in rows:
            bucket_of = batch.column(_BUCKET)
            kept = batch.drop_columns([_BUCKET])
            found = pc.unique(bucket_of).to_pylist()
            for bucket in found:
                part = kept.filter(pc.equal(bucket_of, bucket)) if len(found) > 1 else kept
                writer = writers.get(bucket)
                if writer is None:
                    files[bucket] = os.path.join(directory, f"{bucket:05d}{_BUCKET_SUFFIX}")
                    writer = writers[bucket] = pa.ipc.new_file(
                        files[bucket], schema, options=_BUCKET_FILE_OPTIONS
                    )
                writer.write_batch(part)
    finally:
        for writer in writers.values():
            writer.close()
    return files


def _read_bucket(path: str) -> pa.Table:
    with pa.OSFile(path) as source:
        return pa.ipc.open_file(source).read_all()


def _process_buckets(
    buckets: Sequence[str],
    params: Mapping[str, int],
    clicks_path: str,
    engine: Engine | None,
    *,
    close_each: bool,
) -> tuple[pa.Table, int]:
    """Per bucket file: its users' ENGAGEMENT_USER_DAILY rows, and its clicks appended to
    `clicks_path`. The user rows of every bucket, in (account_id, user_id) order, and the
    clicks written (the file is always written: with no row group for an empty day).

    A bucket is read into Arrow once (~150 bytes a row, at most USER_DAILY_BUCKET_ROWS rows,
    outside DuckDB's limit) and used by both steps, one after the other: its sessions (DuckDB
    scans the Arrow table), then its clicks (sorted and written by Arrow). DuckDB's window
    keeps both cores busy on its own. With `close_each` (a large day), each bucket's
    sessions run in a database of its own, closed when the bucket is done: the memory a
    bucket leaves outside DuckDB's accounting is only returned then (in one connection for
    every bucket it would build up, so the more buckets, i.e. the bigger the day, the higher
    the peak). A small day's buckets share the warm database. A bucket's file is deleted once
    read.
    """
    schema = schemas.CLICKS.arrow_schema()
    parts: list[pa.Table] = []
    rows = 0
    with _clicks_writer(clicks_path, schema) as writer:
        for path in buckets:
            bucket = _read_bucket(path)
            os.remove(path)  # free the scratch disk
            with _connect(engine) as con:
                parts.append(_bucket_user_daily(con, bucket, params))
            if close_each:
                _close_database(engine)
            rows += _write_bucket_clicks(bucket, writer, schema)
            del bucket  # before the next is read: one bucket in memory at a time
    if not parts:
        return schemas.ENGAGEMENT_USER_DAILY.arrow_schema().empty_table(), rows
    table = pa.concat_tables(parts)
    if len(parts) == 1:
        return table, rows
    return table.sort_by([("account_id", "ascending"), ("user_id", "ascending")]), rows


# A user's key in the sessions window of a bucket: one integer sorts faster than two strings.
_USER_KEY: Final = "hash(account_id, user_id)"


def _bucket_user_daily(
    con: duckdb.DuckDBPyConnection, bucket: pa.Table, params: Mapping[str, int]
) -> pa.Table:
    """ENGAGEMENT_USER_DAILY rows of one bucket, the window partitioned by _USER_KEY; if two
    of the bucket's users share a key (a 64-bit hash: about once in 10^7 days of a million
    users) their gaps would mix, so the bucket is computed again by the two strings."""
    con.register("bucket", bucket)
    table = con.execute(
        _user_daily_sql("bucket", "event_ms", _USER_KEY), params
    ).fetch_arrow_table()
    if pc.count_distinct(table.column("user_key")).as_py() == table.num_rows:
        return table.drop_columns(["user_key"])
    return con.execute(_user_daily_sql("bucket", "event_ms"), params).fetch_arrow_table()


def _write_bucket_clicks(bucket: pa.Table, writer: pq.ParquetWriter, schema: pa.Schema) -> int:
    """A bucket's clicks in (event_time, event_id) order, appended to `writer` in
    CLICKS_BATCH_ROWS row groups; the rows written. Arrow sorts only indices by the two keys
    (event_time almost never ties) and takes each row group's rows (DuckDB's ORDER BY
    carried every column through its sort: about 40% of a bucket's clicks CPU at 10M)."""
    clicks = bucket.select(list(_CLICKS_COLUMNS.values())).rename_columns(list(_CLICKS_COLUMNS))
    keys = [("event_time", "ascending"), ("event_id", "ascending")]
    order = pc.sort_indices(clicks, sort_keys=keys)
    batches = (
        clicks.take(order.slice(start, CLICKS_BATCH_ROWS))
        for start in range(0, clicks.num_rows, CLICKS_BATCH_ROWS)
    )
    return _write_batches(writer, batches, schema)


def _clicks_writer(path: str, schema: pa.Schema) -> pq.ParquetWriter:
    """The lake's Parquet writer at zstd level 1: on the clicks file, level 3 takes 50%
    more time for a file 2% larger (its ids do not compress)."""
    return file_writer(
        path,
        schema,
        dictionary_columns=["account_id", "user_id", "event_type", "page"],
        compression_level=1,
    )


def _write_batches(writer: pq.ParquetWriter, batches: Iterable[pa.Table], schema: pa.Schema) -> int:
    """Append DuckDB's clicks (times in epoch ms) to `writer`, a row group per batch."""
    rows = 0
    for table in batches:
        columns = []
        for field in schema:
            column = table.column(field.name)
            if pa.types.is_timestamp(field.type) and pa.types.is_integer(column.type):
                column = column.cast(pa.int64()).cast(field.type)
            columns.append(column.cast(field.type))
        writer.write_table(pa.Table.from_arrays(columns, schema=schema))
        rows += table.num_rows
    return rows


# --- the account check -------------------------------------------------------------------

UNKNOWN_ACCOUNT_CLICKS_FILE: Final = "unknown_account_clicks"


def unknown_account_quarantine(clicks: pa.Table, day: date, *, received_at: datetime) -> pa.Table:
    """QUARANTINE rows (`unknown_account`, pipeline engagement) of a day's distinct clicks
    of unknown accounts (CLICKS rows, e.g. `DayResult.unknown_account_clicks`).

    The daily run judges a whole event day again each time it runs, so its rows sit under
    that day (`dt` = the event day) in one file the run replaces: a click is quarantined once
    however often its day is recomputed. `raw` is the click's payload as the contract sends
    it (canonical JSON, event_time in epoch ms); `record_id` names the day and event_id.
    """
    ids = clicks.column("event_id").to_pylist()
    accounts = clicks.column("account_id").to_pylist()
    payloads = clicks.select(list(CLICK_PAYLOAD_FIELDS)).to_pylist()
    rejected = []
    for event_id, account, payload in zip(ids, accounts, payloads, strict=True):
        payload["event_time"] = _epoch_ms(payload["event_time"])
        rejected.append(
            quarantine.Rejection(
                line=None,
                raw=json.dumps(payload, sort_keys=True, separators=(",", ":")).encode(),
                reason=codes.UNKNOWN_ACCOUNT,
                detail=definitions.unknown_account_detail(account),
                source_key=f"{schemas.RAW_CLICKS.prefix}/dt={day.isoformat()}/",
                record_id=f"{schemas.RAW_CLICKS.name}/dt={day.isoformat()}#{event_id}",
                dt=day.isoformat(),
            )
        )
    return quarantine.quarantine_table(
        rejected,
        source=CLICKS_SOURCE,
        pipeline=schemas.Pipeline.ENGAGEMENT.value,
        source_key=None,
        received_at=received_at,
    )


def unknown_accounts_of(clicks: pa.Table) -> list[str]:
    """The distinct accounts of CLICKS rows, sorted (what a day's state remembers, so the
    day is recomputed once a creating event for one of them lands)."""
    return sorted({a for a in clicks.column("account_id").to_pylist() if a is not None})


# --- stream completeness ----------------------------------------------------------------


def stream_completeness(
    producer_counts: pa.Table,
    landed_by_hour: Mapping[datetime, int],
    *,
    tolerance: float = 0.01,
    min_missing: int = 0,
    hours: Iterable[datetime] = (),
) -> Completeness:
    """Per hour: what producers offered (sent + spilled) vs what landed; and outage windows.

    `producer_counts`: PRODUCER_COUNTS rows (per producer and minute of event_time).
    `landed_by_hour`: distinct clicks landed per hour of event_time. `hours`: extra hours to
    report even with no counts at all. An hour is incomplete while anything is still spilled
    (a replay moves its records from spilled to sent: the hour heals once they land), or
    when offered - landed is more than both `min_missing` and offered x tolerance (offered
    counts records, landed counts distinct clicks: duplicates and quarantined records make a
    small gap that is not data loss). Consecutive incomplete hours form one window.
    """
    if not 0 <= tolerance < 1:
        raise ValueError(f"tolerance must be in [0, 1), got {tolerance}")
    sent, spilled = _producer_hours(producer_counts)
    landed = {_hour(h): int(n) for h, n in landed_by_hour.items()}
    all_hours = sorted(sent.keys() | spilled.keys() | landed.keys() | {_hour(h) for h in hours})
    rows: list[dict[str, Any]] = []
    for hour in all_hours:
        offered = sent.get(hour, 0) + spilled.get(hour, 0)
        got = landed.get(hour, 0)
        lost = spilled.get(hour, 0)
        missing = offered - got
        complete = lost == 0 and not (missing > min_missing and missing > offered * tolerance)
        rows.append(
            {
                "hour": hour,
                "sent": offered,
                "landed": got,
                "spilled": lost,
                "complete": complete,
                "dt": hour.date().isoformat(),
            }
        )
    schema = schemas.STREAM_COMPLETENESS.arrow_schema(with_partitions=True)
    table = pa.Table.from_pylist(rows, schema=schema)
    return Completeness(hours=table, outages=_windows(r["hour"] for r in rows if not r["complete"]))


def landed_by_hour(clicks: pa.Table) -> dict[datetime, int]:
    """Distinct clicks per hour of event_time, from CLICKS rows (stream_completeness's input)."""
    if clicks.num_rows == 0:
        return {}
    hours = pc.floor_temporal(clicks.column("event_time"), unit="hour")
    grouped = (
        pa.table({"hour": hours, "event_id": clicks.column("event_id")})
        .group_by("hour", use_threads=False)
        .aggregate([("event_id", "count_distinct")])
    )
    counts = grouped.column("event_id_count_distinct").to_pylist()
    return {_hour(h): n for h, n in zip(grouped.column("hour").to_pylist(), counts, strict=True)}


def _producer_hours(counts: pa.Table) -> tuple[dict[datetime, int], dict[datetime, int]]:
    if counts.num_rows == 0:
        return {}, {}
    hour = pc.floor_temporal(counts.column("minute"), unit="hour")
    grouped = (
        pa.table({"hour": hour, "sent": counts.column("sent"), "spilled": counts.column("spilled")})
        .group_by("hour", use_threads=False)
        .aggregate([("sent", "sum"), ("spilled", "sum")])
    )
    hours = [_hour(h) for h in grouped.column("hour").to_pylist()]
    sent = dict(zip(hours, grouped.column("sent_sum").to_pylist(), strict=True))
    spilled = dict(zip(hours, grouped.column("spilled_sum").to_pylist(), strict=True))
    return sent, spilled


def _windows(incomplete_hours: Iterable[datetime]) -> list[tuple[datetime, datetime]]:
    windows: list[tuple[datetime, datetime]] = []
    for hour in incomplete_hours:
        end = hour + timedelta(hours=1)
        if windows and windows[-1][1] == hour:
            windows[-1] = (windows[-1][0], end)
        else:
            windows.append((hour, end))
    return windows


# --- plumbing ------------------------------------------------------------------------


# One DuckDB database per engine, kept for the life of the process (a warm Lambda's next
# days): opening one costs 8-20 ms (its buffer manager and thread pool), and a run of the
# daily workflow opens several per day. Every step takes a connection of its own on it
# (`cursor()`): their temp tables and views are private to it and dropped when it closes.
_DATABASES: dict[Engine, duckdb.DuckDBPyConnection] = {}
_DATABASES_LOCK = threading.Lock()
# A day that landed more rows than this closes the database after its compaction and after
# each of its buckets: only closing returns the memory DuckDB keeps outside its accounting
# (`_compact_day`), and a big day must not run on top of the last step's.
SHARED_DATABASE_MAX_ROWS: Final = 250_000


def _connect(engine: Engine | None) -> duckdb.DuckDBPyConnection:
    """A new connection to the engine's database (opened on first use)."""
    engine = engine or Engine()
    with _DATABASES_LOCK:
        database = _DATABASES.get(engine)
        if database is None:
            database = _DATABASES[engine] = duckdb.connect(":memory:", config=_config(engine))
        return database.cursor()


def _close_database(engine: Engine | None) -> None:
    """Close the engine's database (the next `_connect` opens a fresh one)."""
    with _DATABASES_LOCK:
        database = _DATABASES.pop(engine or Engine(), None)
    if database is not None:
        database.close()


def _config(engine: Engine) -> dict[str, Any]:
    # Every result is ordered by an explicit ORDER BY, so insertion order need not be kept:
    # without it DuckDB materialises and spills large intermediates with less memory.
    config: dict[str, Any] = {
        "memory_limit": engine.memory_limit,
        "preserve_insertion_order": False,
    }
    if engine.temp_directory:
        config["temp_directory"] = engine.temp_directory
    if engine.threads:
        config["threads"] = engine.threads
    return config


def _register(
    con: duckdb.DuckDBPyConnection,
    name: str,
    source: Source,
    registry: schemas.Table,
    filesystem: pafs.FileSystem | None,
) -> None:
    """Expose `source` to SQL as `name`; Parquet paths are scanned lazily.

    Local paths go to DuckDB's own Parquet reader: it reads only the columns a query needs,
    in parallel, within the memory limit (a pyarrow dataset scan is slower and buffers
    outside that limit). Paths on a pyarrow `filesystem` are scanned as a dataset.
    """
    if isinstance(source, pa.Table | ds.Dataset):
        con.register(name, source)
        return
    paths: list[str] = list(source)
    if paths and filesystem is None:
        columns = ", ".join(registry.arrow_schema().names)
        files = ", ".join(_sql_string(path) for path in paths)
        con.execute(f"CREATE TEMP VIEW {name} AS SELECT {columns} FROM read_parquet([{files}])")
        return
    if paths:
        data: pa.Table | ds.Dataset = ds.dataset(
            paths, schema=registry.arrow_schema(), format="parquet", filesystem=filesystem
        )
    else:
        data = registry.arrow_schema(with_partitions=True).empty_table()
    con.register(name, data)


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _conform(table: pa.Table, registry: schemas.Table, *, dt: date) -> pa.Table:
    """Cast DuckDB's output to the registry schema (epoch ms to timestamps) and add `dt`."""
    schema = registry.arrow_schema(with_partitions=True)
    columns = []
    for field in schema:
        if field.name == "dt":
            columns.append(pa.array([dt.isoformat()] * table.num_rows, pa.string()))
            continue
        column = table.column(field.name)
        if pa.types.is_timestamp(field.type) and pa.types.is_integer(column.type):
            column = column.cast(pa.int64()).cast(field.type)
        columns.append(column.cast(field.type))
    return pa.Table.from_arrays(columns, schema=schema)


def _conform_file(table: pa.Table, registry: schemas.Table) -> pa.Table:
    """Cast DuckDB's output to the registry's file schema (no partition columns)."""
    schema = registry.arrow_schema()
    columns = []
    for field in schema:
        column = table.column(field.name)
        if pa.types.is_timestamp(field.type) and pa.types.is_integer(column.type):
            column = column.cast(pa.int64()).cast(field.type)
        columns.append(column.cast(field.type))
    return pa.Table.from_arrays(columns, schema=schema)


def _day_ms(day: date) -> tuple[int, int]:
    start = (day - date(1970, 1, 1)).days * _MS_PER_DAY
    return start, start + _MS_PER_DAY


def _epoch_ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError(f"{moment!r} has no time zone; pipeline times are UTC-aware")
    return round(moment.timestamp() * 1000)


def _hour(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.replace(minute=0, second=0, microsecond=0)


# --- seats ---------------------------------------------------------------------------------


def seats_as_of(account_events: pa.Table, day: date) -> dict[str, int | None]:
    """Licensed seats per account at the end of `day`: the seats of its latest
    RAW_ACCOUNT_EVENTS row (by event_time, then event_id) that carries a seat count, while
    its status is paying (active, renewal_due, cancelled); 0 once it is in trial or churned.

    Accounts whose events never name seats map to None (utilisation is then null with
    reason `no_seats`). An empty table gives {} (no account events landed at all). Only
    known accounts (definitions.known_accounts) have seats: another account's events count
    in no engagement figure.
    """
    return seats_by_day(account_events, [day])[day]


def seats_by_day(
    account_events: pa.Table, days: Iterable[date]
) -> dict[date, dict[str, int | None]]:
    """`seats_as_of` for each of `days`: the events are filtered and sorted once and
    replayed up to the end of each day in turn (a run of 30 days read them once, not 30
    times)."""
    wanted = sorted(set(days))
    if account_events.num_rows == 0:
        return {day: {} for day in wanted}
    known = pa.array(sorted(definitions.known_accounts(account_events)), pa.string())
    account_events = account_events.filter(
        pc.and_(
            pc.is_in(account_events.column("account_id"), value_set=known),
            pc.is_valid(account_events.column("event_time")),
        )
    )
    columns = ["account_id", "event_type", "event_time", "event_id", "seats"]
    rows = sorted(
        account_events.select(columns).to_pylist(), key=lambda r: (r["event_time"], r["event_id"])
    )
    seats: dict[str, int | None] = {}
    status: dict[str, str] = {}
    result: dict[date, dict[str, int | None]] = {}
    replayed = 0
    for day in wanted:
        day_end = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
        while replayed < len(rows) and rows[replayed]["event_time"] < day_end:
            _replay(rows[replayed], seats, status)
            replayed += 1
        # A trial or churned account licenses no seat: its last seat count is not a licence.
        result[day] = {
            account: 0 if account in status and status[account] not in PAYING_STATUSES else count
            for account, count in seats.items()
        }
    return result


def _replay(row: Mapping[str, Any], seats: dict[str, int | None], status: dict[str, str]) -> None:
    """One account event applied to the seats and statuses so far."""
    after = STATUS_AFTER.get(row["event_type"])
    if after is not None:
        status[row["account_id"]] = after
    if row["seats"] is not None or row["account_id"] not in seats:
        seats[row["account_id"]] = (
            row["seats"] if row["seats"] is not None else seats.get(row["account_id"])
        )
