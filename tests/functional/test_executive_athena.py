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
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from functions.core import env, schemas
from infra.constructs.asl import render_asl
from pablo.local.context import LOCAL_CREDENTIALS, LOCAL_REGION
from tests.conftest import EmulatorServer, start_emulator
from tests.functional.executive_month import (
    HAND_TOTALS,
    MONTH,
    Lake,
    keys,
    kpi,
    land_september,
    published_totals,
    run_input,
)
from tests.support import (
    athena_workgroup,
    deploy_functions_package,
    glue_database,
    state_table,
    unique_name,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
ASL = REPO_ROOT / "state_machines" / "executive.asl.json"
EXECUTION_TIMEOUT = 240.0
ALWAYS_DUCKDB = str(10**15)  # bytes: no month here reaches it
ALWAYS_ATHENA = "0"


@dataclass
class Rig(Lake):
    reports: str
    topic: str
    machines: dict[str, str]  # duckdb | athena | cutoff -> state machine ARN


def _workgroup(server: EmulatorServer, results: str, *, cutoff: int | None = None) -> str:
    """The shared workgroup; `cutoff` set below Athena's 10 MB minimum by skipping the SDK's
    check, so the small month here exceeds it."""
    athena = boto3.client(
        "athena",
        endpoint_url=server.endpoint,
        region_name=LOCAL_REGION,
        config=Config(parameter_validation=False),
        **LOCAL_CREDENTIALS,
    )
    return athena_workgroup(athena, results, cutoff=cutoff)


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
    function = deploy_functions_package(
        rig,
        name="executive-kpi",
        handler="functions.handlers.executive_kpi.handler",
        environment=environment,
        timeout=300,
        memory_size=3008,
    )
    kpi_arn = function["FunctionArn"]
    definition = json.loads(
        render_asl(
            ASL,
            {
                "Cadence": "monthly",
                "CadenceTitle": "Monthly",
                "Upstreams": "engagement, growth and profit",
                "FreshnessFunctionArn": kpi_arn,  # not reached: the gate's answer is given
                "KpiFunctionArn": kpi_arn,
                "OnCallTopicArn": rig.topic,
            },
        )
    )
    definition["StartAt"] = "ChooseEngine"
    return str(
        rig.client("stepfunctions").create_state_machine(
            name=unique_name("executive-monthly"),
            definition=json.dumps(definition),
            roleArn=function["Role"],
        )["stateMachineArn"]
    )


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with start_emulator(tmp_path_factory.mktemp("pablo-exec-athena")) as server:
        s3 = server.client("s3")
        curated, reports, results = (unique_name(p) for p in ("curated", "reports", "results"))
        for bucket in (curated, reports, results):
            s3.create_bucket(Bucket=bucket)
        database = glue_database(
            server,
            f"{unique_name('t').replace('-', '_')}_curated",
            schemas.tables_in(schemas.Database.CURATED),
            curated,
        )
        topic = server.client("sns").create_topic(Name=unique_name("oncall"))["TopicArn"]
        rig = Rig(
            server,
            curated,
            database,
            reports,
            topic,
            {"state_table": state_table(server.client("dynamodb"))},
        )
        land_september(rig)
        pipelines = _workgroup(server, results)
        rig.machines["duckdb"] = _machine(rig, workgroup=pipelines, athena_min_bytes=ALWAYS_DUCKDB)
        rig.machines["athena"] = _machine(rig, workgroup=pipelines, athena_min_bytes=ALWAYS_ATHENA)
        tiny = _workgroup(server, results, cutoff=1)
        rig.machines["cutoff"] = _machine(rig, workgroup=tiny, athena_min_bytes=ALWAYS_ATHENA)
        yield rig


def _run(rig: Rig, engine: str) -> tuple[str, dict[str, Any]]:
    """The month on one machine: its status and output (or the failure event's details)."""
    sfn = rig.client("stepfunctions")
    execution = sfn.start_execution(
        stateMachineArn=rig.machines[engine],
        name=MONTH.execution_name,
        input=json.dumps(run_input()),
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


@pytest.fixture(scope="module")
def both_paths(rig: Rig) -> dict[str, Any]:
    """September through DuckDB, then through Athena (the second publishes over the first)."""
    results: dict[str, Any] = {}
    for engine in ("duckdb", "athena"):
        status, output = _run(rig, engine)
        assert status == "SUCCEEDED", output
        results[engine] = {"output": output, "totals": published_totals(rig), "kpi": kpi(rig)}
    return results


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
    assert keys(rig, duckdb_location.removeprefix(f"s3://{rig.curated}/")) == []
    # and the Athena query's working table was dropped from Glue
    tables = rig.client("glue").get_tables(DatabaseName=rig.database)["TableList"]
    assert [t["Name"] for t in tables if t["Name"].startswith("exec_join_totals_work_")] == []


def test_a_failed_athena_query_fails_the_run_and_leaves_the_published_version(
    rig: Rig, both_paths: dict[str, Any]
) -> None:
    # given September published (both_paths), and a workgroup whose bytes-scanned cutoff
    # the month exceeds
    location_before, totals_before = published_totals(rig)
    kpi_before = kpi(rig)
    # when the month runs on Athena in that workgroup
    status, details = _run(rig, "cutoff")
    # then the run fails and tells on-call why
    assert status == "FAILED"
    messages = [json.loads(p)["Message"] for p in details["notified"]]
    assert any(m.get("error") == "AthenaQueryFailed" for m in messages), messages
    assert any("Bytes scanned limit" in str(m.get("cause")) for m in messages), messages
    # and the published join totals and KPI row are exactly as before
    assert published_totals(rig) == (location_before, totals_before)
    etags_before, rows_before = kpi_before
    etags_after, rows_after = kpi(rig)
    assert etags_after == etags_before
    assert rows_after.to_pylist() == rows_before.to_pylist()
