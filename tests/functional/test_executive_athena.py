"""The monthly executive workflow's two engines on the emulator: the real ASL (from the
engine choice on; the freshness gate's answer is given as input) running the real KPI
function, once with DuckDB in the function and once with the aggregates and join as one
Athena query (the emulator's Athena: sqlglot and DuckDB over its S3 and Glue), polled by
the workflow's own Wait and getQueryExecution states. Same month, same rows; a failed Athena
query leaves the published version in place.

The module runs its own emulator: the emulator's Athena maps Glue databases to the
registry's by suffix (`*_curated`), so another test's curated database in a shared
emulator could answer this module's queries (listed in the fidelity report).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from botocore.config import Config

from functions.adapters import glue_catalog, s3_tables
from functions.core import env, schemas
from functions.core.report.executive_period import month_period
from infra.constructs.asl import render_asl
from pablo.local.context import LOCAL_CREDENTIALS, LOCAL_REGION
from tests.conftest import EmulatorServer, start_emulator
from tests.emulator.test_event_targets import zip_package
from tests.support import unique_name

REPO_ROOT = Path(__file__).resolve().parents[2]
ASL = REPO_ROOT / "state_machines" / "executive.asl.json"
MONTH = month_period("2026-09")
RUN_TIME = "2026-10-05T07:00:00Z"
EXECUTION_TIMEOUT = 240.0
ALWAYS_DUCKDB = str(10**15)  # bytes: no month here reaches it
ALWAYS_ATHENA = "0"
# account -> (users a day, hours a day, clicks a day, days with clicks from the 1st)
ENGAGEMENT = {"acct-a": (2, 1.0, 10, 30), "acct-b": (1, 0.5, 4, 10)}
# account -> (seats at end, MRR at start, MRR at end, new, expansion, paid in September)
ACCOUNTS = {
    "acct-a": (5, 4000, 5000, 0, 1000, 5000),
    "acct-b": (3, 3000, 3000, 0, 0, 3000),
    "acct-c": (2, 0, 2000, 2000, 0, 2000),  # new in September, never clicks
}
LAST_DAY = {"acct-a": (2, 2), "acct-b": (0, 1)}  # account -> (WAU, MAU) on the 30th
PROFIT = {
    "revenue_cents": 10_000,
    "expenses_cents": 2_500,
    "salaries_cents": 6_000,
    "profit_cents": 1_500,
    "paying_subscribers": 3,
}


@dataclass
class Rig:
    server: EmulatorServer
    curated: str
    reports: str
    database: str
    topic: str
    machines: dict[str, str]  # duckdb | athena | cutoff -> state machine ARN

    def client(self, service: str) -> Any:
        return self.server.client(service)


def _row(table: schemas.Table, **values: Any) -> dict[str, Any]:
    """A registry row: the given values, every other column empty of its type."""
    defaults = {"bigint": 0, "double": 0.0, "string": "", "boolean": False}
    row: dict[str, Any] = {}
    for column in (*table.columns, *table.partition_keys):
        if column.name in values:
            row[column.name] = values[column.name]
        elif column.nullable:
            row[column.name] = None
        elif column.type == "timestamp":
            row[column.name] = datetime(2026, 10, 4, tzinfo=UTC)
        elif column.type == "date":
            row[column.name] = date(2026, 9, 30)
        else:
            row[column.name] = defaults[column.type]
    return row


def _write(rig: Rig, table: schemas.Table, rows: list[dict[str, Any]]) -> None:
    glue_catalog.write_and_register(
        rig.client("s3"),
        rig.client("glue"),
        bucket=rig.curated,
        database=rig.database,
        table=table,
        rows=pa.Table.from_pylist(rows, schema=table.arrow_schema(with_partitions=True)),
        name="fixture",
        kms=False,
    )


def _land_september(rig: Rig) -> None:
    daily = [
        _row(
            schemas.ENGAGEMENT_DAILY,
            account_id=account,
            active_users=users,
            session_hours=hours,
            clicks=clicks,
            complete=True,
            dt=(MONTH.start + timedelta(days=n)).isoformat(),
        )
        for account, (users, hours, clicks, days) in ENGAGEMENT.items()
        for n in range(days)
    ]
    _write(rig, schemas.ENGAGEMENT_DAILY, daily)
    last = MONTH.end.isoformat()
    _write(
        rig,
        schemas.ACTIVE_USERS_DAILY,
        [
            _row(schemas.ACTIVE_USERS_DAILY, account_id=a, wau=wau, mau=mau, dt=last)
            for a, (wau, mau) in LAST_DAY.items()
        ],
    )
    growth, revenue = [], []
    for account, (seats, start, end, new, expansion, paid) in ACCOUNTS.items():
        growth.append(
            _row(
                schemas.GROWTH_ACCOUNT_MONTHLY,
                account_id=account,
                status_end="active",
                seats_end=seats,
                mrr_start_cents=start,
                mrr_end_cents=end,
                mrr_new_cents=new,
                mrr_expansion_cents=expansion,
                month=MONTH.name,
            )
        )
        revenue.append(
            _row(
                schemas.REVENUE_ACCOUNT_MONTHLY,
                account_id=account,
                paid_cents=paid,
                invoices=1,
                month=MONTH.name,
            )
        )
    _write(rig, schemas.GROWTH_ACCOUNT_MONTHLY, growth)
    _write(rig, schemas.REVENUE_ACCOUNT_MONTHLY, revenue)
    _write(
        rig,
        schemas.PROFIT_MONTHLY,
        [_row(schemas.PROFIT_MONTHLY, **PROFIT, publication_status="final", month=MONTH.name)],
    )


def _glue_tables(server: EmulatorServer, database: str, curated: str) -> None:
    glue = server.client("glue")
    glue.create_database(DatabaseInput={"Name": database})
    for table in schemas.tables_in(schemas.Database.CURATED):
        glue.create_table(
            DatabaseName=database,
            TableInput={
                "Name": table.name,
                "StorageDescriptor": {
                    "Columns": [
                        {"Name": c["name"], "Type": c["type"]} for c in table.glue_columns()
                    ],
                    "Location": f"s3://{curated}/{table.prefix}/",
                },
                "PartitionKeys": [
                    {"Name": c["name"], "Type": c["type"]} for c in table.glue_partition_keys()
                ],
            },
        )


def _workgroup(server: EmulatorServer, results: str, *, cutoff: int | None = None) -> str:
    """A workgroup with an enforced result location; `cutoff` bytes scanned per query (set
    below Athena's 10 MB minimum by skipping the SDK's check, so the small month here
    exceeds it)."""
    name = unique_name("pipelines")
    configuration: dict[str, Any] = {
        "ResultConfiguration": {"OutputLocation": f"s3://{results}/{name}/"},
        "EnforceWorkGroupConfiguration": True,
    }
    if cutoff is not None:
        configuration["BytesScannedCutoffPerQuery"] = cutoff
    athena = boto3.client(
        "athena",
        endpoint_url=server.endpoint,
        region_name=LOCAL_REGION,
        config=Config(parameter_validation=False),
        **LOCAL_CREDENTIALS,
    )
    athena.create_work_group(Name=name, Configuration=configuration)
    return name


def _machine(rig: Rig, *, workgroup: str, athena_min_bytes: str) -> str:
    environment = {
        env.CURATED_BUCKET: rig.curated,
        env.REPORTS_BUCKET: rig.reports,
        env.STATE_TABLE: rig.machines["state_table"],
        env.GLUE_DATABASE_CURATED: rig.database,
        env.METRICS_NAMESPACE: f"PabloTest/{unique_name('ns')}",
        env.POWERTOOLS_SERVICE_NAME: "executive",
        env.ATHENA_WORKGROUP: workgroup,
        env.ATHENA_POLL_SECONDS: "1",
        env.EXECUTIVE_ATHENA_MIN_INPUT_BYTES: athena_min_bytes,
    }
    role = rig.client("iam").create_role(
        RoleName=unique_name("role"), AssumeRolePolicyDocument="{}"
    )["Role"]["Arn"]
    function = rig.client("lambda").create_function(
        FunctionName=unique_name("executive-kpi"),
        Runtime="python3.12",
        Role=role,
        Handler="functions.handlers.executive_kpi.handler",
        Code={"ZipFile": zip_package(REPO_ROOT, "functions")},
        Timeout=300,
        MemorySize=3008,
        Environment={"Variables": environment},
    )["FunctionArn"]
    definition = json.loads(
        render_asl(
            ASL,
            {
                "Cadence": "monthly",
                "CadenceTitle": "Monthly",
                "Upstreams": "engagement, growth and profit",
                "FreshnessFunctionArn": function,  # not reached: the gate's answer is given
                "KpiFunctionArn": function,
                "OnCallTopicArn": rig.topic,
            },
        )
    )
    definition["StartAt"] = "ChooseEngine"
    return str(
        rig.client("stepfunctions").create_state_machine(
            name=unique_name("executive-monthly"), definition=json.dumps(definition), roleArn=role
        )["stateMachineArn"]
    )


def _state_table(server: EmulatorServer) -> str:
    name = unique_name("state")
    server.client("dynamodb").create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with start_emulator(tmp_path_factory.mktemp("pablo-exec-athena")) as server:
        s3 = server.client("s3")
        curated, reports, results = (unique_name(p) for p in ("curated", "reports", "results"))
        for bucket in (curated, reports, results):
            s3.create_bucket(Bucket=bucket)
        database = f"{unique_name('t').replace('-', '_')}_curated"
        _glue_tables(server, database, curated)
        topic = server.client("sns").create_topic(Name=unique_name("oncall"))["TopicArn"]
        rig = Rig(server, curated, reports, database, topic, {"state_table": _state_table(server)})
        _land_september(rig)
        pipelines = _workgroup(server, results)
        rig.machines["duckdb"] = _machine(rig, workgroup=pipelines, athena_min_bytes=ALWAYS_DUCKDB)
        rig.machines["athena"] = _machine(rig, workgroup=pipelines, athena_min_bytes=ALWAYS_ATHENA)
        tiny = _workgroup(server, results, cutoff=1)
        rig.machines["cutoff"] = _machine(rig, workgroup=tiny, athena_min_bytes=ALWAYS_ATHENA)
        yield rig


def _gate() -> dict[str, Any]:
    through = "2026-10-01T00:00:00Z"
    return {
        "attempt": 1,
        "checks": [
            {"upstream": u, "fresh": True, "fresh_through": through, "covered": True}
            for u in ("engagement", "growth", "profit")
        ],
    }


def _run(rig: Rig, engine: str) -> tuple[str, dict[str, Any]]:
    """The month on one machine: its status and output (or the failure event's details)."""
    sfn = rig.client("stepfunctions")
    run_input = {
        "time": RUN_TIME,
        "grain": "month",
        "period": MONTH.name,
        "run_id": MONTH.execution_name,
        "gate": _gate(),
    }
    execution = sfn.start_execution(
        stateMachineArn=rig.machines[engine],
        name=MONTH.execution_name,
        input=json.dumps(run_input),
    )["executionArn"]
    deadline = time.monotonic() + EXECUTION_TIMEOUT
    while time.monotonic() < deadline:
        described = sfn.describe_execution(executionArn=execution)
        if described["status"] == "SUCCEEDED":
            return "SUCCEEDED", json.loads(described["output"])
        if described["status"] != "RUNNING":
            events = sfn.get_execution_history(executionArn=execution)["events"]
            published = [
                e["taskScheduledEventDetails"]["parameters"]
                for e in events
                if e["type"] == "TaskScheduled"
                and e["taskScheduledEventDetails"]["resource"] == "publish"
                and e["taskScheduledEventDetails"]["resourceType"] == "sns"
            ]
            return str(described["status"]), {"notified": published}
        time.sleep(0.5)
    raise AssertionError(f"the {engine} run did not finish in {EXECUTION_TIMEOUT} s")


def _published_totals(rig: Rig) -> tuple[str, dict[str, Any]]:
    """exec_join_totals' partition of the month as Glue publishes it: location and row."""
    location = glue_catalog.partition_location_of(
        rig.client("glue"),
        database=rig.database,
        table=schemas.EXEC_JOIN_TOTALS,
        values=[MONTH.grain, MONTH.name],
    )
    assert location is not None
    prefix = location.removeprefix(f"s3://{rig.curated}/")
    keys = s3_tables.parquet_keys(rig.client("s3"), bucket=rig.curated, prefix=prefix)
    keys += [
        k
        for k in _keys(rig, prefix)
        if not k.endswith(".parquet") and not k.rsplit("/", 1)[-1].startswith("_")
    ]
    rows = []
    for key in keys:
        body = rig.client("s3").get_object(Bucket=rig.curated, Key=key)["Body"].read()
        rows += pq.read_table(pa.BufferReader(body)).to_pylist()
    assert len(rows) == 1, rows
    return location, rows[0]


def _keys(rig: Rig, prefix: str) -> list[str]:
    pages = (
        rig.client("s3")
        .get_paginator("list_objects_v2")
        .paginate(Bucket=rig.curated, Prefix=prefix)
    )
    return sorted(o["Key"] for p in pages for o in p.get("Contents", []))


def _kpi(rig: Rig) -> tuple[list[str], pa.Table]:
    prefix = f"{schemas.EXEC_KPI.prefix}/grain=month/period={MONTH.name}/"
    table = s3_tables.read_table(
        rig.client("s3"),
        bucket=rig.curated,
        table=schemas.EXEC_KPI,
        partition_filter={"grain": "month", "period": MONTH.name},
    )
    etags = [
        rig.client("s3").head_object(Bucket=rig.curated, Key=k)["ETag"] for k in _keys(rig, prefix)
    ]
    return etags, table


@pytest.fixture(scope="module")
def both_paths(rig: Rig) -> dict[str, Any]:
    """September through DuckDB, then through Athena (the second publishes over the first)."""
    results: dict[str, Any] = {}
    for engine in ("duckdb", "athena"):
        status, output = _run(rig, engine)
        assert status == "SUCCEEDED", output
        results[engine] = {"output": output, "totals": _published_totals(rig), "kpi": _kpi(rig)}
    return results


HAND_TOTALS = {
    "accounts": 3,
    "unknown_accounts": 0,
    "accounts_start": 2,  # a and b
    "active_accounts": 3,
    "new_accounts": 1,  # c
    "churned_accounts": 0,
    "paying_accounts": 3,
    "seats": 10,  # 5 + 3 + 2, all paying at the end
    "mau_paying": 3,  # 2 + 1 + 0
    "mrr_start_cents": 7000,
    "mrr_end_cents": 10000,
    "mrr_new_cents": 2000,
    "mrr_expansion_cents": 1000,
    "mrr_contraction_cents": 0,
    "mrr_churn_cents": 0,
    "mrr_reactivation_cents": 0,
    "active_user_days": 70,  # 2 x 30 + 1 x 10
    "session_hours": 35.0,  # 1.0 x 30 + 0.5 x 10
    "clicks": 340,  # 10 x 30 + 4 x 10
    "incomplete_days": 0,
    "wau": 2,
    "mau": 3,
    "paid_cents": 10000,
}


def test_the_same_month_through_duckdb_and_athena_gives_the_same_rows(
    rig: Rig, both_paths: dict[str, Any]
) -> None:
    # given September run on each engine (both_paths)
    duckdb_run, athena_run = both_paths["duckdb"], both_paths["athena"]
    # then each run took the engine its threshold chose, measuring the same input bytes
    assert duckdb_run["output"]["engine"]["engine"] == "duckdb"
    assert athena_run["output"]["engine"]["engine"] == "athena"
    assert duckdb_run["output"]["engine"]["input_bytes"] > 0
    assert (
        duckdb_run["output"]["engine"]["input_bytes"]
        == athena_run["output"]["engine"]["input_bytes"]
    )
    # and the join's totals are the same row, the one worked out by hand
    duckdb_totals = duckdb_run["totals"][1]
    athena_totals = athena_run["totals"][1]
    assert duckdb_totals == athena_totals == HAND_TOTALS
    # and the exec_kpi rows are identical, so the second run restated nothing
    assert duckdb_run["kpi"][1].to_pylist() == athena_run["kpi"][1].to_pylist()
    assert athena_run["output"]["kpi"]["result"]["restatements"] == 0
    kpi = athena_run["kpi"][1].to_pylist()[0]
    assert kpi["dau"] == pytest.approx(70 / 30)
    assert kpi["hours_per_active_user_day"] == pytest.approx(0.5)
    assert kpi["seat_utilisation"] == pytest.approx(0.3)
    assert kpi["mrr_cents"] == 10000
    assert kpi["net_new_mrr_cents"] == 3000
    assert kpi["nrr"] == pytest.approx(8000 / 7000)
    assert kpi["unit_profit_cents"] == pytest.approx(500.0)


def test_each_run_publishes_its_own_prefix_and_the_replaced_version_is_deleted(
    rig: Rig, both_paths: dict[str, Any]
) -> None:
    # given the two runs, DuckDB's published first, then Athena's
    duckdb_location = both_paths["duckdb"]["totals"][0]
    athena_location = both_paths["athena"]["totals"][0]
    # then each wrote a prefix of its own in the period's partition, and Glue now points at
    # the second
    partition = f"s3://{rig.curated}/{schemas.EXEC_JOIN_TOTALS.prefix}/grain=month/period=2026-09/"
    assert duckdb_location.startswith(partition)
    assert athena_location.startswith(partition)
    assert duckdb_location != athena_location
    # and the version it replaced is gone, so a reader of the partition's files sees one row
    assert _keys(rig, duckdb_location.removeprefix(f"s3://{rig.curated}/")) == []
    # and the Athena query's working table was dropped from Glue
    tables = rig.client("glue").get_tables(DatabaseName=rig.database)["TableList"]
    assert [t["Name"] for t in tables if t["Name"].startswith("exec_join_totals_work_")] == []


def test_a_failed_athena_query_fails_the_run_and_leaves_the_published_version(
    rig: Rig, both_paths: dict[str, Any]
) -> None:
    # given September published (both_paths), and a workgroup whose bytes-scanned cutoff
    # the month exceeds
    location_before, totals_before = _published_totals(rig)
    kpi_before = _kpi(rig)
    # when the month runs on Athena in that workgroup
    status, details = _run(rig, "cutoff")
    # then the run fails and tells on-call why
    assert status == "FAILED"
    messages = [json.loads(p)["Message"] for p in details["notified"]]
    assert any(m.get("error") == "AthenaQueryFailed" for m in messages), messages
    assert any("Bytes scanned limit" in str(m.get("cause")) for m in messages), messages
    # and the published join totals and KPI row are exactly as before
    assert _published_totals(rig) == (location_before, totals_before)
    etags_before, rows_before = kpi_before
    etags_after, rows_after = _kpi(rig)
    assert etags_after == etags_before
    assert rows_after.to_pylist() == rows_before.to_pylist()
