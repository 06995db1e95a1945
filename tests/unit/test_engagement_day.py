"""engagement_day (compaction and each user bucket in a database of its own) gives what
compact_day + engagement_user_daily give, and active_users_days what active_users gives
day by day."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from functions.core import schemas
from functions.core.transform import engagement
from tests.unit.test_engagement import DAY, at, raw_row, raw_table


def _raw() -> pa.Table:
    rows = [
        raw_row("e1", at(9), user_id="u1", event_time=at(8, 59)),
        raw_row("e1", at(9, 5), user_id="u1", event_time=at(8, 59)),  # natural copy
        raw_row("e2", at(10), user_id="u1", event_time=at(9, 10), page="/x"),
        raw_row("e2", at(11), user_id="u1", event_time=at(9, 10), page="/y"),
        raw_row("e3", at(12), user_id="u2", event_time=at(11)),
        raw_row("e4", at(12), user_id="u2", event_time=at(11, 45)),
        raw_row("e5", at(30), user_id="u3", event_time=at(25)),  # the next day: ignored
    ]
    return raw_table(rows)


def test_engagement_day_matches_compaction_and_sessions(tmp_path: Path) -> None:
    # Given raw clicks with duplicates of both kinds and a click of another day
    raw = _raw()
    first = at(9, 30)
    # When the day is computed both ways
    compaction = engagement.compact_day(raw, DAY, first_aggregated_at=first)
    users = engagement.engagement_user_daily(compaction.clicks, DAY)
    path = tmp_path / "clicks.parquet"
    result = engagement.engagement_day(raw, DAY, clicks_path=str(path), first_aggregated_at=first)
    # Then dedup counts, per-user sessions and the clicks file agree
    assert result.dedup.equals(compaction.dedup)
    assert result.user_daily.equals(users)
    written = pq.read_table(path)
    assert written.schema == schemas.CLICKS.arrow_schema()
    assert written.equals(compaction.clicks.drop(["dt"]))
    assert result.clicks_rows == compaction.clicks.num_rows == 4
    assert result.landed_by_hour == engagement.landed_by_hour(compaction.clicks)


def test_active_users_days_match_the_single_day_function() -> None:
    # Given user-daily rows over three days
    compaction = engagement.compact_day(_raw(), DAY)
    day1 = engagement.engagement_user_daily(compaction.clicks, DAY)
    later = DAY + timedelta(days=2)
    index = day1.schema.get_field_index("dt")
    day3 = day1.set_column(
        index, day1.schema.field(index), pa.array([later.isoformat()] * day1.num_rows, pa.string())
    )
    history = pa.concat_tables([day1, day3])
    seats = {DAY: {"acct-1": 10, "acct-9": 0}, later: {"acct-1": 5}}
    # When computed together and one by one
    together = engagement.active_users_days(history, seats)
    # Then each day is the same table
    for day, day_seats in seats.items():
        assert together[day].equals(engagement.active_users(history, day, day_seats))


def test_engagement_day_reads_parquet_files_like_an_arrow_table(tmp_path: Path) -> None:
    # Given the same raw clicks as an Arrow table and as two Parquet files
    raw = _raw()
    files = []
    for i, part in enumerate((raw.slice(0, 3), raw.slice(3))):
        files.append(str(tmp_path / f"raw-{i}.parquet"))
        pq.write_table(part.drop_columns(["dt"]), files[-1])
    first = at(9, 30)
    # When the day is computed from each
    from_table = engagement.engagement_day(
        raw, DAY, clicks_path=str(tmp_path / "a.parquet"), first_aggregated_at=first
    )
    from_files = engagement.engagement_day(
        files, DAY, clicks_path=str(tmp_path / "b.parquet"), first_aggregated_at=first
    )
    # Then every output is the same, the clicks file byte for byte
    assert from_files.dedup.equals(from_table.dedup)
    assert from_files.user_daily.equals(from_table.user_daily)
    assert from_files.landed_by_hour == from_table.landed_by_hour
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
    assert from_files.dedup.to_pylist()[0]["synthetic_duplicates"] == 1
    assert from_files.dedup.to_pylist()[0]["natural_duplicates"] == 1


def test_a_big_day_is_aggregated_per_user_bucket_with_the_same_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a day whose users would not fit one window if buckets held a single row
    raw = _raw()
    whole = engagement.engagement_day(raw, DAY, clicks_path=str(tmp_path / "a.parquet"))
    # When the per-user aggregation is split into buckets of one row's worth
    monkeypatch.setattr(engagement, "USER_DAILY_BUCKET_ROWS", 1)
    split = engagement.engagement_day(raw, DAY, clicks_path=str(tmp_path / "b.parquet"))
    # Then the per-user table is the same, in the same order
    assert split.user_daily.equals(whole.user_daily)
    assert whole.user_daily.num_rows == 2


def test_a_big_day_writes_every_click_once_in_a_repeatable_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a day split into several user buckets (one landed row's worth each)
    raw = _raw()
    compaction = engagement.compact_day(raw, DAY)
    monkeypatch.setattr(engagement, "USER_DAILY_BUCKET_ROWS", 1)
    # When the day is computed twice
    first = engagement.engagement_day(raw, DAY, clicks_path=str(tmp_path / "a.parquet"))
    again = engagement.engagement_day(raw, DAY, clicks_path=str(tmp_path / "b.parquet"))
    # Then the clicks file holds compact_day's rows, bucket by bucket (a user's clicks in
    # time order), the same bytes each time, and no scratch file is left behind
    written = pq.read_table(tmp_path / "a.parquet")
    expected = compaction.clicks.drop(["dt"]).sort_by("event_id")
    assert written.sort_by("event_id").equals(expected)
    assert first.clicks_rows == 4
    for user in ("u1", "u2"):
        times = [r["event_time"] for r in written.to_pylist() if r["user_id"] == user]
        assert times == sorted(times)
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
    assert first.dedup.equals(again.dedup) and first.dedup.equals(compaction.dedup)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.parquet", "b.parquet"]


def test_a_day_without_clicks_gives_an_empty_clicks_file(tmp_path: Path) -> None:
    # Given raw clicks that all belong to another day
    raw = _raw().slice(6)
    # When the day is computed
    result = engagement.engagement_day(raw, DAY, clicks_path=str(tmp_path / "a.parquet"))
    # Then every output is empty but well-formed
    assert result.clicks_rows == 0
    assert pq.read_table(tmp_path / "a.parquet").schema == schemas.CLICKS.arrow_schema()
    assert result.user_daily.num_rows == 0
    assert result.dedup.to_pylist()[0]["rows_landed"] == 0
    assert result.landed_by_hour == {}


def test_users_sharing_a_window_key_are_still_told_apart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given two users whose clicks interleave within the session gap
    times = {"u1": [at(10), at(10, 20), at(10, 40)], "u2": [at(10, 10), at(10, 30)]}
    rows = [
        raw_row(f"{user}-{i}", moment, user_id=user, event_time=moment)
        for user, moments in times.items()
        for i, moment in enumerate(moments)
    ]
    normal = engagement.engagement_day(
        raw_table(rows), DAY, clicks_path=str(tmp_path / "a.parquet")
    )
    # When every user gets the same window key (as if their 64-bit hashes collided)
    monkeypatch.setattr(engagement, "_USER_KEY", "CAST(0 AS UBIGINT)")
    collided = engagement.engagement_day(
        raw_table(rows), DAY, clicks_path=str(tmp_path / "b.parquet")
    )
    # Then the collision is detected and each user's sessions are still their own
    assert collided.user_daily.equals(normal.user_daily)
    assert normal.user_daily.column("sessions").to_pylist() == [1, 1]
    assert normal.user_daily.column("session_seconds").to_pylist() == [2400.0, 1200.0]


def test_event_ids_sharing_a_hash_are_still_deduplicated_by_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given raw clicks with natural, synthetic and late copies and events that landed once
    raw = _raw()
    first = at(9, 30)
    normal = engagement.engagement_day(
        raw, DAY, clicks_path=str(tmp_path / "a.parquet"), first_aggregated_at=first
    )
    compacted = engagement.compact_day(raw, DAY, first_aggregated_at=first)
    # When every event_id gets the same hash in the ids aggregate (as if they collided)
    monkeypatch.setattr(engagement, "_ID_HASH", "hash(event_id) % 1")
    collided = engagement.engagement_day(
        raw, DAY, clicks_path=str(tmp_path / "b.parquet"), first_aggregated_at=first
    )
    compacted_collided = engagement.compact_day(raw, DAY, first_aggregated_at=first)
    # Then each event is still ranked by its own id: the same counts, users and clicks
    assert collided.dedup.equals(normal.dedup)
    assert normal.dedup.to_pylist()[0]["rows_kept"] == 4
    assert collided.user_daily.equals(normal.user_daily)
    assert collided.landed_by_hour == normal.landed_by_hour
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
    assert compacted_collided.clicks.equals(compacted.clicks)
    assert compacted_collided.dedup.equals(compacted.dedup)


@pytest.fixture
def opened_databases(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every DuckDB database the engagement module opens, from a clean process state."""
    for engine in list(engagement._DATABASES):
        engagement._close_database(engine)
    opened: list[Any] = []
    connect = engagement.duckdb.connect

    def recording_connect(*args: Any, **kwargs: Any) -> Any:
        opened.append(connect(*args, **kwargs))
        return opened[-1]

    monkeypatch.setattr(engagement.duckdb, "connect", recording_connect)
    return opened


