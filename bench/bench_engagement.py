"""Daily engagement over N clicks against plain DuckDB SQL anchors; peak memory per size.

    python -m bench engagement [N ...] [--rounds R]     # default: 1,000,000, 3 rounds
    python -m bench engagement 1000000 10000000 50000000 --rounds 1
    BENCH_PIPELINE_MEMORY_LIMIT=0.5GB python -m bench engagement 10000000 --sides pipeline

Input: one day of RAW_CLICKS files as the ingest function lands them (bench/engagement_data.py,
generated once per size and cached under bench/.data/), with natural and synthetic duplicates.

Measured, each run in a fresh subprocess (so its peak RSS is its own), rounds interleaved:

- pipeline: `functions.core.transform.engagement` as the daily function runs it: `engagement_day`
  (compaction with natural/synthetic/late counts, the deduplicated clicks streamed to a
  Parquet file, sessions and per-user counts by event type, clicks per hour) then
  `engagement_daily`, with the daily Lambda's `Engine(memory_limit="1.4GB")` (DuckDB's
  share of a 2 GB Lambda: Python, Arrow and the Parquet writer live outside it) spilling
  to a temp directory;
- anchor "same outputs": plain DuckDB SQL producing the same deliverables (the clicks file,
  the dedup counts, the per-user table, the per-account table), written the obvious way;
- anchor "aggregates only" (the issue's "plain DuckDB SQL anchor"): one SQL statement for
  the per-account table alone (dedup, then sessions); it skips the clicks file, the dedup
  counts and the per-type counts;
- PySpark local mode running the "aggregates only" SQL, if `BENCH_SPARK_PYTHON` names a Python
  with pyspark installed (a separate venv: see bench/README.md); skipped with the reason
  otherwise.

The plain-SQL anchors run out of memory at 10M clicks under 2 GB, so they get a generous
DuckDB limit (BENCH_ANCHOR_MEMORY_LIMIT, default 16GB, printed) to finish and give a time
ratio; the pipeline keeps its 1.4 GB. All sides get the same threads. Printed per side: best
wall seconds, best CPU seconds (user + system, less sensitive to other load on the machine),
peak RSS of the whole child process (VmHWM); then ratios (targets: <= 1.2x wall and 1.3x
cpu of the aggregates-only anchor, >= 5x faster than PySpark), whether every side produced
the same per-account rows, the load average and the CPU anchor. Figures only: nothing here
fails on time.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Final
from unittest import mock

import pyarrow as pa

from bench.engagement_data import DAY, dataset, parquet_files
from bench.machine import anchor_line, best_of, load
from bench.report import print_ratios, print_sides, spark_speedup
from bench.spark import spark_command, spark_skip_reason
from functions.core.transform import engagement

# DuckDB's limit in the pipeline, as the daily Lambda sets it (engagement_steps._engine);
# the env var sets another, e.g. one small enough that 10M clicks already reach it (is the
# peak flat once the limit is reached? bench/README.md, "peak memory by input size").
PIPELINE_MEMORY_ENV: Final = "BENCH_PIPELINE_MEMORY_LIMIT"
PIPELINE_MEMORY_DEFAULT: Final = "1.4GB"
# Issue #20: the pipeline within 1.2x the aggregates-only anchor's wall time and 1.3x its
# CPU, and at least 5x faster than PySpark.
TARGET_RATIO: Final = 1.2
TARGET_CPU_RATIO: Final = 1.3
TARGET_PEAK_GB: Final = 2.5
# The anchors, written as an analyst would, run out of memory at 10M clicks under 2 GB: they
# get this much (DuckDB memory_limit) to finish and give a time ratio.
ANCHOR_MEMORY_ENV: Final = "BENCH_ANCHOR_MEMORY_LIMIT"
ANCHOR_MEMORY_DEFAULT: Final = "16GB"
# At 50M clicks the "same outputs" anchor spills tens of GB: capped so that a disk shared
# with other work is not filled (past the cap the anchor fails, and says so).
ANCHOR_SPILL_LIMIT: Final = "20GB"

PIPELINE: Final = "pipeline"
SAME_OUTPUTS: Final = "sql_same_outputs"
AGGREGATES_ONLY: Final = "sql_aggregates_only"
SPARK: Final = "pyspark_aggregates_only"
LABELS: Final = {
    PIPELINE: "pipeline (engagement_day + engagement_daily)",
    SAME_OUTPUTS: "anchor: DuckDB SQL, same outputs",
    AGGREGATES_ONLY: "anchor: DuckDB SQL, aggregates only (issue's)",
    SPARK: "anchor: PySpark local[2], aggregates only",
}

_DAY_FILTER: Final = (
    f"event_time >= TIMESTAMP '{DAY.isoformat()}' "
    f"AND event_time < TIMESTAMP '{DAY.isoformat()}' + INTERVAL 1 DAY"
)

AGGREGATES_SQL: Final = f"""
WITH d AS (
    SELECT * EXCLUDE (rn) FROM (
        SELECT account_id, user_id, event_id, epoch_ms(event_time) AS t,
               row_number() OVER (PARTITION BY event_id
                                  ORDER BY arrival_time, shard_id, sequence_number) AS rn
        FROM read_parquet({{files}}) WHERE {_DAY_FILTER}
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

_BY_TYPE: Final = ",\n       ".join(
    f"count(*) FILTER (WHERE event_type = '{t}') AS clicks_{t}"
    for t in engagement.schemas.CLICK_EVENT_TYPES
)

SAME_OUTPUTS_SQL: Final = (
    f"""
CREATE TEMP TABLE ranked AS
SELECT *, row_number() OVER w AS copy_no,
       first_value(struct_pack(account_id, user_id, event_type, event_time, page)) OVER w
           AS kept_payload,
       count(*) OVER (PARTITION BY event_id) AS copies
FROM read_parquet({{files}}) WHERE {_DAY_FILTER}
WINDOW w AS (PARTITION BY event_id ORDER BY arrival_time, shard_id, sequence_number,
                                            account_id, user_id, event_type, event_time, page)
""",
    """
COPY (SELECT event_id, account_id, user_id, event_type, event_time, page, arrival_time, copies
      FROM ranked WHERE copy_no = 1 ORDER BY event_time, event_id)
TO '{out}' (FORMAT parquet, COMPRESSION zstd)
""",
    """
CREATE TEMP TABLE dedup AS
SELECT count(*) AS rows_landed, count(*) FILTER (WHERE copy_no = 1) AS rows_kept,
       count(*) FILTER (WHERE copy_no > 1 AND kept_payload IS NOT DISTINCT FROM
           struct_pack(account_id, user_id, event_type, event_time, page)) AS natural_duplicates,
       count(*) FILTER (WHERE copy_no > 1 AND kept_payload IS DISTINCT FROM
           struct_pack(account_id, user_id, event_type, event_time, page)) AS synthetic_duplicates
FROM ranked
""",
    f"""
CREATE TEMP TABLE user_daily AS
WITH c AS (
    SELECT account_id, user_id, event_type, event_id, epoch_ms(event_time) AS t
    FROM ranked WHERE copy_no = 1
), g AS (
    SELECT *, CASE WHEN t - lag(t) OVER (PARTITION BY account_id, user_id ORDER BY t, event_id)
                        <= 1800000 THEN 0 ELSE 1 END AS new_session
    FROM c
), s AS (
    SELECT *, sum(new_session) OVER (PARTITION BY account_id, user_id ORDER BY t, event_id
                                     ROWS UNBOUNDED PRECEDING) AS session_no
    FROM g
), per_session AS (
    SELECT account_id, user_id, session_no, max(t) - min(t) AS length_ms FROM s GROUP BY ALL
), per_user_sessions AS (
    SELECT account_id, user_id, count(*) AS sessions, sum(length_ms) AS session_ms
    FROM per_session GROUP BY ALL
), per_user_clicks AS (
    SELECT account_id, user_id, count(*) AS clicks,
       {_BY_TYPE}
    FROM c GROUP BY ALL
)
SELECT * FROM per_user_sessions JOIN per_user_clicks USING (account_id, user_id)
""",
    """
SELECT account_id, count(*) AS active_users, sum(sessions) AS sessions,
       CAST(sum(session_ms) AS DOUBLE) / 3600000.0 AS session_hours, sum(clicks) AS clicks
FROM user_daily GROUP BY account_id ORDER BY account_id
""",
)


# --- the sides (run inside a child process) ---------------------------------------------


def run_pipeline(files: list[str], temp: Path) -> dict[str, Any]:
    eng = engagement.Engine(
        memory_limit=pipeline_memory_limit(), temp_directory=str(temp / "spill")
    )
    with MemorySampler() as sampler, sampler.watching_pipeline():
        result = engagement.engagement_day(
            files, DAY, clicks_path=str(temp / "clicks.parquet"), engine=eng
        )
        daily = engagement.engagement_daily(result.user_daily, DAY, engine=eng)
    dedup = result.dedup.to_pylist()[0]
    return {
        "digest": rows_digest(daily),
        "accounts": daily.num_rows,
        "dedup": [dedup[k] for k in _DEDUP_KEYS],
        "user_daily_rows": result.user_daily.num_rows,
        "user_daily_gb": result.user_daily.nbytes / GB,
        "clicks_file": str(temp / "clicks.parquet"),  # hashed by `child`, after the clock
        **sampler.figures(),
    }


# --- where the pipeline's memory goes (sampled in its child process) -----------------------

GB: Final = 1024**3
SAMPLE_SECONDS: Final = 0.1
_DUCKDB_MEMORY_SQL: Final = (
    "SELECT coalesce(sum(memory_usage_bytes), 0), coalesce(sum(temporary_storage_bytes), 0) "
    "FROM duckdb_memory()"
)
# The pipeline's steps, by the engagement function each runs in (anything else: "other");
# a step run inside another names its own samples.
PHASES: Final = {
    "_find_repeated": "ids aggregate",
    "_rank_repeated": "ranking the copies",
    "_compact_into_buckets": "bucket files",
    "_day_counts": "dedup counts + hours",
    "_process_buckets": "buckets (sessions + clicks file)",
    "_bucket_user_daily": "  sessions",
    "_write_bucket_clicks": "  clicks sort + write",
    "engagement_daily": "engagement_daily",
}


class MemorySampler:
    """Every SAMPLE_SECONDS, in a thread: the process's RSS, DuckDB's own memory and spill
    (`duckdb_memory()`, on a cursor of the pipeline's connection: what its memory_limit
    governs) and Arrow's pool; the peaks, per step. Sampled, so a peak between two samples
    is missed (VmHWM, printed as "peak GB", is exact); it says where the memory went."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cursor: Any = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memory-sampler", daemon=True)
        self.phase = "other"
        self.duckdb_peak = self.spill_peak = 0
        self.at_rss_peak: dict[str, Any] = {"rss_gb": 0.0}
        self.rss_by_phase: dict[str, float] = {}
        # RSS as each step starts: what the steps before it left behind.
        self.rss_at_start: dict[str, float] = {}
        # Wall and CPU seconds (user + system, every thread) spent in each step, summed
        # over its calls (a step inside another counts in both).
        self.seconds: dict[str, list[float]] = {}
        self.missed = 0

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    @contextmanager
    def watching_pipeline(self) -> Iterator[None]:
        """Patch the engagement module (this child process only): every connection it opens
        is watched until closed, and each step in PHASES names the samples taken during it."""
        connect = engagement._connect

        def watched_connect(engine: engagement.Engine | None) -> Any:
            return _Watched(connect(engine), self)

        with ExitStack() as stack:
            stack.enter_context(mock.patch.object(engagement, "_connect", watched_connect))
            for name, phase in PHASES.items():
                step = self._in_phase(getattr(engagement, name), phase)
                stack.enter_context(mock.patch.object(engagement, name, step))
            yield

    def _in_phase(self, function: Callable[..., Any], phase: str) -> Callable[..., Any]:
        def step(*args: Any, **kwargs: Any) -> Any:
            self.rss_at_start.setdefault(phase, _status_gb("VmRSS"))
            before, self.phase = self.phase, phase
            wall, cpu = time.perf_counter(), _cpu_seconds()
            try:
                return function(*args, **kwargs)
            finally:
                self.phase = before
                spent = self.seconds.setdefault(phase, [0.0, 0.0])
                spent[0] += time.perf_counter() - wall
                spent[1] += _cpu_seconds() - cpu

        return step

    def watch(self, con: Any) -> None:
        with self._lock:
            self._cursor = con.cursor()

    def unwatch(self) -> None:
        # The cursor keeps the database open: closed before the connection is.
        with self._lock:
            if self._cursor is not None:
                self._cursor.close()
            self._cursor = None

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            self.sample()

    def sample(self) -> None:
        import duckdb  # noqa: PLC0415

        row = None
        with self._lock:
            try:
                row = self._cursor.execute(_DUCKDB_MEMORY_SQL).fetchone() if self._cursor else None
            except duckdb.OutOfMemoryException:
                # Even this tiny query needs a few KB of the limit: when none is left, that
                # moment's DuckDB figure is missed (the peak is the limit anyway).
                self.missed += 1
        duck, spill = (int(row[0]), int(row[1])) if row else (0, 0)
        rss = _status_gb("VmRSS")
        arrow = pa.total_allocated_bytes() / GB
        self.duckdb_peak, self.spill_peak = max(self.duckdb_peak, duck), max(self.spill_peak, spill)
        phase = self.phase
        self.rss_by_phase[phase] = max(self.rss_by_phase.get(phase, 0.0), rss)
        if rss > self.at_rss_peak["rss_gb"]:
            self.at_rss_peak = {
                "rss_gb": rss,
                "phase": phase,
                "duckdb_gb": duck / GB,
                "arrow_gb": arrow,
                "other_gb": rss - duck / GB - arrow,
            }

    def figures(self) -> dict[str, Any]:
        return {
            "duckdb_peak_gb": self.duckdb_peak / GB,
            "spill_peak_gb": self.spill_peak / GB,
            "arrow_peak_gb": pa.default_memory_pool().max_memory() / GB,
            "at_rss_peak": self.at_rss_peak,
            "rss_by_phase": self.rss_by_phase,
            "rss_at_start": self.rss_at_start,
            "step_seconds": self.seconds,
            "samples_missed": self.missed,
        }


class _Watched:
    """A pipeline connection, watched by the sampler from `_connect` until its `with` ends."""

    def __init__(self, con: Any, sampler: MemorySampler) -> None:
        self._con, self._sampler = con, sampler
        sampler.watch(con)

    def __enter__(self) -> Any:
        return self._con.__enter__()

    def __exit__(self, *exc: Any) -> Any:
        self._sampler.unwatch()
        return self._con.__exit__(*exc)


def run_same_outputs(files: list[str], temp: Path) -> dict[str, Any]:
    con = _duckdb(temp)
    ranked, copy, dedup, user_daily, daily = SAME_OUTPUTS_SQL
    con.execute(ranked.format(files=_sql_list(files)))
    con.execute(copy.format(out=temp / "clicks.parquet"))
    con.execute(dedup)
    con.execute(user_daily)
    table = con.execute(daily).fetch_arrow_table()
    counts = con.execute(f"SELECT {', '.join(_DEDUP_KEYS)} FROM dedup").fetchone() or ()
    return {
        "digest": rows_digest(table),
        "accounts": table.num_rows,
        "dedup": [int(v) for v in counts],
    }


def run_aggregates_only(files: list[str], temp: Path) -> dict[str, Any]:
    table = _duckdb(temp).execute(AGGREGATES_SQL.format(files=_sql_list(files))).fetch_arrow_table()
    return {"digest": rows_digest(table), "accounts": table.num_rows}


_DEDUP_KEYS: Final = ("rows_landed", "rows_kept", "natural_duplicates", "synthetic_duplicates")
RUNNERS: Final[dict[str, Callable[[list[str], Path], dict[str, Any]]]] = {
    PIPELINE: run_pipeline,
    SAME_OUTPUTS: run_same_outputs,
    AGGREGATES_ONLY: run_aggregates_only,
}


def rows_digest(table: pa.Table) -> str:
    """The per-account rows every side must agree on (hours rounded: summation order)."""
    rows = [
        [
            r["account_id"],
            int(r["active_users"]),
            int(r["sessions"]),
            round(float(r["session_hours"]), 6),
            int(r["clicks"]),
        ]
        for r in table.select(
            ["account_id", "active_users", "sessions", "session_hours", "clicks"]
        ).to_pylist()
    ]
    return hashlib.sha256(json.dumps(sorted(rows)).encode()).hexdigest()[:16]


def _duckdb(temp: Path) -> Any:
    import duckdb  # noqa: PLC0415

    # preserve_insertion_order off: DuckDB's own advice when a query runs out of memory, and
    # without it both anchors fail at 10M clicks under the 2 GB limit (their results are
    # ordered by ORDER BY anyway).
    config: dict[str, str | bool | int | float | list[str]] = {
        "memory_limit": anchor_memory_limit(),
        "max_temp_directory_size": ANCHOR_SPILL_LIMIT,
        "temp_directory": str(temp / "spill"),
        "preserve_insertion_order": False,
    }
    return duckdb.connect(":memory:", config=config)


def anchor_memory_limit() -> str:
    return os.environ.get(ANCHOR_MEMORY_ENV) or ANCHOR_MEMORY_DEFAULT


def pipeline_memory_limit() -> str:
    return os.environ.get(PIPELINE_MEMORY_ENV) or PIPELINE_MEMORY_DEFAULT


def peak_rss_gb() -> float:
    """This process's peak resident memory (VmHWM: Python, Arrow, DuckDB, everything)."""
    peak = _status_gb("VmHWM")
    return peak or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024


def _status_gb(field: str) -> float:
    """A memory field of /proc/self/status (kB) in GB; 0 where there is no /proc."""
    status = Path("/proc/self/status")
    lines = status.read_text().splitlines() if status.exists() else []
    for line in lines:
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024 / 1024
    return 0.0


def _sql_list(files: Sequence[str]) -> str:
    return "[" + ", ".join(f"'{f}'" for f in files) + "]"


def _file_digest(path: Path) -> str:
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()[:16]


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child(kind: str, directory: str) -> None:
    """Run one side in this process; print its figures as one JSON line."""
    files = parquet_files(Path(directory))
    with tempfile.TemporaryDirectory(prefix="bench-engagement-") as temp:
        cpu_before = _cpu_seconds()
        started = time.perf_counter()
        result = RUNNERS[kind](files, Path(temp))
        result["seconds"] = time.perf_counter() - started
        result["cpu_seconds"] = _cpu_seconds() - cpu_before
        if "clicks_file" in result:  # the same bytes before and after a change?
            result["clicks_sha"] = _file_digest(Path(result.pop("clicks_file")))
    result["peak_gb"] = peak_rss_gb()
    print(json.dumps(result))


# --- the parent: generate, run the children, print the table ------------------------------


def measure(kind: str, directory: Path) -> dict[str, Any]:
    if kind == SPARK:
        spark = spark_command("engagement")
        command = [*spark, str(directory / "files")]
    else:
        command = [sys.executable, "-m", "bench.bench_engagement", "--child", kind, str(directory)]
    done = subprocess.run(command, check=False, capture_output=True, text=True)
    if done.returncode != 0:
        # A side that fails (e.g. DuckDB out of memory under the 2 GB limit) is a result too.
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        for line in done.stderr.splitlines():
            if "Error" in line and ":" in line:
                last = line
                break
        return {"failed": last[:160]}
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def bench_size(clicks: int, rounds: int, sides: Sequence[str]) -> dict[str, dict[str, Any]]:
    directory, generated = dataset(clicks)
    note = f"generated in {generated:.0f} s" if generated else "cached"
    print(f"\n{clicks:,} clicks, {len(parquet_files(directory))} files ({note}), {rounds} round(s)")
    runs: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
    for _ in range(rounds):
        for side in sides:
            runs[side].append(measure(side, directory))
    results = {side: best_of(r, peak="peak_gb") for side, r in runs.items()}
    print(f"  load average after the runs (1, 5, 15 min): {load()}")
    _print_table(results)
    return results


def _print_table(results: dict[str, dict[str, Any]]) -> None:
    print_sides(
        results, LABELS, peak_gb=lambda r: r["peak_gb"], last=("rows", lambda r: r["digest"])
    )
    pipe = results.get(PIPELINE, {"failed": "not run"})
    if "failed" in pipe:
        return
    _print_memory(pipe)

    def note(anchor: str, a: dict[str, Any], wall: float, cpu: float) -> str:
        if anchor == SPARK:
            return f" ({spark_speedup(pipe, a)})"
        met = wall <= TARGET_RATIO and cpu <= TARGET_CPU_RATIO
        verdict = "met" if met else "NOT met"
        return f" (target wall <= {TARGET_RATIO}x, cpu <= {TARGET_CPU_RATIO}x: {verdict})"

    print_ratios(pipe, results, (SAME_OUTPUTS, AGGREGATES_ONLY, SPARK), note)
    done = [r for r in results.values() if "failed" not in r]
    same_rows = len({r["digest"] for r in done}) == 1
    same_outputs = results.get(SAME_OUTPUTS, {})
    same_dedup: bool | str = (
        pipe["dedup"] == same_outputs["dedup"] if "dedup" in same_outputs else "not compared"
    )
    peak = "within" if pipe["peak_gb"] <= TARGET_PEAK_GB else "OVER"
    print(
        f"  same per-account rows on every side that finished: {same_rows}; same dedup counts "
        f"{pipe['dedup']}: {same_dedup}; pipeline peak {peak} {TARGET_PEAK_GB} GB"
    )


def _print_memory(pipe: dict[str, Any]) -> None:
    """Where the pipeline's memory went (sampled: see MemorySampler)."""
    at = pipe["at_rss_peak"]
    phases = ", ".join(f"{p} {gb:.2f}" for p, gb in pipe["rss_by_phase"].items())
    starts = ", ".join(f"{p} {gb:.2f}" for p, gb in pipe["rss_at_start"].items())
    steps = "\n".join(
        f"      {p:<36} {wall:7.2f} {cpu:7.2f}" for p, (wall, cpu) in pipe["step_seconds"].items()
    )
    print(
        f"  pipeline memory (GB): DuckDB limit {pipeline_memory_limit()}, DuckDB's own peak "
        f"{pipe['duckdb_peak_gb']:.2f} (duckdb_memory(), sampled), spill peak "
        f"{pipe['spill_peak_gb']:.2f}, Arrow pool peak {pipe['arrow_peak_gb']:.2f}, "
        f"user_daily {pipe['user_daily_rows']:,} rows {pipe['user_daily_gb']:.3f}\n"
        f"    at the sampled RSS peak {at['rss_gb']:.2f} ({at.get('phase')}): DuckDB "
        f"{at.get('duckdb_gb', 0):.2f} + Arrow {at.get('arrow_gb', 0):.2f} + the rest "
        f"{at.get('other_gb', 0):.2f}\n"
        f"    RSS peak by step: {phases}\n    RSS as each step starts: {starts}\n"
        f"    seconds by step (of the best run; wall, cpu):\n{steps}\n"
        f"    DuckDB samples missed (limit full): "
        f"{pipe['samples_missed']}; clicks file sha256 {pipe['clicks_sha']}"
    )


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else list(argv)
    if args[:1] == ["--child"]:
        child(args[1], args[2])
        return
    rounds: int | None = None
    if "--rounds" in args:
        at = args.index("--rounds")
        rounds = int(args[at + 1])
        del args[at : at + 2]
    chosen: list[str] | None = None
    if "--sides" in args:  # e.g. --sides pipeline: the peak-memory runs (bench/README.md)
        at = args.index("--sides")
        chosen = args[at + 1].split(",")
        del args[at : at + 2]
    sizes = [int(a.replace("_", "")) for a in args] or [1_000_000]
    sides = [PIPELINE, SAME_OUTPUTS, AGGREGATES_ONLY]
    skip = spark_skip_reason() if chosen is None or SPARK in chosen else "not chosen (--sides)"
    if skip is None:
        sides.append(SPARK)
    if chosen is not None:
        unknown = set(chosen) - set(LABELS)
        if unknown:
            raise SystemExit(f"unknown sides {sorted(unknown)}; choose from {', '.join(LABELS)}")
        sides = [side for side in sides if side in chosen]
    print(
        f"DuckDB memory limit: pipeline {pipeline_memory_limit()} ({PIPELINE_MEMORY_ENV}), "
        f"anchors {anchor_memory_limit()} ({ANCHOR_MEMORY_ENV}); peak = the child process's "
        f"VmHWM; load: {load()}"
    )
    print(f"PySpark anchor: {'runs' if skip is None else 'skipped: ' + skip}\n{anchor_line()}")
    peaks = {}
    for size in sizes:
        results = bench_size(size, rounds or (3 if size <= 2_000_000 else 1), sides)
        if PIPELINE in results:
            peaks[size] = results[PIPELINE]
    if len(peaks) > 1:
        print(f"\npipeline peak memory by input size (DuckDB limit {pipeline_memory_limit()}):")
        for size, r in peaks.items():
            figures = (
                "failed"
                if "failed" in r
                else f"{r['peak_gb']:.2f} GB (DuckDB's own {r['duckdb_peak_gb']:.2f}, "
                f"spill {r['spill_peak_gb']:.2f}, cpu {r['cpu_seconds']:.1f} s)"
            )
            print(f"  {size:>12,}: {figures}")
    print(anchor_line())


if __name__ == "__main__":
    main()
