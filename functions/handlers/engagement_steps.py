"""The steps of the daily engagement workflow (functions/handlers/engagement_daily.py routes
to them): each reads with the adapters, computes with core (functions/core/transform/
engagement.py, engagement_state.py), writes with the adapters. "Now" is always the event's
`time`, never the wall clock. A day's tables are published as engagement_publish says (a
version prefix named by its bytes, then the Glue partition moved to it): a re-run that
computes the same bytes writes the same keys. The Athena path of a day that outgrew this
function is engagement_athena.py; both end in `finish_day`.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any, Final

import pyarrow as pa
import pyarrow.fs as pafs
from aws_lambda_powertools import Logger

from functions.adapters import glue_catalog, metrics, s3_objects, s3_tables, state_table
from functions.adapters.metrics import Datapoint
from functions.core import codes, definitions, metric_names, restatements, schemas
from functions.core.engagement_state import (
    ACTIVE_WINDOW_DAYS,
    DayState,
    active_user_days,
    awaiting_accounts,
    days_to_compute,
)
from functions.core.errors import ValidationError
from functions.core.parquet import parquet_bytes
from functions.core.times import format_millis, parse_time
from functions.core.transform import engagement
from functions.handlers import arrow_s3, engagement_publish
from functions.handlers.clients import client as _client
from functions.handlers.engagement_publish import DATA_FILE
from functions.handlers.settings import Settings, settings

# The engines measure_day chooses between (the workflow's Choice state names them too).
DUCKDB: Final = "duckdb"
ATHENA: Final = "athena"
VERSION_DIGEST_CHARS: Final = 16  # 64 bits of sha256: distinct versions of a day never meet
SCRATCH: Final = tempfile.gettempdir()  # /tmp on Lambda: its ephemeral storage
# Offered counts records and landed counts distinct clicks: duplicates (about 0.5%) and
# quarantined records open a small gap in every hour that is not data loss.
COMPLETENESS_TOLERANCE: Final = 0.05
COMPLETENESS_MIN_MISSING: Final = 10
# Every value of an engagement_daily row, each click type and `complete` (1/0) included:
# a restatement names whichever changed.
ENGAGEMENT_METRICS: Final = tuple(
    c.name
    for c in schemas.ENGAGEMENT_DAILY.columns
    if c.name not in {"account_id", "complete_reason"}
)
DAYS_COMPUTED_METRIC: Final = metric_names.ENGAGEMENT_DAYS_COMPUTED
RESTATED_METRIC: Final = "EngagementRestatements"
INCOMPLETE_HOURS_METRIC: Final = "StreamIncompleteHours"

logger = Logger()


@cache
def _engine() -> engagement.Engine:
    # DuckDB's share of a 2 GB budget: Python, Arrow and the Parquet writer live outside
    # its limit (the whole process peaks at ~1.5 GB on 50M clicks: bench/README.md).
    return engagement.Engine(memory_limit="1.4GB", temp_directory=f"{SCRATCH}/duckdb")


def _now(event: dict[str, Any]) -> datetime:
    text = event.get("time")
    if not isinstance(text, str):
        raise ValidationError("the event has no `time` (the run's 'now', ISO 8601 UTC)")
    return parse_time(text)


def plan(event: dict[str, Any]) -> dict[str, Any]:
    """The run: days to aggregate (explicit `days`, or yesterday + dirty days)."""
    config = settings()
    event = event.get("input", event)  # the workflow passes its whole input under "input"
    now = _now(event)
    explicit = event.get("days")
    if explicit:
        days = sorted({date.fromisoformat(d) for d in explicit})
    else:
        states = state_table.day_states(_client("dynamodb"), table=config.state_table)
        # The account events are read only when some day is waiting for an account.
        known = _known_accounts(config) if awaiting_accounts(states) else frozenset()
        days = days_to_compute(now, states, known)
    until = max(days[-1], now.date() - timedelta(days=1)) if days else now.date()
    run_id = str(event.get("run_id") or f"engagement-{now:%Y%m%dT%H%M%SZ}")
    result = {
        "time": format_millis(now),
        "run_id": run_id,
        "reason": str(event.get("reason") or codes.LATE_DATA),
        "days": [d.isoformat() for d in days],
        "active_days": [d.isoformat() for d in active_user_days(days, until=until)],
    }
    logger.info("plan", extra=result)
    return result


def measure_day(event: dict[str, Any]) -> dict[str, Any]:
    """Which engine computes the day: Athena when its landed raw clicks reach the configured
    bytes (settings.athena_min_raw_bytes), DuckDB in this function below them."""
    config = settings()
    day = date.fromisoformat(event["day"])
    prefix = s3_tables.partition_prefix(schemas.RAW_CLICKS, {"dt": day.isoformat()})
    landed = s3_objects.prefix_bytes(_client("s3"), bucket=config.raw_bucket, prefix=prefix)
    engine = ATHENA if landed >= config.athena_min_raw_bytes else DUCKDB
    result = {"engine": engine, "raw_bytes": landed, "threshold": config.athena_min_raw_bytes}
    logger.info("engine chosen", extra={"day": day.isoformat(), **result})
    return result


def aggregate_day(event: dict[str, Any]) -> dict[str, Any]:
    config = settings()
    _now(event)  # refuse an event without its time before any work
    day = date.fromisoformat(event["day"])
    s3, glue, dynamodb = _client("s3"), _client("glue"), _client("dynamodb")
    state = state_table.get_day_state(dynamodb, table=config.state_table, day=day)
    partition = {"dt": day.isoformat()}
    previous = None
    if state.aggregated_at is not None:
        previous = engagement_publish.read_published(
            s3, glue, config, schemas.ENGAGEMENT_DAILY, day
        )
    versions: dict[schemas.Table, str] = {}
    try:
        with tempfile.TemporaryDirectory(dir=SCRATCH) as scratch:
            raw, filesystem = _raw_day(config, partition, scratch)
            clicks_path = os.path.join(scratch, DATA_FILE)
            computed = engagement.engagement_day(
                raw,
                day,
                clicks_path=clicks_path,
                known_accounts=_known_accounts(config),
                first_aggregated_at=state.aggregated_at,
                gap_minutes=config.session_gap_minutes,
                filesystem=filesystem,
                engine=_engine(),
            )
            versions[schemas.CLICKS] = _file_version(clicks_path)
            clicks_key = (
                engagement_publish.version_prefix(schemas.CLICKS, day, versions[schemas.CLICKS])
                + DATA_FILE
            )
            s3_objects.upload_file(
                s3, bucket=config.curated_bucket, key=clicks_key, path=clicks_path
            )
        completeness = completeness_of(config, day, computed.landed_by_hour)
        daily = engagement.engagement_daily(
            computed.user_daily, day, outages=completeness.outages, engine=_engine()
        )
        outputs = {
            schemas.DEDUP_DAILY: computed.dedup,
            schemas.ENGAGEMENT_USER_DAILY: computed.user_daily,
            schemas.STREAM_COMPLETENESS: completeness.hours,
            schemas.ENGAGEMENT_DAILY: daily,
        }

        def write(item: tuple[schemas.Table, pa.Table]) -> None:
            # Recorded as each lands: a failed run discards every version it wrote.
            versions[item[0]] = _write_version(config, item[0], item[1], day)

        s3_objects.in_parallel(write, list(outputs.items()))
        restated = restate(config, event, previous, daily, versions[schemas.ENGAGEMENT_DAILY])
        engagement_publish.publish(s3, glue, config, day, versions)
    except Exception:
        engagement_publish.discard(s3, glue, config, day, versions)
        discard_restatements(config, event, versions.get(schemas.ENGAGEMENT_DAILY))
        raise
    return finish_day(
        config,
        event,
        state=state,
        dedup=computed.dedup.to_pylist()[0],
        clicks_rows=computed.clicks_rows,
        daily=daily,
        restated=restated,
        completeness=completeness,
        unknown_account_clicks=computed.unknown_account_clicks,
    )


def _raw_day(
    config: Settings, partition: dict[str, str], scratch: str
) -> tuple[list[str], pafs.S3FileSystem | None]:
    """The day's raw click files as engagement_day reads them: downloaded to `scratch` (the
    Lambda's /tmp) up to settings.raw_stage_max_bytes, read from S3 as they are scanned
    above (paths `bucket/key` on pyarrow's S3 filesystem); memory stays within the engine's
    limit either way (the clicks file is streamed up)."""
    s3, bucket = _client("s3"), config.raw_bucket
    prefix = s3_tables.partition_prefix(schemas.RAW_CLICKS, partition)
    listed = s3_objects.objects_under(s3, bucket=bucket, prefixes=[prefix])
    files = {key: obj for key, obj in listed.items() if s3_tables.is_data_key(key)}
    landed = sum(int(obj["Size"]) for obj in files.values())
    if landed > config.raw_stage_max_bytes:
        logger.info("raw clicks read from S3", extra={"raw_bytes": landed, "files": len(files)})
        return [f"{bucket}/{key}" for key in files], arrow_s3.filesystem()
    directory = os.path.join(scratch, "raw")
    os.mkdir(directory)
    etags = {key: str(obj["ETag"]) for key, obj in files.items()}
    return s3_tables.download_objects(s3, bucket=bucket, etags=etags, directory=directory), None


def finish_day(
    config: Settings,
    event: dict[str, Any],
    *,
    state: DayState,
    dedup: dict[str, Any],
    clicks_rows: int,
    daily: pa.Table,
    restated: int,
    completeness: engagement.Completeness,
    unknown_account_clicks: pa.Table,
) -> dict[str, Any]:
    """After a day is published, by either engine: the raw partition registered, unknown
    accounts' clicks quarantined, the day recorded as aggregated, the metrics (`restated`:
    the values `restate` recorded); the day's summary (the workflow's output)."""
    now = _now(event)
    day = date.fromisoformat(event["day"])
    run_id = str(event["run_id"])
    _register(config, schemas.RAW_CLICKS, {"dt": day.isoformat()}, database=config.raw_database)
    _quarantine_unknown_accounts(config, unknown_account_clicks, day, now)
    state_table.record_aggregated(
        _client("dynamodb"),
        table=config.state_table,
        day=day,
        at=now,
        seen_marks=state.marks,
        run_id=run_id,
        landed=int(dedup["rows_kept"]),
        unknown_accounts=engagement.unknown_accounts_of(unknown_account_clicks),
    )
    incomplete = sum(1 for c in completeness.hours.column("complete").to_pylist() if not c)
    metrics.put_metrics(
        _client("cloudwatch"),
        namespace=config.metrics_namespace,
        at=now,
        datapoints=[
            Datapoint(DAYS_COMPUTED_METRIC, 1),
            Datapoint(RESTATED_METRIC, restated),
            Datapoint(INCOMPLETE_HOURS_METRIC, incomplete),
        ],
    )
    result = {
        "day": day.isoformat(),
        "was_dirty": state.dirty,
        "first_time": state.aggregated_at is None,
        "clicks": clicks_rows,
        **{
            k: int(dedup[k])
            for k in (
                "rows_landed",
                "natural_duplicates",
                "synthetic_duplicates",
                "late_rows",
                "unknown_account_clicks",
            )
        },
        "accounts": daily.num_rows,
        "complete": incomplete == 0,
        "outages": [[format_millis(s), format_millis(e)] for s, e in completeness.outages],
        "restatements": restated,
    }
    logger.info("day aggregated", extra=result)
    return result


def completeness_of(
    config: Settings, day: date, landed_by_hour: dict[datetime, int]
) -> engagement.Completeness:
    """Producer counts of the day against the distinct clicks that landed, per hour."""
    counts = s3_tables.read_partition(
        _client("s3"),
        bucket=config.raw_bucket,
        table=schemas.PRODUCER_COUNTS,
        partitions={"dt": day.isoformat()},
    )
    return engagement.stream_completeness(
        counts,
        landed_by_hour,
        tolerance=COMPLETENESS_TOLERANCE,
        min_missing=COMPLETENESS_MIN_MISSING,
    )


def _file_version(path: str) -> str:
    """A version named by the file's bytes: the same bytes, the same keys."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:VERSION_DIGEST_CHARS]


