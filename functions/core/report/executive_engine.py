"""Which engine computes an executive period's aggregates and join, and the Athena statement
that does it when the data outgrows the Lambda. Pure (stdlib and the schema registry).

The DuckDB path (functions/core/report/executive.py) reads the period's curated inputs into
the KPI Lambda; the Athena path runs the same SQL texts (`executive.ENGAGEMENT_AGGREGATE_SQL`
and `executive.JOIN_SQL`, written in the part of SQL that DuckDB and Athena's Trino read
alike) over the Glue tables, as one CREATE TABLE AS that writes the period's join totals
to a prefix of their own. Either way the totals are one row of `exec_join_totals`, and the
run's Publish step moves that table's Glue partition to the new prefix: a run that fails
before it leaves the previous version in place.

Only months get the choice: a week reads a quarter of a month's engagement days and its
accounts come from two status snapshots (`executive.weekly_accounts`), so it stays on DuckDB.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Final

from functions.core import schemas
from functions.core.report import executive
from functions.core.report.executive_period import MONTH, Period

DUCKDB: Final = "duckdb"
ATHENA: Final = "athena"
ENGINES: Final = (DUCKDB, ATHENA)
JOIN_TOTALS: Final = schemas.EXEC_JOIN_TOTALS
JOIN_TOTALS_FILE: Final = "exec_join_totals"
# The tables the month's Athena query reads (its volume is measured over every input the
# row reads: executive_inputs.input_prefixes).
MONTHLY_INPUTS: Final = (
    schemas.ENGAGEMENT_DAILY,
    schemas.ACTIVE_USERS_DAILY,
    schemas.GROWTH_ACCOUNT_MONTHLY,
    schemas.REVENUE_ACCOUNT_MONTHLY,
)
# Glue names: lowercase letters, digits and underscores.
_GLUE_UNSAFE: Final = re.compile(r"[^a-z0-9_]")


def engine_for(period: Period, *, input_bytes: int, athena_min_bytes: int) -> str:
    """Athena for a month whose inputs reach `athena_min_bytes` of Parquet, else DuckDB (a
    week always: see the module's docstring)."""
    if period.grain == MONTH and input_bytes >= athena_min_bytes:
        return ATHENA
    return DUCKDB


def run_version(execution: str, started: str) -> str:
    """The version a run writes: its execution's name (new for each re-run and restatement)
    and a digest of its start, so two executions of the same name (on the two machines of a
    test, or after Step Functions forgets a name) never share a prefix."""
    digest = hashlib.sha256(f"{execution}@{started}".encode()).hexdigest()[:8]
    return f"{_safe(execution)}_{digest}"


def join_totals_partition(period: Period) -> str:
    """The period's partition of exec_join_totals: every version of it lives under here."""
    return f"{JOIN_TOTALS.prefix}/grain={period.grain}/period={period.name}/"


def join_totals_prefix(period: Period, version: str) -> str:
    """Where one run's join totals go: a prefix of its own inside the period's partition
    (`version=<v>`, as the engagement days' versions are named)."""
    return f"{join_totals_partition(period)}version={version}/"


def work_table_name(period: Period, version: str) -> str:
    """The Glue table the CREATE TABLE AS makes (dropped once its files are read); unique
    per run version, so a failed run's leftover never blocks a re-run."""
    digest = hashlib.sha256(f"{period.grain}/{period.name}/{version}".encode()).hexdigest()
    return f"{JOIN_TOTALS.name}_work_{digest[:16]}"


def monthly_join_sql(period: Period, *, tables: Mapping[str, str]) -> str:
    """The month's three aggregates and their join as one Athena query; `tables` maps each
    registry table name to its qualified Glue name (`"db"."table"`)."""
    accounts = (
        f"(SELECT {', '.join(executive.ACCOUNTS.names)} "
        f"FROM {tables[schemas.GROWTH_ACCOUNT_MONTHLY.name]} "
        f"WHERE month = {executive.sql_text(period.name)})"
    )
    engagement = executive.engagement_aggregate_sql(
        period,
        daily=tables[schemas.ENGAGEMENT_DAILY.name],
        active=tables[schemas.ACTIVE_USERS_DAILY.name],
    )
    revenue = (
        f"(SELECT {', '.join(executive.REVENUE_AGGREGATE.names)} "
        f"FROM {tables[schemas.REVENUE_ACCOUNT_MONTHLY.name]} "
        f"WHERE month = {executive.sql_text(period.name)})"
    )
    return executive.join_sql(accounts=accounts, engagement=f"({engagement})", revenue=revenue)


def qualified(database: str, tables: Iterable[schemas.Table]) -> dict[str, str]:
    return {t.name: f'"{database}"."{t.name}"' for t in tables}


def create_table_as(sql: str, *, database: str, table: str, location: str) -> str:
    """A CREATE TABLE AS writing `sql`'s rows as Parquet under `location` (an empty prefix:
    Athena refuses one that holds files)."""
    return (
        f'CREATE TABLE "{database}"."{table}"\n'
        f"WITH (format = 'PARQUET', external_location = {executive.sql_text(location)})\n"
        f"AS {sql.strip()}"
    )


def _safe(version: str) -> str:
    return _GLUE_UNSAFE.sub("_", version.lower()) or "run"
