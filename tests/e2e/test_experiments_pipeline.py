"""The experiment pipeline end to end in the emulator, deployed by the real CDK CLI.

A generated company's experiment definitions and assignment files land in the landing
bucket (the EventBridge rule runs the ingest function); the engagement and account tables
the weekly run reads are written as the upstream pipelines write them (computed by the
engagement and account-events cores from the same company: those pipelines are tested on
their own). The Monday 06:00 schedule runs the workflow; the injected sample ratio mismatch
is flagged and raises the Data Science alarm; a re-run writes the same bytes.
"""

from __future__ import annotations

import contextlib
import functools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from functions.adapters import s3_tables
from functions.core import schemas
from functions.handlers.settings import Buckets
from pablo.demo import DemoRun
from pablo.demo_parts.experiments import ExperimentsDemo
from tests.conftest import EmulatorServer
from tests.support import wait_for as shared_wait_for
from tests.unit.experiments_company import Company, make_company

# Monday 2026-09-28, an hour before the weekly schedule: after the company's 21 days, so no
# assignment is in the future. The run builds the week ending Sunday 2026-09-27.
CLOCK_START = "2026-09-28T05:00:00+00:00"
WEEK = "2026-09-27"
INGESTED = "experiment input ingested"
wait_for = functools.partial(shared_wait_for, timeout=120.0)


def _buckets(stack: EmulatorServer) -> Buckets:
    return Buckets(
        raw=stack.outputs["RawBucketName"],
        curated=stack.outputs["CuratedBucketName"],
        finance=stack.outputs["FinanceBucketName"],
        quarantine=stack.outputs["QuarantineBucketName"],
    )


def _ingested(stack: EmulatorServer, key: str) -> dict[str, Any] | None:
    logs = stack.client("logs")
    group = f"/aws/lambda/{stack.outputs['NamePrefix']}-experiments-ingest"
    with contextlib.suppress(logs.exceptions.ResourceNotFoundException):
        for line in logs.filter_log_events(logGroupName=group).get("events", []):
            if INGESTED in line["message"] and f'"key":"{key}"' in line["message"]:
                found: dict[str, Any] = json.loads(line["message"])
                return found
    return None


def _land(stack: EmulatorServer, key: str, body: bytes) -> dict[str, Any]:
    stack.client("s3").put_object(Bucket=stack.outputs["LandingBucketName"], Key=key, Body=body)
    return wait_for(functools.partial(_ingested, stack, key), f"{key} ingested")


@pytest.fixture(scope="module")
def company(tmp_path_factory: pytest.TempPathFactory) -> Company:
    return make_company(tmp_path_factory.mktemp("experiments-company"))


@pytest.fixture(scope="module")
def landed(deployed_stack: EmulatorServer, company: Company) -> EmulatorServer:
    """Definitions first (assignments are checked against them), then every day's file."""
    stack, out = deployed_stack, company.out
    _land(stack, "experiments/experiments.csv", (out / "experiments/experiments.csv").read_bytes())
    for path in sorted((out / "assignments").glob("*.jsonl")):
        key = f"assignments/{path.stem.replace('-', '/')}/assignments-{path.stem}.jsonl"
        _land(stack, key, path.read_bytes())
    s3, buckets = stack.client("s3"), _buckets(stack)
    for table, rows, bucket in (
        (schemas.ENGAGEMENT_DAILY, company.daily, buckets.curated),
        (schemas.ENGAGEMENT_USER_DAILY, company.user_daily, buckets.curated),
        (schemas.RAW_ACCOUNT_EVENTS, company.account_events, buckets.raw),
    ):
        s3_tables.write_partitioned(
            s3, bucket=bucket, table=table, rows=rows, name="upstream", kms=False
        )
    return stack


def _executions(stack: EmulatorServer) -> list[dict[str, Any]]:
    sfn = stack.client("stepfunctions")
    arn = stack.outputs["ExperimentsWeeklyStateMachineArn"]
    found: list[dict[str, Any]] = sfn.list_executions(stateMachineArn=arn)["executions"]
    return found


def _finished(sfn: Any, arn: str) -> dict[str, Any] | None:
    answer: dict[str, Any] = sfn.describe_execution(executionArn=arn)
    return None if answer["status"] == "RUNNING" else answer


