"""The executive monthly join at scale, at N clicks and at 2N clicks: the pipeline against
the same totals written the obvious way in plain DuckDB SQL and in PySpark, measured in the
same run; the run book's fan-out join beside them as the out-of-memory demonstration.

    python -m bench exec_join                                  # 1M accounts, 5M then 10M clicks
    python -m bench exec_join --accounts 1000000 --clicks 50000000 --rounds 1

Synthetic month (September 2026), generated once per size by DuckDB (vectorised: no Python
rows) and cached under bench/.data/exec_join/: `accounts` (ACCOUNTS rows: seats, MRR
movements), `invoices` (1 to 2 paid invoice lines per paying account), `clicks_<N>`
(account, user, day, hour, N rows spread over every account and day) and what the daily
workflow has made of them by month end: `daily` (engagement_daily, one row per account and
day, in day order) and `active` (active_users_daily of the last day).

Sides, each in a fresh subprocess (its peak RSS, VmHWM, and CPU seconds are its own), rounds
interleaved:

- pipeline: what the executive workflow does. engagement_daily's day files (the
  handler's `s3_tables.download_days`: a directory per day) scanned by DuckDB into
  `executive.engagement_aggregate` (one row per account and period), the
  per-account revenue, then `executive.join_tables` (accounts x aggregates), with the
  Lambda's engine (DuckDB memory_limit 1GB, a spill directory);
- anchor "DuckDB SQL": the same totals as one plain DuckDB statement (per-account
  aggregates with count(DISTINCT dt), then the join), DuckDB's default memory limit;
- anchor "PySpark local[2]": that statement in Spark, if BENCH_SPARK_PYTHON names a Python
  with pyspark (bench/README.md); session start excluded, as in the engagement bench;
- fan-out (the run book's failing job): accounts joined to raw clicks and invoice lines
  first, then aggregated, no limit: an out-of-memory demonstration, not a speed anchor (its
  revenue shows the fan-out: each invoice line counted once per click).

Printed: the load average and the CPU anchor; per side best wall, best CPU, peak GB; ratios
pipeline / each anchor; the pipeline's peak at 2N / at N (target: within 10%); whether
the pipeline and the anchors give the same totals and the invoices' true revenue.
Figures only, not a timed test.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

from bench.machine import anchor_line, best_of, load
from bench.report import print_ratios, print_sides, spark_speedup
from bench.spark import spark_command, spark_skip_reason
from functions.core.report import executive
from functions.core.report.executive_period import month_period

DATA_DIR: Final = Path(__file__).resolve().parent / ".data" / "exec_join"
MONTH: Final = month_period("2026-09")
USERS_PER_ACCOUNT: Final = 5
MEMORY_LIMIT: Final = executive.DEFAULT_MEMORY_LIMIT  # the executive Lambda's engine
FLAT_TOLERANCE: Final = 0.10
DATA_VERSION: Final = "v3"  # in the cached file names: bump when the generator changes
TOTAL_KEYS: Final = ("accounts", "mrr_end_cents", "mau", "active_user_days", "paid_cents")

ACCOUNTS_SQL: Final = """
COPY (
    SELECT printf('acct-%08d', i) AS account_id,
           (1 + i % 20)::BIGINT AS seats_end,
           (CASE WHEN i % 10 = 0 THEN 0 ELSE 1000 + (i % 7) * 500 END)::BIGINT AS mrr_start_cents,
           (CASE WHEN i % 13 = 0 THEN 0 ELSE 1000 + (i % 5) * 600 END)::BIGINT AS mrr_end_cents,
           (CASE WHEN i % 10 = 0 AND i % 13 <> 0 THEN 1000 + (i % 5) * 600 ELSE 0 END)::BIGINT
               AS mrr_new_cents,
           0::BIGINT AS mrr_expansion_cents, 0::BIGINT AS mrr_contraction_cents,
           (CASE WHEN i % 13 = 0 AND i % 10 <> 0 THEN 1000 + (i % 7) * 500 ELSE 0 END)::BIGINT
               AS mrr_churn_cents,
           0::BIGINT AS mrr_reactivation_cents
    FROM range({accounts}) t(i)
) TO '{path}' (FORMAT parquet)
"""
INVOICES_SQL: Final = """
COPY (
    SELECT printf('acct-%08d', i) AS account_id, line, (1000 + (i % 5) * 600)::BIGINT AS paid_cents
    FROM range({accounts}) t(i), range(2) l(line)
    WHERE i % 13 <> 0 AND (line = 0 OR i % 4 = 0)
) TO '{path}' (FORMAT parquet)
"""
CLICKS_SQL: Final = """
COPY (
    SELECT printf('acct-%08d', a) AS account_id,
           -- not hash(i): with accounts a multiple of users, hash(i) % users = a % users
           printf('acct-%08d-u%d', a, hash(i + 1000003) % {users}) AS user_id,
           (DATE '{first}' + (i % {days})::INTEGER)::VARCHAR AS dt,
           ((hash(i * 7) % 36000) / 3600.0)::DOUBLE AS hour
    FROM (SELECT i, hash(i) % {accounts} AS a FROM range({clicks}) t(i))
) TO '{path}' (FORMAT parquet, ROW_GROUP_SIZE 1000000)
"""
# Per (account, day): what the daily engagement table holds (session hours approximated by
# first-to-last click span per user: the bench measures the join, not sessionisation).
DAILY_SQL: Final = """
COPY (
SELECT account_id, dt, count(DISTINCT user_id)::BIGINT AS active_users,
       sum(span)::DOUBLE AS session_hours, sum(clicks)::BIGINT AS clicks, true AS complete
FROM (
    SELECT account_id, dt, user_id, max(hour) - min(hour) AS span, count(*) AS clicks
    FROM read_parquet('{clicks}') GROUP BY ALL
) GROUP BY ALL ORDER BY dt, account_id
) TO '{path}' (FORMAT parquet, ROW_GROUP_SIZE 100000)
"""
DAILY_DAYS_SQL: Final = """
COPY (SELECT * FROM read_parquet('{daily}')) TO '{path}'
    (FORMAT parquet, PARTITION_BY (dt), WRITE_PARTITION_COLUMNS false)
