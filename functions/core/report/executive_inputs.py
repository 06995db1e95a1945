"""What a published exec_kpi row was built from, so it can follow its inputs (pure).

A KPI row is built from fixed partitions of curated tables (the period's engagement days,
its growth tables, its profit month) and, for a month, the profit pipeline's status of the
month. `input_prefixes` names them; the version of an input is the sorted (key, ETag) list
of its Parquet files plus that status. Each build records the versions it read (listed
before reading, so a change racing the read shows as a difference next time, never the
other way round); the daily check compares them with what S3 holds now and starts a
restatement run of every period whose inputs changed (`changed_inputs`). A late account
event, a backfill, a replayed outage or a sign-off then rebuilds the row: its changed
values become restatements (reason `late_data`) and its status is decided again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, Final

from functions.core import schemas
from functions.core.backfills import ENGAGEMENT, GROWTH, PROFIT
from functions.core.report.executive_period import MONTH, WEEK, Period

# How far back the daily check looks for published rows whose inputs changed: the months
# the preliminary alarm watches, and the weeks the growth pipeline still restates.
RESTATE_LOOKBACK: Final = {MONTH: 3, WEEK: 6}


def _prefix(table: schemas.Table, partitions: Mapping[str, str]) -> str:
    path = "/".join(f"{k}={partitions[k]}" for k in table.partition_names)
    return f"{table.prefix}/{path}/"


def input_prefixes(period: Period) -> dict[str, list[str]]:
    """Per upstream, the curated-bucket prefixes (one partition each) the row reads."""
    engagement = [
        _prefix(schemas.ENGAGEMENT_DAILY, {"dt": day.isoformat()}) for day in period.dates()
    ]
    engagement.append(_prefix(schemas.ACTIVE_USERS_DAILY, {"dt": period.end.isoformat()}))
    if period.grain == WEEK:
        growth = [
            _prefix(schemas.ACCOUNT_STATUS_WEEKLY, {"week": p.name})
            for p in (period, period.previous())
        ]
        return {ENGAGEMENT: engagement, GROWTH: growth}
    month = {"month": period.name}
    return {
        ENGAGEMENT: engagement,
        GROWTH: [_prefix(schemas.GROWTH_ACCOUNT_MONTHLY, month)],
        PROFIT: [
            _prefix(schemas.REVENUE_ACCOUNT_MONTHLY, month),
            _prefix(schemas.PROFIT_MONTHLY, month),
        ],
    }


def version(etags: Mapping[str, str], *, extra: Mapping[str, Any] | None = None) -> str:
    """One upstream's version: a digest of its Parquet files' keys and ETags, and of any
    other state it read (the profit month's status)."""
    lines = [f"{key}\t{etag}" for key, etag in sorted(etags.items()) if key.endswith(".parquet")]
    lines += [f"{name}\t{value}" for name, value in sorted((extra or {}).items())]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def changed_inputs(recorded: Mapping[str, str], current: Mapping[str, str]) -> list[str]:
    """The upstreams whose version differs from the one the published row was built from."""
    return sorted(u for u in current if recorded.get(u) != current[u])


def lookback_periods(latest: Mapping[str, Period]) -> list[Period]:
    """The periods the daily check watches: the latest due month and week and the ones
    before them (RESTATE_LOOKBACK)."""
    periods: list[Period] = []
    for grain, newest in latest.items():
        current = newest
        for _ in range(RESTATE_LOOKBACK[grain]):
            periods.append(current)
            current = current.previous()
    return periods
