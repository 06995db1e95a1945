"""Run a query on Athena itself (AWS), in a workgroup, with plain boto3 calls.

awswrangler would do this, but awswrangler 3.17.1 (the newest) requires pyarrow < 26 and
the project pins pyarrow 26.0.1; the three calls it would make are made here instead:
StartQueryExecution, GetQueryExecution until the query ends, GetQueryResults pages.
Results arrive as strings; they are typed back from Athena's column types.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
from botocore.exceptions import BotoCoreError, ClientError

from pablo.query_sql import QueryError

TERMINAL_STATES = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})
FIRST_POLL_SECONDS = 0.25
MAX_POLL_SECONDS = 5.0
DEFAULT_TIMEOUT_SECONDS = 30 * 60

_INTEGERS = frozenset({"tinyint", "smallint", "integer", "int", "bigint"})
_FLOATS = frozenset({"double", "float", "real"})


def run_athena(
    athena: Any,
    sql: str,
    *,
    workgroup: str,
    database: str,
    sleep: Callable[[float], None] = time.sleep,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
) -> pa.Table:
    """The query's rows; QueryError (one line) when Athena refuses or fails it."""
    try:
        started = athena.start_query_execution(
            QueryString=sql,
            WorkGroup=workgroup,
            QueryExecutionContext={"Database": database},
        )
        execution_id = started["QueryExecutionId"]
        _wait(athena, execution_id, sleep=sleep, timeout_seconds=timeout_seconds)
        return _results(athena, execution_id)
    except (ClientError, BotoCoreError) as exc:
        raise QueryError(f"Athena: {_one_line(exc)}") from exc


def _wait(
    athena: Any, execution_id: str, *, sleep: Callable[[float], None], timeout_seconds: float
) -> None:
    delay, waited = FIRST_POLL_SECONDS, 0.0
    while True:
        execution = athena.get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]
        status = execution["Status"]
        state = status["State"]
        if state == "SUCCEEDED":
            return
        if state in TERMINAL_STATES:
            reason = status.get("StateChangeReason") or state.lower()
            raise QueryError(f"Athena query {execution_id} {state.lower()}: {_first(reason)}")
        if waited >= timeout_seconds:
            athena.stop_query_execution(QueryExecutionId=execution_id)
            raise QueryError(f"Athena query {execution_id} still {state} after {waited:.0f} s")
        sleep(delay)
        waited += delay
        delay = min(delay * 2, MAX_POLL_SECONDS)


def _results(athena: Any, execution_id: str) -> pa.Table:
    columns: list[dict[str, Any]] = []
    rows: list[list[str | None]] = []
    paginator = athena.get_paginator("get_query_results")
    for page in paginator.paginate(QueryExecutionId=execution_id):
        result_set = page.get("ResultSet", {})
        if not columns:
            columns = result_set.get("ResultSetMetadata", {}).get("ColumnInfo", [])
        rows.extend(
            [cell.get("VarCharValue") for cell in row.get("Data", [])]
            for row in result_set.get("Rows", [])
        )
    names = [c["Name"] for c in columns]
    # A SELECT's first row repeats the column names.
    if rows and rows[0] == names:
        rows = rows[1:]
    values = {
        name: [
            typed(row[i] if i < len(row) else None, column.get("Type", "varchar")) for row in rows
        ]
        for i, (name, column) in enumerate(zip(names, columns, strict=True))
    }
    return pa.table(values) if names else pa.table({})


def typed(text: str | None, athena_type: str) -> Any:
    """A result value from its text and Athena type (unknown types stay text)."""
    if text is None:
        return None
    kind = athena_type.lower().split("(")[0].strip()
    if kind in _INTEGERS:
        return int(text)
    if kind in _FLOATS:
        return float(text)
    if kind == "decimal":
        return Decimal(text)
    if kind == "boolean":
        return text.lower() == "true"
    if kind == "date":
        return date.fromisoformat(text)
    if kind.startswith("timestamp"):
        return datetime.fromisoformat(text.removesuffix(" UTC"))
    return text


def _first(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else text


def _one_line(exc: BaseException) -> str:
    return _first(str(exc)) or type(exc).__name__