"""
ACTIVE_SQL: Final = """
COPY (
SELECT account_id, '{last}' AS dt, count(DISTINCT user_id) FILTER (WHERE dt >= '{week}')::BIGINT
       AS wau, count(DISTINCT user_id)::BIGINT AS mau
FROM read_parquet('{clicks}') GROUP BY account_id
) TO '{path}' (FORMAT parquet)
"""
NAIVE_SQL: Final = """
WITH per_account AS (
    SELECT a.account_id, any_value(a.mrr_end_cents) AS mrr_end_cents,
           count(DISTINCT c.user_id) AS mau,
           count(DISTINCT (c.user_id, c.dt)) AS active_user_days,
           sum(i.paid_cents) AS paid_cents
    FROM read_parquet('{accounts}') a
    JOIN read_parquet('{clicks}') c ON a.account_id = c.account_id
    LEFT JOIN read_parquet('{invoices}') i ON a.account_id = i.account_id
    GROUP BY a.account_id
)
SELECT count(*) AS accounts, sum(mrr_end_cents) AS mrr_end_cents, sum(mau) AS mau,
       sum(active_user_days) AS active_user_days, sum(paid_cents) AS paid_cents
FROM per_account
"""

# The anchor: the same totals, written the obvious way (count(DISTINCT dt) and all).
ANCHOR_SQL: Final = """
WITH e AS (
    SELECT account_id, sum(active_users) AS active_user_days, sum(session_hours) AS hours,
           sum(clicks) AS clicks, count(DISTINCT dt) AS days_present,
           count(DISTINCT dt) FILTER (WHERE NOT complete) AS incomplete_days
    FROM read_parquet('{daily}') WHERE dt BETWEEN '{first}' AND '{last}' GROUP BY account_id
), l AS (
    SELECT account_id, max(mau) AS mau FROM read_parquet('{active}')
    WHERE dt = '{last}' GROUP BY account_id
), r AS (
    SELECT account_id, sum(paid_cents) AS paid_cents FROM read_parquet('{invoices}')
    GROUP BY account_id
)
SELECT count(*) AS accounts, sum(a.mrr_end_cents) AS mrr_end_cents,
       coalesce(sum(l.mau), 0) AS mau, coalesce(sum(e.active_user_days), 0) AS active_user_days,
       coalesce(sum(r.paid_cents), 0) AS paid_cents