def _write_version(config: Settings, table: schemas.Table, rows: pa.Table, day: date) -> str:
    """One file of the day's rows under a version named by its bytes; the version."""
    body = parquet_bytes(rows, table)
    version = hashlib.sha256(body).hexdigest()[:VERSION_DIGEST_CHARS]
    key = engagement_publish.version_prefix(table, day, version) + DATA_FILE
    s3_objects.put_object(_client("s3"), bucket=config.curated_bucket, key=key, body=body)
    return version


def active_users(event: dict[str, Any]) -> dict[str, Any]:
    """ACTIVE_USERS_DAILY for every day of `days` (30 days of user_daily each)."""
    config = settings()
    s3 = _client("s3")
    days = sorted(date.fromisoformat(d) for d in event.get("days", []))
    if not days:
        return {"days": [], "rows": 0}
    account_events = _account_events(config)
    first = days[0] - timedelta(days=ACTIVE_WINDOW_DAYS - 1)
    user_daily = s3_tables.read_days(
        s3,
        bucket=config.curated_bucket,
        table=schemas.ENGAGEMENT_USER_DAILY,
        first=first,
        last=days[-1],
    )
    tables = engagement.active_users_days(
        user_daily,
        engagement.seats_by_day(account_events, days),
        engine=_engine(),
    )
    rows = 0
    for day, table in tables.items():
        _write_curated(config, schemas.ACTIVE_USERS_DAILY, table, {"dt": day.isoformat()})
        rows += table.num_rows
    return {"days": [d.isoformat() for d in days], "rows": rows}


