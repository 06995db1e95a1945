"""The daily engagement workflow on the emulator: clicks through the real stream and ingest
function, then the real Step Functions definition running the real daily function:
dedup across batches, sessions, outage marking, idempotent re-run, late-data restatement."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from functions.core import schemas
from functions.core.engagement_state import DAY_PK
from tests.conftest import EmulatorServer
from tests.functional.engagement_support import EngagementRig, build_rig, create_function
from tests.support import unique_name

REPO_ROOT = Path(__file__).resolve().parents[2]
ASL = REPO_ROOT / "state_machines" / "engagement_daily.asl.json"
EXECUTION_TIMEOUT = 180.0


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _click(event_id: str, at: datetime, user: str, **overrides: Any) -> bytes:
    body = {
        "event_id": event_id,
        "account_id": "acct-1",
        "user_id": user,
        "event_type": "click",
        "event_time": _ms(at),
        "page": "/reports",
    }
    body.update(overrides)
    return json.dumps(body, separators=(",", ":")).encode()


@pytest.fixture(scope="module")
def daily_rig(emulator_server: EmulatorServer) -> Iterator[tuple[EngagementRig, str, str]]:
    rig = build_rig(emulator_server)
    rig.ingest = create_function(
        rig, name="click-ingest", handler="functions.handlers.click_ingest.handler"
    )
    rig.daily = create_function(
        rig, name="engagement-daily", handler="functions.handlers.engagement_daily.handler"
    )
    kinesis = rig.client("kinesis")
    stream = unique_name("clicks")
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    arn = kinesis.describe_stream(StreamName=stream)["StreamDescription"]["StreamARN"]
    rig.client("lambda").create_event_source_mapping(
        EventSourceArn=arn,
        FunctionName=rig.ingest,
        StartingPosition="TRIM_HORIZON",
        BatchSize=6000,
        BisectBatchOnFunctionError=True,
        MaximumRetryAttempts=3,
        FunctionResponseTypes=["ReportBatchItemFailures"],
    )
    topic = rig.client("sns").create_topic(Name=unique_name("oncall"))["TopicArn"]
    lambda_arn = rig.client("lambda").get_function(FunctionName=rig.daily)["Configuration"][
        "FunctionArn"
    ]
    definition = (
        ASL.read_text()
        .replace("${DailyFunctionArn}", lambda_arn)
        .replace("${OnCallTopicArn}", topic)
    )
    role = rig.client("iam").create_role(
        RoleName=unique_name("sfn-role"), AssumeRolePolicyDocument="{}"
    )["Role"]["Arn"]
    machine = rig.client("stepfunctions").create_state_machine(
        name=unique_name("engagement-daily"), definition=definition, roleArn=role
    )["stateMachineArn"]
    yield rig, stream, machine


def _send(rig: EngagementRig, stream: str, payloads: list[bytes]) -> None:
    rig.client("kinesis").put_records(
        StreamName=stream, Records=[{"Data": p, "PartitionKey": "acct-1"} for p in payloads]
    )
    assert rig.server.control.drain_streams(timeout=120)["drained"] is True


def _run(rig: EngagementRig, machine: str, run_input: dict[str, Any]) -> dict[str, Any]:
    sfn = rig.client("stepfunctions")
    execution = sfn.start_execution(
        stateMachineArn=machine, name=unique_name("run"), input=json.dumps(run_input)
    )["executionArn"]
    deadline = time.monotonic() + EXECUTION_TIMEOUT
    while time.monotonic() < deadline:
        described = sfn.describe_execution(executionArn=execution)
        if described["status"] != "RUNNING":
            if described["status"] != "SUCCEEDED":
                history = sfn.get_execution_history(executionArn=execution)["events"]
                failures = [e for e in history if "Failed" in e["type"]]
                raise AssertionError(f"{described['status']}: {failures}")
            output: dict[str, Any] = json.loads(described["output"])
            return output
        time.sleep(0.3)
    raise AssertionError("the workflow did not finish in time")


def _curated(rig: EngagementRig, table: schemas.Table, day: date) -> pa.Table:
    return rig.read(rig.curated, f"{table.prefix}/dt={day.isoformat()}/")


def _land_account(
    rig: EngagementRig, account: str, created: datetime, *, seats: int, name: str = "x"
) -> None:
    """A creating event (`subscribed`) of `account` in the raw account events."""
    event = pa.table(
        {
            "event_id": [f"created-{account}"],
            "account_id": [account],
            "event_type": ["subscribed"],
            "event_time": [created],
            "plan": ["team"],
            "seats": [seats],
            "mrr_cents": [seats * 1_000],
            "currency": ["USD"],
            "recorded_by": [None],
            "source_key": [f"account_events/{name}.jsonl"],
        },
        schema=schemas.RAW_ACCOUNT_EVENTS.arrow_schema(),
    )
    month = created.strftime("%Y-%m")
    rig.put_parquet(rig.raw, f"raw/raw_account_events/month={month}/{name}.parquet", event)


def _bodies(rig: EngagementRig, day: date) -> dict[str, bytes]:
    keys = [
        k
        for t in (schemas.CLICKS, schemas.ENGAGEMENT_DAILY, schemas.ENGAGEMENT_USER_DAILY)
        for k in rig.keys(rig.curated, f"{t.prefix}/dt={day.isoformat()}/")
    ]
    return {k: rig.body(rig.curated, k) for k in keys}


def test_daily_workflow_dedups_marks_outages_is_idempotent_and_restates_late_days(
    daily_rig: tuple[EngagementRig, str, str],
) -> None:
    rig, stream, machine = daily_rig
    now = rig.server.control.now()
    day = now.date() - timedelta(days=1)
    at = datetime(day.year, day.month, day.day, 10, tzinfo=UTC)
    # Given clicks for yesterday in two batches: a natural duplicate (the same record resent)
    # and a synthetic one (same event_id, different payload) within the first batch (e3, e4),
    # and one of each across the batches (e1, e2)
    _send(
        rig,
        stream,
        [
            _click("e1", at, "u1"),
            _click("e2", at + timedelta(minutes=10), "u1"),
            _click("e3", at + timedelta(hours=1), "u1"),
            _click("e4", at + timedelta(hours=2), "u2"),
            _click("e3", at + timedelta(hours=1), "u1"),
            _click("e4", at + timedelta(hours=2), "u2", page="/elsewhere"),
        ],
    )
    _send(
        rig,
        stream,
        [_click("e1", at, "u1"), _click("e2", at + timedelta(minutes=10), "u1", page="/other")],
    )
    # and producer counts saying 3 clicks of the 14:00 hour were spilled (the stream was down)
    counts = pa.table(
        {
            "producer_id": ["web-1", "web-1"],
            "minute": [at, at + timedelta(hours=4)],
            "sent": [4, 0],
            "spilled": [0, 3],
        },
        schema=schemas.PRODUCER_COUNTS.arrow_schema(),
    )
    rig.put_parquet(rig.raw, f"raw/producer_counts/dt={day.isoformat()}/web-1.parquet", counts)
    # and the account's creating event with its licensed seats, in the raw account events
    _land_account(rig, "acct-1", at - timedelta(days=40), seats=10)

    # When the scheduled workflow runs (its input is the scheduled event)
    run_time = rig.server.control.now().replace(microsecond=0) + timedelta(seconds=1)
    output = _run(rig, machine, {"time": run_time.isoformat().replace("+00:00", "Z")})

    # Then yesterday was computed: one row per event_id, duplicates counted by kind
    assert output["plan"]["days"] == [day.isoformat()]
    clicks = _curated(rig, schemas.CLICKS, day)
    assert sorted(clicks.column("event_id").to_pylist()) == ["e1", "e2", "e3", "e4"]
    dedup = _curated(rig, schemas.DEDUP_DAILY, day).to_pylist()[0]
    # every copy counted: e1 and e3 natural, e2 and e4 synthetic (in batch and across)
    assert (dedup["natural_duplicates"], dedup["synthetic_duplicates"]) == (2, 2)
    assert (dedup["rows_landed"], dedup["rows_kept"], dedup["unknown_account_clicks"]) == (8, 4, 0)
    # and sessions: u1 has 10:00-10:10 and 11:00 (2 sessions, 600 s), u2 one of 0 s
    daily = _curated(rig, schemas.ENGAGEMENT_DAILY, day).to_pylist()
    assert len(daily) == 1
    row = daily[0]
    assert (row["active_users"], row["sessions"], row["clicks"]) == (2, 3, 4)
    assert row["session_hours"] == pytest.approx(600 / 3600)
    # and the outage hour makes the day incomplete instead of a low number reported as truth
    assert (row["complete"], row["complete_reason"]) == (False, "stream_outage")
    hours = _curated(rig, schemas.STREAM_COMPLETENESS, day).to_pylist()
    assert [h["complete"] for h in hours if h["spilled"]] == [False]
    # and active users with seat utilisation (MAU / seats)
    active = _curated(rig, schemas.ACTIVE_USERS_DAILY, day).to_pylist()
    assert [(a["dau"], a["licensed_seats"], a["seat_utilisation"]) for a in active] == [
        (2, 10, 0.2)
    ]
    # and the Glue partition is published at the day's one version, named by its bytes
    partition = rig.client("glue").get_partition(
        DatabaseName=rig.curated_database,
        TableName=schemas.ENGAGEMENT_DAILY.name,
        PartitionValues=[day.isoformat()],
    )
    location = partition["Partition"]["StorageDescriptor"]["Location"]
    day_prefix = f"{schemas.ENGAGEMENT_DAILY.prefix}/dt={day.isoformat()}/"
    assert location.startswith(f"s3://{rig.curated}/{day_prefix}version=")
    # and the day holds that version's file alone
    assert [f"s3://{rig.curated}/{k}" for k in rig.keys(rig.curated, day_prefix)] == [
        f"{location}data.parquet"
    ]

    # When the same run is repeated
    before = _bodies(rig, day)
    _run(rig, machine, {"time": run_time.isoformat().replace("+00:00", "Z"), "days": [str(day)]})
    # Then the outputs are byte-identical at the same keys
    assert _bodies(rig, day) == before

    # When a late click for that day arrives, and the next run comes an hour later
    _send(rig, stream, [_click("e5", at + timedelta(hours=3), "u3")])
    state = rig.client("dynamodb").get_item(
        TableName=rig.state_table, Key={"pk": {"S": DAY_PK}, "sk": {"S": day.isoformat()}}
    )["Item"]
    assert state["marks"]["N"] == "1"
    later = run_time + timedelta(hours=1)
    output = _run(rig, machine, {"time": later.isoformat().replace("+00:00", "Z")})
    # Then the dirty day was recomputed (with the new run's yesterday, which is the same day
    # unless the hour crossed midnight) and its restatement recorded with old and new values
    expected = sorted({day, later.date() - timedelta(days=1)})
    assert output["plan"]["days"] == [d.isoformat() for d in expected]
    row = _curated(rig, schemas.ENGAGEMENT_DAILY, day).to_pylist()[0]
    assert (row["active_users"], row["clicks"]) == (3, 5)
    restated = rig.read(rig.curated, f"{schemas.RESTATEMENTS.prefix}/").to_pylist()
    changes = {(r["metric"], r["old_value"], r["new_value"]) for r in restated}
    assert ("clicks", 4.0, 5.0) in changes and ("active_users", 2.0, 3.0) in changes
    # every changed value is restated, the late click's own type included
    clicks_of_type = row["clicks_click"]
    assert ("clicks_click", clicks_of_type - 1.0, float(clicks_of_type)) in changes
    assert {r["period"] for r in restated} == {day.isoformat()}
    assert {r["table_name"] for r in restated} == {"engagement_daily"}
    late = _curated(rig, schemas.DEDUP_DAILY, day).to_pylist()[0]
    assert late["late_rows"] == 1
    # and the day is clean again: a run the next hour computes only yesterday, restating nothing
    state = rig.client("dynamodb").get_item(
        TableName=rig.state_table, Key={"pk": {"S": DAY_PK}, "sk": {"S": day.isoformat()}}
    )["Item"]
    assert state["clean_marks"]["N"] == "1"


def test_backfill_recomputes_a_range_idempotently(
    daily_rig: tuple[EngagementRig, str, str],
) -> None:
    from pablo.backfill import backfill  # noqa: PLC0415

    rig, _, machine = daily_rig
    now = rig.server.control.now()
    days = [now.date() - timedelta(days=3), now.date() - timedelta(days=2)]
    at = datetime(days[0].year, days[0].month, days[0].day, 9, tzinfo=UTC)
    # Given clicks on the first day of the range, of a created account
    _land_account(rig, "acct-1", at - timedelta(days=40), seats=10)
    _send(rig, daily_rig[1], [_click("b1", at, "u9"), _click("b2", at, "u8")])
    sfn = rig.client("stepfunctions")
    # When the range is backfilled twice
    first = backfill(sfn, machine, days, now=rig.server.control.now(), chunk_days=1)
    bodies = _bodies(rig, days[0])
    second = backfill(sfn, machine, days, now=rig.server.control.now(), chunk_days=1)
    # Then every day was computed each time, with the same bytes at the same keys
    assert [r["day"] for r in first] == [d.isoformat() for d in days]
    assert [r["clicks"] for r in first] == [r["clicks"] for r in second] == [2, 0]
    assert _bodies(rig, days[0]) == bodies and bodies


def test_clicks_of_an_uncreated_account_are_quarantined_then_restated_once_it_is_created(
    daily_rig: tuple[EngagementRig, str, str],
) -> None:
    rig, stream, machine = daily_rig
    now = rig.server.control.now()
    day = now.date() - timedelta(days=5)
    at = datetime(day.year, day.month, day.day, 14, tzinfo=UTC)
    # Given, on one day, a click of acct-1 (created) and two of acct-new, whose creating
    # event has not landed (its u1 clicks at 14:00 and 14:20: one session of 1,200 s), one
    # of them sent twice
    _land_account(rig, "acct-1", at - timedelta(days=40), seats=10)
    late_one = _click("n2", at + timedelta(minutes=20), "u1", account_id="acct-new")
    _send(
        rig,
        stream,
        [
            _click("k1", at, "u7"),
            _click("n1", at, "u1", account_id="acct-new"),
            late_one,
            late_one,
        ],
    )
    run_time = rig.server.control.now().replace(microsecond=0) + timedelta(seconds=1)
    stamp = run_time.isoformat().replace("+00:00", "Z")

    # When the day is computed
    _run(rig, machine, {"time": stamp, "days": [day.isoformat()]})

    # Then acct-new's 2 distinct clicks are quarantined unknown_account and counted:
    # landed 4 = kept 1 + natural duplicate 1 + unknown 2
    dedup = _curated(rig, schemas.DEDUP_DAILY, day).to_pylist()[0]
    assert (dedup["rows_landed"], dedup["rows_kept"], dedup["natural_duplicates"]) == (4, 1, 1)
    assert dedup["unknown_account_clicks"] == 2
    quarantine_prefix = f"{schemas.QUARANTINE.prefix}/pipeline=engagement/dt={day.isoformat()}/"
    quarantined = rig.read(rig.quarantine, quarantine_prefix).to_pylist()
    assert sorted((q["reason"], json.loads(q["raw"])["event_id"]) for q in quarantined) == [
        ("unknown_account", "n1"),
        ("unknown_account", "n2"),
    ]
    # and no figure of the day includes acct-new
    daily = _curated(rig, schemas.ENGAGEMENT_DAILY, day).to_pylist()
    assert [(r["account_id"], r["clicks"]) for r in daily] == [("acct-1", 1)]
    assert sorted(_curated(rig, schemas.CLICKS, day).column("event_id").to_pylist()) == ["k1"]
    # and the day remembers whom it waits for
    state = rig.client("dynamodb").get_item(
        TableName=rig.state_table, Key={"pk": {"S": DAY_PK}, "sk": {"S": day.isoformat()}}
    )["Item"]
    assert state["unknown_accounts"] == {"L": [{"S": "acct-new"}]}

    # When acct-new's creating event lands late, and the next scheduled run comes
    _land_account(rig, "acct-new", at - timedelta(hours=1), seats=5, name="acct-new")
    later = run_time + timedelta(hours=1)
    output = _run(rig, machine, {"time": later.isoformat().replace("+00:00", "Z")})

    # Then the day was planned again (with the run's yesterday) and now counts acct-new:
    # 2 clicks, 1 user, 1 session of 1,200 s
    assert day.isoformat() in output["plan"]["days"]
    daily = {r["account_id"]: r for r in _curated(rig, schemas.ENGAGEMENT_DAILY, day).to_pylist()}
    assert sorted(daily) == ["acct-1", "acct-new"]
    new = daily["acct-new"]
    assert (new["clicks"], new["active_users"], new["sessions"]) == (2, 1, 1)
    assert new["session_hours"] == pytest.approx(1200 / 3600)
    dedup = _curated(rig, schemas.DEDUP_DAILY, day).to_pylist()[0]
    assert (dedup["rows_landed"], dedup["rows_kept"], dedup["unknown_account_clicks"]) == (4, 3, 0)
    # and the change is logged as late data, old value null (the row was not published)
    restated = rig.read(rig.curated, f"{schemas.RESTATEMENTS.prefix}/").to_pylist()
    mine = {
        (r["metric"], r["old_value"], r["new_value"], r["reason"])
        for r in restated
        if r["period"] == day.isoformat() and r["key"] == "acct-new"
    }
    assert ("clicks", None, 2.0, "late_data") in mine
    # and the quarantine file of the day is gone: nothing of the day is quarantined any more
    assert rig.keys(rig.quarantine, quarantine_prefix) == []
