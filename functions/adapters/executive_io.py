"""I/O of the executive workflows (boto3 clients passed in): the upstream tables, the
work files between the workflow's steps, exec_kpi, restatements, the report, workflow
executions and the SNS note.

Tables are read and written with the profit pipeline's generic registry helpers
(`profit_io.read_table` / `write_partitioned` / `register_partitions`): one way to lay
out hive-partitioned Parquet in this project.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

import pyarrow as pa
import pyarrow.parquet as pq
from botocore.exceptions import BotoCoreError, ClientError

from functions.adapters import engagement_io, profit_io, s3_objects, state_store
from functions.adapters.aws_errors import classified
from functions.core import schemas
from functions.core.backfills import PROFIT
from functions.core.engagement_state import DayState
from functions.core.report import executive_inputs
from functions.core.report.executive_period import Period, period_of_execution

WORK_PREFIX: Final = "_work/executive"  # outside every table's location: never in Athena
REPORT_PREFIX: Final = "reports/executive"
KPI_FILE: Final = "exec_kpi"
ALREADY_EXISTS: Final = "ExecutionAlreadyExists"
BUILT_FROM_PK: Final = "executive#built-from"


@dataclass(frozen=True)
class Locations:
    curated: str
    reports: str
    state_table: str
    curated_database: str


# --- upstream state ------------------------------------------------------------------


def engagement_days(dynamodb: Any, *, table: str) -> list[DayState]:
    return engagement_io.day_states(dynamodb, table=table)


def profit_month(dynamodb: Any, *, table: str, month: str) -> dict[str, Any] | None:
    """The profit pipeline's record of the month (publication status, reconciliation)."""
    return profit_io.month_record(dynamodb, table=table, month=month)


def growth_partitions(s3: Any, *, bucket: str, period: Period) -> dict[str, bool]:
    """Which growth partitions the gate needs exist (`month:<M>` / `week:<Sunday>`)."""
    if period.grain == "month":
        wanted = {
            f"month:{period.name}": [
                f"{schemas.GROWTH_MONTHLY.prefix}/month={period.name}/",
                f"{schemas.GROWTH_ACCOUNT_MONTHLY.prefix}/month={period.name}/",
            ]
        }
    else:
        wanted = {
            f"week:{week}": [f"{schemas.ACCOUNT_STATUS_WEEKLY.prefix}/week={week}/"]
            for week in (period.name, period.previous().name)
        }
    return {
        key: all(_has_parquet(s3, bucket=bucket, prefix=p) for p in prefixes)
        for key, prefixes in wanted.items()
    }


def _has_parquet(s3: Any, *, bucket: str, prefix: str) -> bool:
    try:
        listing = s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=20)
    except (ClientError, BotoCoreError) as exc:
        raise classified(exc, f"list s3://{bucket}/{prefix}") from exc
    return any(o["Key"].endswith(".parquet") for o in listing.get("Contents", []))


def read_table(
    s3: Any, *, bucket: str, table: schemas.Table, partitions: dict[str, str] | None = None
) -> pa.Table:
    """A registry table (optionally one partition), partition columns included."""
    return profit_io.read_table(s3, bucket=bucket, table=table, partition_filter=partitions)


def read_days(s3: Any, *, bucket: str, table: schemas.Table, period: Period) -> pa.Table:
    """The period's `dt` partitions of a daily table, `dt` included."""
    parts = [
        read_table(s3, bucket=bucket, table=table, partitions={"dt": day.isoformat()})
        for day in period.dates()
    ]
    return pa.concat_tables(parts)


# --- what a row was built from -------------------------------------------------------


def input_versions(
    s3: Any,
    *,
    bucket: str,
    period: Period,
    profit_record: dict[str, Any] | None,
    upstreams: Iterable[str] | None = None,
) -> dict[str, str]:
    """Per upstream (all, or `upstreams`), the version of the inputs the period's row reads
    now (executive_inputs.version of their files' ETags; the profit month's status too)."""
    versions: dict[str, str] = {}
    wanted = None if upstreams is None else set(upstreams)
    for upstream, prefixes in executive_inputs.input_prefixes(period).items():
        if wanted is not None and upstream not in wanted:
            continue
        etags: dict[str, str] = {}
        for prefix in prefixes:
            etags.update(s3_objects.list_etags(s3, bucket=bucket, prefix=prefix))
        extra = None
        if upstream == PROFIT:
            record = profit_record or {}
            extra = {
                "publication_status": record.get("publication_status"),
                "reconciliation": record.get("reconciliation"),
            }
        versions[upstream] = executive_inputs.version(etags, extra=extra)
    return versions


def _built_from_key(period: Period) -> str:
    return f"{period.grain}#{period.name}"


def record_built_from(
    dynamodb: Any, *, table: str, period: Period, versions: dict[str, str], run_id: str
) -> None:
    """The input versions the published row of `period` was built from."""
    state_store.put_record(
        dynamodb,
        table=table,
        item={
            "pk": BUILT_FROM_PK,
            "sk": _built_from_key(period),
            "versions": json.dumps(versions, sort_keys=True),
            "run_id": run_id,
        },
    )


def built_from(dynamodb: Any, *, table: str, period: Period) -> dict[str, str] | None:
    item = state_store.get_item(dynamodb, table=table, pk=BUILT_FROM_PK, sk=_built_from_key(period))
    if item is None:
        return None
    versions: dict[str, str] = json.loads(str(item["versions"]))
    return versions


