"""PySpark local-mode anchors: bench_engagement's "aggregates only" SQL and bench_exec_join's
totals, on the same files as the project's sides.

Standalone (run with the Python named by BENCH_SPARK_PYTHON, a separate venv holding
pyspark; it imports nothing from this project):

    $BENCH_SPARK_PYTHON bench/spark_anchor.py engagement bench/.data/clicks-1000000/files
    $BENCH_SPARK_PYTHON bench/spark_anchor.py exec_join '{"accounts": ..., "first": ...}'

Prints one JSON line: wall seconds (session start excluded, the query and its collection
included), CPU seconds and peak RSS of the Spark JVM (from /proc), and the answer: the digest
of the per-account rows (computed exactly as bench_engagement.rows_digest does), or the
exec_join totals.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

DAY = "2026-09-01"
DRIVER_MEMORY = "2g"  # the same 2 GB limit as the DuckDB sides

SQL = f"""
WITH d AS (
    SELECT account_id, user_id, event_id, t FROM (
        SELECT account_id, user_id, event_id,
               unix_millis(CAST(event_time AS TIMESTAMP)) AS t,
               row_number() OVER (PARTITION BY event_id
                                  ORDER BY arrival_time, shard_id, sequence_number) AS rn
        FROM clicks
        WHERE event_time >= TIMESTAMP '{DAY}' AND event_time < TIMESTAMP '{DAY}' + INTERVAL 1 DAY
    ) WHERE rn = 1
), g AS (
    SELECT *, CASE WHEN t - lag(t) OVER (PARTITION BY account_id, user_id ORDER BY t, event_id)
                        <= 1800000 THEN 0 ELSE 1 END AS new_session
    FROM d
), s AS (
    SELECT *, sum(new_session) OVER (PARTITION BY account_id, user_id ORDER BY t, event_id
                                     ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
              AS session_no
    FROM g
), per_session AS (
    SELECT account_id, user_id, session_no, count(*) AS clicks, max(t) - min(t) AS length_ms
    FROM s GROUP BY account_id, user_id, session_no
)
SELECT account_id, count(DISTINCT user_id) AS active_users, count(*) AS sessions,
       sum(length_ms) / 3600000.0 AS session_hours, sum(clicks) AS clicks
FROM per_session GROUP BY account_id ORDER BY account_id
"""


EXEC_JOIN_SQL = """
WITH e AS (
    SELECT account_id, sum(active_users) AS active_user_days, sum(session_hours) AS hours,
           sum(clicks) AS clicks, count(DISTINCT dt) AS days_present,
           count(DISTINCT CASE WHEN NOT complete THEN dt END) AS incomplete_days
    FROM daily WHERE dt BETWEEN '{first}' AND '{last}' GROUP BY account_id
), l AS (
    SELECT account_id, max(mau) AS mau FROM active WHERE dt = '{last}' GROUP BY account_id
), r AS (
    SELECT account_id, sum(paid_cents) AS paid_cents FROM invoices GROUP BY account_id
)
SELECT count(*) AS accounts, sum(a.mrr_end_cents) AS mrr_end_cents,
       coalesce(sum(l.mau), 0) AS mau, coalesce(sum(e.active_user_days), 0) AS active_user_days,
       coalesce(sum(r.paid_cents), 0) AS paid_cents
FROM accounts a
LEFT JOIN e ON a.account_id = e.account_id
LEFT JOIN l ON a.account_id = l.account_id
LEFT JOIN r ON a.account_id = r.account_id
"""


def _jvm_figures(pid: int) -> tuple[float, float]:
    """(peak RSS in GB, CPU seconds) of the JVM, read before it exits."""
    status = Path(f"/proc/{pid}/status").read_text()
    peak_kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM"))
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime + stime
    return peak_kb / 1024 / 1024, ticks / 100


def _session() -> Any:
    from pyspark.sql import SparkSession  # noqa: PLC0415 (only in the Spark venv)

    spark = (
        SparkSession.builder.master("local[2]")
        .config("spark.driver.memory", DRIVER_MEMORY)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "8")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _finish(spark: Any, started: float, answer: dict[str, Any]) -> None:
    seconds = time.perf_counter() - started
    pid = spark.sparkContext._gateway.proc.pid
    peak_gb, cpu_seconds = _jvm_figures(pid)
    spark.stop()
    figures = {"seconds": seconds, "cpu_seconds": cpu_seconds, "peak_gb": peak_gb}
    print(json.dumps({**figures, "peak_kb": round(peak_gb * 1024 * 1024), **answer}))


def engagement(files: str) -> None:
    spark = _session()
    started = time.perf_counter()
    spark.read.parquet(files).createOrReplaceTempView("clicks")
    rows = spark.sql(SQL).collect()
    digest_rows = sorted(
        [r.account_id, r.active_users, r.sessions, round(float(r.session_hours), 6), r.clicks]
        for r in rows
    )
    digest = hashlib.sha256(json.dumps(digest_rows).encode()).hexdigest()[:16]
    _finish(spark, started, {"digest": digest, "accounts": len(rows)})


def exec_join(named: str) -> None:
    paths = json.loads(named)
    spark = _session()
    started = time.perf_counter()
    for view in ("accounts", "invoices", "daily", "active"):
        spark.read.parquet(paths[view]).createOrReplaceTempView(view)
    row = spark.sql(EXEC_JOIN_SQL.format(first=paths["first"], last=paths["last"])).collect()[0]
    _finish(spark, started, {k: int(v) for k, v in row.asDict().items()})


if __name__ == "__main__":
    {"engagement": engagement, "exec_join": exec_join}[sys.argv[1]](sys.argv[2])
