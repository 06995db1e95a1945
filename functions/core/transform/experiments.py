"""The experiment dataset: assignments, unit-level daily metrics, CUPED covariates and the
weekly health checks (DuckDB over Arrow tables). Pure: no boto3, no environment.

Definitions (docs/metrics.md, "Experiments", copies them):

- Exposure: a unit's first assignment to an experiment (`assigned_at`, UTC); its exposure
  day is the UTC date of that instant. Assignment records are deduplicated by
  assignment_id first (the copy of the first landing file, by key, is kept).
- A unit with assignments to two or more variants of one experiment has
  `multiple_variants` = true: it stays in experiment_assignments (with its first
  variant) and is left out of the unit daily table, the covariates and the SRM test.
- Unit daily: one row per analysed unit per day from its exposure day through the week's
  Sunday (never past the newest engagement day), zeros on days without activity. An
  account unit's metrics are its engagement_daily row; a user unit's are its
  engagement_user_daily row (active_users 1 when it clicked, hours = seconds / 3600).
  Seats and MRR are the unit's account's after its latest account event up to the end of
  the day (null before any event; seats null once churned); a user's account is the one
  its engagement rows name (null for a user never seen active).
- Covariates (CUPED): the same metrics summed over the `window_days` days before the
  exposure day (the exposure day excluded).
- Units with no data: analysed units with no engagement row on any day since exposure.
- Known accounts (definitions.known_accounts): an assignment of an `account` unit that no
  creating event created is quarantined `unknown_account` (one row per assignment_id) and
  left out of every table here. A `user` unit names no account: its account is the one its
  clicks name, and clicks of unknown accounts never reach the engagement tables, so such a
  user shows no activity (it counts in `units_no_data`).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any, Final

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from functions.core import codes, quarantine, schemas
from functions.core import definitions as business
from functions.core.codes import ASSIGNMENTS_SOURCE
from functions.core.defaults import DEFAULT_PRE_PERIOD_DAYS
from functions.core.experiment_definitions import Definition
from functions.core.times import format_millis
from functions.core.transform.experiments_stats import DEFAULT_P_THRESHOLD, srm_test

_EPOCH: Final = date(1970, 1, 1)
_MS_PER_DAY: Final = 86_400_000
_TYPES: Final = schemas.CLICK_EVENT_TYPES


def week_ending(day: date) -> date:
    """The Sunday that ends `day`'s ISO week."""
    return day + timedelta(days=6 - day.weekday())


def last_closed_week(now: datetime) -> date:
    """The latest Sunday whose day is over at `now`."""
    today = now.astimezone(UTC).date()
    return today - timedelta(days=today.weekday() + 1)


def _day_number(day: date) -> int:
    return (day - _EPOCH).days


@cache
def _database() -> duckdb.DuckDBPyConnection:
    # Small inputs: one thread keeps output order stable.
    return duckdb.connect(":memory:", config={"threads": 1})


def _connect() -> duckdb.DuckDBPyConnection:
    """A cursor on the process's one database, opened on first use: each database opened
    costs ~15 ms of CPU, a run computes three times and a warm Lambda serves many runs. A
    cursor's registered tables are its own and go when it is closed."""
    return _database().cursor()


def _conform(table: pa.Table, registry: schemas.Table) -> pa.Table:
    schema = registry.arrow_schema(with_partitions=True)
    return pa.Table.from_arrays([table.column(f.name).cast(f.type) for f in schema], schema=schema)


# --- assignments ---------------------------------------------------------------------

_ASSIGNMENTS_SQL: Final = """
WITH dedup AS (
    SELECT * FROM raw
    QUALIFY row_number() OVER (PARTITION BY assignment_id ORDER BY source_key) = 1
)
SELECT first(unit_type ORDER BY assigned_at, variant) AS unit_type,
       unit_id,
       first(variant ORDER BY assigned_at, variant) AS variant,
       min(assigned_at) AS assigned_at,
       count(DISTINCT variant) > 1 AS multiple_variants,
       experiment_id
FROM dedup
GROUP BY experiment_id, unit_id
ORDER BY experiment_id, unit_id
"""


UNKNOWN_ACCOUNT_ASSIGNMENTS_FILE: Final = "unknown_account_assignments"
ACCOUNT_UNIT: Final = "account"


