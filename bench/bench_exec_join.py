"""The executive monthly join at scale: aggregate first (the pipeline) vs join raw events
first (the anchor), peak memory at N clicks and at 2N clicks.

    python -m bench.bench_exec_join                              # 1M accounts, 50M clicks
    python -m bench.bench_exec_join --accounts 1000000 --clicks 10000000

Synthetic month (September 2026), generated once per size by DuckDB (vectorised: no Python
rows) and cached under bench/.data/exec_join/: `accounts` (ACCOUNTS rows: seats, MRR
movements), `invoices` (1 to 2 paid invoice lines per paying account) and `clicks_<N>`
(account, user, day, hour, N rows spread over every account and day).

Measured, each in a fresh subprocess so the peak RSS is its own:

- pipeline: what the workflow does. Clicks become per-(account, day) rows (the daily
  engagement table; computed a day at a time in production, in one pass here), then
  `functions.core.report.executive.ENGAGEMENT_AGGREGATE_SQL` (one row per account and month) and
  `join_totals` (accounts x aggregates) with DuckDB's memory_limit (1GB) and a spill
  directory: the Lambda's engine.
- naive (the anchor): the run book's failing job. Accounts joined to raw clicks and to
  invoice lines first, then aggregated: no limit, like a Spark job without spill. Its
  revenue shows the fan-out (each invoice line counted once per click).

Printed: seconds, peak RSS (the child's VmHWM), pipeline peak at 2N / at N (target: within
10%), naive /
pipeline peak ratio, and the revenue each computes against the invoices' true total.
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

from functions.core.report import executive
from functions.core.report.executive_period import month_period

DATA_DIR: Final = Path(__file__).resolve().parent / ".data" / "exec_join"
MONTH: Final = month_period("2026-09")
USERS_PER_ACCOUNT: Final = 5
MEMORY_LIMIT: Final = "1GB"
FLAT_TOLERANCE: Final = 0.10
DATA_VERSION: Final = "v2"  # in the cached file names: bump when the generator changes

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
) GROUP BY ALL
) TO '{path}' (FORMAT parquet, ROW_GROUP_SIZE 1000000)
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


def _paths(accounts: int, clicks: int) -> dict[str, Path]:
    return {
        "accounts": DATA_DIR / f"accounts_{accounts}.parquet",
        "invoices": DATA_DIR / f"invoices_{accounts}.parquet",
        "clicks": DATA_DIR / f"clicks_{DATA_VERSION}_{accounts}_{clicks}.parquet",
        "daily": DATA_DIR / f"daily_{DATA_VERSION}_{accounts}_{clicks}.parquet",
        "active": DATA_DIR / f"active_{DATA_VERSION}_{accounts}_{clicks}.parquet",
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
    """The monthly job: per-(account, month) aggregates, then accounts x aggregates."""
    engine = executive.Engine(memory_limit=MEMORY_LIMIT, temp_directory=spill)
    con = engine.connect()
    sql = executive.ENGAGEMENT_AGGREGATE_SQL.format(
        daily=f"read_parquet('{paths['daily']}')", active=f"read_parquet('{paths['active']}')"
    )
    con.execute(
        f"CREATE TABLE engagement AS {sql}",
        {"first": MONTH.start.isoformat(), "last": MONTH.end.isoformat()},
    )
    con.execute(
        "CREATE TABLE revenue AS SELECT account_id, sum(paid_cents)::BIGINT AS paid_cents "
        f"FROM read_parquet('{paths['invoices']}') GROUP BY account_id"
    )
    totals = executive.join_totals(
        con,
        accounts=f"read_parquet('{paths['accounts']}')",
        engagement="engagement",
        revenue="revenue",
    )
    keys = ("accounts", "mrr_end_cents", "mau", "active_user_days", "paid_cents")
    return {k: totals[k] for k in keys}


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
    """Run one variant in a fresh interpreter; its result, seconds and peak RSS."""
    code = (
        "import json, sys, time\n"
        "from bench.bench_exec_join import peak_kb, run_naive, run_pipeline\n"
        "paths, spill = json.loads(sys.argv[1]), sys.argv[2]\n"
        "t = time.perf_counter()\n"
        f"result = run_{variant}(paths, spill)\n"
        "result['seconds'] = time.perf_counter() - t\n"
        "result['peak_kb'] = peak_kb()\n"
        "print(json.dumps(result, default=int))\n"
    )
    spill = tempfile.mkdtemp(prefix="exec-join-spill-")
    try:
        done = subprocess.run(
            [sys.executable, "-c", code, json.dumps({k: str(v) for k, v in paths.items()}), spill],
            check=True,
            capture_output=True,
            text=True,
        )
    finally:
        shutil.rmtree(spill, ignore_errors=True)
    answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


def _true_revenue(paths: dict[str, Path]) -> int:
    import duckdb  # noqa: PLC0415

    row = duckdb.sql(f"SELECT sum(paid_cents) FROM read_parquet('{paths['invoices']}')").fetchone()
    return int(row[0]) if row else 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--clicks", type=int, default=50_000_000)
    parser.add_argument("--skip-naive", action="store_true", help="measure the pipeline only")
    args = parser.parse_args(argv if argv is not None else sys.argv[1:])
    results: dict[int, dict[str, dict[str, Any]]] = {}
    for clicks in (args.clicks, 2 * args.clicks):
        started = time.perf_counter()
        paths = generate(args.accounts, clicks)
        print(
            f"data {args.accounts:,} accounts, {clicks:,} clicks ready in "
            f"{time.perf_counter() - started:.1f} s ({paths['clicks'].name})",
            flush=True,
        )
        variants = ("pipeline",) if args.skip_naive else ("pipeline", "naive")
        results[clicks] = {v: _child(v, paths) for v in variants}
        for variant, result in results[clicks].items():
            print(
                f"  {variant:8s} {result['seconds']:7.1f} s  "
                f"peak {result['peak_kb'] / 2**20:6.2f} GB  revenue {result['paid_cents']:,}",
                flush=True,
            )
    small, large = (results[c]["pipeline"]["peak_kb"] for c in (args.clicks, 2 * args.clicks))
    growth = large / small - 1
    print(f"true revenue (sum of invoice lines): {_true_revenue(paths):,}")
    verdict = "flat" if abs(growth) <= FLAT_TOLERANCE else "NOT flat"
    print(
        f"pipeline peak at 2N vs N: {growth:+.1%} ({verdict}; target within {FLAT_TOLERANCE:.0%})"
    )
    if not args.skip_naive:
        for clicks in (args.clicks, 2 * args.clicks):
            naive = results[clicks]["naive"]["peak_kb"]
            pipeline = results[clicks]["pipeline"]["peak_kb"]
            print(f"naive / pipeline peak at {clicks:,} clicks: {naive / pipeline:.2f}x")


if __name__ == "__main__":
    main()
