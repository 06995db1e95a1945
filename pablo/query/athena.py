"""Run a query on Athena itself (AWS), in a workgroup, through awswrangler.

`awswrangler.athena.read_sql_query` starts the query, waits for it and reads its result;
with `ctas_approach=False` (the default here) it reads the CSV Athena writes to the
workgroup's output location, so it needs nothing but the workgroup's own permissions. The
CTAS approach (`ctas=True`) is faster for large results but creates a temporary table and
Parquet files, which needs Glue and S3 write access in the workgroup's location.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from botocore.exceptions import BotoCoreError, ClientError

from pablo.query.sql import QueryError

# How often a running query is polled on AWS (awswrangler's own default).
AWS_POLL_SECONDS = 1.0


def run_athena(
    session: Any,
    sql: str,
    *,
    workgroup: str,
    database: str,
    ctas: bool = False,
    poll_seconds: float = AWS_POLL_SECONDS,
) -> pa.Table:
    """The query's rows as Arrow; QueryError (one line) when Athena refuses or fails it."""
    import awswrangler as wr  # noqa: PLC0415 (pandas and numpy only when a query runs on AWS)

    try:
        frame = wr.athena.read_sql_query(
            sql,
            database=database,
            workgroup=workgroup,
            ctas_approach=ctas,
            boto3_session=session,
            athena_query_wait_polling_delay=poll_seconds,
        )
    except (ClientError, BotoCoreError, *_wrangler_errors(wr)) as exc:
        raise QueryError(f"Athena: {_one_line(exc)}") from exc
    # Athena's NULL arrives as NaN in float columns; Arrow reads NaN from pandas as null.
    return pa.Table.from_pandas(frame, preserve_index=False)


def _wrangler_errors(wr: Any) -> tuple[type[Exception], ...]:
    """awswrangler's own exceptions (QueryFailed, QueryCancelled, ...): they share no base."""
    return tuple(
        value
        for value in vars(wr.exceptions).values()
        if isinstance(value, type) and issubclass(value, Exception)
    )


def _one_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
