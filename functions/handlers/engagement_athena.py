"""The Athena path of the daily engagement workflow: a day whose landed raw clicks reach
settings.athena_min_raw_bytes (engagement_steps.measure_day) is computed by Athena in the
pipelines workgroup, with the SQL of functions/core/transform/engagement_sql.py.

The workflow does the waiting: `start` starts the first query and returns a job, the
workflow waits (a Wait state of `poll_seconds`), `advance` checks the job's queries and,
once they all succeeded, starts the next stage or, after the last, publishes the day; each
call returns at once, so no Lambda sits out a long query. Stages:

1. `kept`: one row per event_id with its copies and whether its account is known (a working
   table where the workgroup keeps tables).
2. `outputs`: clicks, dedup_daily and engagement_user_daily written by CTAS to a new version
   prefix of the day (engagement_publish), the clicks of unknown accounts (a working
   table), and the distinct clicks per hour (a small result).
3. `daily`: stream completeness computed here from the hours and the producer counts (small),
   written to the version; engagement_daily by CTAS with the day's complete flag.

Then the five tables are published at once (engagement_publish.publish) and the day ends as
on the DuckDB path (engagement_steps.finish_day). `discard` (the workflow's Catch) deletes
an unpublished version: a failed run leaves the previous partition and files in place.
Working tables are dropped from Glue either way; their files expire with the results bucket.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any, Final

from aws_lambda_powertools import Logger

from functions.adapters import athena_queries, glue_catalog, s3_objects, state_table
from functions.core import schemas
from functions.core.engagement_state import DayState
from functions.core.errors import ValidationError
from functions.core.parquet import parquet_bytes
from functions.core.times import format_millis, parse_time
from functions.core.transform import engagement, engagement_sql
from functions.core.transform.engagement_sql import Relation
from functions.handlers import engagement_publish, engagement_steps
from functions.handlers.clients import client as _client
from functions.handlers.settings import Settings, settings

KEPT: Final = "kept"
OUTPUTS: Final = "outputs"
DAILY: Final = "daily"
# The working tables of a day's run, by what they hold (the outputs' are dropped once their
# partitions are published: the registry tables' partitions then point at their files).
WORKING: Final = ("kept", "clicks", "dedup", "user_daily", "unknown", "daily")
NEVER_AGGREGATED_MS: Final = 2**62  # an arrival no click reaches: nothing is late

logger = Logger()


def _working(config: Settings, job: dict[str, Any], kind: str) -> Relation:
    day = date.fromisoformat(job["day"]).strftime("%Y%m%d")
    return Relation(config.curated_database, f"engagement_{day}_{job['version']}_{kind}")


def _version_location(config: Settings, job: dict[str, Any], table: schemas.Table) -> str:
    day = date.fromisoformat(job["day"])
    prefix = engagement_publish.version_prefix(table, day, job["version"])
    return engagement_publish.location(config.curated_bucket, prefix)


def _start(config: Settings, sql: str) -> str:
    return athena_queries.start_query(
        _client("athena"),
        sql=sql,
        workgroup=config.athena_workgroup,
        database=config.curated_database,
    )


def start(event: dict[str, Any]) -> dict[str, Any]:
    """The day's job, its first stage started."""
    config = settings()
    time = event.get("time")
    if not isinstance(time, str):
        raise ValidationError("the event has no `time` (the run's 'now', ISO 8601 UTC)")
    day = date.fromisoformat(event["day"])
    state = state_table.get_day_state(_client("dynamodb"), table=config.state_table, day=day)
    job: dict[str, Any] = {
        "day": day.isoformat(),
        "time": time,
        "run_id": str(event["run_id"]),
        "reason": event.get("reason"),
        "version": uuid.uuid4().hex[:16],
        "state": {
            "aggregated_at": format_millis(state.aggregated_at) if state.aggregated_at else None,
            "marks": state.marks,
            "clean_marks": state.clean_marks,
        },
        "poll_seconds": config.athena_poll_seconds,
        "done": False,
    }
    # Athena reads a partitioned table's partitions from Glue: the day's raw partition
    # must be there before the query (the DuckDB path registers it after, as it reads S3).
    glue_catalog.register_partitions(
        _client("glue"),
        database=config.raw_database,
        table=schemas.RAW_CLICKS,
        bucket=config.raw_bucket,
        values=[[day.isoformat()]],
    )
    late_after = NEVER_AGGREGATED_MS
    if state.aggregated_at is not None:
        late_after = round(state.aggregated_at.timestamp() * 1000)
    kept = engagement_sql.kept_sql(
        raw_clicks=Relation(config.raw_database, schemas.RAW_CLICKS.name),
        account_events=Relation(config.raw_database, schemas.RAW_ACCOUNT_EVENTS.name),
        day=day,
        late_after_ms=late_after,
    )
    job.update(
        stage=KEPT,
        queries={KEPT: _start(config, engagement_sql.ctas(_working(config, job, KEPT), kept))},
    )
    logger.info("athena day started", extra={k: job[k] for k in ("day", "version", "run_id")})
    return job


def advance(event: dict[str, Any]) -> dict[str, Any]:
    """The job again: unchanged while its stage runs, at the next stage once it succeeded,
    `done` with the day's summary (`result`) after the last."""
    config = settings()
    job = dict(event["job"])
    queries: dict[str, str] = job["queries"]
    states = athena_queries.query_states(_client("athena"), list(queries.values()))
    if not athena_queries.all_succeeded(states):
        return job
    if job["stage"] == KEPT:
        return {**job, "stage": OUTPUTS, "queries": _start_outputs(config, job)}
    if job["stage"] == OUTPUTS:
        hours = queries["hours"]  # read again when the day is finished
        return {**job, "stage": DAILY, "hours": hours, "queries": _start_daily(config, job, hours)}
    return {**job, "done": True, "result": _finish(config, job)}