def test_a_large_day_gives_compaction_and_each_bucket_a_database_of_their_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, opened_databases: list[Any]
) -> None:
    # Given a day over the shared database's size, split into several user buckets
    monkeypatch.setattr(engagement, "SHARED_DATABASE_MAX_ROWS", 0)
    monkeypatch.setattr(engagement, "USER_DAILY_BUCKET_ROWS", 1)
    filled: list[int] = []
    compact = engagement._compact_into_buckets

    def recording_compact(con: Any, params: Any, scratch: str, rows: int, *, known: str) -> Any:
        buckets, landed = compact(con, params, scratch, rows, known=known)
        filled.append(len(buckets.users))
        return buckets, landed

    monkeypatch.setattr(engagement, "_compact_into_buckets", recording_compact)
    # When the day is computed
    result = engagement.engagement_day(_raw(), DAY, clicks_path=str(tmp_path / "a.parquet"))
    # Then compaction had a database and each non-empty bucket another, every one closed
    # by the end (what a database holds outside DuckDB's accounting is given back then)
    assert result.user_daily.num_rows == 2
    assert filled[0] >= 2
    assert len(opened_databases) == 1 + filled[0]
    for database in opened_databases:
        with pytest.raises(engagement.duckdb.ConnectionException):
            database.execute("SELECT 1")


