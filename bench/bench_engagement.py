"""Daily engagement over N clicks against a plain DuckDB SQL anchor; peak memory per size.

    python -m bench.bench_engagement [N ...]        # default: 1,000,000
    python -m bench.bench_engagement 1000000 10000000 50000000

Input, generated once per size into a temporary directory: one day of RAW_CLICKS Parquet
files (as the ingest function writes them: 10,000-row batch files), with 1% natural
duplicates in later files. Measured, each in a fresh subprocess so peak RSS is its own:

- pipeline: `functions.core.engagement` as the daily function runs it: engagement_day (dedup
  with the earliest arrival kept, natural/synthetic/late counts, 30-minute sessions per
  user, the deduplicated clicks streamed to Parquet), then engagement_daily,
  with `Engine(memory_limit="2GB")` and a temp directory to spill to;
- anchor: the same result in one plain DuckDB SQL statement (dedup by event_id, sessions,
  per account), same memory limit, same threads.

Printed: wall seconds, peak RSS (ru_maxrss of the child), the ratio pipeline / anchor (target
<= 1.3x) and peak memory against the 2.5 GB target. Not a timed test: figures only.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow.compute as pc

from functions.core import engagement

DAY = date(2026, 9, 1)
FILE_ROWS = 10_000
USERS = 20_000
ACCOUNTS = 400
DUPLICATE_RATE = 0.01
MEMORY_LIMIT = "2GB"
TARGET_RATIO = 1.3
TARGET_PEAK_GB = 2.5

ANCHOR_SQL = """
WITH d AS (
    SELECT * EXCLUDE (rn) FROM (
        SELECT account_id, user_id, event_id, epoch_ms(event_time) AS t,
               row_number() OVER (PARTITION BY event_id ORDER BY arrival_time) AS rn
        FROM read_parquet('{glob}')
    ) WHERE rn = 1
), g AS (
    SELECT *, CASE WHEN t - lag(t) OVER (PARTITION BY account_id, user_id ORDER BY t, event_id)
                        <= 1800000 THEN 0 ELSE 1 END AS new_session
    FROM d
), s AS (
    SELECT *, sum(new_session) OVER (PARTITION BY account_id, user_id ORDER BY t, event_id
                                     ROWS UNBOUNDED PRECEDING) AS session_no
    FROM g
), per_session AS (
    SELECT account_id, user_id, session_no, count(*) AS clicks, max(t) - min(t) AS length_ms
    FROM s GROUP BY ALL
)
SELECT account_id, count(DISTINCT user_id) AS active_users, count(*) AS sessions,
       sum(length_ms) / 3600000.0 AS session_hours, sum(clicks) AS clicks
FROM per_session GROUP BY account_id ORDER BY account_id
"""


def generate(directory: Path, clicks: int) -> None:
    """`clicks` distinct clicks of DAY in RAW_CLICKS files of FILE_ROWS rows, plus 1%
    re-delivered copies (arriving a minute later), written by DuckDB (fast, no Python rows)."""
    import duckdb  # noqa: PLC0415

    start_ms = int(datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC).timestamp() * 1000)
    con = duckdb.connect(":memory:")
    for file_no, first in enumerate(range(0, clicks, FILE_ROWS)):
        last = min(first + FILE_ROWS, clicks)
        copies = int((last - first) * DUPLICATE_RATE)
        sql = GENERATE_SQL.format(
            first=first,
            last=last,
            copies=copies,
            start_ms=start_ms,
            users=USERS,
            per_account=USERS // ACCOUNTS,
            path=directory / f"batch-{file_no:06d}.parquet",
        )
        con.execute(sql)


GENERATE_SQL = """
COPY (
    WITH ids AS (
        SELECT i, 0 AS late FROM range({first}, {last}) t(i)
        UNION ALL SELECT i, 60000 AS late FROM range({first}, {first} + {copies}) t(i)
    ), c AS (
        SELECT i, late, (i * 48271) % {users} AS u, {start_ms} + (i * 7919) % 86400000 AS t
        FROM ids
    )
    SELECT CAST(i AS VARCHAR) AS event_id, 'acct-' || (u // {per_account}) AS account_id,
           'user-' || u AS user_id, 'click' AS event_type, make_timestamp(t * 1000) AS event_time,
           '/reports' AS page, make_timestamp((t + 5000 + late) * 1000) AS arrival_time,
           CAST(i AS VARCHAR) AS payload_hash, 'shardId-000000000000' AS shard_id,
           CAST(i AS VARCHAR) AS sequence_number
    FROM c
) TO '{path}' (FORMAT parquet, COMPRESSION zstd)
"""


def run_pipeline(directory: Path, temp: Path) -> dict[str, Any]:
    eng = engagement.Engine(memory_limit=MEMORY_LIMIT, temp_directory=str(temp))
    paths = sorted(str(p) for p in directory.glob("*.parquet"))
    result = engagement.engagement_day(
        paths, DAY, clicks_path=str(temp / "clicks.parquet"), engine=eng
    )
    daily = engagement.engagement_daily(result.user_daily, DAY, engine=eng)
    return {"accounts": daily.num_rows, "clicks": int(pc.sum(daily.column("clicks")).as_py())}


def run_anchor(directory: Path, temp: Path) -> dict[str, Any]:
    import duckdb  # noqa: PLC0415

    con = duckdb.connect(
        ":memory:", config={"memory_limit": MEMORY_LIMIT, "temp_directory": str(temp)}
    )
    table = con.execute(ANCHOR_SQL.format(glob=f"{directory}/*.parquet")).fetch_arrow_table()
    return {"accounts": table.num_rows, "clicks": int(pc.sum(table.column("clicks")).as_py())}


def child(kind: str, directory: str) -> None:
    """Run one side in this process and print its figures as JSON (peak RSS included)."""
    with tempfile.TemporaryDirectory(prefix="bench-spill-") as temp:
        started = time.perf_counter()
        runner = run_pipeline if kind == "pipeline" else run_anchor
        result = runner(Path(directory), Path(temp))
        result["seconds"] = time.perf_counter() - started
    result["peak_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024
    print(json.dumps(result))


def measure(kind: str, directory: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.bench_engagement", "--child", kind, str(directory)],
        check=True,
        capture_output=True,
        text=True,
    )
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--child"]:
        child(args[1], args[2])
        return
    sizes = [int(a) for a in args] or [1_000_000]
    print(f"memory limit {MEMORY_LIMIT} for both; peak = child's max RSS; input: 1 day")
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="bench-clicks-") as directory:
            started = time.perf_counter()
            generate(Path(directory), size)
            generated = time.perf_counter() - started
            anchor = measure("anchor", Path(directory))
            pipeline = measure("pipeline", Path(directory))
        same = (anchor["accounts"], anchor["clicks"]) == (pipeline["accounts"], pipeline["clicks"])
        ratio = pipeline["seconds"] / anchor["seconds"]
        print(
            f"{size:>11,} clicks (generated in {generated:.1f} s): "
            f"anchor {anchor['seconds']:.2f} s {anchor['peak_gb']:.2f} GB | "
            f"pipeline {pipeline['seconds']:.2f} s {pipeline['peak_gb']:.2f} GB | "
            f"ratio {ratio:.2f}x (target <= {TARGET_RATIO}: "
            f"{'met' if ratio <= TARGET_RATIO else 'NOT met'}) | peak "
            f"{'within' if pipeline['peak_gb'] <= TARGET_PEAK_GB else 'OVER'} "
            f"{TARGET_PEAK_GB} GB | same result: {same}"
        )


if __name__ == "__main__":
    main()