@pytest.fixture(scope="module")
def scheduled_run(landed: EmulatorServer) -> dict[str, Any]:
    """The clock passes Monday 06:00: the schedule starts the weekly workflow."""
    stack = landed
    stack.control.advance(
        to=datetime(2026, 9, 28, 6, 1, tzinfo=UTC), by=None, step=None, settle=True
    )
    (execution,) = wait_for(lambda: _executions(stack), "the scheduled execution")
    sfn = stack.client("stepfunctions")
    return wait_for(
        functools.partial(_finished, sfn, execution["executionArn"]), "the weekly workflow"
    )


def _read(stack: EmulatorServer, table: schemas.Table, **where: str) -> list[dict[str, Any]]:
    bucket = _buckets(stack).for_table(table)
    rows = s3_tables.read_table(
        stack.client("s3"), bucket=bucket, table=table, partition_filter=where or None
    )
    return rows.to_pylist()


def test_bad_lines_are_quarantined_with_their_reasons(
    landed: EmulatorServer, company: Company
) -> None:
    expected = {
        (f["input"], f["line"], f["reason"])
        for f in company.truth["faults"]["malformed_records"]
        if f["input"] in ("experiments", "assignments")
    }
    rows = _read(landed, schemas.QUARANTINE, pipeline="experiment")
    assert {(r["source"], r["line_number"], r["reason"]) for r in rows} == expected
    assert all(r["raw"] for r in rows)
    definitions = _read(landed, schemas.RAW_EXPERIMENTS)
    assert {r["experiment_id"] for r in definitions} == {
        e["experiment_id"] for e in company.truth["experiments"]
    }


def test_the_weekly_run_flags_the_injected_mismatch_and_alarms_data_science(
    scheduled_run: dict[str, Any], landed: EmulatorServer, company: Company
) -> None:
    stack = landed
    # then the workflow succeeded through its mismatch branch
    assert scheduled_run["status"] == "SUCCEEDED", scheduled_run
    analysis = json.loads(scheduled_run["output"])["analysis"]["result"]
    injected = [e["experiment_id"] for e in company.truth["experiments"] if e["srm_injected"]]
    assert analysis["srm_failed"] == injected and analysis["week"] == WEEK
    # and the health table says why, experiment by experiment
    health = {r["experiment_id"]: r for r in _read(stack, schemas.EXPERIMENT_HEALTH_WEEKLY)}
    for truth in company.truth["experiments"]:
        row = health[truth["experiment_id"]]
        assert row["srm_flag"] is truth["srm_injected"]
        assert row["p_value"] == pytest.approx(truth["p_value"], rel=1e-5)
        assert row["units_multiple_variants"] == len(truth["multiple_variant_units"])
        assert row["week"] == WEEK
    # and the units with two variants are flagged in the assignments table
    flagged = {
        (r["experiment_id"], r["unit_id"])
        for r in _read(stack, schemas.EXPERIMENT_ASSIGNMENTS)
        if r["multiple_variants"]
    }
    assert flagged == {
        (e["experiment_id"], u["unit_id"])
        for e in company.truth["experiments"]
        for u in e["multiple_variant_units"]
    }
    # and the partitions are in the catalog for Athena
    partition = stack.client("glue").get_partition(
        DatabaseName=stack.outputs["CuratedDatabaseName"],
        TableName=schemas.EXPERIMENT_HEALTH_WEEKLY.name,
        PartitionValues=[WEEK],
    )["Partition"]
    assert partition["StorageDescriptor"]["Location"].endswith(f"week={WEEK}/")
    # and the alarm to the Data Science owner fires as the clock moves on
    stack.control.advance(by=timedelta(minutes=10), to=None, step=None, settle=True)
    name = f"{stack.outputs['NamePrefix']}-experiment-sample-ratio-mismatch"
    (alarm,) = stack.client("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"]
    assert alarm["StateValue"] == "ALARM"
    assert "Data Science Team" in alarm["AlarmDescription"]