def test_small_days_share_one_warm_database_with_the_same_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, opened_databases: list[Any]
) -> None:
    # Given a small day computed twice on the warm database, then once as a large day
    first = engagement.engagement_day(_raw(), DAY, clicks_path=str(tmp_path / "a.parquet"))
    second = engagement.engagement_day(_raw(), DAY, clicks_path=str(tmp_path / "b.parquet"))
    # Then one database served both days (its connections' temp tables did not clash) and
    # stays open for the next
    assert len(opened_databases) == 1
    assert opened_databases[0].execute("SELECT 1").fetchone() == (1,)
    # and the results are those of a database per step, to the byte
    monkeypatch.setattr(engagement, "SHARED_DATABASE_MAX_ROWS", 0)
    alone = engagement.engagement_day(_raw(), DAY, clicks_path=str(tmp_path / "c.parquet"))
    assert first.user_daily.equals(alone.user_daily) and second.user_daily.equals(alone.user_daily)
    assert first.dedup.equals(alone.dedup)
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "c.parquet").read_bytes()
    assert (tmp_path / "b.parquet").read_bytes() == (tmp_path / "c.parquet").read_bytes()


@pytest.mark.parametrize(
    ("memory_limit", "bucket_rows"),
    [
        ("1.4GB", engagement.USER_DAILY_BUCKET_ROWS),  # the daily Lambda's: as before
        ("0.5GB", 1_428_571),  # DuckDB's GB is 1000^3 bytes
        ("500M", 1_428_571),
        ("1GiB", 3_067_833),  # GiB: 1024^3
        ("16GB", engagement.USER_DAILY_BUCKET_ROWS),  # never more than at 1.4 GB
        ("80%", engagement.USER_DAILY_BUCKET_ROWS),  # not a size it reads: the default
    ],
)
def test_buckets_shrink_with_the_memory_limit(memory_limit: str, bucket_rows: int) -> None:
    # Given an engine with a memory limit
    engine = engagement.Engine(memory_limit=memory_limit)
    # When the rows of a user bucket are sized for it
    rows = engagement._bucket_rows(engine)
    # Then they are in proportion to the limit, capped at the 1.4 GB figure
    assert rows == bucket_rows


def test_a_small_memory_limit_splits_the_day_into_more_buckets_with_the_same_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the buckets one row can have per 100 MB of memory limit, and the bucket sizes used
    raw = _raw()
    monkeypatch.setattr(engagement, "_BUCKET_LIMIT_BYTES_PER_ROW", 100_000_000)
    used: list[int] = []
    compact = engagement._compact_into_buckets

    def recording(con: Any, params: Any, scratch: str, bucket_rows: int, *, known: str) -> Any:
        used.append(bucket_rows)
        return compact(con, params, scratch, bucket_rows, known=known)

    monkeypatch.setattr(engagement, "_compact_into_buckets", recording)
    # When the day runs under 100 MB and under 300 MB
    small = engagement.engagement_day(
        raw,
        DAY,
        clicks_path=str(tmp_path / "a.parquet"),
        engine=engagement.Engine(memory_limit="100MB"),
    )
    larger = engagement.engagement_day(
        raw,
        DAY,
        clicks_path=str(tmp_path / "b.parquet"),
        engine=engagement.Engine(memory_limit="300MB"),
    )
    # Then the smaller limit used smaller buckets, and both give the same day
    assert used == [1, 3]
    assert small.user_daily.equals(larger.user_daily)
    assert small.dedup.equals(larger.dedup)
    written = pq.read_table(tmp_path / "a.parquet").sort_by("event_id")
    assert written.equals(pq.read_table(tmp_path / "b.parquet").sort_by("event_id"))
