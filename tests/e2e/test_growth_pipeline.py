"""The growth pipeline end to end in the emulator: a generated company's account event files
land in the deployed stack, the weekly workflow fires on the clock (Sunday 23:00 UTC), and
the outputs match the generator's truth.json. The last test removes a closed week's snapshot:
the next run counts it, rebuilds it byte for byte, and the alarms fire on the clock."""

from __future__ import annotations

import contextlib
import io
import json
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from functions.core import schemas
from functions.core.transform import growth_paths
from pablo.demo import DemoRun
from pablo.demo_parts.growth import GrowthDemo
from pablo.generate.company import generate
from pablo.generate.model import GeneratorConfig
from tests.conftest import EmulatorServer

# Sunday 2026-10-11: after the generated window (2026-09-01 + 40 days), so no event is in
# the future; the weekly schedule fires at 23:00 the same day.
CLOCK_START = "2026-10-11T00:00:00Z"
RUN_TIME = "2026-10-11T23:30:00Z"
SCHEDULED_AT = datetime(2026, 10, 11, 23, 0, tzinfo=UTC)
CLOSED_WEEK = "2026-10-04"
CURRENT_WEEK = "2026-10-11"
WAIT_SECONDS = 90
INGESTED_MESSAGE = "account events ingested"
# A valid event of an account that no trial_started or subscribed event created.
ORPHAN_KEY = "account_events/2026/10/10/orphan.jsonl"
ORPHAN = {
    "event_id": "3f1c9a52-0000-4000-8000-000000000099",
    "account_id": "acct-9999",
    "event_type": "seats_changed",
    "event_time": "2026-10-01T10:00:00Z",
    "plan": "team",
    "seats": 4,
    "mrr_cents": 4 * 3500,
    "currency": "USD",
    "recorded_by": "ae:jkim",
}


def _keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    answer = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for o in answer.get("Contents", []))


