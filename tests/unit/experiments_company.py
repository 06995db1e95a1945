"""A generated company for the experiment tests, with the upstream tables the weekly build
reads: engagement_user_daily and engagement_daily computed by the real engagement core
(functions.core.transform.engagement) from the company's clicks, and raw_account_events validated by
the real account-events core. Shared by the unit and the deployed experiment tests.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from functions.core import schemas
from functions.core.ingest import account_events
from functions.core.transform import engagement
from pablo.generate.company import generate
from pablo.generate.model import GeneratorConfig

# 30 accounts give search_ranking_v2 a few hundred users: its injected 60/40 split is then
# far below p = 0.001 while the clean experiments stay far above it.
SEED = 11
ACCOUNTS = 30
DAYS = 21
START = date(2026, 9, 1)


@dataclass(frozen=True)
class Company:
    out: Path
    truth: dict[str, Any]
    user_daily: pa.Table  # ENGAGEMENT_USER_DAILY with dt
    daily: pa.Table  # ENGAGEMENT_DAILY with dt
    account_events: pa.Table  # RAW_ACCOUNT_EVENTS with month

    @property
    def days(self) -> list[date]:
        return [START + timedelta(days=i) for i in range(DAYS)]


def make_company(out: Path) -> Company:
    truth = generate(GeneratorConfig(seed=SEED, accounts=ACCOUNTS, days=DAYS, start=START), out)
    clicks = _clicks(out)
    user_days, days = [], []
    for day in [START + timedelta(days=i) for i in range(DAYS)]:
        users = engagement.engagement_user_daily(clicks, day)
        if users.num_rows:
            user_days.append(users)
            days.append(engagement.engagement_daily(users, day))
    return Company(
        out=out,
        truth=truth,
        user_daily=pa.concat_tables(user_days),
        daily=pa.concat_tables(days),
        account_events=_account_events(out),
    )


def _clicks(out: Path) -> pa.Table:
    """CLICKS rows (one per event_id, the first sent kept) of the well-formed records."""
    kept: dict[str, dict[str, Any]] = {}
    for path in sorted((out / "clicks").glob("*.jsonl")):
        for line in path.read_text().splitlines():
            envelope = json.loads(line)
            record = envelope["record"]
            if not _well_formed(record) or record["event_id"] in kept:
                continue
            kept[record["event_id"]] = {
                **{k: record[k] for k in ("event_id", "account_id", "user_id", "event_type")},
                "event_time": datetime.fromtimestamp(record["event_time"] / 1000, tz=UTC),
                "page": record.get("page"),
                "arrival_time": datetime.fromtimestamp(envelope["send_at"] / 1000, tz=UTC),
                "copies": 1,
                "dt": "",
            }
    table = pa.Table.from_pylist(
        list(kept.values()), schema=schemas.CLICKS.arrow_schema(with_partitions=True)
    )
    return table.sort_by("event_time")


def _well_formed(record: Any) -> bool:
    if not isinstance(record, dict):
        return False
    texts = ("event_id", "account_id", "user_id", "event_type")
    return (
        all(isinstance(record.get(k), str) and record[k] for k in texts)
        and record["event_type"] in schemas.CLICK_EVENT_TYPES
        and type(record.get("event_time")) is int
        and record["event_time"] >= 100_000_000_000
    )


def _account_events(out: Path) -> pa.Table:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    tables = []
    for path in sorted((out / "account_events").glob("*.jsonl")):
        outcome = account_events.validate_file(path.read_bytes(), source_key=path.name, now=now)
        tables.append(account_events.raw_table(outcome))
    table = pa.concat_tables(tables)
    first = pc.index_in(table.column("event_id"), table.column("event_id"))
    keep = pc.equal(first, pa.array(range(table.num_rows), pa.int32()))
    return table.filter(keep)