def _account_events(config: Settings) -> pa.Table:
    """Every raw account event (small: one row per account change); empty if none landed."""
    return s3_tables.read_files(
        _client("s3"), bucket=config.raw_bucket, table=schemas.RAW_ACCOUNT_EVENTS
    )


def _known_accounts(config: Settings) -> frozenset[str]:
    """The accounts a creating event created, from every raw account event landed so far
    (the growth pipeline's definition: definitions.known_accounts)."""
    return definitions.known_accounts(_account_events(config))


def _quarantine_unknown_accounts(
    config: Settings, clicks: pa.Table, day: date, now: datetime
) -> None:
    """The day's clicks of unknown accounts, in the day's one quarantine file (replaced by
    each run; removed when the day has none left, e.g. once a late creating event landed)."""
    key = (
        s3_tables.partition_prefix(
            schemas.QUARANTINE,
            {"pipeline": schemas.Pipeline.ENGAGEMENT.value, "dt": day.isoformat()},
        )
        + f"{engagement.UNKNOWN_ACCOUNT_CLICKS_FILE}.parquet"
    )
    s3 = _client("s3")
    if clicks.num_rows == 0:
        s3_objects.delete_object(s3, bucket=config.quarantine_bucket, key=key)
        return
    rows = engagement.unknown_account_quarantine(clicks, day, received_at=now)
    s3_objects.put_object(
        s3,
        bucket=config.quarantine_bucket,
        key=key,
        body=parquet_bytes(rows, schemas.QUARANTINE),
    )


