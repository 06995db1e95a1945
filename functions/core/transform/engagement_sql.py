"""The daily engagement transform as Athena (Trino) SQL: the path a day takes when it outgrows
the daily Lambda (docs/scaling.md). Pure: builds statements, runs nothing.

The same definitions as `engagement.py` (docs/metrics.md, Engagement), and the same SQL where
the two engines can share it: the per-user sessions and counts and the per-account day are
`engagement.py`'s own DuckDB SQL transpiled to Trino by sqlglot (kept here as generated
text, checked against the DuckDB SQL by a test), its parameters bound as literals at run
time. Compaction cannot be
shared: the DuckDB path's is a hash-bucketed pipeline through local scratch files, built for
bounded memory in one function; here it is one window over the day's raw rows, which Athena
distributes. It keeps the same copy (earliest arrival; ties by shard, sequence number, then
the payload fields) and counts the same way:

- `copies`: the rows that landed with the event's id; `late`: those that arrived after the
  day was first aggregated;
- natural duplicates: later copies with the kept copy's payload; synthetic: with another;
- `known`: the kept copy's account was created by a creating event
  (definitions.known_accounts over raw_account_events; here the same rule in SQL).

So rows_landed = rows_kept + natural + synthetic + unknown_account_clicks, as on DuckDB.

Statements name tables fully (`"database"."table"`); times are compared in epoch
milliseconds, as the DuckDB path compares them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Final

from functions.core import codes, definitions

_MS_PER_DAY: Final = 86_400_000
# The kept copy of an event: the ordering of `engagement._copies_sql`'s window.
_COPY_ORDER: Final = (
    "arrival_time, shard_id, sequence_number, account_id, user_id, event_type, event_time, page"
)
_PAYLOAD: Final = ("account_id", "user_id", "event_type", "event_time", "page")


@dataclass(frozen=True)
class Relation:
    """A table as SQL names it: `"database"."name"`."""

    database: str
    name: str

    def __str__(self) -> str:
        return f'"{self.database}"."{self.name}"'


def day_ms(day: date) -> tuple[int, int]:
    """[start, end) of the UTC day in epoch milliseconds."""
    start = (day - date(1970, 1, 1)).days * _MS_PER_DAY
    return start, start + _MS_PER_DAY


def _ms(column: str) -> str:
    """A timestamp column as epoch milliseconds (bigint), as DuckDB's epoch_ms gives it."""
    return f"CAST(round(to_unixtime({column}) * 1000) AS bigint)"


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def kept_sql(
    *, raw_clicks: Relation, account_events: Relation, day: date, late_after_ms: int
) -> str:
    """One row per event_id of the day's raw clicks: the kept copy's fields, event and
    arrival time in epoch ms, its copies, late copies, natural and synthetic duplicates,
    and whether its account is known. `late_after_ms`: when the day was first aggregated
    (a value no arrival reaches when it never was)."""
    start, end = day_ms(day)
    same = " AND ".join(
        f"{c} IS NOT DISTINCT FROM first_value({c}) OVER (PARTITION BY event_id "
        f"ORDER BY {_COPY_ORDER})"
        for c in _PAYLOAD
    )
    creating = ", ".join(_sql_string(t) for t in sorted(definitions.CREATING_EVENT_TYPES))
    return f"""
WITH day_rows AS (
    SELECT event_id, account_id, user_id, event_type, event_time, page, arrival_time,
           shard_id, sequence_number,
           {_ms("event_time")} AS event_ms, {_ms("arrival_time")} AS arrival_ms
    FROM {raw_clicks}
    WHERE dt = {_sql_string(day.isoformat())}
), ranked AS (
    SELECT *,
           row_number() OVER (PARTITION BY event_id ORDER BY {_COPY_ORDER}) AS copy_no,
           CASE WHEN {same} THEN 1 ELSE 0 END AS same_payload
    FROM day_rows
    WHERE event_ms >= {start} AND event_ms < {end}
), counted AS (
    SELECT *,
           count(*) OVER (PARTITION BY event_id) AS copies,
           sum(CASE WHEN arrival_ms > {late_after_ms} THEN 1 ELSE 0 END)
               OVER (PARTITION BY event_id) AS late,
           sum(same_payload) OVER (PARTITION BY event_id) - 1 AS natural_copies
    FROM ranked
)
SELECT event_id, account_id, user_id, event_type, event_time, page, arrival_time,
       event_ms, arrival_ms, copies, late, natural_copies,
       copies - 1 - natural_copies AS synthetic_copies,
       account_id IN (
           SELECT account_id FROM {account_events} WHERE event_type IN ({creating})
       ) AS known
FROM counted
WHERE copy_no = 1
"""


def clicks_sql(kept: Relation) -> str:
    """CLICKS file columns: the kept copies of known accounts."""
    return f"""
SELECT event_id, account_id, user_id, event_type, event_time, page, arrival_time, copies
FROM {kept}
WHERE known
ORDER BY event_ms, event_id
"""


def unknown_clicks_sql(kept: Relation) -> str:
    """CLICKS file columns of the kept copies of unknown accounts (quarantined)."""
    return clicks_sql(kept).replace("WHERE known", "WHERE NOT known")


