"""Athena that runs SQL: the emulator executes queries on DuckDB, as `pablo query` does.

moto stores Athena queries but runs none (its GetQueryResults answers preset rows only).
This extension answers the query calls itself, for every caller (boto3, awswrangler, the
AWS CLI): StartQueryExecution runs the query in a worker thread (QUEUED, RUNNING, then
SUCCEEDED, FAILED or CANCELLED); the SQL is transpiled by sqlglot and run on DuckDB over the
Glue catalog and the emulator's S3 (`pablo.query.sql`, `pablo.query.engine`); the result
is written to the output location as Athena writes it (`<id>.csv` and `<id>.csv.metadata`)
and served by GetQueryResults in pages with column metadata. CREATE TABLE AS and INSERT
INTO write Parquet to S3 and register the table and its partitions in Glue. Workgroups
(their enforced output location and bytes-scanned cutoff) and named queries stay moto's.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from moto.athena.responses import AthenaResponse

from infra.config import is_finance_workgroup
from pablo.local import athena_sql, moto_patches
from pablo.local.athena_sql import Statement
from pablo.local.context import LOCAL_CREDENTIALS, EmulatorContext
from pablo.query import engine as query_engine
from pablo.query.sql import (
    DEFAULT_DATABASE,
    SCHEMA_NOT_FOUND,
    TABLE_NOT_FOUND,
    Catalog,
    QueryError,
    translate,
)

LOG = logging.getLogger(__name__)

EXTENSION_NAME = "athena-sql"
WORKERS = 2
PRIMARY_WORKGROUP = "primary"
RUNNING_STATES = frozenset({"QUEUED", "RUNNING"})
# AthenaError categories and types (Athena's error catalogue): a user error, or ours.
USER_CATEGORY, SYSTEM_CATEGORY = 2, 1
USER_ERROR_TYPE, INTERNAL_ERROR_TYPE = 1000, 100
BYTES_SCANNED_EXCEEDED = "Query cancelled! : Bytes scanned limit was exceeded"
LIST_PAGE_LIMIT = 50
GLUE_PARTITION_BATCH = 100  # BatchCreatePartition's limit


@dataclass
class QueryRun:
    """One query execution, as GetQueryExecution describes it."""

    id: str
    query: str
    workgroup: str
    output_location: str
    context: dict[str, str]
    cutoff_bytes: int | None
    token: str | None = None  # ClientRequestToken: a second start with it is this run
    state: str = "QUEUED"
    statement_type: str = athena_sql.DML
    reason: str | None = None
    error: dict[str, Any] | None = None
    submitted: float = field(default_factory=time.time)
    completed: float | None = None
    scanned_bytes: int = 0
    engine_millis: int = 0
    result: pa.Table | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def finish(self, state: str, **changes: Any) -> None:
        """End the run unless it already ended (a stop may come while it runs)."""
        with self.lock:
            if self.state not in RUNNING_STATES:
                return
            for name, value in changes.items():
                setattr(self, name, value)
            self.state, self.completed = state, time.time()

    def describe(self) -> dict[str, Any]:
        status: dict[str, Any] = {"State": self.state, "SubmissionDateTime": self.submitted}
        if self.completed is not None:
            status["CompletionDateTime"] = self.completed
        if self.reason:
            status["StateChangeReason"] = self.reason
        if self.error:
            status["AthenaError"] = self.error
        total = int(((self.completed or time.time()) - self.submitted) * 1000)
        return {
            "QueryExecutionId": self.id,
            "Query": self.query,
            "StatementType": self.statement_type,
            "ResultConfiguration": {"OutputLocation": self.output_location},
            "QueryExecutionContext": self.context,
            "Status": status,
            "Statistics": {
                "EngineExecutionTimeInMillis": self.engine_millis,
                "DataScannedInBytes": self.scanned_bytes,
                "TotalExecutionTimeInMillis": total,
                "QueryQueueTimeInMillis": 0,
                "ServicePreProcessingTimeInMillis": 0,
                "QueryPlanningTimeInMillis": 0,
                "ServiceProcessingTimeInMillis": 0,
                "ResultReuseInformation": {"ReusedPreviousResult": False},
            },
            "WorkGroup": self.workgroup,
            "EngineVersion": {
                "SelectedEngineVersion": "AUTO",
                "EffectiveEngineVersion": "Athena engine version 3",
            },
        }


class AthenaSql:
    """The emulator extension: moto's Athena query calls answered by a DuckDB engine."""

    name = EXTENSION_NAME

    def __init__(self) -> None:
        self._runs: dict[str, QueryRun] = {}
        self._runs_lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._ctx: EmulatorContext | None = None

    # lifecycle
    def start(self, ctx: EmulatorContext) -> None:
        self._ctx = ctx
        self._executor = ThreadPoolExecutor(WORKERS, thread_name_prefix="athena")
        handlers = {
            "start_query_execution": self._start_query_execution,
            "get_query_execution": self._get_query_execution,
            "batch_get_query_execution": self._batch_get_query_execution,
            "get_query_results": self._get_query_results,
            "stop_query_execution": self._stop_query_execution,
            "list_query_executions": self._list_query_executions,
        }
        moto_patches.apply(moto_patches.athena.QUERIES_ANSWERED, handlers=handlers)

    def stop(self) -> None:
        moto_patches.restore(moto_patches.athena.QUERIES_ANSWERED)
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    def on_clock_advance(self, old: datetime, new: datetime) -> None:
        """Queries run when they are started, not on the clock: nothing falls due."""
        return None

    def wait(self, query_id: str, timeout: float = 60.0) -> QueryRun:
        """The run once it ended (for tests and the demo): polls, as a client would."""
        deadline = time.monotonic() + timeout
        run = self._run(query_id)
        while run.state in RUNNING_STATES and time.monotonic() < deadline:
            time.sleep(0.01)
        return run

    # the API
    def _start_query_execution(self, response: AthenaResponse) -> Any:
        name = response._get_param("WorkGroup") or PRIMARY_WORKGROUP
        workgroup = response.athena_backend.get_work_group(name)
        if workgroup is None:
            return _invalid(f"WorkGroup {name} is not found.")
        configuration = workgroup.get("Configuration") or {}
        location = _output_location(configuration, response._get_param("ResultConfiguration"))
        if location is None:
            return _invalid(
                "No output location provided. An output location is required either through "
                "the Workgroup result configuration setting or as an API input."
            )
        query = response._get_param("QueryString") or ""
        token = response._get_param("ClientRequestToken")
        if token:
            with self._runs_lock:
                earlier = next((r for r in self._runs.values() if r.token == token), None)
            if earlier is not None and earlier.query != query:
                return _invalid(f"ClientRequestToken {token} was used with another query")
            if earlier is not None:  # a retried start: the first start's query, not a rerun
                return json.dumps({"QueryExecutionId": earlier.id})
        query_id = str(uuid.uuid4())
        cutoff = configuration.get("BytesScannedCutoffPerQuery")
        run = QueryRun(
            id=query_id,
            query=query,
            workgroup=name,
            output_location=f"{location.rstrip('/')}/{query_id}.csv",
            context=response._get_param("QueryExecutionContext") or {},
            cutoff_bytes=int(cutoff) if cutoff else None,
            token=token or None,
        )
        with self._runs_lock:
            self._runs[query_id] = run
        moto_patches.athena.QUERY_WORKGROUPS[query_id] = name
        assert self._executor is not None
        self._executor.submit(self._execute, run)
        return json.dumps({"QueryExecutionId": query_id})

    def _get_query_execution(self, response: AthenaResponse) -> Any:
        run = self._runs.get(response._get_param("QueryExecutionId"))
        if run is None:
            return _invalid("QueryExecution was not found")
        return json.dumps({"QueryExecution": run.describe()})

    def _batch_get_query_execution(self, response: AthenaResponse) -> Any:
        ids = response._get_param("QueryExecutionIds") or []
        found = [self._runs[i].describe() for i in ids if i in self._runs]
        missing = [
            {"QueryExecutionId": i, "ErrorCode": "INVALID_INPUT", "ErrorMessage": "not found"}
            for i in ids
            if i not in self._runs
        ]
        return json.dumps({"QueryExecutions": found, "UnprocessedQueryExecutionIds": missing})

    def _get_query_results(self, response: AthenaResponse) -> Any:
        run = self._runs.get(response._get_param("QueryExecutionId"))
        if run is None:
            return _invalid("QueryExecution was not found")
        if run.state == "FAILED":
            return _invalid(run.reason or "Query failed")
        if run.state != "SUCCEEDED" or run.result is None:
            return _invalid(f"Query has not yet finished. Current state: {run.state}")
        try:
            page = athena_sql.result_page(
                run.result,
                statement_type=run.statement_type,
                max_results=response._get_param("MaxResults"),
                next_token=response._get_param("NextToken"),
            )
        except QueryError as exc:
            return _invalid(str(exc))
        return json.dumps(page)

    def _stop_query_execution(self, response: AthenaResponse) -> Any:
        run = self._runs.get(response._get_param("QueryExecutionId"))
        if run is None:
            return _invalid("QueryExecution was not found")
        run.finish("CANCELLED", reason="Query cancelled by user")
        return json.dumps({})

    def _list_query_executions(self, response: AthenaResponse) -> Any:
        name = response._get_param("WorkGroup") or PRIMARY_WORKGROUP
        limit = min(response._get_param("MaxResults") or LIST_PAGE_LIMIT, LIST_PAGE_LIMIT)
        start = int(response._get_param("NextToken") or 0)
        with self._runs_lock:
            ids = [r.id for r in reversed(self._runs.values()) if r.workgroup == name]
        answer: dict[str, Any] = {"QueryExecutionIds": ids[start : start + limit]}
        if start + limit < len(ids):
            answer["NextToken"] = str(start + limit)
        return json.dumps(answer)

    # running a query
    def _run(self, query_id: str) -> QueryRun:
        with self._runs_lock:
            return self._runs[query_id]

    def _execute(self, run: QueryRun) -> None:
        with run.lock:
            if run.state != "QUEUED":
                return
            run.state = "RUNNING"
        started = time.monotonic()
        try:
            result, statement_type = self._answer(run)
            self._write_result(run, result)
        except QueryError as exc:
            reason = f"{exc.reason}: {exc}"
            error = _error(USER_CATEGORY, USER_ERROR_TYPE, reason)
            run.finish("FAILED", reason=reason, error=error)
        except Exception as exc:  # the engine's own fault: FAILED as Athena's internal errors
            LOG.exception("athena query %s failed inside the emulator", run.id)
            reason = f"INTERNAL_ERROR_QUERY_ENGINE: {type(exc).__name__}: {exc}"
            run.finish(
                "FAILED", reason=reason, error=_error(SYSTEM_CATEGORY, INTERNAL_ERROR_TYPE, reason)
            )
        else:
            millis = int((time.monotonic() - started) * 1000)
            run.finish(
                "SUCCEEDED", result=result, statement_type=statement_type, engine_millis=millis
            )

    def _answer(self, run: QueryRun) -> tuple[pa.Table, str]:
        statement = athena_sql.classify(run.query)
        run.statement_type = statement.statement_type
        ctx = self._context()
        catalog = query_engine.glue_catalog(ctx.client("glue"))
        database = _logical_database(catalog, run.context.get("Database"))
        translation = translate(
            statement.select_sql,
            catalog,
            default_database=database,
            allow_restricted=is_finance_workgroup(run.workgroup),
        )
        filesystem = self._filesystem()
        run.scanned_bytes = _scanned_bytes(translation.tables, filesystem)
        if run.cutoff_bytes is not None and run.scanned_bytes > run.cutoff_bytes:
            raise QueryError(BYTES_SCANNED_EXCEEDED, reason="EXCEEDED_BYTES_SCANNED_LIMIT")
        rows = query_engine.execute(translation, filesystem=filesystem)
        if statement.kind == "select":
            return rows, statement.statement_type
        writer = _TableWriter(ctx, run)
        written = (
            writer.create(statement, rows)
            if statement.kind == "ctas"
            else writer.insert(statement, rows)
        )
        return pa.table({"rows": pa.array([written], pa.int64())}), statement.statement_type

    def _write_result(self, run: QueryRun, result: pa.Table) -> None:
        bucket, key = _split(run.output_location)
        s3 = self._context().client("s3")
        s3.put_object(Bucket=bucket, Key=key, Body=athena_sql.result_csv(result))
        metadata = json.dumps({"ColumnInfo": athena_sql.column_info(result)}).encode()
        s3.put_object(Bucket=bucket, Key=f"{key}.metadata", Body=metadata)

    def _context(self) -> EmulatorContext:
        assert self._ctx is not None, "the athena-sql extension was not started"
        return self._ctx

    def _filesystem(self) -> pafs.FileSystem:
        ctx = self._context()
        return query_engine.s3_filesystem(
            ctx.endpoint,
            ctx.region,
            LOCAL_CREDENTIALS["aws_access_key_id"],
            LOCAL_CREDENTIALS["aws_secret_access_key"],
        )