def _write_curated(
    config: Settings, table: schemas.Table, rows: pa.Table, partitions: dict[str, str]
) -> None:
    _write_curated_body(config, table, parquet_bytes(rows, table), partitions)


def _write_curated_body(
    config: Settings, table: schemas.Table, body: bytes, partitions: dict[str, str]
) -> None:
    key = s3_tables.partition_prefix(table, partitions) + DATA_FILE
    s3_objects.put_object(_client("s3"), bucket=config.curated_bucket, key=key, body=body)
    _register(config, table, partitions, database=config.curated_database)


def _register(
    config: Settings, table: schemas.Table, partitions: dict[str, str], *, database: str
) -> None:
    bucket = config.raw_bucket if table.bucket is schemas.Bucket.RAW else config.curated_bucket
    glue_catalog.register_partitions(
        _client("glue"),
        database=database,
        table=table,
        bucket=bucket,
        values=[[partitions[k] for k in table.partition_names]],
    )


def restate(
    config: Settings,
    event: dict[str, Any],
    previous: pa.Table | None,
    daily: pa.Table,
    version: str,
) -> int:
    """Before a day is published: every published engagement_daily value (`previous`, None
    if the day never was) that the new rows (engagement_daily `version`) change, recorded
    under a key named by the run and that version; the count. Before, not after: once the
    new version is published the previous one is gone, so a run retried after its publish
    would find nothing changed and the change would never be recorded. A run that fails
    before that version is published takes them back (`discard_restatements`)."""
    if previous is None:
        return 0
    now = _now(event)
    day = date.fromisoformat(event["day"])
    rows = restatements.restatement_rows(
        previous,
        daily,
        key_cols=["account_id"],
        metric_cols=ENGAGEMENT_METRICS,
        table_name=schemas.ENGAGEMENT_DAILY.name,
        period=day.isoformat(),
        restated_at=now,
        run_id=str(event["run_id"]),
        reason=str(event.get("reason") or codes.LATE_DATA),
    )
    if rows.num_rows == 0:
        return 0
    # The partition first: a failure after the file landed would leave it for no discard.
    _register(
        config, schemas.RESTATEMENTS, _restatement_partition(now), database=config.curated_database
    )
    s3_objects.put_object(
        _client("s3"),
        bucket=config.curated_bucket,
        key=_restatement_key(event, version),
        body=parquet_bytes(rows, schemas.RESTATEMENTS),
    )
    return int(rows.num_rows)