@dataclass(frozen=True)
class AssignmentSplit:
    """RAW_ASSIGNMENTS rows split by the account check, one row per assignment_id."""

    known: pa.Table  # RAW_ASSIGNMENTS rows (with partitions) of known units
    quarantined: pa.Table  # QUARANTINE rows (unknown_account) with partitions
    duplicates: int  # extra copies of an assignment_id (files that overlap), not counted


def split_unknown_accounts(
    raw_assignments: pa.Table, known_accounts: Collection[str], *, received_at: datetime
) -> AssignmentSplit:
    """Deduplicate by assignment_id (the copy of the first file by key, as the assignments
    table does), then quarantine the account units no creating event created. Offered
    rows = known + quarantined + duplicates. The quarantine rows sit under the UTC day of
    `assigned_at` (`dt`): each rebuild writes the same rows at the same keys."""
    with _connect() as con:
        con.register("raw", raw_assignments)
        unique = con.execute(
            "SELECT * FROM raw QUALIFY row_number() OVER "
            "(PARTITION BY assignment_id ORDER BY source_key) = 1 "
            "ORDER BY experiment, assigned_at, assignment_id"
        ).fetch_arrow_table()
    known_ids = pa.array(sorted(known_accounts), pa.string())
    unknown = pc.and_(
        pc.equal(unique.column("unit_type"), ACCOUNT_UNIT),
        pc.invert(pc.is_in(unique.column("unit_id"), value_set=known_ids)),
    )
    schema = schemas.RAW_ASSIGNMENTS.arrow_schema(with_partitions=True)
    return AssignmentSplit(
        known=unique.filter(pc.invert(unknown)).select(schema.names).cast(schema),
        quarantined=_unknown_account_rows(unique.filter(unknown), received_at=received_at),
        duplicates=raw_assignments.num_rows - unique.num_rows,
    )


def _unknown_account_rows(rows: pa.Table, *, received_at: datetime) -> pa.Table:
    rejected = []
    for row in rows.to_pylist():
        sent = {name: row[name] for name in schemas.RAW_ASSIGNMENTS.file_column_names}
        assigned: datetime = sent["assigned_at"].astimezone(UTC)
        sent["assigned_at"] = format_millis(assigned)
        rejected.append(
            quarantine.Rejection(
                line=None,
                raw=json.dumps(sent, sort_keys=True, separators=(",", ":")).encode(),
                reason=codes.UNKNOWN_ACCOUNT,
                detail=business.unknown_account_detail(row["unit_id"]),
                source_key=row["source_key"],
                record_id=f"{row['source_key']}#{row['assignment_id']}",
                dt=assigned.date().isoformat(),
            )
        )
    return quarantine.quarantine_table(
        rejected,
        source=ASSIGNMENTS_SOURCE,
        pipeline=schemas.Pipeline.EXPERIMENT.value,
        source_key=None,
        received_at=received_at,
    )


def assignments_table(raw_assignments: pa.Table) -> pa.Table:
    """EXPERIMENT_ASSIGNMENTS (with the experiment_id partition) from RAW_ASSIGNMENTS rows."""
    with _connect() as con:
        con.register("raw", raw_assignments)
        table = con.execute(_ASSIGNMENTS_SQL).fetch_arrow_table()
    return _conform(table, schemas.EXPERIMENT_ASSIGNMENTS)


# --- unit metrics --------------------------------------------------------------------

_METRIC_COLUMNS: Final = (
    "active_users",
    "sessions",
    "session_hours",
    "clicks",
    *(f"clicks_{t}" for t in _TYPES),
)
_BY_TYPE: Final = ", ".join(f"clicks_{t}" for t in _TYPES)

_METRICS_CTE: Final = f"""
units AS (
    SELECT experiment_id, unit_type, unit_id, variant,
           CAST(epoch_ms(assigned_at) // {_MS_PER_DAY} AS INTEGER) AS exposed
    FROM assignments
    WHERE NOT multiple_variants AND epoch_ms(assigned_at) < $cutoff_ms
), metrics AS (
    SELECT 'account' AS unit_type, account_id AS unit_id,
           CAST(CAST(dt AS DATE) - DATE '1970-01-01' AS INTEGER) AS day,
           active_users, sessions, session_hours, clicks, {_BY_TYPE}
    FROM engagement_daily
    UNION ALL
    SELECT 'user', user_id, CAST(CAST(dt AS DATE) - DATE '1970-01-01' AS INTEGER),
           CASE WHEN clicks > 0 THEN 1 ELSE 0 END, sessions, session_seconds / 3600.0,
           clicks, {_BY_TYPE}
    FROM user_daily
)
"""