def _read(s3: Any, bucket: str, prefix: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for key in _keys(s3, bucket, prefix):
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        rows += pq.read_table(io.BytesIO(body)).to_pylist()
    return rows


def _wait_ingested(stack: EmulatorServer, source_key: str) -> None:
    """Delivery is asynchronous: wait for the ingest function's log line for this file.

    Not for its output files: a file whose every line is a redelivery of an event already
    landed writes nothing (its copies are counted, not kept), yet it was ingested."""
    logs = stack.client("logs")
    group = f"/aws/lambda/{stack.outputs['NamePrefix']}-account-events-ingest"
    needle = f'"key":"{source_key}"'
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        with contextlib.suppress(logs.exceptions.ResourceNotFoundException):
            for line in logs.filter_log_events(logGroupName=group).get("events", []):
                if INGESTED_MESSAGE in line["message"] and needle in line["message"]:
                    return
        time.sleep(0.3)
    pytest.fail(f"{source_key} was not ingested in {WAIT_SECONDS}s; log: {stack.log_path}")


def _metric(stack: EmulatorServer, name: str, statistic: str, **dimensions: str) -> float | None:
    """The metric's `statistic` over the test's whole clock span (None: no datapoint)."""
    answer = stack.client("cloudwatch").get_metric_statistics(
        Namespace=stack.outputs["MetricsNamespace"],
        MetricName=name,
        Dimensions=[{"Name": k, "Value": v} for k, v in dimensions.items()],
        StartTime=datetime(2026, 10, 10, tzinfo=UTC),
        EndTime=datetime(2026, 10, 20, tzinfo=UTC),
        Period=30 * 24 * 3600,
        Statistics=[statistic],
    )
    points = answer["Datapoints"]
    return float(points[0][statistic]) if points else None


def _alarm_state(stack: EmulatorServer, key: str) -> str:
    name = f"{stack.outputs['NamePrefix']}-{key}"
    (alarm,) = stack.client("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"]
    return str(alarm["StateValue"])


def _execution(stack: EmulatorServer, arn: str) -> dict[str, Any]:
    sfn = stack.client("stepfunctions")
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        described: dict[str, Any] = sfn.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING":
            return described
        time.sleep(0.3)
    pytest.fail(f"execution {arn} still running after {WAIT_SECONDS}s")


@pytest.fixture(scope="module")
def company(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("growth-company")
    generate(GeneratorConfig(seed=7, accounts=12, days=40, clicks_per_user_day=0.5), out)
    return out, json.loads((out / "truth.json").read_text())


@pytest.fixture(scope="module")
def landed_and_run(
    deployed_stack: EmulatorServer, company: tuple[Path, dict[str, Any]]
) -> EmulatorServer:
    out, _ = company
    s3 = deployed_stack.client("s3")
    landing = deployed_stack.outputs["LandingBucketName"]
    for path in sorted((out / "account_events").glob("*.jsonl")):
        day = path.stem  # YYYY-MM-DD: the delivery day
        key = f"account_events/{day.replace('-', '/')}/{path.name}"
        s3.put_object(Bucket=landing, Key=key, Body=path.read_bytes())
        _wait_ingested(deployed_stack, key)
    s3.put_object(Bucket=landing, Key=ORPHAN_KEY, Body=json.dumps(ORPHAN).encode() + b"\n")
    _wait_ingested(deployed_stack, ORPHAN_KEY)
    deployed_stack.control.advance(to=datetime.fromisoformat(RUN_TIME.replace("Z", "+00:00")))
    return deployed_stack


def test_weekly_workflow_fired_on_its_schedule_and_succeeded(
    landed_and_run: EmulatorServer, company: tuple[Path, dict[str, Any]]
) -> None:
    # given the files landed / when the clock passed Sunday 23:00
    _, truth = company
    sfn = landed_and_run.client("stepfunctions")
    arn = landed_and_run.outputs["GrowthWeeklyStateMachineArn"]
    # then one execution ran, and it succeeded
    (execution,) = sfn.list_executions(stateMachineArn=arn)["executions"]
    described = _execution(landed_and_run, execution["executionArn"])
    assert described["status"] == "SUCCEEDED", described.get("cause")
    output = json.loads(described["output"])
    # on the scheduled event's time, with the truth's issues and the one unknown account
    assert datetime.fromisoformat(output["time"]) == SCHEDULED_AT
    snapshot = output["snapshot"]["result"]
    assert snapshot["lifecycle_issues"] == len(truth["faults"]["lifecycle_missing_steps"])
    assert snapshot["unknown_accounts"] == [ORPHAN["account_id"]]
    assert snapshot["missing_closed_weeks"] == []  # the deployment's first run
    assert sorted(output["monthly"]["result"]["months"]) == ["2026-08", "2026-09"]


def test_missing_steps_found_equal_truth(
    landed_and_run: EmulatorServer, company: tuple[Path, dict[str, Any]]
) -> None:
    # given the files landed and the weekly run fired / when lifecycle_issues is read
    _, truth = company
    s3 = landed_and_run.client("s3")
    rows = _read(s3, landed_and_run.outputs["CuratedBucketName"], schemas.LIFECYCLE_ISSUES.prefix)
    # then its pairs and missing steps are exactly truth.json's
    found = sorted(
        (r["account_id"], r["from_event_id"], r["to_event_id"], r["missing_step"]) for r in rows
    )
    expected = sorted(
        (f["account_id"], f["from_event_id"], f["to_event_id"], f["missing_step"])
        for f in truth["faults"]["lifecycle_missing_steps"]
    )
    assert found == expected and found


def test_monthly_mrr_matches_truth(
    landed_and_run: EmulatorServer, company: tuple[Path, dict[str, Any]]
) -> None:
    # given the weekly run / when September's growth rows are read
    _, truth = company
    s3 = landed_and_run.client("s3")
    curated = landed_and_run.outputs["CuratedBucketName"]
    (september,) = _read(s3, curated, f"{schemas.GROWTH_MONTHLY.prefix}/month=2026-09/")
    accounts = _read(s3, curated, f"{schemas.GROWTH_ACCOUNT_MONTHLY.prefix}/month=2026-09/")
    # then MRR and paying accounts at the start and end are the generator's
    assert september["mrr_end_cents"] == truth["growth"]["2026-09"]["mrr_cents"]
    assert september["accounts_end"] == truth["growth"]["2026-09"]["paying_accounts"]
    assert september["mrr_start_cents"] == truth["growth"]["window_start"]["mrr_cents"]
    assert september["accounts_start"] == truth["growth"]["window_start"]["paying_accounts"]
    # and the bridge holds for the month and each account; the unknown account is left out
    for row in [september, *accounts]:
        assert (
            row["mrr_start_cents"]
            + row["mrr_new_cents"]
            + row["mrr_expansion_cents"]
            + row["mrr_reactivation_cents"]
            - row["mrr_contraction_cents"]
            - row["mrr_churn_cents"]
            == row["mrr_end_cents"]
        )
    assert {r["account_id"] for r in accounts} <= set(truth["accounts"]["ids"])
    assert september["nrr"] is not None and september["nrr_reason"] is None


def test_closed_week_snapshot_and_its_metrics(
    landed_and_run: EmulatorServer, company: tuple[Path, dict[str, Any]]
) -> None:
    # given the weekly run / when the closed week's snapshot is read
    _, truth = company
    s3 = landed_and_run.client("s3")
    curated = landed_and_run.outputs["CuratedBucketName"]
    closed = _read(s3, curated, f"{schemas.ACCOUNT_STATUS_WEEKLY.prefix}/week={CLOSED_WEEK}/")
    # then every account has its status, as the generator's statuses for October say
    assert sorted(r["account_id"] for r in closed) == truth["accounts"]["ids"]
    assert dict(Counter(r["status"] for r in closed)) == truth["growth"]["2026-10"]["statuses"]
    # and the partition is registered in Glue
    glue = landed_and_run.client("glue")
    partition = glue.get_partition(
        DatabaseName=landed_and_run.outputs["CuratedDatabaseName"],
        TableName=schemas.ACCOUNT_STATUS_WEEKLY.name,
        PartitionValues=[CLOSED_WEEK],
    )["Partition"]
    assert partition["StorageDescriptor"]["Location"].endswith(f"week={CLOSED_WEEK}/")
    # and the run published no missing closed week and the current week's inferred share
    current = _read(s3, curated, f"{schemas.ACCOUNT_STATUS_WEEKLY.prefix}/week={CURRENT_WEEK}/")
    flagged = sum(1 for r in current if r["status_inferred"] or r["status"] == "unknown")
    assert flagged == len(truth["faults"]["lifecycle_missing_steps"])
    share = _metric(landed_and_run, "GrowthInferredStatusSharePercent", "Maximum")
    assert share == pytest.approx(100.0 * flagged / len(current))
    assert _metric(landed_and_run, "GrowthClosedWeekSnapshotsMissing", "Maximum") == 0.0


def test_bad_lines_quarantined_with_reasons_and_counted(
    landed_and_run: EmulatorServer, company: tuple[Path, dict[str, Any]]
) -> None:
    # given the generator's malformed lines and conflicts, and the orphan event
    _, truth = company
    s3 = landed_and_run.client("s3")
    rows = _read(
        s3,
        landed_and_run.outputs["QuarantineBucketName"],
        f"{schemas.QUARANTINE.prefix}/pipeline=growth/",
    )
    # then the ingest quarantined exactly the listed lines, each with its reason and bytes
    by_file = [r for r in rows if r["line_number"] is not None]
    found = sorted((r["source_key"].split("/")[-1], r["line_number"], r["reason"]) for r in by_file)
    faults = truth["faults"]
    expected = sorted(
        (f["file"].split("/")[-1], f["line"], f["reason"])
        for f in faults["malformed_records"] + faults["account_event_conflicts"]
        if f["input"] == "account_events"
    )
    assert found == expected
    assert all(r["raw"] for r in rows)
    # and the weekly run quarantined the orphan as unknown_account, with its bytes
    (orphan,) = [r for r in rows if r["line_number"] is None]
    assert orphan["reason"] == "unknown_account" and orphan["source_key"] == ORPHAN_KEY
    assert json.loads(orphan["raw"]) == ORPHAN
    # and every reason was counted in the ingest's metrics
    for reason, count in Counter(reason for *_, reason in expected).items():
        metric = _metric(landed_and_run, "AccountEventsQuarantined", "Sum", Reason=reason)
        assert metric == count, reason
    assert _metric(landed_and_run, "GrowthUnknownAccountEvents", "Maximum") == 1.0


def test_demo_part_summarizes_the_run_against_truth(
    landed_and_run: EmulatorServer,
    company: tuple[Path, dict[str, Any]],
    tmp_path: Path,
) -> None:
    # given the demo's view of this deployed stack and company
    out, truth = company
    stack = landed_and_run
    run = DemoRun(stack.endpoint, stack.outputs, out, tmp_path, truth)
    part = GrowthDemo()
    part.start(run)
    part.on_step(stack.control.now())
    # when the part finishes (its re-run of the week) and prints its section
    section = part.finish()
    lines = part.lines(section)
    # then the missing steps match truth.json and the re-run succeeded
    assert section["errors"] == [] and section["final_run"]["status"] == "SUCCEEDED"
    assert section["scheduled_runs"] == {"SUCCEEDED": 1}
    assert section["missing_steps"]["match"]
    found = {f["account_id"] for f in section["missing_steps"]["found"]}
    assert found == {f["account_id"] for f in truth["faults"]["lifecycle_missing_steps"]}
    # and the quarantine counts are the generator's faults plus the unknown account
    faults = truth["faults"]
    expected = Counter(
        f["reason"]
        for f in faults["malformed_records"] + faults["account_event_conflicts"]
        if f["input"] == "account_events"
    )
    assert section["quarantined"] == dict(sorted((expected + Counter(["unknown_account"])).items()))
    # and the last closed month is September, its MRR the generator's
    month = section["month"]
    assert month["month"] == "2026-09"
    assert (
        month["mrr_end_cents"]
        == month["truth_mrr_cents"]
        == truth["growth"]["2026-09"]["mrr_cents"]
    )
    assert section["week"]["week"] == CLOSED_WEEK
    assert section["week"]["statuses"] == dict(
        sorted(truth["growth"]["2026-10"]["statuses"].items())
    )
    assert any(line.startswith("MRR 2026-09: start $") and "match" in line for line in lines)
    assert any(line.startswith("  NRR ") for line in lines)
    assert any("missing lifecycle steps: " in line and "match" in line for line in lines)


def test_a_missing_closed_week_is_counted_rebuilt_identically_and_alarms(
    landed_and_run: EmulatorServer,
) -> None:
    # given the closed week's snapshot was lost after the scheduled run
    stack = landed_and_run
    s3 = stack.client("s3")
    curated = stack.outputs["CuratedBucketName"]
    key = growth_paths.snapshot_key(CLOSED_WEEK)
    before = s3.get_object(Bucket=curated, Key=key)["Body"].read()
    s3.delete_object(Bucket=curated, Key=key)
    # when the workflow runs again (a re-run of the week, as the run book says)
    sfn = stack.client("stepfunctions")
    started = sfn.start_execution(
        stateMachineArn=stack.outputs["GrowthWeeklyStateMachineArn"],
        name="growth-weekly-rerun-2026-10-11",
        input=json.dumps({"time": "2026-10-11T23:45:00Z"}),
    )
    described = _execution(stack, started["executionArn"])
    # then it counted the missing week and rebuilt it byte for byte
    assert described["status"] == "SUCCEEDED", described.get("cause")
    output = json.loads(described["output"])
    assert output["snapshot"]["result"]["missing_closed_weeks"] == [CLOSED_WEEK]
    assert s3.get_object(Bucket=curated, Key=key)["Body"].read() == before
    # and when the alarms' weekly period ends (Thursday 00:00 UTC), both fire (no settling:
    # other pipelines' workflows that start on the way are not this test's business)
    stack.control.advance(
        to=datetime(2026, 10, 15, 0, 30, tzinfo=UTC), step=timedelta(hours=12), settle=False
    )
    assert _alarm_state(stack, "growth-weekly-snapshot-missing") == "ALARM"
    assert _alarm_state(stack, "growth-inferred-status-share") == "ALARM"