def test_unit_metrics_equal_the_engagement_tables(
    scheduled_run: dict[str, Any], landed: EmulatorServer, company: Company
) -> None:
    users = {(r["user_id"], r["dt"]): r for r in company.user_daily.to_pylist()}
    accounts = {(r["account_id"], r["dt"]): r for r in company.daily.to_pylist()}
    rows = _read(landed, schemas.EXPERIMENT_UNIT_DAILY)
    compared = 0
    for row in rows:
        if row["unit_type"] == "account":
            source = accounts.get((row["unit_id"], row["dt"]))
            hours = source["session_hours"] if source else 0
        else:
            source = users.get((row["unit_id"], row["dt"]))
            hours = source["session_seconds"] / 3600 if source else 0
        assert row["session_hours"] == pytest.approx(hours)
        for name in ["sessions", "clicks", *(f"clicks_{t}" for t in schemas.CLICK_EVENT_TYPES)]:
            assert row[name] == (source[name] if source else 0), (row["unit_id"], row["dt"])
        compared += source is not None
    assert compared > 1000
    assert max(r["dt"] for r in rows) == company.days[-1].isoformat()


def _etags(stack: EmulatorServer) -> dict[str, str]:
    s3, bucket = stack.client("s3"), stack.outputs["CuratedBucketName"]
    found: dict[str, str] = {}
    for table in (
        schemas.EXPERIMENT_ASSIGNMENTS,
        schemas.EXPERIMENT_UNIT_DAILY,
        schemas.EXPERIMENT_COVARIATES,
        schemas.EXPERIMENT_HEALTH_WEEKLY,
    ):
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=f"{table.prefix}/"
        ):
            found |= {o["Key"]: o["ETag"] for o in page.get("Contents", [])}
    return found


def test_rerunning_the_week_writes_the_same_bytes(
    scheduled_run: dict[str, Any], landed: EmulatorServer
) -> None:
    stack = landed
    sfn = stack.client("stepfunctions")
    before = _etags(stack)
    # when the scheduled run's week is run again by hand (a backfill's input)
    execution = sfn.start_execution(
        stateMachineArn=stack.outputs["ExperimentsWeeklyStateMachineArn"],
        name=f"rerun-{WEEK}",
        input=json.dumps({"time": "2026-09-28T08:00:00Z", "week": WEEK}),
    )
    done = wait_for(functools.partial(_finished, sfn, execution["executionArn"]), "the re-run")
    # then it succeeds and every file holds the same bytes
    assert done["status"] == "SUCCEEDED", done
    assert _etags(stack) == before
    assert len(before) > 50


def test_resending_an_assignments_file_changes_nothing(
    landed: EmulatorServer, company: Company
) -> None:
    stack = landed
    s3, raw = stack.client("s3"), _buckets(stack).raw
    listing = s3.list_objects_v2(Bucket=raw, Prefix=schemas.RAW_ASSIGNMENTS.prefix)["Contents"]
    before = {o["Key"]: o["ETag"] for o in listing}
    # when a day's file is delivered again under a new name (the same assignment ids)
    path = sorted((company.out / "assignments").glob("*.jsonl"))[1]
    result = _land(stack, f"assignments/2026/09/22/resent-{path.stem}.jsonl", path.read_bytes())
    # then every record is an exact duplicate: nothing new lands, nothing is quarantined
    assert result["accepted"] == 0 and result["quarantined"] == 0
    assert result["exact_duplicates"] == result["lines"] > 0
    listing = s3.list_objects_v2(Bucket=raw, Prefix=schemas.RAW_ASSIGNMENTS.prefix)["Contents"]
    assert {o["Key"]: o["ETag"] for o in listing} == before


def test_the_demo_part_shows_the_flagged_experiment(
    scheduled_run: dict[str, Any], landed: EmulatorServer, company: Company
) -> None:
    demo = ExperimentsDemo()
    demo.start(DemoRun(landed.endpoint, landed.outputs, Path("."), Path("."), company.truth))
    demo.on_step(datetime(2026, 9, 28, 12, tzinfo=UTC))
    section = demo.finish()
    assert section["flagged_as_injected"] and section["multiple_variants_as_injected"]
    text = "\n".join(demo.lines(section))
    assert "search_ranking_v2" in text and "SRM FLAGGED" in text and "two variants" in text
    print(text)