_UNIT_DAILY_SQL: Final = f"""
WITH {_METRICS_CTE},
user_account AS (
    SELECT user_id, min(account_id) AS account_id FROM user_daily GROUP BY user_id
), unit_days AS (
    SELECT u.*, CAST(unnest(range(u.exposed, $last_day + 1)) AS INTEGER) AS day FROM units u
), located AS (
    SELECT d.*, CASE WHEN d.unit_type = 'account' THEN d.unit_id ELSE ua.account_id END
                AS account_id,
           (CAST(d.day AS BIGINT) + 1) * {_MS_PER_DAY} AS day_end_ms
    FROM unit_days d LEFT JOIN user_account ua ON d.unit_type = 'user' AND ua.user_id = d.unit_id
), events AS (
    SELECT account_id, epoch_ms(event_time) AS t,
           arg_max(CASE WHEN event_type = 'churned' THEN NULL ELSE seats END, event_id) AS seats,
           arg_max(mrr_cents, event_id) AS mrr_cents
    FROM (SELECT DISTINCT ON (event_id) * FROM account_events ORDER BY event_id, source_key)
    GROUP BY account_id, t
), with_account AS (
    SELECT l.*, e.seats, e.mrr_cents
    FROM located l ASOF LEFT JOIN events e
      ON l.account_id = e.account_id AND l.day_end_ms > e.t
)
SELECT w.unit_type, w.unit_id, w.variant,
       DATE '1970-01-01' + w.day AS date,
       {", ".join(f"coalesce(m.{c}, 0) AS {c}" for c in _METRIC_COLUMNS)},
       w.seats, w.mrr_cents,
       w.experiment_id,
       strftime(DATE '1970-01-01' + w.day, '%Y-%m-%d') AS dt,
       m.unit_id IS NOT NULL AS has_data
FROM with_account w
LEFT JOIN metrics m ON m.unit_type = w.unit_type AND m.unit_id = w.unit_id AND m.day = w.day
ORDER BY w.experiment_id, w.day, w.unit_id
"""

_COVARIATES_SQL: Final = f"""
WITH {_METRICS_CTE}
SELECT u.unit_type, u.unit_id, u.variant, CAST($window AS BIGINT) AS window_days,
       count(m.day) FILTER (WHERE m.clicks > 0) AS pre_active_days,
       coalesce(sum(m.sessions), 0) AS pre_sessions,
       coalesce(sum(m.session_hours), 0.0) AS pre_session_hours,
       coalesce(sum(m.clicks), 0) AS pre_clicks,
       u.experiment_id
FROM units u
LEFT JOIN metrics m
  ON m.unit_type = u.unit_type AND m.unit_id = u.unit_id
 AND m.day >= u.exposed - $window AND m.day < u.exposed
GROUP BY u.experiment_id, u.unit_type, u.unit_id, u.variant
ORDER BY u.experiment_id, u.unit_id
"""


@dataclass(frozen=True)
class Inputs:
    """What the weekly build reads: EXPERIMENT_ASSIGNMENTS, ENGAGEMENT_DAILY and
    ENGAGEMENT_USER_DAILY rows (with their dt partition) and RAW_ACCOUNT_EVENTS rows."""

    assignments: pa.Table
    engagement_daily: pa.Table
    user_daily: pa.Table
    account_events: pa.Table


@dataclass(frozen=True)
class UnitMetrics:
    unit_daily: pa.Table  # EXPERIMENT_UNIT_DAILY rows with partitions
    covariates: pa.Table  # EXPERIMENT_COVARIATES rows with partitions
    units_no_data: dict[str, int]  # experiment -> analysed units without any engagement row
    last_day: date | None  # the last day built (None: no engagement data yet)


def _register(con: duckdb.DuckDBPyConnection, inputs: Inputs) -> None:
    con.register("assignments", inputs.assignments)
    con.register("engagement_daily", inputs.engagement_daily)
    con.register("user_daily", inputs.user_daily)
    con.register("account_events", inputs.account_events)


