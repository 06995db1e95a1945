"""Athena queries the pipelines run themselves: start one in a workgroup and database, learn
its state, read a small result. The client is passed in; the caller (a workflow's Wait
state) does the waiting, so nothing here sleeps.

Errors (aws_errors): a refused call is terminal, throttling and service errors transient; a
query that ended FAILED is `AthenaQueryError` (terminal: the SQL or the data is wrong, a
retry fails the same way) unless Athena marks the failure retryable (its own fault), which
is a TransientError; CANCELLED is terminal too (someone stopped it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from functions.adapters.aws_errors import classified
from functions.core.errors import TerminalError, TransientError

QUEUED: Final = "QUEUED"
RUNNING: Final = "RUNNING"
SUCCEEDED: Final = "SUCCEEDED"
FAILED: Final = "FAILED"
CANCELLED: Final = "CANCELLED"
ENDED: Final = frozenset({SUCCEEDED, FAILED, CANCELLED})
_BATCH: Final = 50  # BatchGetQueryExecution's limit
_PAGE: Final = 1000  # GetQueryResults' MaxResults limit


class AthenaQueryError(TerminalError):
    """A query ended FAILED (its SQL or its data is wrong) or CANCELLED."""

    reason = "athena_query_failed"


@dataclass(frozen=True)
class QueryState:
    query_id: str
    state: str  # QUEUED, RUNNING, SUCCEEDED, FAILED or CANCELLED
    reason: str  # StateChangeReason: why it failed, or ""
    retryable: bool  # Athena's AthenaError.Retryable: the failure was Athena's own
    scanned_bytes: int

    @property
    def ended(self) -> bool:
        return self.state in ENDED


def start_query(
    athena: Any, *, sql: str, workgroup: str, database: str, token: str | None = None
) -> str:
    """Start `sql` with `database` as its default; the query's id. `token` (ClientRequest
    Token, 32-128 characters) makes a retried start return the first start's query."""
    request: dict[str, Any] = {
        "QueryString": sql,
        "WorkGroup": workgroup,
        "QueryExecutionContext": {"Database": database},
    }
    if token is not None:
        request["ClientRequestToken"] = token
    try:
        answer = athena.start_query_execution(**request)
    except (ClientError, BotoCoreError) as exc:
        raise classified(exc, f"athena start in {workgroup}") from exc
    return str(answer["QueryExecutionId"])


def query_states(athena: Any, query_ids: Sequence[str]) -> list[QueryState]:
    """The states of `query_ids`, in their order (BatchGetQueryExecution, 50 a call)."""
    found: dict[str, QueryState] = {}
    for start in range(0, len(query_ids), _BATCH):
        chunk = list(query_ids[start : start + _BATCH])
        try:
            answer = athena.batch_get_query_execution(QueryExecutionIds=chunk)
        except (ClientError, BotoCoreError) as exc:
            raise classified(exc, "athena query states") from exc
        unknown = answer.get("UnprocessedQueryExecutionIds", [])
        if unknown:
            raise TerminalError(f"athena does not know the queries {unknown[:3]}")
        for execution in answer.get("QueryExecutions", []):
            state = _state(execution)
            found[state.query_id] = state
    return [found[i] for i in query_ids]


def query_state(athena: Any, query_id: str) -> QueryState:
    try:
        answer = athena.get_query_execution(QueryExecutionId=query_id)
    except (ClientError, BotoCoreError) as exc:
        raise classified(exc, f"athena query {query_id}") from exc
    return _state(answer["QueryExecution"])


def all_succeeded(states: Sequence[QueryState]) -> bool:
    """True once every query succeeded, False while any is still queued or running; raises
    for the first that failed or was cancelled (see the module's errors)."""
    for state in states:
        if state.state == FAILED and state.retryable:
            raise TransientError(f"athena query {state.query_id} failed: {state.reason}")
        if state.state in (FAILED, CANCELLED):
            raise AthenaQueryError(
                f"athena query {state.query_id} {state.state.lower()}: {state.reason}"
            )
    return all(s.state == SUCCEEDED for s in states)


def read_rows(athena: Any, query_id: str, *, max_rows: int = 10_000) -> list[dict[str, str | None]]:
    """A succeeded SELECT's rows as text by column name (Athena's result text, NULL as
    None); for small results only: more than `max_rows` is an error, not a truncation."""
    rows: list[dict[str, str | None]] = []
    names: list[str] | None = None
    token: str | None = None
    while True:
        request: dict[str, Any] = {"QueryExecutionId": query_id, "MaxResults": _PAGE}
        if token:
            request["NextToken"] = token
        try:
            page = athena.get_query_results(**request)
        except (ClientError, BotoCoreError) as exc:
            raise classified(exc, f"athena results of {query_id}") from exc
        result = page["ResultSet"]
        data = [[c.get("VarCharValue") for c in r["Data"]] for r in result.get("Rows", [])]
        if names is None:
            names = [c["Name"] for c in result["ResultSetMetadata"]["ColumnInfo"]]
            data = data[1:]  # a SELECT's first page starts with the header row
        rows.extend(dict(zip(names, values, strict=True)) for values in data)
        if len(rows) > max_rows:
            raise TerminalError(f"athena query {query_id} returned over {max_rows} rows")
        token = page.get("NextToken")
        if not token:
            return rows


def _state(execution: dict[str, Any]) -> QueryState:
    status = execution.get("Status", {})
    error = status.get("AthenaError", {})
    return QueryState(
        query_id=str(execution["QueryExecutionId"]),
        state=str(status.get("State", QUEUED)),
        reason=str(status.get("StateChangeReason", "")),
        retryable=bool(error.get("Retryable", False)),
        scanned_bytes=int(execution.get("Statistics", {}).get("DataScannedInBytes", 0)),
    )