def test_an_uncreated_account_unit_is_quarantined_and_a_changed_unit_day_restated(
    scheduled_run: dict[str, Any], landed: EmulatorServer, company: Company
) -> None:
    stack = landed
    s3, buckets = stack.client("s3"), _buckets(stack)
    # Given an assignment of acct-ghost, which no account event created, to an account
    # experiment
    ghost = {
        "assignment_id": "ghost-1",
        "experiment_id": "onboarding_checklist",
        "variant": "control",
        "unit_type": "account",
        "unit_id": "acct-ghost",
        "assigned_at": "2026-09-10T10:00:00Z",
    }
    landed_ghost = _land(stack, "assignments/2026/09/28/ghost.jsonl", json.dumps(ghost).encode())
    assert landed_ghost["accepted"] == 1  # the ingest cannot know every account yet
    # and a late click: an account unit's published day gains one click of type click
    published = [
        r
        for r in _read(stack, schemas.EXPERIMENT_UNIT_DAILY)
        if r["unit_type"] == "account" and r["clicks"] > 0
    ]
    unit = min(published, key=lambda r: (r["dt"], r["experiment_id"], r["unit_id"]))
    day_rows = company.daily.filter(pc.equal(company.daily.column("dt"), unit["dt"])).to_pylist()
    for row in day_rows:
        if row["account_id"] == unit["unit_id"]:
            row["clicks"] += 1
            row["clicks_click"] += 1
    s3_tables.write_partitioned(
        s3,
        bucket=buckets.curated,
        table=schemas.ENGAGEMENT_DAILY,
        rows=pa.Table.from_pylist(
            day_rows, schema=schemas.ENGAGEMENT_DAILY.arrow_schema(with_partitions=True)
        ),
        name="upstream",
        kms=False,
    )
    sfn = stack.client("stepfunctions")

    # When the week is rebuilt
    execution = sfn.start_execution(
        stateMachineArn=stack.outputs["ExperimentsWeeklyStateMachineArn"],
        name=f"late-{WEEK}",
        input=json.dumps({"time": "2026-09-28T09:00:00Z", "week": WEEK}),
    )
    done = wait_for(functools.partial(_finished, sfn, execution["executionArn"]), "the rebuild")
    assert done["status"] == "SUCCEEDED", done
    output = json.loads(done["output"])

    # Then the ghost's assignment is quarantined unknown_account, under its exposure day,
    # counted, and in no experiment table
    answer = output["assignments"]["result"]
    assert answer["unknown_account_assignments"] == 1
    assert answer["raw_assignments"] == (
        answer["assignments"] + answer["duplicate_assignments"] + 1
    )
    quarantined = [
        r
        for r in _read(stack, schemas.QUARANTINE, pipeline="experiment")
        if r["reason"] == "unknown_account"
    ]
    assert [(r["record_id"].split("#")[-1], r["dt"]) for r in quarantined] == [
        ("ghost-1", "2026-09-10")
    ]
    assignments = _read(stack, schemas.EXPERIMENT_ASSIGNMENTS)
    assert "acct-ghost" not in {r["unit_id"] for r in assignments}
    assert "acct-ghost" not in {r["unit_id"] for r in _read(stack, schemas.EXPERIMENT_UNIT_DAILY)}
    # and the unit day that changed is restated: old value, old + 1, why; nothing else
    restated = [
        r
        for r in _read(stack, schemas.RESTATEMENTS)
        if r["table_name"] == schemas.EXPERIMENT_UNIT_DAILY.name
    ]
    changes = {
        (r["period"], r["key"], r["metric"], r["old_value"], r["new_value"]) for r in restated
    }
    period = f"{unit['experiment_id']}/{unit['dt']}"
    clicks, of_type = float(unit["clicks"]), float(unit["clicks_click"])
    assert (period, unit["unit_id"], "clicks", clicks, clicks + 1) in changes
    assert (period, unit["unit_id"], "clicks_click", of_type, of_type + 1) in changes
    assert {r["reason"] for r in restated} == {"late_data"}
    assert {(p, k) for p, k, *_ in changes} <= {
        (f"{e}/{unit['dt']}", unit["unit_id"])
        for e in {r["experiment_id"] for r in assignments if r["unit_id"] == unit["unit_id"]}
    }
    assert output["analysis"]["result"]["restatements"] == len(restated)