def dedup_sql(kept: Relation) -> str:
    """The one DEDUP_DAILY row (file columns)."""
    return f"""
SELECT coalesce(sum(copies), 0) AS rows_landed,
       count_if(known) AS rows_kept,
       coalesce(sum(natural_copies), 0) AS natural_duplicates,
       coalesce(sum(synthetic_copies), 0) AS synthetic_duplicates,
       coalesce(sum(late), 0) AS late_rows,
       count_if(NOT known) AS unknown_account_clicks
FROM {kept}
"""


def landed_hours_sql(kept: Relation) -> str:
    """Distinct clicks per hour of event time (epoch hour, clicks): stream completeness's
    `landed`, every account included (they reached us)."""
    return f"""
SELECT CAST(floor(event_ms / 3600000.0) AS bigint) AS epoch_hour, count(*) AS clicks
FROM {kept}
GROUP BY 1
ORDER BY 1
"""


# The DuckDB path's own SQL (engagement._user_daily_sql over a relation `source_rows`, with
# its `$start`, `$end`, `$gap_ms`; engagement._DAILY_SQL), transpiled to Athena's dialect by
# sqlglot: generated text, so the function needs no transpiler at run time, and checked
# against a fresh transpilation by tests/unit/test_engagement_sql.py (which prints the new
# text when the DuckDB SQL changed): one definition for both engines.
USER_DAILY_ATHENA: Final = (
    "WITH c AS (SELECT account_id, user_id, event_type, event_id, event_ms AS t FROM "
    "source_rows WHERE event_ms >= :start AND event_ms < :end), gaps AS (SELECT account_id,"
    " user_id, event_type, t, t - LAG(t) OVER (PARTITION BY account_id, user_id ORDER BY t)"
    " AS since FROM c) SELECT account_id, user_id, COUNT(*) FILTER(WHERE since IS NULL OR "
    "since > :gap_ms) AS sessions, CAST((MAX(t) - MIN(t) - COALESCE(SUM(since) FILTER(WHERE"
    " since > :gap_ms), 0)) AS DOUBLE) / 1000.0 AS session_seconds, COUNT(*) AS clicks, "
    "COUNT(*) FILTER(WHERE event_type = 'page_view') AS clicks_page_view, COUNT(*) "
    "FILTER(WHERE event_type = 'click') AS clicks_click, COUNT(*) FILTER(WHERE event_type ="
    " 'search') AS clicks_search, COUNT(*) FILTER(WHERE event_type = 'export') AS "
    "clicks_export, COUNT(*) FILTER(WHERE event_type = 'share') AS clicks_share, COUNT(*) "
    "FILTER(WHERE event_type = 'login') AS clicks_login FROM gaps GROUP BY account_id, "
    "user_id ORDER BY account_id, user_id"
)
DAILY_ATHENA: Final = (
    "SELECT account_id, COUNT(*) FILTER(WHERE clicks > 0) AS active_users, SUM(sessions) AS"
    " sessions, CAST(SUM(session_seconds) AS DOUBLE) / 3600.0 AS session_hours, SUM(clicks)"
    " AS clicks, SUM(clicks_page_view) AS clicks_page_view, SUM(clicks_click) AS "
    "clicks_click, SUM(clicks_search) AS clicks_search, SUM(clicks_export) AS "
    "clicks_export, SUM(clicks_share) AS clicks_share, SUM(clicks_login) AS clicks_login "
    "FROM user_daily GROUP BY account_id ORDER BY account_id"
)


def _bind(sql: str, values: dict[str, int]) -> str:
    for name, value in sorted(values.items(), key=lambda kv: -len(kv[0])):
        sql = sql.replace(f":{name}", str(int(value)))
    return sql


def user_daily_sql(kept: Relation, day: date, *, gap_minutes: float) -> str:
    """ENGAGEMENT_USER_DAILY file columns from the known kept rows (USER_DAILY_ATHENA)."""
    start, end = day_ms(day)
    known = f"FROM (SELECT * FROM {kept} WHERE known) AS source_rows"
    sql = USER_DAILY_ATHENA.replace("FROM source_rows", known)
    return _bind(sql, {"start": start, "end": end, "gap_ms": round(gap_minutes * 60_000)})


def engagement_daily_sql(user_daily: Relation, *, complete: bool) -> str:
    """ENGAGEMENT_DAILY file columns from the day's user rows (DAILY_ATHENA), with the
    day's completeness (a stream outage overlaps it: incomplete)."""
    daily = DAILY_ATHENA.replace("FROM user_daily", f"FROM {user_daily}")
    reason = "CAST(NULL AS varchar)" if complete else _sql_string(codes.STREAM_OUTAGE)
    flag = "true" if complete else "false"
    return (
        f"SELECT d.*, {flag} AS complete, {reason} AS complete_reason "
        f"FROM ({daily}) AS d ORDER BY account_id"
    )


def ctas(target: Relation, select: str, *, location: str | None = None) -> str:
    """CREATE TABLE AS `select`, Parquet (zstd, as the lake's files), at `location` (a new
    prefix: Athena refuses a non-empty one) or where the workgroup puts tables."""
    properties = ["format = 'PARQUET'", "write_compression = 'ZSTD'"]
    if location is not None:
        properties.append(f"external_location = {_sql_string(location)}")
    return f"CREATE TABLE {target} WITH ({', '.join(properties)}) AS {select.strip()}"