FROM read_parquet('{accounts}') a
LEFT JOIN e ON a.account_id = e.account_id
LEFT JOIN l ON a.account_id = l.account_id
LEFT JOIN r ON a.account_id = r.account_id
"""


def _paths(accounts: int, clicks: int) -> dict[str, Path]:
    return {
        "accounts": DATA_DIR / f"accounts_{accounts}.parquet",
        "invoices": DATA_DIR / f"invoices_{accounts}.parquet",
        "clicks": DATA_DIR / f"clicks_{DATA_VERSION}_{accounts}_{clicks}.parquet",
        "daily": DATA_DIR / f"daily_{DATA_VERSION}_{accounts}_{clicks}.parquet",
        "active": DATA_DIR / f"active_{DATA_VERSION}_{accounts}_{clicks}.parquet",
        "daily_days": DATA_DIR / f"daily_days_{DATA_VERSION}_{accounts}_{clicks}",
    }


def generate(accounts: int, clicks: int) -> dict[str, Path]:
    import duckdb  # noqa: PLC0415

    paths = _paths(accounts, clicks)
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(":memory:", config={"memory_limit": "2GB"})
    week = (MONTH.end - timedelta(days=6)).isoformat()
    jobs: tuple[tuple[str, str, dict[str, Any]], ...] = (
        ("accounts", ACCOUNTS_SQL, {}),
        ("invoices", INVOICES_SQL, {}),
        (
            "clicks",
            CLICKS_SQL,
            {
                "users": USERS_PER_ACCOUNT,
                "first": MONTH.start,
                "days": MONTH.days,
                "clicks": clicks,
            },
        ),
        # What the daily engagement workflow has produced by month end (a day at a time).
        ("daily", DAILY_SQL, {"clicks": paths["clicks"]}),
        ("active", ACTIVE_SQL, {"clicks": paths["clicks"], "last": MONTH.end, "week": week}),
        # The same rows as the lake holds them: a directory per day, the day in the path.
        ("daily_days", DAILY_DAYS_SQL, {"daily": paths["daily"]}),
    )
    for name, sql, extra in jobs:
        if paths[name].exists():
            continue
        partial = paths[name].with_suffix(".partial")
        con.execute(sql.format(accounts=accounts, path=partial, **extra))
        partial.rename(paths[name])
    con.close()
    return paths


def run_pipeline(paths: dict[str, str], spill: str) -> dict[str, Any]:
    """The monthly job as the executive workflow runs it (executive_steps): the month's
    engagement_daily day files (`dt=<day>/`, as s3_tables.download_days leaves them) into
    `engagement_aggregate`, the per-account revenue, then accounts x aggregates."""
    import pyarrow.parquet as pq  # noqa: PLC0415

    engine = executive.Engine(memory_limit=MEMORY_LIMIT, temp_directory=spill)
    days = sorted(str(f) for f in Path(paths["daily_days"]).glob("dt=*/*.parquet"))
    active = pq.read_table(paths["active"])
    engagement = executive.engagement_aggregate(MONTH, days, active, engine=engine)
    con = engine.connect()
    revenue = con.execute(
        "SELECT account_id, sum(paid_cents)::BIGINT AS paid_cents "
        f"FROM read_parquet('{paths['invoices']}') GROUP BY account_id"
    ).fetch_arrow_table()
    con.close()
    accounts = pq.read_table(paths["accounts"])
    totals = executive.join_tables(accounts, engagement, revenue, engine=engine)
    return {k: totals[k] for k in TOTAL_KEYS}


def run_anchor(paths: dict[str, str], spill: str) -> dict[str, Any]:
    import duckdb  # noqa: PLC0415

    con = duckdb.connect(":memory:", config={"temp_directory": spill})
    sql = ANCHOR_SQL.format(**paths, first=MONTH.start.isoformat(), last=MONTH.end.isoformat())
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description or []]
    return dict(zip(names, cursor.fetchone() or (), strict=True))


def run_naive(paths: dict[str, str], spill: str) -> dict[str, Any]:
    import duckdb  # noqa: PLC0415

    con = duckdb.connect(":memory:", config={"temp_directory": spill})
    cursor = con.execute(NAIVE_SQL.format(**paths))
    names = [d[0] for d in cursor.description or []]
    row = cursor.fetchone() or ()
    return dict(zip(names, row, strict=True))


def peak_kb() -> int:
    """This process's own peak RSS (VmHWM). Not ru_maxrss: Linux carries the parent's peak
    over fork and exec, so a child would report the data generator's memory."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def _child(variant: str, paths: dict[str, Path]) -> dict[str, Any]:
    """Run one side in a fresh process; its totals, seconds, CPU seconds and peak RSS (or
    why it failed: a side that runs out of memory is a result too)."""
    named = {k: str(v) for k, v in paths.items()}
    if variant == "pyspark":
        spark = spark_command("exec_join")
        command = [*spark, json.dumps({**named, "first": str(MONTH.start), "last": str(MONTH.end)})]
    else:
        code = (
            "import json, resource, sys, time\n"
            "from bench.bench_exec_join import peak_kb, run_anchor, run_naive, run_pipeline\n"
            "paths, spill = json.loads(sys.argv[1]), sys.argv[2]\n"
            "t = time.perf_counter()\n"
            f"result = run_{variant}(paths, spill)\n"
            "result['seconds'] = time.perf_counter() - t\n"
            "u = resource.getrusage(resource.RUSAGE_SELF)\n"
            "result['cpu_seconds'] = u.ru_utime + u.ru_stime\n"
            "result['peak_kb'] = peak_kb()\n"
            "print(json.dumps(result, default=int))\n"
        )
        command = [sys.executable, "-c", code, json.dumps(named)]
    spill = tempfile.mkdtemp(prefix="exec-join-spill-")
    try:
        done = subprocess.run([*command, spill], check=False, capture_output=True, text=True)
    finally:
        shutil.rmtree(spill, ignore_errors=True)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or ["no output"]
        return {"failed": next((x for x in lines if "Error" in x), lines[-1])[:160]}
    answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