class _TableWriter:
    """Parquet files and Glue entries for CREATE TABLE AS and INSERT INTO."""

    def __init__(self, ctx: EmulatorContext, run: QueryRun) -> None:
        self._s3 = ctx.client("s3")
        self._glue = ctx.client("glue")
        self._run = run

    def create(self, statement: Statement, rows: pa.Table) -> int:
        assert statement.target is not None
        database = statement.target.db or self._run.context.get("Database") or ""
        name = statement.target.name
        self._require_database(database)
        if self._table(database, name) is not None:
            raise QueryError(f"Table {database}.{name} already exists", reason="ALREADY_EXISTS")
        location = statement.location or self._default_location()
        self._require_empty(location, name)
        partitions = list(statement.partitioned_by)
        names = rows.column_names
        if names[len(names) - len(partitions) :] != partitions:
            raise QueryError(
                "partition columns must be the last columns of the SELECT, in order",
                reason=athena_sql.TYPE_MISMATCH,
            )
        columns = [(n, athena_sql.glue_type(n, rows.schema.field(n).type)) for n in names]
        rows = athena_sql.conform(rows, columns)
        self._glue.create_table(
            DatabaseName=database,
            TableInput=_table_input(name, location, columns, partitions),
        )
        self._write(database, name, location, rows, partitions)
        return rows.num_rows

    def insert(self, statement: Statement, rows: pa.Table) -> int:
        assert statement.target is not None
        database = statement.target.db or self._run.context.get("Database") or ""
        table = self._table(database, statement.target.name)
        if table is None:
            raise QueryError(
                f"Table {database}.{statement.target.name} does not exist", reason=TABLE_NOT_FOUND
            )
        storage = table["StorageDescriptor"]
        keys = [(c["Name"], c["Type"]) for c in table.get("PartitionKeys", [])]
        columns = [(c["Name"], c["Type"]) for c in storage["Columns"]] + keys
        if statement.columns:
            rows = _by_name(rows, statement.columns, columns)
        rows = athena_sql.conform(rows, columns)
        partitions = [name for name, _ in keys]
        self._write(database, table["Name"], storage["Location"], rows, partitions)
        return rows.num_rows

    def _write(
        self, database: str, name: str, location: str, rows: pa.Table, partitions: list[str]
    ) -> None:
        bucket, prefix = _split(location.rstrip("/") + "/")
        if not partitions:
            self._put(bucket, f"{prefix}{self._run.id}.parquet", rows)
            return
        values = rows.select(partitions).group_by(partitions).aggregate([]).to_pylist()
        entries = []
        for combination in values:
            mask = _matches(rows, combination)
            part = rows.filter(mask).drop_columns(partitions)
            texts = [athena_sql.value_text(combination[k]) or "" for k in partitions]
            path = "".join(f"{k}={v}/" for k, v in zip(partitions, texts, strict=True))
            self._put(bucket, f"{prefix}{path}{self._run.id}.parquet", part)
            where = {"Location": f"s3://{bucket}/{prefix}{path}"}
            entries.append({"Values": texts, "StorageDescriptor": where})
        for start in range(0, len(entries), GLUE_PARTITION_BATCH):
            self._glue.batch_create_partition(
                DatabaseName=database,
                TableName=name,
                PartitionInputList=entries[start : start + GLUE_PARTITION_BATCH],
            )

    def _put(self, bucket: str, key: str, rows: pa.Table) -> None:
        body = io.BytesIO()
        pq.write_table(rows, body, compression="zstd")
        self._s3.put_object(Bucket=bucket, Key=key, Body=body.getvalue())

    def _table(self, database: str, name: str) -> dict[str, Any] | None:
        try:
            table: dict[str, Any] = self._glue.get_table(DatabaseName=database, Name=name)["Table"]
        except self._glue.exceptions.EntityNotFoundException:
            return None
        return table

    def _require_database(self, database: str) -> None:
        try:
            self._glue.get_database(Name=database)
        except self._glue.exceptions.EntityNotFoundException as exc:
            raise QueryError(f"Schema {database} does not exist", reason=SCHEMA_NOT_FOUND) from exc

    def _default_location(self) -> str:
        """Athena's own choice: `tables/<query id>/` beside the query's result."""
        return f"{self._run.output_location.rsplit('/', 1)[0]}/tables/{self._run.id}/"

    def _require_empty(self, location: str, name: str) -> None:
        bucket, prefix = _split(location.rstrip("/") + "/")
        listed = self._s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1)
        if listed.get("KeyCount", 0):
            raise QueryError(
                f"Target directory for table '{name}' already exists: {location}",
                reason=athena_sql.HIVE_PATH_ALREADY_EXISTS,
            )


