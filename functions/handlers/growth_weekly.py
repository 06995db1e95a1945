"""Lambda entry point of the weekly growth workflow (state_machines/growth_weekly.asl.json).

Input: `{"action": "snapshot" | "monthly", "time": "<ISO 8601>"}`, where `time` is the
scheduled event's time (the run's "now"); optional `"months": ["YYYY-MM", ...]` rebuilds
those months (a backfill) instead of the closed months.

- snapshot: the week of `time` and the RESTATE_WEEKS before it (account_status_weekly),
  the whole lifecycle_issues table (stale months removed), Glue partitions, the events of
  accounts that no account event created quarantined as `unknown_account` (left out of every
  table), and the alarm metrics (closed weeks without a snapshot; share of inferred or
  unknown statuses) with the counts.
- monthly: growth_account_monthly and growth_monthly of the RESTATE_MONTHS latest closed
  months, Glue partitions, and the figures of the latest one in the answer.
Every file has one deterministic key per partition: re-running overwrites, byte-identical.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, Final

from aws_lambda_powertools import Logger

from functions.adapters import glue_catalog, growth_io, s3_objects
from functions.core import env, metric_names, schemas
from functions.core.errors import ValidationError
from functions.core.ingest import account_events
from functions.core.parquet import parquet_bytes
from functions.core.times import parse_event_time
from functions.core.transform import growth, growth_paths
from functions.handlers.clients import client as _client

RESTATE_WEEKS: Final = 4  # account events are recorded up to 3 days late
CLOSED_WEEKS_CHECKED: Final = 4
RESTATE_MONTHS: Final = 2
SNAPSHOT_MISSING_METRIC: Final = metric_names.GROWTH_CLOSED_WEEK_SNAPSHOTS_MISSING
INFERRED_SHARE_METRIC: Final = metric_names.GROWTH_INFERRED_STATUS_SHARE_PERCENT
LIFECYCLE_ISSUES_METRIC: Final = "GrowthLifecycleIssues"
UNKNOWN_ACCOUNT_METRIC: Final = "GrowthUnknownAccountEvents"
UNKNOWN_ACCOUNTS_FILE: Final = "account_events_unknown_accounts"

logger = Logger()


@dataclass(frozen=True)
class Settings:
    raw_bucket: str
    quarantine_bucket: str
    curated_bucket: str
    curated_database: str
    metrics_namespace: str


@cache
def _settings() -> Settings:
    return Settings(
        raw_bucket=os.environ[env.RAW_BUCKET],
        quarantine_bucket=os.environ[env.QUARANTINE_BUCKET],
        curated_bucket=os.environ[env.CURATED_BUCKET],
        curated_database=os.environ[env.GLUE_DATABASE_CURATED],
        metrics_namespace=os.environ[env.METRICS_NAMESPACE],
    )


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    action = event.get("action")
    time_text = event.get("time")
    if not isinstance(time_text, str):
        raise ValidationError("growth workflow input needs `time` (ISO 8601)", reason="bad_event")
    now = parse_event_time(time_text)
    if action == "snapshot":
        return build_snapshots(_settings(), now)
    if action == "monthly":
        months = event.get("months") or growth.closed_months(now, count=RESTATE_MONTHS)
        return build_months(_settings(), now, [str(m) for m in months])
    raise ValidationError(f"unknown action {action!r}", reason="bad_event")


def _landed(settings: Settings, now: datetime) -> account_events.KnownSplit:
    raw = s3_objects.read_files(
        _client("s3"), bucket=settings.raw_bucket, table=schemas.RAW_ACCOUNT_EVENTS
    )
    return account_events.split_unknown_accounts(raw, received_at=now)


def _replays(landed: account_events.KnownSplit) -> dict[str, Any]:
    return growth.replay_accounts(account_events.events_from_table(landed.known))


def _write(settings: Settings, key: str, table: Any, registry: schemas.Table) -> None:
    growth_io.put_object(
        _client("s3"),
        bucket=settings.curated_bucket,
        key=key,
        body=parquet_bytes(table, registry),
    )


def build_snapshots(settings: Settings, now: datetime) -> dict[str, Any]:
    landed = _landed(settings, now)
    replays = _replays(landed)
    _quarantine_unknown_accounts(settings, landed, now)
    # Checked BEFORE this run writes: a closed week whose snapshot is still missing now was
    # not ready by its end (a skipped or failed run); this run then repairs it.
    missing = _missing_closed_weeks(settings, now)
    weeks = growth.weeks_to_build(now, restate_weeks=RESTATE_WEEKS)
    latest_quality = growth.SnapshotQuality(0, 0)
    for week in weeks:
        snapshot = growth.snapshot_table(replays, week)
        _write(
            settings,
            growth_paths.snapshot_key(week.isoformat()),
            snapshot,
            schemas.ACCOUNT_STATUS_WEEKLY,
        )
        latest_quality = growth.snapshot_quality(snapshot)
    issue_months = _write_issues(settings, replays)
    glue = _client("glue")
    for registry, values in (
        (schemas.ACCOUNT_STATUS_WEEKLY, [(w.isoformat(),) for w in weeks]),
        (schemas.LIFECYCLE_ISSUES, [(m,) for m in issue_months]),
    ):
        glue_catalog.register_partitions(
            glue,
            database=settings.curated_database,
            table=registry,
            bucket=settings.curated_bucket,
            values=values,
        )
    issues = sum(len(r.issues) for r in replays.values())
    growth_io.put_values(
        _client("cloudwatch"),
        namespace=settings.metrics_namespace,
        values={
            SNAPSHOT_MISSING_METRIC: (len(missing), "Count"),
            INFERRED_SHARE_METRIC: (latest_quality.share_percent, "Percent"),
            LIFECYCLE_ISSUES_METRIC: (issues, "Count"),
            UNKNOWN_ACCOUNT_METRIC: (landed.quarantined.num_rows, "Count"),
        },
        at=now,
    )
    result = {
        "action": "snapshot",
        "time": now.isoformat(),
        "weeks": [w.isoformat() for w in weeks],
        "accounts": latest_quality.accounts,
        "inferred_or_unknown": latest_quality.inferred_or_unknown,
        "inferred_share_percent": round(latest_quality.share_percent, 3),
        "lifecycle_issues": issues,
        "issue_months": issue_months,
        "missing_closed_weeks": missing,
        "unknown_account_events": landed.quarantined.num_rows,
        "unknown_accounts": list(landed.unknown_accounts),
    }
    logger.info("growth snapshots built", extra=result)
    return result


def _quarantine_unknown_accounts(
    settings: Settings, landed: account_events.KnownSplit, now: datetime
) -> None:
    """This run's `unknown_account` rows, one file per run day (a re-run overwrites it);
    nothing is written when every account is known."""
    if not landed.quarantined.num_rows:
        return
    growth_io.put_object(
        _client("s3"),
        bucket=settings.quarantine_bucket,
        key=growth_paths.quarantine_key(UNKNOWN_ACCOUNTS_FILE, now.strftime("%Y-%m-%d")),
        body=parquet_bytes(landed.quarantined, schemas.QUARANTINE),
    )


def _write_issues(settings: Settings, replays: dict[str, Any]) -> list[str]:
    """The whole issues table, one file per month; months with no issue left are removed
    (a late event can close a gap), so the table always says what the data says now."""
    import pyarrow.compute as pc  # noqa: PLC0415

    table = growth.issues_table(replays)
    months = sorted(set(table.column("month").to_pylist()))
    for month in months:
        part = table.filter(pc.equal(table.column("month"), month))
        _write(settings, growth_paths.issues_key(month), part, schemas.LIFECYCLE_ISSUES)
    s3 = _client("s3")
    wanted = {growth_paths.issues_key(m) for m in months}
    stale = [
        k
        for k in s3_objects.list_keys(
            s3, bucket=settings.curated_bucket, prefix=schemas.LIFECYCLE_ISSUES.prefix + "/"
        )
        if k not in wanted
    ]
    if stale:
        growth_io.delete_keys(s3, bucket=settings.curated_bucket, keys=stale)
    return months


def _missing_closed_weeks(settings: Settings, now: datetime) -> list[str]:
    present = set(
        s3_objects.list_keys(
            _client("s3"),
            bucket=settings.curated_bucket,
            prefix=schemas.ACCOUNT_STATUS_WEEKLY.prefix + "/",
        )
    )
    if not present:
        return []  # the first run of a deployment: nothing was due before it
    first = min(present)
    weeks = growth.closed_weeks(now, count=CLOSED_WEEKS_CHECKED)
    keys = [growth_paths.snapshot_key(w.isoformat()) for w in weeks]
    return [k.split("week=")[1][:10] for k in keys if k >= first and k not in present]


def build_months(settings: Settings, now: datetime, months: list[str]) -> dict[str, Any]:
    replays = _replays(_landed(settings, now))
    figures: dict[str, dict[str, Any]] = {}
    for month in sorted(months):
        rows = growth.account_months(replays, month)
        _write(
            settings,
            growth_paths.account_monthly_key(month),
            growth.account_monthly_table(rows),
            schemas.GROWTH_ACCOUNT_MONTHLY,
        )
        _write(
            settings,
            growth_paths.monthly_key(month),
            growth.monthly_table(month, rows),
            schemas.GROWTH_MONTHLY,
        )
        figures[month] = growth.monthly_row(month, rows)
    glue = _client("glue")
    for registry in (schemas.GROWTH_ACCOUNT_MONTHLY, schemas.GROWTH_MONTHLY):
        glue_catalog.register_partitions(
            glue,
            database=settings.curated_database,
            table=registry,
            bucket=settings.curated_bucket,
            values=[(m,) for m in months],
        )
    result = {"action": "monthly", "time": now.isoformat(), "months": figures}
    logger.info("growth months built", extra={"months": sorted(figures)})
    return result