def _true_revenue(paths: dict[str, Path]) -> int:
    import duckdb  # noqa: PLC0415

    row = duckdb.sql(f"SELECT sum(paid_cents) FROM read_parquet('{paths['invoices']}')").fetchone()
    return int(row[0]) if row else 0


LABELS: Final = {
    "pipeline": "pipeline (engagement_aggregate + join_tables)",
    "anchor": "anchor: DuckDB SQL, the obvious way",
    "pyspark": "anchor: PySpark local[2], same SQL",
    "naive": "fan-out join (run book's OOM demo)",
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench exec_join")
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--clicks", type=int, default=5_000_000)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved; best of")
    parser.add_argument("--skip-naive", action="store_true", help="leave out the fan-out join")
    args = parser.parse_args(argv if argv is not None else sys.argv[1:])
    skip = spark_skip_reason()
    sides = ["pipeline", "anchor"] + (["pyspark"] if skip is None else [])
    sides += [] if args.skip_naive else ["naive"]
    print(f"{anchor_line()}\nPySpark anchor: {'runs' if skip is None else 'skipped: ' + skip}")
    results: dict[int, dict[str, dict[str, Any]]] = {}
    for clicks in (args.clicks, 2 * args.clicks):
        started = time.perf_counter()
        paths = generate(args.accounts, clicks)
        print(
            f"\n{args.accounts:,} accounts, {clicks:,} clicks (data ready in "
            f"{time.perf_counter() - started:.1f} s), {args.rounds} round(s) interleaved",
            flush=True,
        )
        runs: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
        for _ in range(args.rounds):
            for side in sides:
                runs[side].append(_child(side, paths))
        results[clicks] = {side: best_of(r, peak="peak_kb") for side, r in runs.items()}
        print(f"  load average after the runs: {load()}")
        _print_size(results[clicks])
    print(f"\ntrue revenue (sum of invoice lines): {_true_revenue(paths):,}")
    pipes = [results[c]["pipeline"] for c in (args.clicks, 2 * args.clicks)]
    if all("failed" not in p for p in pipes):
        growth = pipes[1]["peak_kb"] / pipes[0]["peak_kb"] - 1
        verdict = "flat" if abs(growth) <= FLAT_TOLERANCE else "NOT flat"
        print(
            f"pipeline peak at 2N vs N: {growth:+.1%} ({verdict}; target within "
            f"{FLAT_TOLERANCE:.0%})"
        )
    print(anchor_line())


def _print_size(results: dict[str, dict[str, Any]]) -> None:
    print_sides(
        results,
        LABELS,
        peak_gb=lambda r: r["peak_kb"] / 2**20,
        last=("revenue", lambda r: f"{r['paid_cents']:,}"),
    )
    pipe = results["pipeline"]
    if "failed" in pipe:
        return

    def note(side: str, a: dict[str, Any], wall: float, cpu: float) -> str:
        peak = f"; {side} peak / pipeline peak {a['peak_kb'] / pipe['peak_kb']:.2f}x"
        return peak + (f"; {spark_speedup(pipe, a)}" if side == "pyspark" else "")

    print_ratios(pipe, results, ("anchor", "pyspark", "naive"), note)
    same = {
        side: all(results[side][k] == pipe[k] for k in TOTAL_KEYS)
        for side in ("anchor", "pyspark")
        if side in results and "failed" not in results[side]
    }
    print(f"  same totals {list(TOTAL_KEYS)} as the pipeline: {same}")


if __name__ == "__main__":
    main()