def _start_outputs(config: Settings, job: dict[str, Any]) -> dict[str, str]:
    day = date.fromisoformat(job["day"])
    kept = _working(config, job, KEPT)
    ctas = engagement_sql.ctas
    statements = {
        "clicks": ctas(
            _working(config, job, "clicks"),
            engagement_sql.clicks_sql(kept),
            location=_version_location(config, job, schemas.CLICKS),
        ),
        "dedup": ctas(
            _working(config, job, "dedup"),
            engagement_sql.dedup_sql(kept),
            location=_version_location(config, job, schemas.DEDUP_DAILY),
        ),
        "user_daily": ctas(
            _working(config, job, "user_daily"),
            engagement_sql.user_daily_sql(kept, day, gap_minutes=config.session_gap_minutes),
            location=_version_location(config, job, schemas.ENGAGEMENT_USER_DAILY),
        ),
        "unknown": ctas(_working(config, job, "unknown"), engagement_sql.unknown_clicks_sql(kept)),
        "hours": engagement_sql.landed_hours_sql(kept),
    }
    return {name: _start(config, sql) for name, sql in statements.items()}


def _completeness(config: Settings, job: dict[str, Any], hours: str) -> engagement.Completeness:
    """The day's stream completeness from the hours query's result and the producer counts."""
    rows = athena_queries.read_rows(_client("athena"), hours)
    landed = {
        datetime.fromtimestamp(int(str(r["epoch_hour"])) * 3600, UTC): int(str(r["clicks"]))
        for r in rows
    }
    return engagement_steps.completeness_of(config, date.fromisoformat(job["day"]), landed)


def _start_daily(config: Settings, job: dict[str, Any], hours: str) -> dict[str, str]:
    completeness = _completeness(config, job, hours)
    key = (
        engagement_publish.version_prefix(
            schemas.STREAM_COMPLETENESS, date.fromisoformat(job["day"]), job["version"]
        )
        + engagement_publish.DATA_FILE
    )
    s3_objects.put_object(
        _client("s3"),
        bucket=config.curated_bucket,
        key=key,
        body=parquet_bytes(completeness.hours, schemas.STREAM_COMPLETENESS),
    )
    daily = engagement_sql.engagement_daily_sql(
        _working(config, job, "user_daily"),
        complete=not engagement.outage_overlaps(
            date.fromisoformat(job["day"]), completeness.outages
        ),
    )
    statement = engagement_sql.ctas(
        _working(config, job, DAILY),
        daily,
        location=_version_location(config, job, schemas.ENGAGEMENT_DAILY),
    )
    return {DAILY: _start(config, statement)}


def _finish(config: Settings, job: dict[str, Any]) -> dict[str, Any]:
    s3, glue = _client("s3"), _client("glue")
    day = date.fromisoformat(job["day"])
    recorded = job["state"]
    state = DayState(
        day=day,
        aggregated_at=parse_time(recorded["aggregated_at"]) if recorded["aggregated_at"] else None,
        marks=int(recorded["marks"]),
        clean_marks=int(recorded["clean_marks"]),
    )
    previous = None
    if state.aggregated_at is not None:
        previous = engagement_publish.read_published(
            s3, glue, config, schemas.ENGAGEMENT_DAILY, day
        )
    read = engagement_publish.read_location
    dedup = read(s3, _version_location(config, job, schemas.DEDUP_DAILY), schemas.DEDUP_DAILY)
    daily = read(
        s3, _version_location(config, job, schemas.ENGAGEMENT_DAILY), schemas.ENGAGEMENT_DAILY
    )
    unknown_at = glue_catalog.table_location(
        glue, database=config.curated_database, name=_working(config, job, "unknown").name
    )
    unknown = read(s3, unknown_at, schemas.CLICKS)
    completeness = _completeness(config, job, job["hours"])
    versions = {table: job["version"] for table in engagement_publish.DAY_TABLES}
    restated = engagement_steps.restate(config, job, previous, daily, job["version"])
    engagement_publish.publish(s3, glue, config, day, versions)
    counts = dedup.to_pylist()[0]
    result = engagement_steps.finish_day(
        config,
        job,
        state=state,
        dedup=counts,
        clicks_rows=int(counts["rows_kept"]),
        daily=daily,
        restated=restated,
        completeness=completeness,
        unknown_account_clicks=unknown,
    )
    # Last, so a retried finish still finds the unknown accounts' clicks.
    _drop_working(config, job)
    return result


def _drop_working(config: Settings, job: dict[str, Any]) -> None:
    for kind in WORKING:
        glue_catalog.drop_table(
            _client("glue"), database=config.curated_database, name=_working(config, job, kind).name
        )


def discard(event: dict[str, Any]) -> dict[str, Any]:
    """After a failed run: its unpublished version and the restatements it recorded deleted,
    its working tables dropped; the previous version stays published."""
    config = settings()
    job = event["job"]
    day = date.fromisoformat(job["day"])
    versions = {table: job["version"] for table in engagement_publish.DAY_TABLES}
    deleted = engagement_publish.discard(_client("s3"), _client("glue"), config, day, versions)
    engagement_steps.discard_restatements(config, job, job["version"])
    _drop_working(config, job)
    logger.info("athena day discarded", extra={"day": job["day"], "deleted": len(deleted)})
    return {"day": job["day"], "deleted": len(deleted)}
