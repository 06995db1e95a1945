"""Lambda entry point of the weekly experiment workflow (experiments_weekly.asl.json).

Input: `{"action": "assignments" | "analyse", "request": <the workflow input>}`, where the
workflow input is the scheduled event (its `time` is the run's "now") or
`{"time": ISO 8601, "week": "YYYY-MM-DD"}` to rebuild the week ending that Sunday (a
backfill). Without `week`, the week is the latest one whose Sunday is over.

- assignments: experiment_assignments (every experiment, every unit) from raw_assignments;
  assignments of account units that no account event created are quarantined
  `unknown_account` (their quarantine files rewritten by every run, so each is there once).
- analyse: experiment_unit_daily (every day from each unit's exposure through the week's
  Sunday), experiment_covariates (CUPED pre-period) and experiment_health_weekly of the
  week; every value of a unit day published before that the rebuild changed is logged in
  restatements (old, new, why); publishes ExperimentsFailingSrm (experiments whose SRM
  p-value is below the threshold) at "now"; answers the flagged experiments for the
  workflow's Choice.
Every file has one deterministic key per partition: re-running overwrites, byte-identical.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, Final

import pyarrow as pa
import pyarrow.compute as pc
from aws_lambda_powertools import Logger

from functions.adapters import metrics, s3_tables
from functions.core import codes, experiment_definitions, metric_names, restatements, schemas
from functions.core import definitions as business
from functions.core.errors import ValidationError
from functions.core.times import parse_event_time
from functions.core.transform import experiments
from functions.handlers.clients import client
from functions.handlers.curated_tables import write_curated
from functions.handlers.settings import Settings, settings

SRM_METRIC: Final = metric_names.EXPERIMENTS_FAILING_SRM
OUTPUT_NAME: Final = "experiments-weekly"
# Every value of a unit day: a restatement names whichever changed.
UNIT_DAILY_KEY: Final = ("unit_id",)
UNIT_DAY_KEY: Final = ("experiment_id", "dt", *UNIT_DAILY_KEY)  # a row's key in the table
UNIT_DAILY_METRICS: Final = tuple(
    c.name
    for c in schemas.EXPERIMENT_UNIT_DAILY.columns
    if c.name not in {"unit_type", "unit_id", "variant", "date"}
)

logger = Logger()


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = event.get("request", event)
    if not isinstance(request, dict):
        raise ValidationError("experiment workflow input must be an object", reason="bad_event")
    now, week = run_request(request)
    action = event.get("action")
    if action == "assignments":
        return build_assignments(settings(), now, week)
    if action == "analyse":
        return analyse(settings(), now, week)
    raise ValidationError(f"unknown action {action!r}", reason="bad_event")


def run_request(request: dict[str, Any]) -> tuple[datetime, date]:
    """(now, the week's Sunday) of a workflow input."""
    time_text = request.get("time")
    if not isinstance(time_text, str):
        raise ValidationError("experiment workflow input needs `time`", reason="bad_event")
    now = parse_event_time(time_text)
    week_text = request.get("week")
    if week_text is None:
        return now, experiments.last_closed_week(now)
    try:
        week = date.fromisoformat(str(week_text))
    except ValueError as exc:
        raise ValidationError(f"week {week_text!r} is not YYYY-MM-DD", reason="bad_event") from exc
    if week.weekday() != 6:
        raise ValidationError(f"week {week} is not a Sunday", reason="bad_event")
    return now, week


def build_assignments(config: Settings, now: datetime, week: date) -> dict[str, Any]:
    s3 = client("s3")
    raw = s3_tables.read_table(s3, bucket=config.raw_bucket, table=schemas.RAW_ASSIGNMENTS)
    known = business.known_accounts(
        s3_tables.read_table(s3, bucket=config.raw_bucket, table=schemas.RAW_ACCOUNT_EVENTS)
    )
    split = experiments.split_unknown_accounts(raw, known, received_at=now)
    _quarantine_unknown_accounts(config, split.quarantined)
    table = experiments.assignments_table(split.known)
    keys = write_curated(schemas.EXPERIMENT_ASSIGNMENTS, table, name=OUTPUT_NAME)
    answer = {
        "week": week.isoformat(),
        # raw_assignments = assignments + duplicate_assignments + unknown_account_assignments
        "raw_assignments": raw.num_rows,
        "assignments": split.known.num_rows,
        "duplicate_assignments": split.duplicates,
        "unknown_account_assignments": split.quarantined.num_rows,
        "units": table.num_rows,
        "units_multiple_variants": sum(table.column("multiple_variants").to_pylist()),
        "files": len(keys),
    }
    logger.info("experiment assignments built", extra=answer)
    return answer


def analyse(config: Settings, now: datetime, week: date) -> dict[str, Any]:
    s3 = client("s3")
    curated, raw = config.curated_bucket, config.raw_bucket
    assignments = s3_tables.read_table(s3, bucket=curated, table=schemas.EXPERIMENT_ASSIGNMENTS)
    definitions = experiment_definitions.definitions_from_table(
        s3_tables.read_table(s3, bucket=raw, table=schemas.RAW_EXPERIMENTS)
    )
    window = config.pre_period_days
    span = experiments.engagement_days_needed(assignments, week=week, window_days=window)
    first, last = span or (week, week - timedelta(days=1))  # an empty range: nobody exposed
    inputs = experiments.Inputs(
        assignments=assignments,
        engagement_daily=s3_tables.read_days(
            s3, bucket=curated, table=schemas.ENGAGEMENT_DAILY, first=first, last=last
        ),
        user_daily=s3_tables.read_days(
            s3, bucket=curated, table=schemas.ENGAGEMENT_USER_DAILY, first=first, last=last
        ),
        account_events=s3_tables.read_table(s3, bucket=raw, table=schemas.RAW_ACCOUNT_EVENTS),
    )
    data_through = s3_tables.newest_day(s3, bucket=curated, table=schemas.ENGAGEMENT_DAILY)
    built = experiments.unit_metrics(
        inputs, week=week, data_through=data_through, window_days=window
    )
    health = experiments.health_table(
        assignments,
        definitions,
        week=week,
        units_no_data=built.units_no_data,
        threshold=config.srm_p_threshold,
    )
    previous = _published_unit_days(config, built.unit_daily)
    daily_keys = write_curated(schemas.EXPERIMENT_UNIT_DAILY, built.unit_daily, name=OUTPUT_NAME)
    removed = _remove_stale_days(config, assignments, daily_keys, week)
    restated = _restate(config, previous, built.unit_daily, now=now)
    write_curated(schemas.EXPERIMENT_COVARIATES, built.covariates, name=OUTPUT_NAME)
    write_curated(schemas.EXPERIMENT_HEALTH_WEEKLY, health, name=OUTPUT_NAME)
    rows = health.to_pylist()
    failing = [r["experiment_id"] for r in rows if r["srm_flag"]]
    metrics.put_count(
        client("cloudwatch"),
        namespace=config.metrics_namespace,
        metric=SRM_METRIC,
        dimensions={},
        at=now,
        count=len(failing),
    )
    answer = {
        "week": week.isoformat(),
        "data_through": built.last_day.isoformat() if built.last_day else None,
        "srm_p_threshold": config.srm_p_threshold,
        "pre_period_days": window,
        "unit_days": built.unit_daily.num_rows,
        "stale_files_removed": len(removed),
        "restatements": restated,
        "experiments": [_summary(r) for r in rows],
        "srm_failed": failing,
        "srm_failed_count": len(failing),
    }
    logger.info("experiment week analysed", extra=answer)
    return answer


def _summary(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "experiment_id": row["experiment_id"],
        "units": row["units"],
        "observed_split": dict(row["observed_split"]),
        "p_value": row["p_value"],
        "srm_flag": row["srm_flag"],
        "units_multiple_variants": row["units_multiple_variants"],
        "units_no_data": row["units_no_data"],
    }


def _quarantine_unknown_accounts(config: Settings, rows: pa.Table) -> None:
    """The unknown_account rows, one file per day at fixed keys; the files of days with
    none left (e.g. the account's creating event landed since) are removed."""
    s3 = client("s3")
    keys = s3_tables.write_partitioned(
        s3,
        bucket=config.quarantine_bucket,
        table=schemas.QUARANTINE,
        rows=rows,
        name=experiments.UNKNOWN_ACCOUNT_ASSIGNMENTS_FILE,
        kms=False,
    )
    s3_tables.delete_stale(
        s3,
        bucket=config.quarantine_bucket,
        prefix=f"{schemas.QUARANTINE.prefix}/pipeline={schemas.Pipeline.EXPERIMENT.value}/",
        name=experiments.UNKNOWN_ACCOUNT_ASSIGNMENTS_FILE,
        keep=keys,
    )


def _published_unit_days(config: Settings, rebuilt: pa.Table) -> pa.Table:
    """The unit-day rows already published for the days this rebuild wrote (a day built
    for the first time has none: a new day is no restatement)."""
    if rebuilt.num_rows == 0:
        return rebuilt
    published = s3_tables.read_table(
        client("s3"), bucket=config.curated_bucket, table=schemas.EXPERIMENT_UNIT_DAILY
    )
    last = pc.max(rebuilt.column("dt"))
    return published.filter(pc.less_equal(published.column("dt"), last))


def _restate(config: Settings, previous: pa.Table, rebuilt: pa.Table, *, now: datetime) -> int:
    """Log every value of an already-published unit day that the rebuild changed (old,
    new, why) in restatements, through engagement's one restatement builder; the count.
    The rebuild follows late inputs (clicks, account events, assignments): `late_data`."""
    if previous.num_rows == 0:
        return 0
    run_id = f"{OUTPUT_NAME}-{now:%Y%m%dT%H%M%SZ}"
    published = set(zip(*_pairs(previous), strict=True))
    # Only the days with a row that may have changed are compared.
    previous, rebuilt = restatements.without_unchanged(
        previous, rebuilt, key_cols=UNIT_DAY_KEY, metric_cols=UNIT_DAILY_METRICS
    )
    changed = set(zip(*_pairs(previous), strict=True)) | set(zip(*_pairs(rebuilt), strict=True))
    parts = []
    for experiment_id, dt in sorted(published & changed):
        parts.append(
            restatements.restatement_rows(
                _one_day(previous, experiment_id, dt),
                _one_day(rebuilt, experiment_id, dt),
                key_cols=UNIT_DAILY_KEY,
                metric_cols=UNIT_DAILY_METRICS,
                table_name=schemas.EXPERIMENT_UNIT_DAILY.name,
                period=f"{experiment_id}/{dt}",
                restated_at=now,
                run_id=run_id,
                reason=codes.LATE_DATA,
            )
        )
    if not parts:
        return 0
    rows = pa.concat_tables(parts)
    if rows.num_rows:
        write_curated(
            schemas.RESTATEMENTS,
            rows,
            name=f"{schemas.EXPERIMENT_UNIT_DAILY.name}-{run_id}",
        )
    return int(rows.num_rows)


def _pairs(table: pa.Table) -> tuple[list[str], list[str]]:
    return table.column("experiment_id").to_pylist(), table.column("dt").to_pylist()


def _one_day(table: pa.Table, experiment_id: str, dt: str) -> pa.Table:
    mask = pc.and_(
        pc.equal(table.column("experiment_id"), experiment_id), pc.equal(table.column("dt"), dt)
    )
    return table.filter(mask)


def _remove_stale_days(
    config: Settings, assignments: Any, written: list[str], week: date
) -> list[str]:
    """Unit-day files of days up to the week that this rebuild did not produce (e.g. every
    row of the day belonged to a unit since flagged with multiple variants)."""
    removed: list[str] = []
    table = schemas.EXPERIMENT_UNIT_DAILY
    for experiment_id in sorted(set(assignments.column("experiment_id").to_pylist())):
        removed += s3_tables.delete_stale(
            client("s3"),
            bucket=config.curated_bucket,
            prefix=f"{table.prefix}/experiment_id={experiment_id}/",
            name=OUTPUT_NAME,
            keep=written,
            through_dt=week.isoformat(),
        )
    return removed