def _table_input(
    name: str, location: str, columns: list[tuple[str, str]], partitions: list[str]
) -> dict[str, Any]:
    data_columns = [{"Name": n, "Type": t} for n, t in columns if n not in partitions]
    keys = [{"Name": n, "Type": t} for n, t in columns if n in partitions]
    return {
        "Name": name,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"classification": "parquet", "EXTERNAL": "TRUE"},
        "PartitionKeys": keys,
        "StorageDescriptor": {
            "Columns": data_columns,
            "Location": location,
            "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
            "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
            "SerdeInfo": {
                "SerializationLibrary": (
                    "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
                )
            },
        },
    }


def _by_name(rows: pa.Table, named: tuple[str, ...], columns: list[tuple[str, str]]) -> pa.Table:
    """An INSERT with a column list: its values by name, NULL for the columns it leaves out."""
    if len(named) != rows.num_columns:
        raise QueryError(
            f"Insert names {len(named)} columns but its query has {rows.num_columns}",
            reason=athena_sql.TYPE_MISMATCH,
        )
    given = dict(zip(named, rows.columns, strict=True))
    arrays = [given.get(name, pa.nulls(rows.num_rows)) for name, _ in columns]
    return pa.table(arrays, names=[name for name, _ in columns])


def _matches(rows: pa.Table, combination: dict[str, Any]) -> pa.ChunkedArray:
    mask = None
    for key, value in combination.items():
        column = rows.column(key)
        test = pc.is_null(column) if value is None else pc.equal(column, value)
        mask = test if mask is None else pc.and_(mask, test)
    assert mask is not None
    return mask