def discard_restatements(config: Settings, event: dict[str, Any], version: str | None) -> None:
    """After a failed run: delete the restatements recorded for its engagement_daily
    `version` (None: it wrote none) unless that version is the published one (the values
    they name are then the published values). Another attempt's, under its own version,
    are left alone."""
    if version is None:
        return
    day = date.fromisoformat(event["day"])
    bucket = config.curated_bucket
    published = engagement_publish.published_location(
        _client("glue"), config, schemas.ENGAGEMENT_DAILY, day
    )
    prefix = engagement_publish.version_prefix(schemas.ENGAGEMENT_DAILY, day, version)
    if published == engagement_publish.location(bucket, prefix):
        return
    s3_objects.delete_keys(_client("s3"), bucket=bucket, keys=[_restatement_key(event, version)])


def _restatement_partition(now: datetime) -> dict[str, str]:
    return {"month": now.strftime("%Y-%m")}


def _restatement_key(event: dict[str, Any], version: str) -> str:
    """The run's restatements of its day by the engagement_daily `version` they compare:
    an attempt that computes the same version (the DuckDB path names it by its bytes)
    writes the same key, and a failed attempt's discard never reaches another's (the
    Athena path names a version per attempt)."""
    now = _now(event)
    return (
        s3_tables.partition_prefix(schemas.RESTATEMENTS, _restatement_partition(now))
        + f"{schemas.ENGAGEMENT_DAILY.name}-{event['day']}-{event['run_id']}-{version}.parquet"
    )
