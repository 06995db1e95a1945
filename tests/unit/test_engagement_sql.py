"""The Athena path's SQL (functions/core/transform/engagement_sql.py) gives what the DuckDB
path (engagement.engagement_day) gives, on the same raw clicks: run here as Athena SQL on
`pablo query`'s engine (sqlglot to DuckDB over local Parquet), as the emulator runs it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlglot

from functions.core import schemas
from functions.core.transform import engagement, engagement_sql
from functions.core.transform.engagement_sql import Relation
from pablo.local.athena_sql import glue_type
from pablo.query import engine
from pablo.query.sql import Catalog, TableSpec, registry_catalog

DAY = date(2026, 10, 1)
AT = datetime(2026, 10, 1, 10, tzinfo=UTC)
FIRST_AGGREGATED = datetime(2026, 10, 2, 6, tzinfo=UTC)


def _raw(event_id: str, minutes: float, user: str, arrived: float = 0, **change: Any) -> dict:
    row = {
        "event_id": event_id,
        "account_id": "acct-1",
        "user_id": user,
        "event_type": "click",
        "event_time": AT + timedelta(minutes=minutes),
        "page": "/reports",
        "arrival_time": AT + timedelta(minutes=minutes + arrived),
        "shard_id": "shardId-000",
        "sequence_number": f"{int(minutes * 1000 + arrived):020d}",
    }
    return row | change


# Hand-made day: e1 sent twice (natural), e2 twice with another page (synthetic), e3 three
# times (one natural, one synthetic), a click of an account nobody created (n1, sent twice:
# one unknown click and one natural duplicate), a late copy of e4 (arrived after the day was
# first aggregated), a click with no page, a click of the day before in the same file (not
# the day's), and u1's clicks at 0, 10 and 50 minutes (two sessions under a 30-minute gap).
RAW = [
    _raw("e1", 0, "u1"),
    _raw("e1", 0, "u1", arrived=1),
    _raw("e2", 10, "u1"),
    _raw("e2", 10, "u1", arrived=2, page="/other"),
    _raw("e3", 50, "u1", event_type="search"),
    _raw("e3", 50, "u1", arrived=1, event_type="search"),
    _raw("e3", 50, "u1", arrived=3, event_type="export"),
    _raw("e4", 70, "u2", page=None),
    _raw("e4", 70, "u2", page=None, arrival_time=FIRST_AGGREGATED + timedelta(hours=1)),
    _raw("e5", 200, "u2", event_type="page_view"),
    _raw("n1", 20, "u9", account_id="acct-new"),
    _raw("n1", 20, "u9", arrived=1, account_id="acct-new"),
    _raw("old", -700, "u1"),
]
TOTAL_LANDED = 12  # every row of the day: 13 minus the day before's


def _write(directory: Path, table: pa.Table) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, directory / "part-0.parquet")


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("lake")
    raw = pa.Table.from_pylist(RAW, schema=schemas.RAW_CLICKS.arrow_schema())
    _write(root / "raw_clicks" / f"dt={DAY.isoformat()}", raw)
    events = pa.Table.from_pylist(
        [
            {
                "event_id": "a1",
                "account_id": "acct-1",
                "event_type": "subscribed",
                "event_time": AT - timedelta(days=30),
                "seats": 5,
                "plan": "team",
                "mrr_cents": 5_000,
                "currency": "USD",
                "source_key": "k",
            },
            # an account with only a non-creating event is not known
            {
                "event_id": "a2",
                "account_id": "acct-new",
                "event_type": "seats_changed",
                "event_time": AT - timedelta(days=3),
                "seats": 3,
                "plan": "team",
                "mrr_cents": 3_000,
                "currency": "USD",
                "source_key": "k",
            },
        ],
        schema=schemas.RAW_ACCOUNT_EVENTS.arrow_schema(),
    )
    _write(root / "raw_account_events" / "month=2026-09", events)
    return root


def _catalog(lake: Path, extra: dict[str, pa.Table]) -> Catalog:
    base = registry_catalog(
        lambda t: str(lake / t.name), [schemas.RAW_CLICKS, schemas.RAW_ACCOUNT_EVENTS]
    )
    specs = list(base.tables)
    for name, table in extra.items():
        _write(lake / name, table)
        columns = tuple((f.name, glue_type(f.name, f.type)) for f in table.schema)
        specs.append(TableSpec("curated", name, columns, location=str(lake / name)))
    return replace(base, tables=tuple(specs))


def _run(lake: Path, sql: str, **tables: pa.Table) -> pa.Table:
    return engine.run(sql, _catalog(lake, tables))


def _duckdb_path(lake: Path, tmp_path: Path) -> engagement.DayResult:
    files = [str(p) for p in sorted((lake / "raw_clicks").rglob("*.parquet"))]
    return engagement.engagement_day(
        files,
        DAY,
        clicks_path=str(tmp_path / "clicks.parquet"),
        known_accounts={"acct-1"},
        first_aggregated_at=FIRST_AGGREGATED,
        gap_minutes=30,
    )


def _rows(table: pa.Table, registry: schemas.Table, order: list[str]) -> list[dict]:
    names = registry.arrow_schema().names
    cast = table.select(names).cast(registry.arrow_schema())
    return cast.sort_by([(c, "ascending") for c in order]).to_pylist()


def test_the_athena_sql_gives_the_duckdb_paths_rows_and_counts(lake: Path, tmp_path: Path) -> None:
    # given the day's raw clicks and account events, and the DuckDB path's result
    expected = _duckdb_path(lake, tmp_path)
    raw, events = Relation("raw", "raw_clicks"), Relation("raw", "raw_account_events")
    kept_rel = Relation("curated", "kept")
    # when the Athena statements run in order (kept, then what reads it)
    late_after = round(FIRST_AGGREGATED.timestamp() * 1000)
    kept = _run(
        lake,
        engagement_sql.kept_sql(
            raw_clicks=raw, account_events=events, day=DAY, late_after_ms=late_after
        ),
    )
    clicks = _run(lake, engagement_sql.clicks_sql(kept_rel), kept=kept)
    dedup = _run(lake, engagement_sql.dedup_sql(kept_rel), kept=kept)
    users = _run(lake, engagement_sql.user_daily_sql(kept_rel, DAY, gap_minutes=30), kept=kept)
    hours = _run(lake, engagement_sql.landed_hours_sql(kept_rel), kept=kept)
    unknown = _run(lake, engagement_sql.unknown_clicks_sql(kept_rel), kept=kept)
    daily = _run(
        lake,
        engagement_sql.engagement_daily_sql(Relation("curated", "user_daily"), complete=False),
        user_daily=users,
    )

    # then the dedup counts are the DuckDB path's, and by hand: landed 12 = kept 5 (e1-e5)
    # + natural 4 (e1, e3's second search, n1, e4's late copy) + synthetic 2 (e2, e3's
    # export) + unknown 1 (n1)
    dedup_row = dedup.to_pylist()[0]
    assert dedup_row == {k: v for k, v in expected.dedup.to_pylist()[0].items() if k != "dt"}
    assert dedup_row == {
        "rows_landed": TOTAL_LANDED,
        "rows_kept": 5,
        "natural_duplicates": 4,
        "synthetic_duplicates": 2,
        "late_rows": 1,
        "unknown_account_clicks": 1,
    }
    # and the clicks, user rows, quarantined clicks and hours are the same rows
    duck_clicks = pq.read_table(tmp_path / "clicks.parquet")
    assert _rows(clicks, schemas.CLICKS, ["event_id"]) == _rows(
        duck_clicks, schemas.CLICKS, ["event_id"]
    )
    key = ["account_id", "user_id"]
    assert _rows(users, schemas.ENGAGEMENT_USER_DAILY, key) == _rows(
        expected.user_daily, schemas.ENGAGEMENT_USER_DAILY, key
    )
    assert _rows(unknown, schemas.CLICKS, ["event_id"]) == _rows(
        expected.unknown_account_clicks, schemas.CLICKS, ["event_id"]
    )
    landed = {
        datetime.fromtimestamp(h * 3600, UTC): n
        for h, n in zip(
            hours.column("epoch_hour").to_pylist(), hours.column("clicks").to_pylist(), strict=True
        )
    }
    assert landed == expected.landed_by_hour
    # and the per-account day is engagement.engagement_daily's on the same user rows
    outage = [(AT, AT + timedelta(hours=1))]
    duck_daily = engagement.engagement_daily(expected.user_daily, DAY, outages=outage)
    assert _rows(daily, schemas.ENGAGEMENT_DAILY, ["account_id"]) == _rows(
        duck_daily, schemas.ENGAGEMENT_DAILY, ["account_id"]
    )


@pytest.mark.parametrize(
    ("generated", "source"),
    [
        ("USER_DAILY_ATHENA", engagement._user_daily_sql("source_rows", "event_ms")),
        ("DAILY_ATHENA", engagement._DAILY_SQL),
    ],
)
def test_the_athena_templates_are_the_duckdb_paths_sql_transpiled(
    generated: str, source: str
) -> None:
    # Given the DuckDB path's SQL, transpiled now as the template was
    fresh = sqlglot.transpile(source, read="duckdb", write="athena")[0]
    # Then the template the function runs is that text: one definition for both engines
    assert getattr(engagement_sql, generated) == fresh, (
        f"engagement.py's SQL changed: set engagement_sql.{generated} to {fresh!r}"
    )