def _logical_database(catalog: Catalog, glue_name: str | None) -> str:
    if not glue_name:
        return DEFAULT_DATABASE
    logical = catalog.logical_database(glue_name)
    if logical is None:
        raise QueryError(f"Schema {glue_name} does not exist", reason=SCHEMA_NOT_FOUND)
    return logical


def _scanned_bytes(tables: Any, filesystem: pafs.FileSystem) -> int:
    """The size of every file of the tables a query reads: an upper bound of what Athena
    counts (it reads only the columns and partitions it needs)."""
    total = 0
    for spec in tables:
        if not spec.location:
            continue
        path = query_engine.dataset_path(spec.location)
        selector = pafs.FileSelector(path, recursive=True, allow_not_found=True)
        total += sum(i.size or 0 for i in filesystem.get_file_info(selector) if i.is_file)
    return total


def _output_location(configuration: dict[str, Any], requested: dict[str, Any] | None) -> str | None:
    """The workgroup's location when it enforces its configuration, else the request's."""
    own = (configuration.get("ResultConfiguration") or {}).get("OutputLocation")
    asked = (requested or {}).get("OutputLocation")
    if configuration.get("EnforceWorkGroupConfiguration", True) and own:
        return str(own)
    return str(asked or own) if (asked or own) else None


def _split(url: str) -> tuple[str, str]:
    bucket, _, key = url.removeprefix("s3://").partition("/")
    return bucket, key


def _error(category: int, error_type: int, message: str) -> dict[str, Any]:
    return {
        "ErrorCategory": category,
        "ErrorType": error_type,
        "Retryable": category == SYSTEM_CATEGORY,
        "ErrorMessage": message,
    }


def _invalid(message: str) -> tuple[str, dict[str, int]]:
    body = {"__type": "InvalidRequestException", "Message": message, "AthenaErrorCode": ""}
    return json.dumps(body), {"status": 400}
