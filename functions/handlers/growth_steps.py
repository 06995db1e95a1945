"""The steps of the weekly growth workflow (functions/handlers/growth_weekly.py routes to
them): each reads with the adapters, computes with core (functions/core/transform/growth.py),
writes with the adapters. Every file has one deterministic key per partition: re-running
overwrites, byte-identical.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

import pyarrow.compute as pc
from aws_lambda_powertools import Logger

from functions.adapters import glue_catalog, metrics, s3_objects, s3_tables
from functions.adapters.metrics import Datapoint
from functions.core import metric_names, schemas
from functions.core.ingest import account_events
from functions.core.transform import growth, growth_paths
from functions.handlers.clients import client as _client
from functions.handlers.settings import Settings

RESTATE_WEEKS: Final = 4  # account events are recorded up to 3 days late
CLOSED_WEEKS_CHECKED: Final = 4
RESTATE_MONTHS: Final = 2
SNAPSHOT_MISSING_METRIC: Final = metric_names.GROWTH_CLOSED_WEEK_SNAPSHOTS_MISSING
INFERRED_SHARE_METRIC: Final = metric_names.GROWTH_INFERRED_STATUS_SHARE_PERCENT
LIFECYCLE_ISSUES_METRIC: Final = "GrowthLifecycleIssues"
UNKNOWN_ACCOUNT_METRIC: Final = "GrowthUnknownAccountEvents"
UNKNOWN_ACCOUNTS_FILE: Final = "account_events_unknown_accounts"

logger = Logger()


def _landed(config: Settings, now: datetime) -> account_events.KnownSplit:
    raw = s3_tables.read_files(
        _client("s3"), bucket=config.raw_bucket, table=schemas.RAW_ACCOUNT_EVENTS
    )
    return account_events.split_unknown_accounts(raw, received_at=now)


def _replays(landed: account_events.KnownSplit) -> dict[str, Any]:
    return growth.replay_accounts(account_events.events_from_table(landed.known))


def _write(config: Settings, key: str, table: Any, registry: schemas.Table) -> None:
    s3_tables.put_file(
        _client("s3"), bucket=config.curated_bucket, key=key, rows=table, table=registry
    )


def build_snapshots(config: Settings, now: datetime) -> dict[str, Any]:
    landed = _landed(config, now)
    replays = _replays(landed)
    _quarantine_unknown_accounts(config, landed, now)
    # Checked BEFORE this run writes: a closed week whose snapshot is still missing now was
    # not ready by its end (a skipped or failed run); this run then repairs it.
    missing = _missing_closed_weeks(config, now)
    weeks = growth.weeks_to_build(now, restate_weeks=RESTATE_WEEKS)
    latest_quality = growth.SnapshotQuality(0, 0)
    for week in weeks:
        snapshot = growth.snapshot_table(replays, week)
        _write(
            config,
            growth_paths.snapshot_key(week.isoformat()),
            snapshot,
            schemas.ACCOUNT_STATUS_WEEKLY,
        )
        latest_quality = growth.snapshot_quality(snapshot)
    issue_months = _write_issues(config, replays)
    glue = _client("glue")
    for registry, values in (
        (schemas.ACCOUNT_STATUS_WEEKLY, [(w.isoformat(),) for w in weeks]),
        (schemas.LIFECYCLE_ISSUES, [(m,) for m in issue_months]),
    ):
        glue_catalog.register_partitions(
            glue,
            database=config.curated_database,
            table=registry,
            bucket=config.curated_bucket,
            values=values,
        )
    issues = sum(len(r.issues) for r in replays.values())
    datapoints = [
        Datapoint(SNAPSHOT_MISSING_METRIC, len(missing)),
        Datapoint(INFERRED_SHARE_METRIC, latest_quality.share_percent, "Percent"),
        Datapoint(LIFECYCLE_ISSUES_METRIC, issues),
        Datapoint(UNKNOWN_ACCOUNT_METRIC, landed.quarantined.num_rows),
    ]
    metrics.put_metrics(
        _client("cloudwatch"),
        namespace=config.metrics_namespace,
        at=now,
        datapoints=sorted(datapoints, key=lambda point: point.metric),
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
    config: Settings, landed: account_events.KnownSplit, now: datetime
) -> None:
    """This run's `unknown_account` rows, one file per run day (a re-run overwrites it);
    nothing is written when every account is known."""
    if not landed.quarantined.num_rows:
        return
    s3_tables.put_file(
        _client("s3"),
        bucket=config.quarantine_bucket,
        key=growth_paths.quarantine_key(UNKNOWN_ACCOUNTS_FILE, now.strftime("%Y-%m-%d")),
        rows=landed.quarantined,
        table=schemas.QUARANTINE,
    )


def _write_issues(config: Settings, replays: dict[str, Any]) -> list[str]:
    """The whole issues table, one file per month; months with no issue left are removed
    (a late event can close a gap), so the table always says what the data says now."""

    table = growth.issues_table(replays)
    months = sorted(set(table.column("month").to_pylist()))
    for month in months:
        part = table.filter(pc.equal(table.column("month"), month))
        _write(config, growth_paths.issues_key(month), part, schemas.LIFECYCLE_ISSUES)
    s3 = _client("s3")
    wanted = {growth_paths.issues_key(m) for m in months}
    stale = [
        k
        for k in s3_objects.list_keys(
            s3, bucket=config.curated_bucket, prefix=schemas.LIFECYCLE_ISSUES.prefix + "/"
        )
        if k not in wanted
    ]
    if stale:
        s3_objects.delete_keys(s3, bucket=config.curated_bucket, keys=stale)
    return months


def _missing_closed_weeks(config: Settings, now: datetime) -> list[str]:
    present = s3_objects.list_keys(
        _client("s3"),
        bucket=config.curated_bucket,
        prefix=schemas.ACCOUNT_STATUS_WEEKLY.prefix + "/",
    )
    return growth.missing_closed_weeks(present, now, count=CLOSED_WEEKS_CHECKED)


def build_months(config: Settings, now: datetime, months: list[str]) -> dict[str, Any]:
    replays = _replays(_landed(config, now))
    figures: dict[str, dict[str, Any]] = {}
    for month in sorted(months):
        rows = growth.account_months(replays, month)
        _write(
            config,
            growth_paths.account_monthly_key(month),
            growth.account_monthly_table(rows),
            schemas.GROWTH_ACCOUNT_MONTHLY,
        )
        _write(
            config,
            growth_paths.monthly_key(month),
            growth.monthly_table(month, rows),
            schemas.GROWTH_MONTHLY,
        )
        figures[month] = growth.monthly_row(month, rows)
    glue = _client("glue")
    for registry in (schemas.GROWTH_ACCOUNT_MONTHLY, schemas.GROWTH_MONTHLY):
        glue_catalog.register_partitions(
            glue,
            database=config.curated_database,
            table=registry,
            bucket=config.curated_bucket,
            values=[(m,) for m in months],
        )
    result = {"action": "monthly", "time": now.isoformat(), "months": figures}
    logger.info("growth months built", extra={"months": sorted(figures)})
    return result
