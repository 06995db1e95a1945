"""The value each deployable setting takes when the deployment names none (pure, light).

The rules that use them import them from here, and so do the handlers' settings and
infra's constructs. Nothing here imports pyarrow or DuckDB: every function reads its
settings, the 256 MB ones included.
"""

from __future__ import annotations

from typing import Final

# A gap of more than this many minutes between a user's clicks starts a new session.
DEFAULT_SESSION_GAP_MINUTES: Final = 30
# A click whose event time is more than this many days before it was first sent is too late.
DEFAULT_ALLOWED_LATENESS_DAYS: Final = 7
# Days before an experiment's start whose activity is its covariate.
DEFAULT_PRE_PERIOD_DAYS: Final = 14
# The executive freshness gate's bounds in AWS: the wait between checks, and how many
# checks before it gives up and alerts on-call.
DEFAULT_WAIT_SECONDS: Final = 900
DEFAULT_MAX_CHECKS: Final = 8
# The daily engagement workflow computes a day on Athena instead of DuckDB in its Lambda
# when the day's landed raw_clicks Parquet is at least this many bytes. Bytes, because the
# workflow learns them from one listing of the day's objects (no file is read) and because
# the Lambda's limits (memory, its /tmp, 15 minutes) scale with the bytes it downloads
# and scans. 1 GiB is about 16M clicks at ~65 bytes a landed click: a third of the 50M
# (3.2 GB) at which the DuckDB path nears the Lambda's 15 minutes and its /tmp peak
# (bench/README.md), so a day that doubles overnight still fits the path it was sized for.
DEFAULT_ATHENA_MIN_RAW_BYTES: Final = 1024**3
# The DuckDB path downloads a day's raw clicks to the Lambda's /tmp (10 GB) up to this many
# bytes and reads them there; a larger day is read from S3 as it is scanned (three passes,
# each a stream of bounded batches), so /tmp holds only the bucket files (~0.7x the raw
# bytes) and the clicks file. Staged, a day needs about 1.7x its raw bytes of /tmp (about
# 90M clicks at most); streamed, about 0.7x (the 15 minutes come first). 4 GiB staged peaks
# near 7 GB. Above DEFAULT_ATHENA_MIN_RAW_BYTES, so with the defaults every day is staged:
# streaming is what lets that threshold be raised past /tmp (docs/scaling.md).
DEFAULT_RAW_STAGE_MAX_BYTES: Final = 4 * 1024**3
# The monthly executive run joins on Athena instead of DuckDB in its Lambda when the month's
# curated inputs (executive_inputs.input_prefixes) hold at least this many bytes. Not the
# engagement threshold: these are a month of per-account-day aggregates (~18 bytes each as
# Parquet), downloaded to /tmp and scanned by DuckDB as it aggregates, so the function's
# memory grows with the accounts, not the clicks; a month the size of the engagement
# threshold (1 GiB) would be 2M accounts active every day, twice the largest month
# measured. 512 MiB is that largest month: 1M accounts active every day (526 MB),
# aggregated and joined in 10.8 CPU s at a 0.76 GB peak (docs/scaling.md); bigger months,
# not measured, go to Athena.
DEFAULT_EXECUTIVE_ATHENA_MIN_INPUT_BYTES: Final = 512 * 1024**2
# Seconds between two checks of a running Athena step (a Wait state of the workflow, which
# costs nothing while it waits, unlike a Lambda polling).
DEFAULT_ATHENA_POLL_SECONDS: Final = 10