def unit_metrics(
    inputs: Inputs,
    *,
    week: date,
    data_through: date | None,
    window_days: int = DEFAULT_PRE_PERIOD_DAYS,
) -> UnitMetrics:
    """Unit daily rows through `week` (a Sunday; not past `data_through`, the newest
    engagement day) and covariates of the units exposed by the end of `week`."""
    if window_days < 1:
        raise ValueError(f"the pre-period must be at least one day, got {window_days}")
    cutoff_ms = (_day_number(week) + 1) * _MS_PER_DAY
    last_day = min(week, data_through) if data_through is not None else None
    last_number = _day_number(last_day) if last_day is not None else _day_number(week) - 10**6
    with _connect() as con:
        _register(con, inputs)
        daily = con.execute(
            _UNIT_DAILY_SQL, {"cutoff_ms": cutoff_ms, "last_day": last_number}
        ).fetch_arrow_table()
        covariates = con.execute(
            _COVARIATES_SQL, {"cutoff_ms": cutoff_ms, "window": window_days}
        ).fetch_arrow_table()
    return UnitMetrics(
        unit_daily=_conform(daily, schemas.EXPERIMENT_UNIT_DAILY),
        covariates=_conform(covariates, schemas.EXPERIMENT_COVARIATES),
        units_no_data=_units_no_data(inputs.assignments, daily, cutoff_ms),
        last_day=last_day,
    )


def _units_no_data(assignments: pa.Table, daily: pa.Table, cutoff_ms: int) -> dict[str, int]:
    analysed = _analysed(assignments, cutoff_ms)
    with_data = daily.filter(daily.column("has_data")).select(["experiment_id", "unit_id"])
    seen = {(r["experiment_id"], r["unit_id"]) for r in with_data.to_pylist()}
    counts: dict[str, int] = {}
    for row in analysed.select(["experiment_id", "unit_id"]).to_pylist():
        missing = (row["experiment_id"], row["unit_id"]) not in seen
        counts[row["experiment_id"]] = counts.get(row["experiment_id"], 0) + int(missing)
    return counts


def _exposed(assignments: pa.Table, cutoff_ms: int) -> pa.Table:
    cutoff = pa.scalar(
        datetime.fromtimestamp(cutoff_ms / 1000, tz=UTC), pa.timestamp("ms", tz="UTC")
    )
    return assignments.filter(pc.less(assignments.column("assigned_at"), cutoff))


def _analysed(assignments: pa.Table, cutoff_ms: int) -> pa.Table:
    exposed = _exposed(assignments, cutoff_ms)
    return exposed.filter(pc.invert(exposed.column("multiple_variants")))


# --- health --------------------------------------------------------------------------


def health_table(
    assignments: pa.Table,
    definitions: Mapping[str, Definition],
    *,
    week: date,
    units_no_data: Mapping[str, int],
    threshold: float = DEFAULT_P_THRESHOLD,
) -> pa.Table:
    """EXPERIMENT_HEALTH_WEEKLY rows of `week` (with the week partition): one per defined
    experiment started by the week's end, over the units exposed by then."""
    cutoff_ms = (_day_number(week) + 1) * _MS_PER_DAY
    exposed = _exposed(assignments, cutoff_ms).to_pylist()
    rows: list[dict[str, Any]] = []
    for experiment_id, definition in sorted(definitions.items()):
        if definition.start_date > week:
            continue
        mine = [r for r in exposed if r["experiment_id"] == experiment_id]
        observed = {variant: 0 for variant in definition.weights}
        for row in mine:
            if not row["multiple_variants"]:
                observed[row["variant"]] = observed.get(row["variant"], 0) + 1
        result = srm_test(observed, definition.weights, threshold=threshold)
        rows.append(
            {
                "experiment_id": experiment_id,
                "units": result.units,
                "observed_split": sorted((v, str(n)) for v, n in observed.items()),
                "planned_split": sorted((v, repr(w)) for v, w in definition.weights.items()),
                "chi_square": result.chi_square,
                "p_value": result.p_value,
                "srm_flag": result.flagged,
                "units_multiple_variants": sum(1 for r in mine if r["multiple_variants"]),
                "units_no_data": units_no_data.get(experiment_id, 0),
                "week": week.isoformat(),
            }
        )
    schema = schemas.EXPERIMENT_HEALTH_WEEKLY.arrow_schema(with_partitions=True)
    return pa.Table.from_pylist(rows, schema=schema)


def engagement_days_needed(
    assignments: pa.Table, *, week: date, window_days: int
) -> tuple[date, date] | None:
    """The first and last engagement day the build reads (None: nobody exposed yet)."""
    cutoff_ms = (_day_number(week) + 1) * _MS_PER_DAY
    exposed = _exposed(assignments, cutoff_ms)
    if exposed.num_rows == 0:
        return None
    first = pc.min(exposed.column("assigned_at")).as_py().astimezone(UTC).date()
    return first - timedelta(days=window_days), week