# --- work files between the steps ------------------------------------------------------


def work_key(period: Period, name: str) -> str:
    return f"{WORK_PREFIX}/{period.grain}/{period.name}/{name}.parquet"


def put_work(s3: Any, *, bucket: str, period: Period, name: str, table: pa.Table) -> str:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    key = work_key(period, name)
    profit_io.put_bytes(s3, bucket=bucket, key=key, body=sink.getvalue(), finance=False)
    return key


def get_work(s3: Any, *, bucket: str, period: Period, name: str) -> pa.Table:
    body = s3_objects.read_object(s3, bucket=bucket, key=work_key(period, name))
    return pq.read_table(io.BytesIO(body))


def put_work_json(s3: Any, *, bucket: str, period: Period, name: str, value: Any) -> None:
    key = f"{WORK_PREFIX}/{period.grain}/{period.name}/{name}.json"
    body = json.dumps(value, sort_keys=True, default=str).encode()
    profit_io.put_bytes(s3, bucket=bucket, key=key, body=body, finance=False)


def get_work_json(s3: Any, *, bucket: str, period: Period, name: str) -> Any:
    key = f"{WORK_PREFIX}/{period.grain}/{period.name}/{name}.json"
    return json.loads(s3_objects.read_object(s3, bucket=bucket, key=key))


# --- outputs -------------------------------------------------------------------------


def write_kpi(s3: Any, glue: Any, *, where: Locations, row: pa.Table) -> list[str]:
    """exec_kpi at its deterministic key (a re-run overwrites) and its Glue partition."""
    keys = profit_io.write_partitioned(
        s3, bucket=where.curated, table=schemas.EXEC_KPI, rows=row, name=KPI_FILE, finance=False
    )
    profit_io.register_partitions(
        glue,
        database=where.curated_database,
        table=schemas.EXEC_KPI,
        bucket=where.curated,
        keys=keys,
    )
    return keys


def write_restatements(
    s3: Any, glue: Any, *, where: Locations, rows: pa.Table, name: str
) -> list[str]:
    keys = profit_io.write_partitioned(
        s3, bucket=where.curated, table=schemas.RESTATEMENTS, rows=rows, name=name, finance=False
    )
    profit_io.register_partitions(
        glue,
        database=where.curated_database,
        table=schemas.RESTATEMENTS,
        bucket=where.curated,
        keys=keys,
    )
    return keys


def report_key(period: Period) -> str:
    return f"{REPORT_PREFIX}/{period.grain}/{period.name}.html"


def put_report(s3: Any, *, bucket: str, period: Period, html: str) -> str:
    key = report_key(period)
    try:
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=html.encode("utf-8"),
            ContentType="text/html; charset=utf-8",
        )
    except (ClientError, BotoCoreError) as exc:
        raise classified(exc, f"put s3://{bucket}/{key}") from exc
    return key


# --- workflows and notes -------------------------------------------------------------


def start_execution(sfn: Any, *, machine: str, name: str, payload: dict[str, Any]) -> bool:
    """Start `name`; False when an execution of that name exists already (started before:
    the name is the idempotency key)."""
    try:
        sfn.start_execution(stateMachineArn=machine, name=name, input=json.dumps(payload))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == ALREADY_EXISTS:
            return False
        raise classified(exc, f"start {name}") from exc
    except BotoCoreError as exc:
        raise classified(exc, f"start {name}") from exc
    return True


def running_execution(sfn: Any, *, machine: str, name_prefix: str) -> str | None:
    """The name of a RUNNING execution of `machine` whose name starts with `name_prefix`."""
    try:
        pages = sfn.get_paginator("list_executions").paginate(
            stateMachineArn=machine, statusFilter="RUNNING"
        )
        for page in pages:
            for execution in page.get("executions", []):
                if str(execution["name"]).startswith(name_prefix):
                    return str(execution["name"])
    except (ClientError, BotoCoreError) as exc:
        raise classified(exc, f"list the running executions of {machine}") from exc
    return None


def period_executions(sfn: Any, *, machine: str, period: Period) -> list[dict[str, Any]]:
    """The period's executions (first run, re-runs and restatements), oldest first."""
    found: list[dict[str, Any]] = []
    try:
        for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=machine):
            for execution in page.get("executions", []):
                parsed = period_of_execution(str(execution["name"]))
                if parsed and parsed[:2] == (period.grain, period.name):
                    found.append(execution)
    except (ClientError, BotoCoreError) as exc:
        raise classified(exc, f"list the executions of {machine}") from exc
    return sorted(found, key=lambda e: period_of_execution(str(e["name"]))[2])  # type: ignore[index]


def publish(sns: Any, *, topic: str, subject: str, message: dict[str, Any]) -> None:
    try:
        sns.publish(TopicArn=topic, Subject=subject[:100], Message=json.dumps(message, default=str))
    except (ClientError, BotoCoreError) as exc:
        raise classified(exc, "publish the note") from exc


def existing_keys(s3: Any, *, bucket: str, prefixes: Iterable[str]) -> list[str]:
    keys: list[str] = []
    for prefix in prefixes:
        keys += s3_objects.list_keys(s3, bucket=bucket, prefix=prefix)
    return keys
